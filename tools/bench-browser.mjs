#!/usr/bin/env node
// Runs the convolution benchmark in headless Chromium (WebGPU on SwiftShader, or whatever
// adapter the browser finds) against the built demo page, and prints a Markdown table.
// Usage: npm run build && node tools/bench-browser.mjs [runs]
import { serve } from "../tests/e2e/server.mjs";
import { launch } from "../tests/e2e/browser.mjs";

const runs = Number(process.argv[2] ?? 3);
const server = await serve(new URL("../dist/", import.meta.url).pathname);
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(server.url);
  await page.waitForSelector("body[data-state=ready]", { timeout: 60_000 });
  const { adapter, rows } = await page.evaluate(async (n) => ({ adapter: window.styleTransfer.adapter, rows: await window.styleTransfer.benchConv(n) }), runs);
  console.log(`Adapter: ${adapter.name} (${adapter.backend}, in headless Chromium)\n`);
  console.log("| case | kernel | ms | GFLOP/s | vs naive |\n|---|---|---:|---:|---:|");
  for (const r of rows) {
    const naive = rows.find((n) => n.case === r.case && n.kernel === "naive");
    console.log(`| ${r.case} | ${r.kernel} | ${r.ms.toFixed(2)} | ${r.gflops.toFixed(2)} | ${(r.gflops / naive.gflops).toFixed(1)}x |`);
  }
} finally {
  await browser.close();
  await server.close();
}
