// A Johnson net loaded in the browser with loadModel(): the seeded fixture net (see
// tools/make_johnson_fixture.py) stylizes its photo to onnxruntime's output up to 8-bit rounding.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { serveDist } from "./server.mjs";
import { launch } from "./browser.mjs";

const FIX = new URL("../fixtures/johnson/", import.meta.url);
const dist = serveDist();

test("loadModel() runs a converted Johnson net like onnxruntime", async () => {
  const model = readFileSync(new URL("seeded.safetensors", FIX)).toString("base64");
  const photo = readFileSync(new URL("coffee_64x48.png", FIX)).toString("base64");
  const ref = new Float32Array(readFileSync(new URL("coffee_64x48.out.f32", FIX)).buffer.slice(0));
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(dist.url());
    await page.waitForSelector("body[data-state]", { timeout: 120_000 });
    const r = await page.evaluate(
      async ({ model, photo }) => {
        const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const st = window.styleTransfer;
        const net = await st.loadModel(bytes(model));
        const out = await st.stylize(bytes(photo), { model: net });
        const errs = [];
        for (const f of [() => st.stylize(bytes(photo), { model: net, style: 3 }), () => st.loadModel(new Uint8Array(100))]) {
          errs.push(await f().then(() => null, (e) => e.code));
        }
        return { w: out.width, h: out.height, data: Array.from(out.data), errs };
      },
      { model, photo },
    );
    assert.deepEqual([r.w, r.h], [64, 48]);
    const n = r.w * r.h;
    let sum = 0;
    let max = 0;
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) {
        const want = Math.round(Math.min(255, Math.max(0, ref[c * n + i])));
        const d = Math.abs(r.data[i * 4 + c] - want);
        sum += d;
        max = Math.max(max, d);
      }
    }
    // 8-bit rounding of values within 1e-3 of onnxruntime's: at most 1 level, rarely.
    assert.ok(max <= 1 && sum / (3 * n) <= 0.05, `mean ${sum / (3 * n)}, max ${max}`);
    assert.deepEqual(r.errs, ["invalid-argument", "bad-model"]);
  } finally {
    await browser.close();
  }
});
