// The npm package "works unchanged" in a webpack 5 app and in a Vite app: each bundler builds the
// same tiny app (tests/consumers/app) with no wasm-specific configuration, and the built app
// opens the GPU and stylizes an image in headless Chromium, on the main thread and in a Web
// Worker, where it also trains a style for two steps.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { serve } from "./server.mjs";
import { launch } from "./browser.mjs";

const require = createRequire(import.meta.url);
const root = (p) => fileURLToPath(new URL(`../../${p}`, import.meta.url));

async function runBuilt(dir) {
  const server = await serve(dir);
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => window.result, null, { timeout: 300_000 });
    return await page.evaluate(() => window.result);
  } finally {
    await browser.close();
    await server.close();
  }
}

function check(result) {
  assert.equal(result.error, undefined, `${result.code}: ${result.error}`);
  assert.deepEqual([result.width, result.height, result.styles], [24, 16, 26]);
  assert.equal(result.changed, true, "the output differs from the input");
  assert.ok(result.adapter.length > 0);
  assert.equal(result.worker.error, undefined, `in the worker: ${result.worker.code}: ${result.worker.error}`);
  const { trained, ...stylized } = result.worker;
  assert.deepEqual(stylized, { width: 24, height: 16, same: true }, "the worker gives the same picture");
  // Two steps, each reported with a preview; the style stylizes and saves.
  assert.deepEqual(trained, { steps: 2, events: 2, previews: 2, own: true, saved: true });
}

test("a webpack 5 app uses the package", async () => {
  const webpack = require("webpack");
  const config = require(root("tests/consumers/webpack.config.cjs"));
  const stats = await new Promise((resolve, reject) => webpack(config).run((e, s) => (e ? reject(e) : resolve(s))));
  assert.equal(stats.hasErrors(), false, stats.toString("errors-only"));
  check(await runBuilt(root("target/consumers/webpack")));
});

test("a Vite app uses the package", async () => {
  const { build } = await import("vite");
  await build({ configFile: root("tests/consumers/vite.config.mjs") });
  check(await runBuilt(root("target/consumers/vite")));
});
