// The Gatys studio in headless Chromium (WebGPU on SwiftShader): a small run through the JS API
// reports every iteration with falling loss and changing previews; the studio tab's controls run
// and cancel a run; bad options are named errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { serveDist, SHOTS } from "./server.mjs";
import { launch } from "./browser.mjs";

const dist = serveDist();

test("a Gatys run reports progress, lowers the loss, updates the preview and can be cancelled", async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => console.error("page error:", e.message));
    await page.goto(dist.url());
    await page.waitForSelector("body[data-state]", { timeout: 120_000 });

    // Through the API: 32 px, 3 Adam steps from the photo, a preview every iteration.
    const r = await page.evaluate(async () => {
      const st = window.styleTransfer;
      const load = (id) => {
        const c = document.getElementById(id);
        return c.getContext("2d").getImageData(0, 0, c.width, c.height);
      };
      const photo = load("before");
      const painting = new ImageData(48, 40);
      for (let i = 0; i < painting.data.length; i += 4) {
        painting.data.set([(i * 7) % 256, (i * 3) % 200, 255 - ((i * 5) % 256), 255], i);
      }
      const events = [];
      const run = st.gatys(photo, painting, { size: 32, iterations: 3, optimizer: "adam", init: "content", previewEvery: 1 });
      run.onProgress((e) => events.push({ i: e.iteration, total: e.total, preview: e.preview ? Array.from(e.preview.data.slice(0, 4096)) : null, w: e.preview?.width }));
      const out = await run.result;
      const bad = await st.gatys(photo, painting, { size: 32, optimizer: "sgd" }).result.then(() => null, (e) => ({ code: e.code, message: e.message }));
      // Cancel after the first reported iteration.
      const long = st.gatys(photo, painting, { size: 32, iterations: 50, optimizer: "adam" });
      let seen = 0;
      for await (const e of long) {
        seen++;
        if (e.iteration >= 1) long.cancel();
      }
      const cancelled = await long.result.then(() => null, (e) => ({ code: e.code, iterations: e.iterations, w: e.image?.width }));
      return { events, w: out.image.width, h: out.image.height, iterations: out.iterations, bad, cancelled, seen };
    });
    assert.deepEqual(r.events.map((e) => e.i), [0, 1, 2, 3], "one event per iteration");
    assert.ok(r.events[3].total < r.events[0].total, `the loss falls: ${r.events.map((e) => e.total)}`);
    assert.equal(r.events[3].w, 32);
    assert.notDeepEqual(r.events[3].preview, r.events[0].preview, "the preview changes");
    assert.equal(r.w, 32);
    assert.equal(r.iterations, 3);
    assert.equal(r.bad.code, "invalid-argument");
    assert.match(r.bad.message, /optimizer/);
    assert.equal(r.cancelled.code, "cancelled");
    // The loop body sees an event after the engine has moved on, so the run stops at the next
    // reported iteration (1 or 2), long before its 50.
    assert.ok(r.cancelled.iterations >= 1 && r.cancelled.iterations <= 2, `stopped after ${r.cancelled.iterations}`);
    assert.equal(r.cancelled.w, 32);
    assert.equal(r.seen, r.cancelled.iterations + 1, "one event per iteration until the stop");

    // Through the studio tab: start a 64 px run, watch it report, cancel it.
    await page.click("#tab-studio");
    assert.equal(await page.isVisible("#studio"), true);
    assert.equal(await page.isVisible("#filter"), false);
    await page.selectOption("#g-size", "64");
    await page.fill("#g-iterations", "40");
    await page.selectOption("#g-optimizer", "adam");
    await page.click("#g-start");
    await page.waitForFunction(() => Number(document.body.dataset.gatysIteration) >= 2, null, { timeout: 300_000 });
    await page.screenshot({ path: `${SHOTS}/studio.png`, fullPage: true });
    await page.click("#g-cancel");
    await page.waitForFunction(() => document.body.dataset.gatys === "cancelled", null, { timeout: 120_000 });
    assert.match(await page.textContent("#g-stats"), /Cancelled after \d+ iterations/);
    assert.equal(await page.getAttribute("#g-download", "aria-disabled"), null);
  } finally {
    await browser.close();
  }
});
