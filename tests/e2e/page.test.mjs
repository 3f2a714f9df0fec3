// End-to-end tests of the built demo page (dist/, from `webpack --mode production`) in
// headless Chromium. Screenshots of each state go to test-results/ (git-ignored).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { serve } from "./server.mjs";
import { launch } from "./browser.mjs";

const SHOTS = new URL("../../test-results/", import.meta.url).pathname;
let server;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await serve(new URL("../../dist/", import.meta.url).pathname);
});
after(async () => server?.close());

test("the page opens the GPU and shows the adapter", async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForSelector("body[data-state]", { timeout: 60_000 });
    assert.equal(await page.getAttribute("body", "data-state"), "ready", await page.textContent("#status"));
    const adapter = await page.textContent("#adapter");
    assert.match(adapter, /webgpu/i, `adapter line: ${adapter}`);
    const info = await page.evaluate(() => window.styleTransfer.adapter);
    assert.ok(info.name.length > 0, "adapter name");
    assert.ok(info.limits.maxStorageBufferBindingSize >= 128 * 2 ** 20, JSON.stringify(info.limits));
    await page.screenshot({ path: `${SHOTS}/ready.png`, fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test("without WebGPU the page explains what is missing", async () => {
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage();
    // Hide navigator.gpu as a browser without WebGPU would.
    await page.addInitScript(() => Object.defineProperty(Navigator.prototype, "gpu", { get: () => undefined }));
    await page.goto(server.url);
    await page.waitForSelector("body[data-state]", { timeout: 60_000 });
    assert.equal(await page.getAttribute("body", "data-state"), "no-webgpu");
    const text = await page.textContent("#status");
    assert.match(text, /WebGPU is not available/);
    assert.match(text, /Chrome|Chromium/);
    await page.screenshot({ path: `${SHOTS}/no-webgpu.png`, fullPage: true });
  } finally {
    await browser.close();
  }
});
