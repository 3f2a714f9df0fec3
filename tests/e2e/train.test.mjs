// Training a style in the browser (StyleTransfer.train) on WebGPU (SwiftShader): a small run
// reports every step, lowers its loss, updates its preview and gives a style that stylizes;
// its saved file, loaded by the native engine (the CLI on lavapipe), gives the browser's
// picture up to rounding; cancel() stops a run, keeps the style so far and frees the run's GPU
// buffers; the default photos load; bad options are coded errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { serveDist, SHOTS } from "./server.mjs";
import { launch } from "./browser.mjs";

const GATYS = new URL("../fixtures/gatys/", import.meta.url);
const JOHNSON = new URL("../fixtures/johnson/", import.meta.url);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dist = serveDist();
const b64 = (url) => readFileSync(url).toString("base64");

/** The native CLI's stylization of `photo` with the style file `style` (RGBA bytes). */
function nativeStylize(style, photo) {
  const dir = mkdtempSync(join(tmpdir(), "st-train-"));
  writeFileSync(join(dir, "mine.safetensors"), style);
  const out = join(dir, "out.png");
  execFileSync("cargo", ["run", "-q", "--bin", "style-transfer", "--", "stylize", fileURLToPath(photo), "--model", join(dir, "mine.safetensors"), "-o", out], {
    cwd: ROOT,
    env: { ...process.env, WGPU_BACKEND: process.env.WGPU_BACKEND ?? "vulkan" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return out;
}

test("train() learns a style in the browser that the native engine runs alike", async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(dist.url());
    await page.waitForSelector("body[data-state]", { timeout: 120_000 });
    const r = await page.evaluate(
      async ({ painting, photo, other, coffee }) => {
        const bytes = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
        const st = window.styleTransfer;
        const code = (p) => p.then(() => null, (e) => [e.code, e.message]);
        // Bad options are refused before any work.
        const bad = [
          await code(st.train(bytes(painting), { size: 34 }).result),
          await code(st.train(bytes(painting), { stepz: 3 }).result),
          await code(st.train(bytes(painting), { images: [] }).result),
          await code(st.train(bytes(painting), { styleLayers: ["relu5_1"] }).result),
          await code(st.train(new Uint8Array([1, 2, 3]), { images: [bytes(photo)], steps: 1 }).result),
        ];
        // The 26-style net loaded: what the engine holds between runs.
        await st.stylize(bytes(coffee), { style: 0 });
        const before = st.gpuMemory.allocatedBytes;
        // One 32x32 photo: each crop is the whole photo (mirrored or not), so the losses of
        // successive steps compare like for like.
        const options = { images: [bytes(photo)], size: 32, batch: 1, steps: 6, styleSize: 64, learningRate: 0.1, previewEvery: 3, previewSize: 32, name: "tiny" };
        const run = st.train(bytes(painting), options);
        const events = [];
        run.onProgress((e) => events.push({ ...e, preview: e.preview ? Array.from(e.preview.data) : undefined }));
        const done = await run.result;
        const saved = await run.save();
        const styled = await st.stylize(bytes(coffee), { model: done.model });
        const blend = await st.stylize(bytes(coffee), { style: [[done.model, 1], [3, 1]] });
        const after = st.gpuMemory.allocatedBytes;
        // Cancelled after its first report: the style so far, and the run's buffers freed.
        const long = st.train(bytes(painting), { ...options, images: [bytes(other)], steps: 200 });
        let reports = 0;
        long.onProgress(() => long.cancel());
        for await (const e of long) reports = e.step;
        const cancelled = await long.result;
        const cancelledStyled = await st.stylize(bytes(coffee), { model: cancelled.model });
        const afterCancel = st.gpuMemory.allocatedBytes;
        // Without images: the package's own photos, or, in a build whose set-up could not
        // assemble them (it only warns), the error that says so.
        const hasPhotos = window.styleTransferModule.MODELS.photos.bytes > 1000;
        const dflt = await st
          .train(bytes(painting), { size: 32, batch: 1, steps: 1, styleSize: 32, previewEvery: 1 })
          .result.then((d) => ({ steps: d.steps, cancelled: d.cancelled }), (e) => [e.code, e.message]);
        // A run too large for the device.
        const tooLarge = await code(st.train(bytes(painting), { images: [bytes(photo)], size: 4096, steps: 1 }).result);
        // destroy() during a run (another StyleTransfer): it stops at its next report.
        const second = await window.styleTransferModule.StyleTransfer.create();
        const doomed = second.train(bytes(painting), { ...options, steps: 50 });
        doomed.onProgress(() => second.destroy());
        const destroyed = await code(doomed.result);
        return {
          bad,
          events: events.map(({ preview, ...e }) => ({ ...e, previewed: preview !== undefined })),
          previews: events.filter((e) => e.preview).map((e) => e.preview),
          done: { steps: done.steps, cancelled: done.cancelled, family: done.model.family, losses: done.losses },
          saved: Array.from(saved),
          styled: { width: styled.width, height: styled.height, data: Array.from(styled.data) },
          blendDiffers: blend.data.some((v, i) => v !== styled.data[i]),
          memory: { before, after, afterCancel },
          cancelled: { steps: cancelled.steps, cancelled: cancelled.cancelled, reports, differs: cancelledStyled.data.some((v, i) => v !== styled.data[i]) },
          dflt,
          hasPhotos,
          tooLarge,
          destroyed: destroyed?.[0],
          closed: second.closed,
        };
      },
      { painting: b64(new URL("style.png", GATYS)), photo: b64(new URL("content32.png", GATYS)), other: b64(new URL("other32.png", GATYS)), coffee: b64(new URL("coffee_64x48.png", JOHNSON)) },
    );
    assert.deepEqual(r.bad.map((b) => b?.[0]), ["invalid-argument", "invalid-argument", "invalid-argument", "invalid-argument", "bad-image"], JSON.stringify(r.bad));
    assert.match(r.bad[0][1], /size must be a multiple of 4/);
    assert.match(r.bad[1][1], /unknown option "stepz" \(did you mean steps\?\)/);
    assert.match(r.bad[3][1], /relu5_1.*not a layer of vgg16/);

    // Every step reported, in order, with finite losses; previews at steps 3 and 6 that change.
    assert.deepEqual(r.events.map((e) => e.step), [1, 2, 3, 4, 5, 6]);
    for (const e of r.events) {
      assert.equal(e.steps, 6);
      assert.ok(Number.isFinite(e.total) && e.total > 0 && Math.abs(e.total - (e.content + e.style + e.tv)) <= 1e-3 * e.total, JSON.stringify(e));
      assert.ok(e.stepsPerSecond > 0 && e.elapsedMs > 0, JSON.stringify(e));
    }
    assert.deepEqual(r.events.filter((e) => e.previewed).map((e) => e.step), [3, 6]);
    assert.notDeepEqual(r.previews[0], r.previews[1], "the preview changes as the style is learned");
    const first = r.events[0].style;
    const last = r.events.at(-1).style;
    console.log(`browser training: style loss ${first.toExponential(3)} -> ${last.toExponential(3)}, ${r.events.at(-1).stepsPerSecond.toFixed(2)} steps/s (32 px, batch 1)`);
    assert.ok(last < 0.8 * first, `the style loss fell from ${first} to ${last} only`);
    assert.deepEqual({ steps: r.done.steps, cancelled: r.done.cancelled, family: r.done.family }, { steps: 6, cancelled: false, family: "multistyle26-style" });
    assert.ok(r.blendDiffers, "a blend with a built-in style is another picture");

    // The run's buffers went back to the device, after a finished and a cancelled run.
    assert.ok(r.memory.after <= r.memory.before, JSON.stringify(r.memory));
    assert.ok(r.memory.afterCancel <= r.memory.before, JSON.stringify(r.memory));
    assert.deepEqual({ ...r.cancelled, differs: undefined }, { steps: 1, cancelled: true, reports: 1, differs: undefined });
    assert.ok(r.cancelled.differs, "the cancelled run's style is its own");
    if (r.hasPhotos) assert.deepEqual(r.dflt, { steps: 1, cancelled: false });
    else assert.match(r.dflt?.[1] ?? "", /has no default photos.*pass your own as the images option/, JSON.stringify(r.dflt));
    assert.equal(r.tooLarge?.[0], "too-large", JSON.stringify(r.tooLarge));
    assert.match(r.tooLarge[1], /at most \d+ px/);
    assert.deepEqual([r.destroyed, r.closed], ["destroyed", true]);

    // The saved file, stylized by the native engine: the browser's picture up to rounding.
    const saved = Buffer.from(r.saved);
    const header = JSON.parse(saved.subarray(8, 8 + Number(saved.readBigUInt64LE(0))).toString());
    assert.equal(header.__metadata__.family, "multistyle26-style");
    assert.equal(header.__metadata__.name, "tiny");
    assert.equal(header.__metadata__["train.steps_done"], "6");
    assert.match(header.__metadata__.painting_sha256, /^[0-9a-f]{64}$/);
    const out = nativeStylize(saved, new URL("coffee_64x48.png", JOHNSON));
    const native = await page.evaluate(async (png) => {
      const img = await window.styleTransferModule.toImageData(Uint8Array.from(atob(png), (c) => c.charCodeAt(0)));
      return Array.from(img.data);
    }, readFileSync(out).toString("base64"));
    let max = 0;
    let sum = 0;
    for (let i = 0; i < native.length; i++) {
      if (i % 4 === 3) continue;
      const d = Math.abs(native[i] - r.styled.data[i]);
      max = Math.max(max, d);
      sum += d;
    }
    // SwiftShader against lavapipe: float sums in another order, then 8-bit rounding.
    assert.ok(max <= 2 && sum / (native.length * 0.75) <= 0.1, `mean ${sum / (native.length * 0.75)}, max ${max}`);

    await trainTab(page);
  } finally {
    await browser.close();
  }
});

/** The demo's Train tab: start a run, watch it report, cancel it, use the style in the filter. */
async function trainTab(page) {
  await page.waitForSelector("body[data-gallery=done]", { timeout: 300_000 });
  await page.click("#tab-train");
  assert.equal(await page.isVisible("#train"), true);
  assert.match(await page.textContent("#t-downloads"), /VGG16.*\d+\.\d MB.*training photos \(\d+\.\d MB\)/);
  // The user's own photos (so the tab does not depend on the package's set).
  await page.setInputFiles("#t-photos", [fileURLToPath(new URL("content.png", GATYS)), fileURLToPath(new URL("other.png", GATYS))]);
  await page.waitForFunction(() => document.getElementById("t-photo-note").textContent.startsWith("2 photos"), null, { timeout: 60_000 });
  await page.selectOption("#t-size", "32");
  await page.fill("#t-steps", "100");
  await page.fill("#t-batch", "1");
  await page.fill("#t-name", "tab-style");
  await page.click("#t-start");
  await page.waitForFunction(() => Number(document.body.dataset.trainStep) >= 3, null, { timeout: 300_000 });
  assert.match(await page.textContent("#t-stats"), /step \d+\/100 · [\d.]+ steps\/s · .* left · loss /);
  await page.screenshot({ path: `${SHOTS}/train.png`, fullPage: true });
  await page.click("#t-cancel");
  await page.waitForFunction(() => document.body.dataset.train === "cancelled", null, { timeout: 120_000 });
  assert.match(await page.textContent("#t-stats"), /cancelled after \d+ steps/);
  assert.equal(await page.getAttribute("#t-download", "aria-disabled"), null);
  assert.equal(await page.getAttribute("#t-download", "download"), "tab-style.safetensors");
  const meta = await page.evaluate(async () => {
    const b = new Uint8Array(await (await fetch(document.getElementById("t-download").href)).arrayBuffer());
    const n = Number(new DataView(b.buffer).getBigUint64(0, true));
    return JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n))).__metadata__;
  });
  assert.deepEqual([meta.name, meta.painting, meta.family], ["tab-style", "starry_night.jpg", "multistyle26-style"]);
  assert.match(meta.painting_sha256, /^[0-9a-f]{64}$/);
  const renders = Number(await page.getAttribute("body", "data-renders"));
  await page.click("#t-use");
  // The filter shows the new style: picked, in the gallery, rendered.
  assert.equal(await page.isVisible("#filter"), true);
  assert.equal(await page.inputValue("#style"), "learned:0");
  await page.waitForFunction((n) => Number(document.body.dataset.renders) > n, renders, { timeout: 120_000 });
  const thumb = page.locator('#gallery [data-value="learned:0"]');
  assert.equal(await thumb.getAttribute("aria-pressed"), "true");
  assert.equal(await thumb.getAttribute("aria-label"), "Your style tab-style");
}
