#!/usr/bin/env bash
# Every test suite, in order of cost: formatting and lints, the generated shader, native tests
# on lavapipe, wasm tests in headless Chromium (WebGPU on SwiftShader), then the browser
# end-to-end tests against the built demo page and package (under xvfb-run).
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-$(id -u)}"
mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
# Native tests must run on a real Vulkan driver (lavapipe here), not fall back to GL.
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "rustfmt"
cargo fmt --all -- --check
step "clippy"
cargo clippy --all-targets -q -- -D warnings
step "generated shader is current"
python3 tools/gen_conv2d_tiled.py --check
python3 tools/gen_conv2d_depthwise.py --check
python3 tools/gen_conv2d_pointwise.py --check

step "native tests (wgpu on $(WGPU_BACKEND=$WGPU_BACKEND cargo run -q --bin style-transfer -- info | sed -n 's/^adapter: *//p'))"
cargo test -q

step "wasm tests in headless Chromium (WebGPU on SwiftShader)"
export CHROMEDRIVER=/usr/bin/chromedriver
export WASM_BINDGEN_TEST_TIMEOUT=900
cargo test --target wasm32-unknown-unknown --test ops

step "npm package and demo page"
bash scripts/build-wasm.sh
npx webpack --mode production

step "browser end-to-end tests"
# Under a virtual X server: live-canvas.test.mjs runs a headed Chromium (only headed Chromium
# presents WebGPU canvases here); the other files run headless inside the same server. Two
# files at a time: each Chromium spends most of its time compiling pipelines for SwiftShader,
# one core per compilation, so a second file uses the other core (19 -> 13 minutes on two cores).
xvfb-run -a node --test --test-concurrency=2 tests/e2e/
