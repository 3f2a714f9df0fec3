// Models loaded in the browser with loadModel(): the seeded Johnson fixture net (see
// tools/make_johnson_fixture.py) stylizes its photo to onnxruntime's output up to 8-bit
// rounding; a style learned by `style-transfer train` runs like the native CLI runs it, alone
// and in blends with the built-in styles.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { serveDist } from "./server.mjs";
import { launch } from "./browser.mjs";

const FIX = new URL("../fixtures/johnson/", import.meta.url);
const TRAIN = new URL("../fixtures/train/", import.meta.url);
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
    await learnedStyle(page, photo);
  } finally {
    await browser.close();
  }
});

/** The learned style fixture against the CLI's output for the same photo (same page). */
async function learnedStyle(page, photo) {
  const style = readFileSync(new URL("starry64.safetensors", TRAIN)).toString("base64");
  const want = readFileSync(new URL("coffee_64x48_starry64.rgba", TRAIN));
  const r = await page.evaluate(
    async ({ style, photo }) => {
      const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const st = window.styleTransfer;
      const mine = await st.loadModel(bytes(style));
      const run = (options) => st.stylize(bytes(photo), options).then((o) => Array.from(o.data));
      const alone = await run({ model: mine });
      const asStyle = await run({ style: mine });
      const pair = await run({ style: [[mine, 1]] });
      const blend = await run({ style: [[3, 0.5], [mine, 0.5]] });
      const builtin = await run({ style: 3 });
      const bad = await run({ style: [[mine, -1]] }).then(() => null, (e) => [e.code, e.message]);
      return { family: mine.family, alone, asStyle, pair, blend, builtin, bad };
    },
    { style, photo },
  );
  assert.equal(r.family, "multistyle26-style");
  // SwiftShader against lavapipe: float sums in another order, then 8-bit rounding.
  let max = 0;
  let sum = 0;
  for (let i = 0; i < want.length; i++) {
    if (i % 4 === 3) continue;
    const d = Math.abs(r.alone[i] - want[i]);
    max = Math.max(max, d);
    sum += d;
  }
  assert.ok(max <= 2 && sum / (want.length * 0.75) <= 0.1, `mean ${sum / (want.length * 0.75)}, max ${max}`);
  assert.deepEqual(r.asStyle, r.alone);
  assert.deepEqual(r.pair, r.alone);
  assert.notDeepEqual(r.blend, r.alone);
  assert.notDeepEqual(r.blend, r.builtin);
  assert.equal(r.bad[0], "invalid-argument");
  assert.match(r.bad[1], /-1; weights must be finite numbers >= 0/);
}
