// The webcam in headless Chromium: the page tries stylizeTo() first, and since this headless
// Chromium's SwiftShader WebGPU cannot present to any canvas (getCurrentTexture() fails with "A
// valid external Instance reference no longer exists"), it falls back to stylize() into the
// After canvas and says so; the frames are stylized (they differ from the camera's). A failed
// present leaves the engine working. stylizeTo() refuses a target that is not a canvas. The
// presenting path itself is tested headed, in live-canvas.test.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { serveDist, SHOTS } from "./server.mjs";
import { launch } from "./browser.mjs";

const dist = serveDist();

test("the webcam streams stylized frames into the page", async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    // The page's console, to say what happened if no frames come.
    const log = [];
    const t0 = Date.now();
    page.on("console", (m) => log.push(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${m.text()}`));
    await page.goto(dist.url());
    await page.waitForSelector("body[data-renders]", { timeout: 120_000 });
    const bad = await page.evaluate(() => window.styleTransfer.stylizeTo({}, new ImageData(8, 8), {}).then(() => null, (e) => e.code));
    assert.equal(bad, "invalid-argument");
    await page.click("#webcam");
    try {
      await page.waitForFunction(() => Number(document.body.dataset.liveFrames) >= 3, null, { timeout: 120_000 });
    } catch (e) {
      const state = await page.evaluate(() => ({ frames: document.body.dataset.liveFrames, timing: document.getElementById("timing").textContent })).catch((x) => x.message);
      throw new Error(`no 3 live frames in 120 s: ${JSON.stringify(state)}; console: ${JSON.stringify(log)}; page errors: ${JSON.stringify(errors)}`, { cause: e });
    }
    const timing = await page.textContent("#timing");
    assert.match(timing, /read back: [\d.]+ fps \(\d+ ms per frame\)/);
    assert.match(timing, /drawing into a WebGPU canvas failed in this browser/);
    assert.equal(await page.getAttribute("body", "data-live-mode"), "readback");
    // A stylized camera frame: compare the After canvas with the camera's own picture.
    const diff = await page.evaluate(() => {
      const after = document.getElementById("after");
      const video = document.getElementById("camera");
      const a = after.getContext("2d").getImageData(0, 0, after.width, after.height).data;
      const c = new OffscreenCanvas(after.width, after.height).getContext("2d");
      c.drawImage(video, 0, 0, after.width, after.height);
      const v = c.getImageData(0, 0, after.width, after.height).data;
      let sum = 0;
      for (let i = 0; i < a.length; i += 4) for (let k = 0; k < 3; k++) sum += Math.abs(a[i + k] - v[i + k]);
      return { size: [after.width, after.height], mean: sum / ((a.length / 4) * 3) };
    });
    assert.deepEqual(diff.size, [320, 240]);
    assert.ok(diff.mean > 10, `the live frame is too close to the camera frame: ${JSON.stringify(diff)}`);
    await page.screenshot({ path: `${SHOTS}/webcam.png`, fullPage: true });
    await page.click("#webcam");
    assert.equal(await page.getAttribute("#webcam", "aria-pressed"), "false");
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test("the page fits a phone's width", async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto(dist.url());
    await page.waitForSelector("body[data-renders]", { timeout: 120_000 });
    for (const tab of ["#tab-filter", "#tab-studio", "#tab-train"]) {
      await page.click(tab);
      const over = await page.evaluate(() => {
        const wide = [...document.querySelectorAll("body *")].filter((e) => e.offsetParent && e.getBoundingClientRect().right > window.innerWidth + 1);
        return { scroll: document.documentElement.scrollWidth, wide: wide.slice(0, 5).map((e) => e.id || e.tagName) };
      });
      assert.ok(over.scroll <= 376 && over.wide.length === 0, `${tab}: ${JSON.stringify(over)}`);
      await page.screenshot({ path: `${SHOTS}/phone${tab.replace("#tab", "")}.png`, fullPage: true });
    }
  } finally {
    await browser.close();
  }
});
