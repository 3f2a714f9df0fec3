// The arbitrary-style pair in the browser: styleVector() of a painting and stylize() with a
// style vector match onnxruntime on the float graph (tests/fixtures/arbitrary, made by
// tools/make_fixtures.py) up to 8-bit rounding; the page's "style of any painting" control
// renders with it; tileSize gives the untiled picture.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { serveDist, SHOTS } from "./server.mjs";
import { launch } from "./browser.mjs";

const FIX = new URL("../fixtures/arbitrary/", import.meta.url);
const dist = serveDist();

test("styleVector() and stylize({ styleVector }) match onnxruntime; the page uses a painting", async () => {
  const cases = JSON.parse(readFileSync(new URL("cases.json", FIX), "utf8"));
  const painting = readFileSync(new URL("starry_night_256.png", FIX)).toString("base64");
  const photo = readFileSync(new URL("coffee_blend.png", FIX)).toString("base64");
  const want = cases.vectors.float["starry_night.jpg"];
  const blend = cases.cases.find((c) => c.name === "coffee_blend").style;
  const raw = readFileSync(new URL("coffee_blend.float.u16", FIX));
  const ref = Float32Array.from(new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2), (v) => v / 65535);
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(dist.url());
    await page.waitForSelector("body[data-state]", { timeout: 120_000 });
    const r = await page.evaluate(
      async ({ painting, photo, vectors, blend }) => {
        const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const st = window.styleTransfer;
        const { blendStyleVectors } = window.styleTransferModule;
        const vec = await st.styleVector(bytes(painting));
        const style = blendStyleVectors(Object.entries(blend).map(([p, w]) => [Float32Array.from(vectors[p]), w]));
        const out = await st.stylize(bytes(photo), { styleVector: style });
        const tiled = await st.stylize(bytes(photo), { styleVector: style, tileSize: 32 });
        let tileDiff = 0;
        for (let i = 0; i < out.data.length; i++) tileDiff = Math.max(tileDiff, Math.abs(out.data[i] - tiled.data[i]));
        const errs = [];
        for (const f of [
          () => st.stylize(bytes(photo), { styleVector: new Float32Array(99) }),
          () => st.stylize(bytes(photo), { style: 3, styleImage: bytes(painting) }),
          () => Promise.resolve().then(() => blendStyleVectors([[vec, 0]])),
          () => st.stylize(bytes(photo), { style: 3, tileSize: -1 }),
        ]) {
          errs.push(await f().then(() => null, (e) => e.code));
        }
        return { vec: Array.from(vec), w: out.width, h: out.height, data: Array.from(out.data), errs, tileDiff };
      },
      { painting, photo, vectors: cases.vectors.float, blend },
    );
    let d2 = 0;
    let n2 = 0;
    want.forEach((v, i) => {
      d2 += (r.vec[i] - v) ** 2;
      n2 += v * v;
    });
    assert.ok(Math.sqrt(d2 / n2) < 2e-3, `style vector off by ${Math.sqrt(d2 / n2)} (relative)`);
    assert.deepEqual([r.w, r.h], [96, 64]);
    const n = r.w * r.h;
    let sum = 0;
    let max = 0;
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) {
        const d = Math.abs(r.data[i * 4 + c] - ref[c * n + i] * 255);
        sum += d;
        max = Math.max(max, d);
      }
    }
    // The float graph's bounds (0.5 / 2 levels) plus 8-bit rounding (0.5).
    assert.ok(sum / (3 * n) <= 0.75 && max <= 2.5, `mean ${sum / (3 * n)}, max ${max}`);
    assert.deepEqual(r.errs, ["invalid-argument", "invalid-argument", "invalid-argument", "invalid-argument"]);
    // tileSize: 32 px tiles with whole-image statistics give the same picture.
    assert.ok(r.tileDiff <= 1, `tiled output differs by ${r.tileDiff} levels`);

    // The page: "Use Starry Night" switches the filter to that painting's style.
    await page.waitForSelector("body[data-renders]", { timeout: 120_000 });
    const before = await page.evaluate(() => document.getElementById("after").toDataURL());
    const renders = Number(await page.getAttribute("body", "data-renders"));
    await page.click("#use-sample-painting");
    await page.waitForFunction((n) => document.body.dataset.painting === "1" && Number(document.body.dataset.renders) > n && !document.body.dataset.busy, renders, { timeout: 120_000 });
    assert.equal(await page.inputValue("#style"), "painting");
    const after = await page.evaluate(() => document.getElementById("after").toDataURL());
    assert.notEqual(after, before, "the painting's style changed the picture");
    await page.screenshot({ path: `${SHOTS}/painting-style.png`, fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
