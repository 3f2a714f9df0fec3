// End-to-end tests of the built demo page (dist/, from `webpack --mode production`) in
// headless Chromium. Screenshots of each state go to test-results/ (git-ignored).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { serveDist, SHOTS } from "./server.mjs";
import { launch } from "./browser.mjs";

const dist = serveDist();

test("the page opens the GPU and shows the adapter", async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(dist.url());
    await page.waitForSelector("body[data-state]", { timeout: 60_000 });
    assert.equal(await page.getAttribute("body", "data-state"), "ready", await page.textContent("#status"));
    const adapter = await page.textContent("#adapter");
    assert.match(adapter, /webgpu/i, `adapter line: ${adapter}`);
    const info = await page.evaluate(() => window.styleTransfer.adapter);
    assert.ok(info.name.length > 0, "adapter name");
    assert.ok(info.limits.maxStorageBufferBindingSize >= 128 * 2 ** 20, JSON.stringify(info.limits));
    await page.screenshot({ path: `${SHOTS}/ready.png`, fullPage: true });
    // The per-layer profile of the 26-style net, from the folded speed panel.
    await page.click("#bench-card summary");
    await page.click("#profile");
    await page.waitForSelector("body[data-profile=done]", { timeout: 300_000 });
    const profile = await page.textContent("#profile-out");
    assert.match(profile, /^43 dispatches, [\d.]+ ms in all \((GPU timestamps|each submitted alone, host clock)\)/, profile);
    assert.match(profile, /conv2d_tiled\.wgsl[\d.]+[\d.]+ %/, profile);
    // Kernel tuning from the same panel: the layers timed on this GPU, kept for the next visit.
    // The button gives tuning two minutes at the filter's 512 px, and SwiftShader needs all of
    // them (compiling each candidate tile takes about a second); the same path (button, tuning,
    // table shown, entries kept) runs here at 64 px for 5 s, which times a layer shape or two.
    // That the budget bounds tuning, and a whole tuning, are tested with the API.
    await page.evaluate(() => {
      const st = window.styleTransfer;
      const tune = st.tune.bind(st);
      st.tune = (net, options) => tune(net, { ...options, size: 64, budgetMs: 5_000 });
    });
    await page.click("#tune");
    await page.waitForSelector("body[data-tune=done]", { timeout: 600_000 });
    const tuned = await page.textContent("#tune-out");
    const [, n] = tuned.match(/^tuned (\d+) layer shape\(s\) in [\d.]+ s .* (\1) layer shapes are tuned on this GPU/) ?? [];
    assert.ok(n >= 1, tuned);
    const kept = await page.evaluate(() => window.styleTransfer.tuning.entries.length);
    assert.equal(kept, Number(n), "the layer shapes timed are kept");
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

const FIXTURES = new URL("../fixtures/multistyle26/", import.meta.url).pathname;

/** The onnxruntime reference for a fixture, as [3, H, W] floats in [0, 1]. */
function reference(name) {
  const raw = readFileSync(`${FIXTURES}/${name}.u16`);
  const u16 = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
  return Float32Array.from(u16, (v) => v / 65535);
}

/** Mean and max |a - b| between RGBA8 bytes and [3, H, W] planes, in 1/255 units. */
function compare(rgba, planes, w, h) {
  let sum = 0;
  let max = 0;
  for (let i = 0; i < w * h; i++) {
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(rgba[i * 4 + c] - planes[c * w * h + i] * 255);
      sum += d;
      max = Math.max(max, d);
    }
  }
  return { mean: sum / (3 * w * h), max };
}

test("the photo filter matches onnxruntime and its controls change the picture", async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(dist.url());
    await page.waitForSelector("body[data-state]", { timeout: 120_000 });
    assert.equal(await page.getAttribute("body", "data-state"), "ready");
    await page.screenshot({ path: `${SHOTS}/filter.png`, fullPage: true });
    // The sample photo is the fixture chelsea_s3_s12.png: stylize it as the fixture was made.
    const run = (opts) =>
      page.evaluate(async (o) => {
        const c = document.getElementById("before");
        const src = c.getContext("2d").getImageData(0, 0, c.width, c.height);
        const out = await window.styleTransfer.stylize(src, o);
        return { w: out.width, h: out.height, data: Array.from(out.data), src: Array.from(src.data) };
      }, opts);
    const blend = await run({ style: { 3: 0.5, 12: 0.5 }, maxSize: 256 });
    assert.equal(blend.w, 256);
    const { mean, max } = compare(blend.data, reference("chelsea_s3_s12"), 256, 256);
    // Bounds: the native tests' 0.5/255 mean and 2/255 max, plus 0.5/255 for rounding to 8 bits.
    // SwiftShader measured: see the README.
    console.log(`browser parity: mean ${mean.toFixed(3)}/255, max ${max.toFixed(3)}/255`);
    assert.ok(mean <= 1.0, `mean |diff| ${mean}/255`);
    assert.ok(max <= 2.5, `max |diff| ${max}/255`);
    // Different from the photo, from a single style, and strength 0 gives the photo back.
    const meanDiff = (a, b) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;
    assert.ok(meanDiff(blend.data, blend.src) > 20, "the output differs from the photo");
    const single = await run({ style: 3, maxSize: 256 });
    assert.ok(meanDiff(single.data, blend.data) > 5, "a blend differs from one of its styles");
    const none = await run({ style: 3, strength: 0, maxSize: 256 });
    assert.ok(meanDiff(none.data, none.src) < 1, "strength 0 is the photo");
    const half = await run({ style: 3, strength: 0.5, maxSize: 256 });
    const d1 = meanDiff(half.data, none.src);
    assert.ok(d1 > 0.3 * meanDiff(single.data, none.src) && d1 < 0.7 * meanDiff(single.data, none.src), "strength 0.5 is half-way");
    // Bad options are errors with a code, not a hang.
    const err = await page.evaluate(() => window.styleTransfer.stylize(new ImageData(8, 8), { style: 26 }).then(() => null, (e) => ({ code: e.code, message: e.message })));
    assert.equal(err?.code, "invalid-argument", JSON.stringify(err));
    assert.match(err.message, /0 to 25/);
    // The page's own controls: choosing a blend re-renders the result.
    const before = await page.evaluate(() => document.getElementById("after").toDataURL());
    const renders = Number(await page.getAttribute("body", "data-renders"));
    await page.selectOption("#style2", "12");
    await page.waitForFunction((n) => Number(document.body.dataset.renders) > n && !document.body.dataset.busy, renders, { timeout: 120_000 });
    assert.notEqual(await page.evaluate(() => document.getElementById("after").toDataURL()), before);
    await page.screenshot({ path: `${SHOTS}/filter-blend.png`, fullPage: true });
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
    await page.goto(dist.url());
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
