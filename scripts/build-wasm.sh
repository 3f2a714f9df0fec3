#!/usr/bin/env bash
# Builds the npm package into pkg/: the crate for wasm32 (release), wasm-bindgen's `web` output
# (an ES module that fetches its .wasm from a `new URL(..., import.meta.url)`, which webpack 5,
# Vite and plain browsers all understand without wasm-specific configuration), and the
# package's own package.json and README from npm/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --target wasm32-unknown-unknown --lib
rm -rf pkg
wasm-bindgen --target web --out-dir pkg target/wasm32-unknown-unknown/release/webgpu_style_transfer.wasm
cp npm/package.json npm/README.md npm/index.js npm/index.d.ts pkg/
cp models/multistyle26.safetensors models/arbitrary.safetensors models/vgg19.safetensors pkg/
cp npm/LICENSES.md pkg/
echo "build-wasm: pkg/ is $(du -sh pkg | cut -f1) ($(du -h pkg/webgpu_style_transfer_bg.wasm | cut -f1) of wasm)"
