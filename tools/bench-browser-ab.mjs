#!/usr/bin/env node
// Two builds of the npm package side by side in one headless Chromium page (WebGPU on
// SwiftShader): this checkout's pkg/ and a base build's package directory, each with its own
// StyleTransfer ({ tune: "off" }, so both run their fixed kernel choices and share no tuning
// table). Per round and net, each build's `stylize()` end to end (upload, run, readback) and,
// for the arbitrary net, `styleVector()` of a 256x256 painting (its style predictor); the order
// of the two builds alternates per round, medians reported. This machine is noisy, so builds
// are compared in the same page and run, never against figures from another run.
// Usage: bash scripts/build-wasm.sh && node tools/bench-browser-ab.mjs [--tuned] <base-pkg-dir> [rounds] [size] [nets]
//   <base-pkg-dir>: a package directory inside this checkout (e.g. target/pkg-base: pkg/ with
//   the base commit's webgpu_style_transfer.js and _bg.wasm, or a whole pkg/ built at the base
//   commit), served beside pkg/. A base from before tuning existed (its create() knows no
//   `tune` option) is created without options: it runs its fixed choices.
//   --tuned: this build tunes each net at `size` first (a fresh browser profile, so an empty
//   table; the budget large enough for every layer shape) and runs on its tuned table.
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import { relative, resolve } from "node:path";
import { serve } from "../tests/e2e/server.mjs";
import { launch } from "../tests/e2e/browser.mjs";

const root = fileURLToPath(new URL("../", import.meta.url));
const flags = process.argv.slice(2).filter((a) => a.startsWith("--"));
const [baseArg, roundsArg, sizeArg, netsArg] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
for (const f of flags) if (f !== "--tuned") throw new Error(`unknown flag ${f}; the only flag is --tuned`);
const tuned = flags.includes("--tuned");
if (!baseArg) throw new Error("usage: node tools/bench-browser-ab.mjs [--tuned] <base-pkg-dir> [rounds] [size] [nets]");
const base = relative(root, resolve(baseArg));
if (base.startsWith("..") || !existsSync(resolve(root, base, "index.js"))) {
  throw new Error(`${baseArg}: not a package directory inside this checkout (no index.js); build one with scripts/build-wasm.sh at the base commit and copy its pkg/ under target/`);
}
const rounds = Number(roundsArg ?? 5);
const size = Number(sizeArg ?? 256);
const nets = (netsArg ?? "multistyle,arbitrary").split(",");
for (const net of nets) {
  if (!["multistyle", "arbitrary"].includes(net)) throw new Error(`nets: multistyle and/or arbitrary, got ${net}`);
}

const server = await serve(root);
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}tests/e2e/api.html`);
  await page.waitForFunction(() => document.body.dataset.ready === "1");
  const r = await page.evaluate(async ({ base, rounds, size, nets, tuned }) => {
    const baseModule = await import(`/${base}/index.js`);
    const createBase = () =>
      baseModule.StyleTransfer.create({ tune: "off" }).catch((e) => {
        if (!/unknown option "tune"/.test(e.message)) throw e;
        return baseModule.StyleTransfer.create();
      });
    const builds = {
      base: await createBase(),
      current: await m.StyleTransfer.create({ tune: tuned ? "cached" : "off" }),
    };
    const tuning = [];
    if (tuned) {
      for (const net of nets) {
        const report = await builds.current.tune(net, { size, budgetMs: 3600000 });
        tuning.push(`${net} at ${size} px: ${report.summary}`);
      }
    }
    const img = new ImageData(size, size);
    for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 7919) % 251;
    const painting = new ImageData(256, 256);
    for (let i = 0; i < painting.data.length; i++) painting.data[i] = (i * 104729) % 253;
    const cases = [];
    for (const net of nets) {
      if (net === "multistyle") {
        cases.push({ name: `multistyle stylize() ${size} px`, run: (st) => st.stylize(img, { style: 19, maxSize: size }) });
      } else {
        const vector = await builds.current.styleVector(painting);
        cases.push({ name: `arbitrary styleVector() 256x256 painting`, run: (st) => st.styleVector(painting) });
        cases.push({ name: `arbitrary stylize() ${size} px`, run: (st) => st.stylize(img, { styleVector: vector, maxSize: size }) });
      }
    }
    const times = cases.map(() => ({ base: [], current: [] }));
    // The first call of each case pays for shader compilation: not timed.
    for (const c of cases) for (const st of Object.values(builds)) await c.run(st);
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? ["base", "current"] : ["current", "base"];
      for (const [k, c] of cases.entries()) {
        for (const b of order) {
          const t0 = performance.now();
          await c.run(builds[b]);
          times[k][b].push(performance.now() - t0);
        }
      }
    }
    const adapter = builds.current.adapter.name;
    for (const st of Object.values(builds)) st.destroy();
    return { adapter, tuning, cases: cases.map((c, k) => ({ name: c.name, ...times[k] })) };
  }, { base, rounds, size, nets, tuned });
  const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const ms = (v) => v.map((t) => t.toFixed(0)).join(", ");
  const mode = tuned ? "this build tuned, the base untuned" : "tune off";
  console.log(`\nAdapter: ${r.adapter} (headless Chromium); base ${base} against pkg/, ${rounds} rounds, ${mode}\n`);
  for (const line of r.tuning) console.log(`Tuned: ${line}`);
  if (r.tuning.length) console.log("");
  console.log("| case | base, median ms | this build, median ms | base / this |\n|---|---:|---:|---:|");
  for (const c of r.cases) {
    const [b, n] = [median(c.base), median(c.current)];
    console.log(`| ${c.name} | ${b.toFixed(0)} | ${n.toFixed(0)} | ${(b / n).toFixed(2)}x |`);
  }
  console.log("");
  for (const c of r.cases) console.log(`${c.name}: base ${ms(c.base)}; this build ${ms(c.current)}`);
} finally {
  await browser.close();
  await server.close();
}
