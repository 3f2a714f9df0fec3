// stylizeTo() in a real browser canvas: a HEADED Chromium (under `xvfb-run -a`; headless
// Chromium cannot present WebGPU canvases here) on SwiftShader. A frame drawn into a WebGPU
// canvas, read back through a page screenshot (drawImage of a WebGPU canvas reads zeros here),
// equals stylize()'s ImageData up to 8-bit rounding, with strength < 1 and with colour
// preservation; frames per second are measured; the demo's webcam draws with stylizeTo.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { serve, SHOTS } from "./server.mjs";
import { launch } from "./browser.mjs";
import { mkdirSync } from "node:fs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
let server;
let browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await serve(ROOT);
  browser = await launch({ headed: true });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** Decodes PNG bytes in the page into RGBA bytes (no colour conversion). */
async function decodeInPage(page, png) {
  return page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const bmp = await createImageBitmap(new Blob([bytes], { type: "image/png" }), { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    const c = new OffscreenCanvas(bmp.width, bmp.height).getContext("2d");
    c.drawImage(bmp, 0, 0);
    return { width: bmp.width, height: bmp.height, data: Array.from(c.getImageData(0, 0, bmp.width, bmp.height).data) };
  }, png.toString("base64"));
}

test("a frame drawn by stylizeTo equals stylize()'s pixels (read through a screenshot)", async () => {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(`${server.url}tests/e2e/api.html`);
  await page.waitForFunction(() => document.body.dataset.ready === "1");
  await page.evaluate(async () => {
    window.st = await m.StyleTransfer.create();
    const png = await (await fetch("/tests/fixtures/arbitrary/coffee_blend.png")).arrayBuffer();
    // An odd size (not a multiple of 4): the net pads by reflection and the shader crops.
    const full = await m.toImageData(new Uint8Array(png));
    const c = new OffscreenCanvas(90, 61).getContext("2d");
    c.putImageData(full, 0, 0);
    window.photo = c.getImageData(0, 0, 90, 61);
    const canvas = document.createElement("canvas");
    canvas.id = "live";
    canvas.style.cssText = "position: fixed; left: 0; top: 0; image-rendering: pixelated;";
    document.body.append(canvas);
  });
  const cases = [
    { style: 3, strength: 0.6 },
    { style: { 3: 0.5, 12: 0.5 }, preserveColors: true },
    { style: 19 },
  ];
  for (const opts of cases) {
    const want = await page.evaluate(async (o) => {
      const canvas = document.getElementById("live");
      await st.stylizeTo(canvas, photo, o);
      canvas.style.width = `${canvas.width}px`;
      canvas.style.height = `${canvas.height}px`;
      const out = await st.stylize(photo, o);
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      return { width: out.width, height: out.height, data: Array.from(out.data) };
    }, opts);
    const shot = await page.locator("#live").screenshot();
    const got = await decodeInPage(page, shot);
    assert.deepEqual([got.width, got.height], [want.width, want.height]);
    let max = 0;
    let sum = 0;
    for (let i = 0; i < got.data.length; i += 4) {
      for (let c = 0; c < 3; c++) {
        const d = Math.abs(got.data[i + c] - want.data[i + c]);
        max = Math.max(max, d);
        sum += d;
      }
    }
    const mean = sum / ((got.data.length / 4) * 3);
    console.log(`stylizeTo vs stylize ${JSON.stringify(opts)}: mean ${mean.toFixed(3)}, max ${max} (8-bit levels)`);
    // 8-bit rounding: the shader and the CPU compose in f32 and round separately.
    assert.ok(max <= 1 && mean < 0.2, `${JSON.stringify(opts)}: mean ${mean}, max ${max}`);
  }
  // Frames per second of the live path at the webcam's 320x240, against stylize() + putImageData.
  const fps = await page.evaluate(async () => {
    const frame = new ImageData(320, 240);
    for (let i = 0; i < frame.data.length; i += 4) frame.data.set([(i * 3) % 256, (i * 7) % 256, (i * 11) % 256, 255], i);
    const canvas = document.getElementById("live");
    const time = async (f) => {
      await f(); // records the plan for this size
      const t0 = performance.now();
      for (let i = 0; i < 2; i++) await f();
      return 2000 / (performance.now() - t0);
    };
    const live = await time(() => st.stylizeTo(canvas, frame, { style: 19 }));
    const g = new OffscreenCanvas(320, 240).getContext("2d");
    const readback = await time(async () => g.putImageData(await st.stylize(frame, { style: 19 }), 0, 0));
    return { live, readback };
  });
  console.log(`320x240 on SwiftShader: stylizeTo ${fps.live.toFixed(2)} fps, stylize() + putImageData ${fps.readback.toFixed(2)} fps`);
  assert.ok(fps.live > 0);
  await page.close();
});

test("the demo's webcam draws with stylizeTo where the browser presents", async () => {
  const dist = await serve(fileURLToPath(new URL("../../dist/", import.meta.url)));
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  try {
    await page.goto(dist.url);
    // The webcam button works as soon as the GPU is open (the first picture may still render).
    await page.waitForSelector("#tabs:not([hidden])", { timeout: 120_000 });
    await page.click("#webcam");
    await page.waitForFunction(() => Number(document.body.dataset.liveFrames) >= 2, null, { timeout: 180_000 });
    assert.equal(await page.getAttribute("body", "data-live-mode"), "present");
    assert.equal(await page.isVisible("#live"), true);
    assert.equal(await page.isVisible("#after"), false);
    const timing = await page.textContent("#timing");
    assert.match(timing, /drawn on the GPU, no read-back: [\d.]+ fps/);
    console.log(`demo webcam: ${timing}`);
    // The drawn frame is a picture, not a black canvas. (A page screenshot clipped to the
    // canvas: an element screenshot waits for the element to be still for two animation
    // frames, which a page busy drawing the webcam may not give it in time.)
    const box = await page.locator("#live").boundingBox();
    const got = await decodeInPage(page, await page.screenshot({ clip: box, timeout: 120_000 }));
    const mean = got.data.reduce((s, v, i) => (i % 4 === 3 ? s : s + v), 0) / ((got.data.length / 4) * 3);
    assert.ok(mean > 10, `the live canvas shows a picture (mean level ${mean})`);
    await page.screenshot({ path: `${SHOTS}/webcam-live.png`, fullPage: true });
    await page.click("#webcam");
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await dist.close();
  }
});
