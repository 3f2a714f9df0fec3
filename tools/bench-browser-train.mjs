#!/usr/bin/env node
// Training steps per second of `StyleTransfer.train` in headless Chromium (WebGPU), the same
// step as `style-transfer bench train` (synthetic painting at style size 256, four synthetic
// photos, batch `batch`, losses read back every step): one warm-up step (set-up and shader
// compilation), then `steps` timed steps. With `--native`, the native CLI's `bench train`
// (release build, lavapipe by default) runs the same sizes right after, for a ratio in one run.
// Usage: npm run build && node tools/bench-browser-train.mjs [steps] [batch] [sizes] [--native]
import { execFileSync } from "node:child_process";
import { serve } from "../tests/e2e/server.mjs";
import { launch } from "../tests/e2e/browser.mjs";

const args = process.argv.slice(2).filter((a) => a !== "--native");
const native = process.argv.includes("--native");
const steps = Number(args[0] ?? 3);
const batch = Number(args[1] ?? 4);
const sizes = (args[2] ?? "64,128").split(",").map(Number);
const server = await serve(new URL("../dist/", import.meta.url).pathname);
const browser = await launch();
let rows;
let adapter;
try {
  const page = await browser.newPage();
  await page.goto(server.url);
  await page.waitForSelector("body[data-state]", { timeout: 600_000 });
  rows = await page.evaluate(async ({ steps, batch, sizes }) => {
    const card = (w, h, k) => {
      const img = new ImageData(w, h);
      for (let i = 0; i < img.data.length; i++) img.data[i] = i % 4 === 3 ? 255 : (i * (7919 + 13 * k)) % 251;
      return img;
    };
    const out = [];
    for (const size of sizes) {
      const images = [0, 1, 2, 3].map((k) => card((size * 3) / 2, size, k));
      const t0 = performance.now();
      const run = window.styleTransfer.train(card(256, 200, 9), { images, size, batch, steps: steps + 1, previewEvery: 1e9 });
      let last = null;
      run.onProgress((e) => (last = e));
      await run.result;
      out.push({ size, stepsPerSecond: last.stepsPerSecond, firstMs: performance.now() - t0 - (1000 * steps) / last.stepsPerSecond });
    }
    return out;
  }, { steps, batch, sizes });
  adapter = await page.evaluate(() => window.styleTransfer.adapter);
} finally {
  await browser.close();
  await server.close();
}
console.log(`train, batch ${batch}, ${steps} timed steps; browser adapter: ${adapter.name} (${adapter.backend}, headless Chromium)\n`);
console.log("| size | browser: set-up + first step s | browser steps/s | s per step |");
console.log("|---|---:|---:|---:|");
for (const r of rows) console.log(`| ${r.size} | ${(r.firstMs / 1000).toFixed(1)} | ${r.stepsPerSecond.toFixed(3)} | ${(1 / r.stepsPerSecond).toFixed(2)} |`);
if (native) {
  console.log("\nnative, the same step (style-transfer bench train):\n");
  const out = execFileSync("cargo", ["run", "-q", "--release", "--bin", "style-transfer", "--", "bench", "train", "--sizes", sizes.join(","), "--batch", String(batch), "--iterations", String(steps)], {
    cwd: new URL("../", import.meta.url).pathname,
    env: { ...process.env, WGPU_BACKEND: process.env.WGPU_BACKEND ?? "vulkan" },
    encoding: "utf8",
  });
  console.log(out);
}
