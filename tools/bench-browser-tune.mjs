#!/usr/bin/env node
// Kernel tuning in headless Chromium (WebGPU on SwiftShader): `st.tune()` on the 26-style net
// at each size (a fresh browser profile, so every layer shape is timed), each layer shape's
// fixed and kept tile as the tuner timed them, then `stylize()` end to end (upload, run,
// readback) with the fixed tiles (a StyleTransfer created with { tune: "off" }) and with the
// tuned ones, alternating for `rounds` rounds (medians).
// Usage: bash scripts/build-wasm.sh && node tools/bench-browser-tune.mjs [rounds] [sizes]
import { fileURLToPath } from "node:url";
import { serve } from "../tests/e2e/server.mjs";
import { launch } from "../tests/e2e/browser.mjs";

const rounds = Number(process.argv[2] ?? 3);
const sizes = (process.argv[3] ?? "256").split(",").map(Number);
const server = await serve(fileURLToPath(new URL("../", import.meta.url)));
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}tests/e2e/api.html`);
  await page.waitForFunction(() => document.body.dataset.ready === "1");
  for (const size of sizes) {
    const r = await page.evaluate(async ({ size, rounds }) => {
      const tuned = await m.StyleTransfer.create();
      const fixed = await m.StyleTransfer.create({ tune: "off" });
      const report = await tuned.tune("multistyle", { size, budgetMs: 3_600_000 });
      const img = new ImageData(size, size);
      for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 7919) % 251;
      const opts = { style: 19, maxSize: size };
      await fixed.stylize(img, opts);
      await tuned.stylize(img, opts);
      const times = { fixed: [], tuned: [] };
      for (let i = 0; i < rounds; i++) {
        for (const [name, st] of [["fixed", fixed], ["tuned", tuned]]) {
          const t0 = performance.now();
          await st.stylize(img, opts);
          times[name].push(performance.now() - t0);
        }
      }
      const median = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
      const adapter = tuned.adapter.name;
      tuned.destroy();
      fixed.destroy();
      return { adapter, report, fixed: median(times.fixed), tuned: median(times.tuned), times };
    }, { size, rounds });
    console.log(`\nAdapter: ${r.adapter} (headless Chromium); 26-style net, ${size}x${size}; ${r.report.summary}\n`);
    console.log("| layer shape | fixed tile | ms | kept tile | ms | fixed / kept |\n|---|---|---:|---|---:|---:|");
    for (const e of r.report.tuned) {
      console.log(`| ${e.key} | ${e.fixed} | ${e.fixedMs.toFixed(2)} | ${e.choice === e.fixed ? "(kept)" : e.choice} | ${e.ms.toFixed(2)} | ${(e.fixedMs / e.ms).toFixed(2)}x |`);
    }
    console.log(`\nstylize() end to end, ${rounds} alternating rounds: fixed ${r.fixed.toFixed(0)} ms, tuned ${r.tuned.toFixed(0)} ms (${(r.fixed / r.tuned).toFixed(2)}x); all: fixed ${r.times.fixed.map((t) => t.toFixed(0)).join(", ")}, tuned ${r.times.tuned.map((t) => t.toFixed(0)).join(", ")}`);
  }
} finally {
  await browser.close();
  await server.close();
}
