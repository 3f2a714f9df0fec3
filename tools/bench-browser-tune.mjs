#!/usr/bin/env node
// Kernel tuning in headless Chromium (WebGPU on SwiftShader): `st.tune()` on a net (the 26-style
// net, or the arbitrary-style net with its style predictor) at each size (a fresh browser
// profile, so every layer shape is timed), each layer shape's fixed and kept tile as the tuner
// timed them, then `stylize()` end to end (upload, run, readback; for the arbitrary net also
// `styleVector()` of a 256x256 painting) with the fixed tiles (a StyleTransfer created with
// { tune: "off" }) and with the tuned ones, alternating for `rounds` rounds (medians).
// Usage: bash scripts/build-wasm.sh && node tools/bench-browser-tune.mjs [rounds] [sizes] [multistyle|arbitrary]
import { fileURLToPath } from "node:url";
import { serve } from "../tests/e2e/server.mjs";
import { launch } from "../tests/e2e/browser.mjs";

const rounds = Number(process.argv[2] ?? 3);
const sizes = (process.argv[3] ?? "256").split(",").map(Number);
const net = process.argv[4] ?? "multistyle";
if (!["multistyle", "arbitrary"].includes(net)) throw new Error(`net: multistyle or arbitrary, got ${net}`);
const server = await serve(fileURLToPath(new URL("../", import.meta.url)));
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}tests/e2e/api.html`);
  await page.waitForFunction(() => document.body.dataset.ready === "1");
  for (const size of sizes) {
    const r = await page.evaluate(async ({ size, rounds, net }) => {
      const tuned = await m.StyleTransfer.create();
      const fixed = await m.StyleTransfer.create({ tune: "off" });
      const report = await tuned.tune(net, { size, budgetMs: 3_600_000 });
      const img = new ImageData(size, size);
      for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 7919) % 251;
      const painting = new ImageData(256, 256);
      for (let i = 0; i < painting.data.length; i++) painting.data[i] = (i * 104729) % 253;
      const opts = net === "multistyle"
        ? { style: 19, maxSize: size }
        : { styleVector: await fixed.styleVector(painting), maxSize: size };
      await fixed.stylize(img, opts);
      await tuned.stylize(img, opts);
      const times = { fixed: [], tuned: [], fixedVector: [], tunedVector: [] };
      for (let i = 0; i < rounds; i++) {
        for (const [name, st] of [["fixed", fixed], ["tuned", tuned]]) {
          let t0 = performance.now();
          await st.stylize(img, opts);
          times[name].push(performance.now() - t0);
          if (net !== "arbitrary") continue;
          t0 = performance.now();
          await st.styleVector(painting);
          times[`${name}Vector`].push(performance.now() - t0);
        }
      }
      const median = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
      const adapter = tuned.adapter.name;
      tuned.destroy();
      fixed.destroy();
      return { adapter, report, median: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median([...v])])), times };
    }, { size, rounds, net });
    console.log(`\nAdapter: ${r.adapter} (headless Chromium); ${net} net, ${size}x${size}; ${r.report.summary}\n`);
    console.log("| layer shape | fixed tile | ms | kept tile | ms | fixed / kept |\n|---|---|---:|---|---:|---:|");
    for (const e of r.report.tuned) {
      console.log(`| ${e.key} | ${e.fixed} | ${e.fixedMs.toFixed(2)} | ${e.choice === e.fixed ? "(kept)" : e.choice} | ${e.ms.toFixed(2)} | ${(e.fixedMs / e.ms).toFixed(2)}x |`);
    }
    const line = (what, a, b) => `${what}, ${rounds} alternating rounds: fixed ${r.median[a].toFixed(0)} ms, tuned ${r.median[b].toFixed(0)} ms (${(r.median[a] / r.median[b]).toFixed(2)}x); all: fixed ${r.times[a].map((t) => t.toFixed(0)).join(", ")}, tuned ${r.times[b].map((t) => t.toFixed(0)).join(", ")}`;
    console.log(`\n${line("stylize() end to end", "fixed", "tuned")}`);
    if (net === "arbitrary") console.log(line("styleVector() of a 256x256 painting", "fixedVector", "tunedVector"));
  }
} finally {
  await browser.close();
  await server.close();
}
