#!/usr/bin/env node
// onnxruntime-web on the same models in the same headless Chromium as our engine (WebGPU on
// SwiftShader here): milliseconds per image for multistyle26 and the arbitrary transformer
// (int8 and float graphs), WebGPU and wasm (2 threads) backends, median of `runs` after a
// warm-up. onnxruntime-web is not a dependency of this project: it is installed into
// /tmp/ort-web on first use.
// Usage: node tools/bench-ort-web.mjs [runs] [sizes]      e.g. node tools/bench-ort-web.mjs 3 256,512
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync, cpSync } from "node:fs";
import { serve } from "../tests/e2e/server.mjs";
import { launch } from "../tests/e2e/browser.mjs";

const runs = Number(process.argv[2] ?? 3);
const sizes = (process.argv[3] ?? "256,512").split(",").map(Number);
const VERSION = "1.30.0";
const root = "/tmp/ort-web";
if (!existsSync(`${root}/node_modules/onnxruntime-web/package.json`)) {
  mkdirSync(root, { recursive: true });
  execFileSync("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error", `onnxruntime-web@${VERSION}`], { cwd: root, stdio: "inherit" });
}
const site = `${root}/site`;
mkdirSync(site, { recursive: true });
cpSync(`${root}/node_modules/onnxruntime-web/dist`, `${site}/ort`, { recursive: true });
execFileSync(".venv/bin/python", ["tools/make_bench_models.py", `${site}/models`, "--sizes", sizes.join(",")], { stdio: "inherit" });
writeFileSync(`${site}/index.html`, "<!doctype html><title>ort-web bench</title>");

const server = await serve(site);
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(server.url);
  const rows = [];
  for (const ep of ["webgpu", "wasm"]) {
    for (const [label, file, feeds] of [
      ["multistyle26", () => "multistyle26.onnx", (s) => ({ image: ["float32", [1, 3, s, s]], style_weights: ["float32", [26]] })],
      ["arbitrary, int8 graph", (s) => `arbitrary_int8_${s}.onnx`, (s) => ({ content_image: ["float32", [1, s, s, 3]], "mobilenet_conv/Conv/BiasAdd": ["float32", [1, 1, 1, 100]] })],
      ["arbitrary, float graph", (s) => `arbitrary_float_${s}.onnx`, (s) => ({ content_image: ["float32", [1, s, s, 3]], "mobilenet_conv/Conv/BiasAdd": ["float32", [1, 1, 1, 100]] })],
    ]) {
      const row = { ep, label, ms: [] };
      for (const s of sizes) {
        const ms = await page.evaluate(
          async ({ ep, url, feeds, runs }) => {
            const ort = await import("/ort/ort.all.min.mjs");
            ort.env.wasm.numThreads = 2;
            ort.env.wasm.wasmPaths = "/ort/";
            try {
              const session = await ort.InferenceSession.create(url, { executionProviders: [ep] });
              const inputs = {};
              for (const [name, [type, dims]] of Object.entries(feeds)) {
                const n = dims.reduce((a, b) => a * b, 1);
                inputs[name] = new ort.Tensor(type, Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 255) / 255), dims);
              }
              await session.run(inputs);
              const times = [];
              for (let i = 0; i < runs; i++) {
                const t0 = performance.now();
                const out = await session.run(inputs);
                for (const t of Object.values(out)) await t.getData?.();
                times.push(performance.now() - t0);
              }
              await session.release();
              times.sort((a, b) => a - b);
              return times[times.length >> 1];
            } catch (e) {
              return `failed: ${e.message.slice(0, 80)}`;
            }
          },
          { ep, url: `/models/${file(s)}`, feeds: feeds(s), runs },
        );
        row.ms.push(ms);
        console.error(`${ep} ${label} ${s}: ${typeof ms === "number" ? ms.toFixed(0) : ms}`);
      }
      rows.push(row);
    }
  }
  console.log(`onnxruntime-web ${VERSION} in headless Chromium, median of ${runs}\n`);
  console.log(`| model | backend | ${sizes.map((s) => `${s}x${s}`).join(" | ")} |\n|---|---|${sizes.map(() => "---:|").join("")}`);
  for (const r of rows) console.log(`| ${r.label} | ${r.ep} | ${r.ms.map((m) => (typeof m === "number" ? m.toFixed(0) : m)).join(" | ")} |`);
} finally {
  await browser.close();
  await server.close();
}
