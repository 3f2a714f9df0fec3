#!/usr/bin/env node
// Milliseconds per image of `StyleTransfer.stylize` (end to end: upload, one GPU submission,
// readback, compose) in headless Chromium, median of `runs` after a warm-up run (which includes
// shader compilation, reported separately). `net`: multistyle (style 19) or arbitrary (a
// fixed style vector, computed once from a synthetic painting).
// Usage: npm run build && node tools/bench-browser-stylize.mjs [runs] [multistyle|arbitrary] [sizes]
import { serve } from "../tests/e2e/server.mjs";
import { launch } from "../tests/e2e/browser.mjs";

const runs = Number(process.argv[2] ?? 3);
const net = process.argv[3] ?? "multistyle";
const sizes = (process.argv[4] ?? "256,512,1024").split(",").map(Number);
const server = await serve(new URL("../dist/", import.meta.url).pathname);
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(server.url);
  await page.waitForSelector("body[data-gallery=done]", { timeout: 600_000 });
  const rows = await page.evaluate(async ({ n, net, sizes }) => {
    const out = [];
    let opts = { style: 19 };
    if (net === "arbitrary") {
      const painting = new ImageData(256, 256);
      for (let i = 0; i < painting.data.length; i++) painting.data[i] = (i * 104729) % 253;
      opts = { styleVector: await window.styleTransfer.styleVector(painting) };
    }
    for (const size of sizes) {
      const img = new ImageData(size, size);
      for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 7919) % 251;
      let t0 = performance.now();
      await window.styleTransfer.stylize(img, { ...opts, maxSize: size });
      const first = performance.now() - t0;
      const times = [];
      for (let r = 0; r < n; r++) {
        t0 = performance.now();
        await window.styleTransfer.stylize(img, { ...opts, maxSize: size });
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      out.push({ size, first, ms: times[Math.floor(times.length / 2)] });
    }
    return out;
  }, { n: runs, net, sizes });
  const a = await page.evaluate(() => window.styleTransfer.adapter);
  console.log(`${net}; adapter: ${a.name} (${a.backend}, headless Chromium)\n\n| size | first run (new size) ms | ms per image |\n|---|---:|---:|`);
  for (const r of rows) console.log(`| ${r.size}x${r.size} | ${r.first.toFixed(0)} | ${r.ms.toFixed(0)} |`);
} finally {
  await browser.close();
  await server.close();
}
