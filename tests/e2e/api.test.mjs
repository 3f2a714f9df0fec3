// The JS API's contract, through the package in pkg/ imported by a bare page (api.html), in
// one headless Chromium: every error has a `code`; options are validated, not coerced;
// destroy() during a call; AbortSignal; download progress; the sha256 check of the package's
// model files (a damaged Cache API entry is fetched again, a damaged download is `bad-model`);
// a lost device is `device-lost` and create() works afterwards (also when presenting a canvas
// destroyed it, as headless Chromium does).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { serve } from "./server.mjs";
import { launch } from "./browser.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
let server;
let browser;
let page;
const requests = [];

before(async () => {
  server = await serve(ROOT);
  browser = await launch();
  page = await browser.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  page.on("request", (r) => requests.push(r.url()));
  // Keep every GPUDevice the page opens, so a test can destroy one behind the engine's back
  // (what a driver reset or a lost GPU looks like to the page).
  await page.addInitScript(() => {
    window.devices = [];
    const request = GPUAdapter.prototype.requestDevice;
    GPUAdapter.prototype.requestDevice = async function (...args) {
      const d = await request.apply(this, args);
      window.devices.push(d);
      return d;
    };
  });
  await page.goto(`${server.url}tests/e2e/api.html`);
  await page.waitForFunction(() => document.body.dataset.ready === "1");
  // One StyleTransfer, a 32x24 photo, and the fixture painting's bytes for the tests below.
  await page.evaluate(async () => {
    window.st = await m.StyleTransfer.create();
    const photo = new ImageData(32, 24);
    for (let i = 0; i < photo.data.length; i += 4) photo.data.set([(i * 7) % 256, (i * 3) % 256, 255 - (i % 256), 255], i);
    window.photo = photo;
    // A larger one, for calls that must still be running a few milliseconds after they start.
    const big = new ImageData(128, 96);
    for (let i = 0; i < big.data.length; i += 4) big.data.set([(i * 5) % 256, (i * 11) % 256, (i * 13) % 256, 255], i);
    window.big = big;
    window.painting = new Uint8Array(await (await fetch("/tests/fixtures/arbitrary/starry_night_256.png")).arrayBuffer());
    window.outcome = (p) => p.then((v) => ({ ok: true, width: v?.width }), (e) => ({ code: e.code, message: e.message, name: e.constructor.name }));
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test("every error has a code, and bad options are named as written, not coerced", async () => {
  const r = await page.evaluate(async () => {
    const { blendStyleVectors, ERROR_CODES } = m;
    const vec = new Float32Array(100);
    const cases = {
      "stylize(null)": () => st.stylize(null),
      "stylize()": () => st.stylize(),
      "styleVector(undefined)": () => st.styleVector(undefined),
      "toImageData(42)": () => m.toImageData(42),
      "style NaN": () => st.stylize(photo, { style: NaN }),
      "style 3.7": () => st.stylize(photo, { style: 3.7 }),
      "style 2**32+3": () => st.stylize(photo, { style: 2 ** 32 + 3 }),
      "style -1": () => st.stylize(photo, { style: -1 }),
      "style 26": () => st.stylize(photo, { style: 26 }),
      "style {abc:1}": () => st.stylize(photo, { style: { abc: 1 } }),
      "style [3, 12]": () => st.stylize(photo, { style: [3, 12] }),
      "style \"3\"": () => st.stylize(photo, { style: "3" }),
      "style {3: -1}": () => st.stylize(photo, { style: { 3: -1 } }),
      "style {3: 0}": () => st.stylize(photo, { style: { 3: 0 } }),
      "style {3: Infinity}": () => st.stylize(photo, { style: { 3: Infinity } }),
      "maxSize -1": () => st.stylize(photo, { maxSize: -1 }),
      "maxSize NaN": () => st.stylize(photo, { maxSize: NaN }),
      "maxSize 1e400": () => st.stylize(photo, { maxSize: 1e400 }),
      "tileSize 1.5": () => st.stylize(photo, { tileSize: 1.5 }),
      "strength 2": () => st.stylize(photo, { strength: 2 }),
      "strength \"0.5\"": () => st.stylize(photo, { strength: "0.5" }),
      "preserveColors \"false\"": () => st.stylize(photo, { preserveColors: "false" }),
      "strenght": () => st.stylize(photo, { strenght: 0.5 }),
      "options null": () => st.stylize(photo, null),
      "styleVector NaN": () => st.stylize(photo, { styleVector: new Float32Array(100).fill(NaN) }),
      "model {}": () => st.stylize(photo, { model: {} }),
      "signal {}": () => st.stylize(photo, { signal: {} }),
      "stylizeTo tileSize": () => st.stylizeTo(document.createElement("canvas"), photo, { tileSize: 8 }),
      "onProgress 3": () => st.stylize(photo, { onProgress: 3 }),
      "stylizeTo onProgress": () => st.stylizeTo(document.createElement("canvas"), photo, { onProgress: () => {} }),
      "stylizeTo({})": () => st.stylizeTo({}, photo),
      "gatys size \"64\"": () => st.gatys(photo, photo, { size: "64" }).result,
      "gatys weights [1, NaN]": () => st.gatys(photo, [photo, photo], { styleBlendWeights: [1, NaN] }).result,
      "gatys weights length": () => st.gatys(photo, [photo, photo], { styleBlendWeights: [1] }).result,
      "gatys optimizer": () => st.gatys(photo, photo, { optimizer: "sgd" }).result,
      "gatys itterations": () => st.gatys(photo, photo, { itterations: 3 }).result,
      "gatys styles []": () => st.gatys(photo, []).result,
      "blend [[vec, -1]]": () => Promise.resolve().then(() => blendStyleVectors([[vec, -1]])),
      "create powerPreference": () => m.StyleTransfer.create({ powerPreference: "fast" }),
      "benchConv 0": () => st.benchConv(0),
      "profile resnet": () => st.profile("resnet"),
      "profile size 8": () => st.profile("multistyle", { size: 8 }),
      "create tune": () => m.StyleTransfer.create({ tune: "fast" }),
      "create tuneBudgetMs": () => m.StyleTransfer.create({ tuneBudgetMs: 0 }),
      "tune resnet": () => st.tune("resnet"),
      "tune budgetMs": () => st.tune("multistyle", { budgetMs: -5 }),
      "loadModel 42": () => st.loadModel(42),
      "loadModel bytes": () => st.loadModel(new Uint8Array(100)),
      "stylize bad bytes": () => st.stylize(new Uint8Array([1, 2, 3])),
    };
    const out = {};
    for (const [name, f] of Object.entries(cases)) {
      let p;
      try {
        p = f();
      } catch (e) {
        out[name] = { threw: true, code: e.code, message: e.message };
        continue;
      }
      out[name] = await outcome(p);
    }
    // Weights near the float limit: normalised by the largest first, the same blend as 1:1.
    const huge = await st.stylize(photo, { style: { 3: 3e38, 12: 3e38 } });
    const half = await st.stylize(photo, { style: { 3: 0.5, 12: 0.5 } });
    const hugeSame = huge.data.every((v, i) => v === half.data[i]);
    // Progress of a run in tiles: in parts, each further on, ending at the whole run; a
    // throwing callback's error is the call's. A whole-image run reports nothing.
    const events = [];
    const tiled = await st.stylize(big, { tileSize: 32, onProgress: (e) => events.push(e) });
    const untiled = await st.stylize(big, { onProgress: (e) => events.push(["whole", e]) });
    const sameTiled = tiled.data.every((v, i) => Math.abs(v - untiled.data[i]) <= 1);
    const thrown = await outcome(st.stylize(big, { tileSize: 32, onProgress: () => { throw new Error("from the callback"); } }));
    const a = new Float32Array(100).fill(1);
    const b = new Float32Array(100).fill(3);
    const blend = blendStyleVectors([[a, 1e308], [b, 1e308]]);
    // The 26-style net's plan, dispatch by dispatch.
    const p = await st.profile("multistyle", { size: 32, runs: 1 });
    const profile = {
      n: p.dispatches.length,
      first: p.dispatches[0],
      timed: p.dispatches.every((d) => d.ms > 0) && p.planMs > 0,
      kernels: [...new Set(p.dispatches.map((d) => d.kernel))].sort(),
      unstated: p.dispatches.filter((d) => d.flops === 0).every((d) => d.gflops === null),
      timing: p.timing === (st.adapter.timestampQuery ? "gpu" : "host"),
    };
    return { out, hugeSame, blend: [blend[0], blend[99]], codes: ERROR_CODES, events, sameTiled, thrown, profile };
  });
  for (const [name, o] of Object.entries(r.out)) {
    assert.ok(!o.threw, `${name} threw synchronously: ${JSON.stringify(o)}`);
    assert.ok(r.codes.includes(o.code), `${name}: no code: ${JSON.stringify(o)}`);
  }
  const expect = (name, code, pattern) => {
    assert.equal(r.out[name].code, code, `${name}: ${JSON.stringify(r.out[name])}`);
    if (pattern) assert.match(r.out[name].message, pattern, name);
  };
  expect("stylize(null)", "invalid-argument", /image must be .* got null/);
  expect("stylize()", "invalid-argument", /got undefined/);
  expect("styleVector(undefined)", "invalid-argument", /painting must be .* got undefined/);
  expect("toImageData(42)", "invalid-argument", /got 42/);
  expect("style NaN", "invalid-argument", /got NaN/);
  expect("style 3.7", "invalid-argument", /got 3\.7/);
  expect("style 2**32+3", "invalid-argument", /got 4294967299/);
  expect("style -1", "invalid-argument", /0 to 25.*got -1$/);
  expect("style 26", "invalid-argument", /0 to 25.*got 26/);
  expect("style {abc:1}", "invalid-argument", /key "abc" is not a style index/);
  expect("style [3, 12]", "invalid-argument", /style\[0\] must be a \[style, weight\] pair, got 3/);
  expect("style \"3\"", "invalid-argument", /got "3"/);
  expect("style {3: -1}", "invalid-argument", /is -1; weights must be finite numbers >= 0/);
  expect("style {3: 0}", "invalid-argument", /sum to 0/);
  expect("style {3: Infinity}", "invalid-argument", /is Infinity/);
  expect("maxSize -1", "invalid-argument", /maxSize must be a whole number >= 0.*got -1/);
  expect("maxSize NaN", "invalid-argument", /maxSize .* got NaN/);
  expect("maxSize 1e400", "invalid-argument", /got Infinity/);
  expect("tileSize 1.5", "invalid-argument", /tileSize .* got 1\.5/);
  expect("strength 2", "invalid-argument", /strength must be a finite number from 0 to 1, got 2/);
  expect("strength \"0.5\"", "invalid-argument", /got "0\.5"/);
  expect("preserveColors \"false\"", "invalid-argument", /preserveColors must be true or false, got "false"/);
  expect("strenght", "invalid-argument", /unknown option "strenght" \(did you mean strength\?\)/);
  expect("options null", "invalid-argument", /options must be a plain object.*got null/);
  expect("styleVector NaN", "invalid-argument", /styleVector\[0\] is NaN/);
  expect("model {}", "invalid-argument", /model must be a net from this StyleTransfer's loadModel/);
  expect("signal {}", "invalid-argument", /signal must be an AbortSignal/);
  expect("stylizeTo tileSize", "invalid-argument", /unknown option "tileSize"/);
  expect("onProgress 3", "invalid-argument", /onProgress must be a function, got 3/);
  expect("stylizeTo onProgress", "invalid-argument", /unknown option "onProgress"/);
  expect("stylizeTo({})", "invalid-argument", /canvas must be an HTMLCanvasElement/);
  expect("gatys size \"64\"", "invalid-argument", /size must be a whole number >= 1, got "64"/);
  expect("gatys weights [1, NaN]", "invalid-argument", /style blend weight 1 is NaN/);
  expect("gatys weights length", "invalid-argument", /1 styleBlendWeights for 2 style images/);
  expect("gatys optimizer", "invalid-argument", /optimizer must be "lbfgs" or "adam", got "sgd"/);
  expect("gatys itterations", "invalid-argument", /did you mean iterations/);
  expect("gatys styles []", "invalid-argument", /at least one style image/);
  expect("blend [[vec, -1]]", "invalid-argument", /is -1/);
  expect("create powerPreference", "invalid-argument", /got "fast"/);
  expect("benchConv 0", "invalid-argument", /got 0/);
  expect("profile resnet", "invalid-argument", /net must be "multistyle" or "arbitrary" or "gatys", got "resnet"/);
  expect("profile size 8", "invalid-argument", /size must be a whole number from 16 to 4096, got 8/);
  expect("create tune", "invalid-argument", /tune must be "off" or "cached" or "full", got "fast"/);
  expect("create tuneBudgetMs", "invalid-argument", /tuneBudgetMs must be a whole number from 1 to 3600000, got 0/);
  expect("tune resnet", "invalid-argument", /net must be "multistyle" or "arbitrary" or "gatys", got "resnet"/);
  expect("tune budgetMs", "invalid-argument", /budgetMs must be a whole number from 1 to 3600000, got -5/);
  expect("loadModel 42", "invalid-argument", /got 42/);
  expect("loadModel bytes", "bad-model");
  expect("stylize bad bytes", "bad-image");
  assert.ok(r.hugeSame, "{3: 3e38, 12: 3e38} stylizes as {3: 0.5, 12: 0.5}");
  // 128x96 in 32 px tiles: a 4 x 3 grid, reported in parts up to the whole run.
  assert.ok(r.events.length > 4 && r.events.every((e) => !Array.isArray(e)), JSON.stringify(r.events));
  assert.ok(r.events.every((e, i) => i === 0 || e.done > r.events[i - 1].done));
  const last = r.events.at(-1);
  assert.deepEqual([last.done, last.tiles, last.tile], [last.total, 12, 32]);
  assert.ok(r.sameTiled, "the tiled run equals the untiled one within one level");
  assert.match(r.thrown.message ?? "", /from the callback/);
  assert.deepEqual(r.blend, [2, 2], "blendStyleVectors with weights 1e308 + 1e308 is the mean");
  // The profile: every dispatch of the net (43 natively: the same plan), timed; the first a
  // 9x9 convolution of the 3 input channels with its operations counted.
  const { n, first, timed, kernels, unstated, timing } = r.profile;
  assert.equal(n, 43);
  assert.ok(timed && unstated && timing, JSON.stringify(r.profile));
  assert.equal(first.label, "contract.0");
  const [c, h, w] = first.output;
  assert.deepEqual([h, w, first.flops], [32, 32, 2 * c * h * w * 3 * 81]);
  assert.ok(first.gflops > 0);
  assert.ok(kernels.includes("conv2d_tiled.wgsl") && kernels.includes("instance_norm.wgsl"), kernels.join());
});

test("kernel tuning: tune() keeps this GPU's tiles in IndexedDB, a new StyleTransfer uses them, pictures do not change", async () => {
  const r = await page.evaluate(async () => {
    const same = (a, b) => a.data.length === b.data.length && a.data.every((v, i) => v === b.data[i]);
    const off = await m.StyleTransfer.create({ tune: "off" });
    const fixed = await off.stylize(photo, { style: 3 });
    const offTune = await outcome(off.tune("multistyle", { size: 32 }));
    off.destroy();
    const a = await m.StyleTransfer.create();
    const first = a.tuning;
    const report = await a.tune("multistyle", { size: 32, budgetMs: 900_000 });
    const again = await a.tune("multistyle", { size: 32 });
    const tuned = await a.stylize(photo, { style: 3 });
    a.destroy();
    // A new StyleTransfer (a new page visit) reads the table back from IndexedDB.
    const b = await m.StyleTransfer.create();
    const restored = b.tuning;
    const fromCache = await b.stylize(photo, { style: 3 });
    b.destroy();
    // A damaged entry is reported, not used, and replaced by the next tuning.
    await new Promise((done) => {
      const req = indexedDB.open("webgpu-style-transfer", 1);
      req.onsuccess = () => {
        const tx = req.result.transaction("kernel-tuning", "readwrite");
        tx.objectStore("kernel-tuning").put("garbage", restored.key);
        tx.oncomplete = () => done(req.result.close());
      };
    });
    const warnings = [];
    const warn = console.warn;
    console.warn = (msg) => warnings.push(String(msg));
    const c = await m.StyleTransfer.create();
    console.warn = warn;
    const damaged = { entries: c.tuning.entries.length, picture: same(await c.stylize(photo, { style: 3 }), fixed) };
    c.destroy();
    await new Promise((done) => {
      const q = indexedDB.deleteDatabase("webgpu-style-transfer");
      q.onsuccess = q.onerror = q.onblocked = done;
    });
    const entry = (e) => ({ key: e.key, choice: e.choice, fixed: e.fixed, faster: e.ms <= e.fixedMs, margin: e.choice === e.fixed || e.ms < 0.95 * e.fixedMs });
    return {
      offTune, firstMode: first.mode, firstEntries: first.entries.length, key: restored.key,
      report: { n: report.tuned.length, left: report.left, summary: report.summary, entries: report.tuned.map(entry) },
      again: { n: again.tuned.length, cached: again.cached },
      restored: restored.entries.length, sameTuned: same(tuned, fixed), sameCached: same(fromCache, fixed), warnings, damaged,
    };
  });
  assert.equal(r.offTune.code, "invalid-argument", JSON.stringify(r.offTune));
  assert.match(r.offTune.message, /created with \{ tune: "off" \}/);
  assert.equal(r.firstMode, "cached");
  assert.equal(r.firstEntries, 0, "a fresh browser profile has nothing tuned");
  assert.match(r.key, /SwiftShader|swiftshader/i, r.key);
  // The 26-style net at 32 px has 8 convolution shapes; each kept tile was timed no slower than
  // the fixed one (and another tile only when 5 % faster).
  assert.equal(r.report.n, 8, JSON.stringify(r.report));
  assert.equal(r.report.left, 0);
  for (const e of r.report.entries) {
    assert.ok(e.faster && e.margin, JSON.stringify(e));
    assert.match(e.key, /^conv2d \d+->\d+ \dx\d s[12] up[12] (stored|map\d) act\d co\d+ out~2\^\d+$/, e.key);
    assert.match(e.choice, /^tiled \d+px \d+co \d+t$/, e.choice);
  }
  assert.match(r.report.summary, /^tuned 8 layer shape\(s\)/);
  assert.deepEqual(r.again, { n: 0, cached: 8 }, "a second tune() times nothing");
  assert.equal(r.restored, 8, "the table comes back from IndexedDB");
  assert.ok(r.sameTuned && r.sameCached, "tuned tiles draw the fixed tiles' picture");
  assert.equal(r.warnings.length, 1, JSON.stringify(r.warnings));
  assert.match(r.warnings[0], /kernel tuning cache is not used.*not a tuning table/);
  assert.deepEqual(r.damaged, { entries: 0, picture: true });
});

test("destroy() during a call takes effect when it ends; later calls are `destroyed`", async () => {
  const r = await page.evaluate(async () => {
    const st2 = await m.StyleTransfer.create();
    await st2.stylize(photo, { style: 3 }); // the net loaded, the shaders compiled
    const device = devices.at(-1);
    let lostAt = null;
    let endedAt = null;
    device.lost.then((info) => (lostAt = { t: performance.now(), reason: info.reason }));
    await st2.stylize(big, { style: 3 }); // this size's plan recorded
    const call = st2.stylize(big, { style: 5 }).then((v) => {
      endedAt = performance.now();
      return v.width;
    });
    let threw = null;
    try {
      st2.destroy();
      st2.destroy(); // twice is fine
    } catch (e) {
      threw = e.message;
    }
    const closedAtOnce = st2.closed;
    await new Promise((r) => setTimeout(r, 30));
    const lostDuringCall = lostAt !== null && endedAt === null;
    const width = await call;
    const deadline = performance.now() + 10_000;
    while (lostAt === null && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const after = await outcome(st2.stylize(photo));
    const afterVector = await outcome(st2.styleVector(photo));
    return { threw, closedAtOnce, lostDuringCall, width, lost: lostAt?.reason, lostAfterEnd: lostAt && endedAt && lostAt.t >= endedAt, after, afterVector, adapter: st2.adapter.name };
  });
  assert.equal(r.threw, null, "destroy() during a call does not throw");
  assert.equal(r.closedAtOnce, true);
  assert.equal(r.lostDuringCall, false, "the device is not released while the call runs");
  assert.equal(r.width, 128, "the call in flight completes");
  assert.equal(r.lost, "destroyed", "the device is released once the call ends");
  assert.ok(r.lostAfterEnd);
  assert.equal(r.after.code, "destroyed", JSON.stringify(r.after));
  assert.match(r.after.message, /destroyed; make a new one/);
  assert.equal(r.afterVector.code, "destroyed");
  assert.ok(r.adapter.length > 0, "adapter stays readable");
});

test("download progress, integrity checks and the Cache API", async () => {
  const count = (name) => requests.filter((u) => u.endsWith(`/pkg/${name}`)).length;
  const before = count("arbitrary.safetensors");
  const r = await page.evaluate(async () => {
    const { MODELS, MODEL_CACHE_NAME } = m;
    const url = MODELS.arbitrary.url.href;
    const hex = async (bytes) => Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
    // A stale cache of an older version of the package is deleted.
    await (await caches.open("webgpu-style-transfer-models-0.0.1")).put(url, new Response("old"));
    await caches.delete(MODEL_CACHE_NAME);
    const events = [];
    const vec = await st.styleVector(painting, { onDownloadProgress: (e) => events.push(e) });
    const cache = await caches.open(MODEL_CACHE_NAME);
    const cachedHash = await hex(await (await cache.match(url)).arrayBuffer());
    const names = await caches.keys();
    // Damage the cached copy: a new StyleTransfer (which has to load the net) fetches it again.
    await cache.put(url, new Response(new Uint8Array(1000).fill(7)));
    const st2 = await m.StyleTransfer.create();
    const again = [];
    const vec2 = await st2.styleVector(painting, { onDownloadProgress: (e) => again.push(e) });
    const repairedHash = await hex(await (await cache.match(url)).arrayBuffer());
    // A good cached copy is used as is: one event, from the cache.
    const st3 = await m.StyleTransfer.create();
    const cached = [];
    await st3.styleVector(painting, { onDownloadProgress: (e) => cached.push(e) });
    st2.destroy();
    st3.destroy();
    return {
      events,
      total: MODELS.arbitrary.bytes,
      sha256: MODELS.arbitrary.sha256,
      cachedHash,
      repairedHash,
      names,
      cacheName: MODEL_CACHE_NAME,
      same: vec.every((v, i) => v === vec2[i]),
      again: again.length,
      againLast: again.at(-1),
      cached,
    };
  });
  // Progress: starts at 0, never decreases, ends with loaded === total === the file's size.
  assert.ok(r.events.length >= 2, `${r.events.length} progress events`);
  assert.equal(r.events[0].loaded, 0);
  for (let i = 1; i < r.events.length; i++) assert.ok(r.events[i].loaded >= r.events[i - 1].loaded, "monotone");
  assert.ok(r.events.every((e) => e.total === r.total && e.url.endsWith("/pkg/arbitrary.safetensors") && e.cached === false));
  assert.equal(r.events.at(-1).loaded, r.total);
  assert.equal(r.cachedHash, r.sha256, "the cache holds the checked file");
  assert.deepEqual(r.names, [r.cacheName], "older versions' caches are deleted");
  // The damaged entry was replaced by a fresh download.
  assert.ok(r.same, "the re-fetched net gives the same style vector");
  assert.ok(r.again >= 2 && r.againLast.cached === false && r.againLast.loaded === r.total);
  assert.equal(r.repairedHash, r.sha256, "the damaged cache entry was replaced");
  assert.equal(count("arbitrary.safetensors") - before, 2, "downloaded once, then again after the damage; the good cache was used by the third");
  assert.deepEqual(r.cached.map((e) => [e.loaded, e.cached]), [[r.total, true]]);

  // A download that is not the packaged file: bad-model naming both hashes; nothing cached.
  await page.route("**/pkg/arbitrary.safetensors", (route) => route.fulfill({ status: 200, body: Buffer.alloc(5000, 1) }));
  try {
    const bad = await page.evaluate(async () => {
      await caches.delete(m.MODEL_CACHE_NAME);
      const st4 = await m.StyleTransfer.create();
      const o = await st4.styleVector(painting).then(() => null, (e) => ({ code: e.code, message: e.message, expected: e.expected, got: e.got }));
      const left = await (await caches.open(m.MODEL_CACHE_NAME)).match(m.MODELS.arbitrary.url.href);
      st4.destroy();
      return { ...o, cached: left !== undefined, sha256: m.MODELS.arbitrary.sha256 };
    });
    assert.equal(bad.code, "bad-model");
    assert.equal(bad.expected, bad.sha256);
    assert.match(bad.message, new RegExp(`sha256 ${bad.got} \\(5000 bytes\\), expected ${bad.sha256}`));
    assert.equal(bad.cached, false);
  } finally {
    await page.unroute("**/pkg/arbitrary.safetensors");
  }
});

test("an AbortSignal cancels stylize, styleVector and gatys with code `cancelled`; VGG19's download progress", async () => {
  const r = await page.evaluate(async () => {
    const aborted = AbortSignal.abort();
    const t0 = performance.now();
    const atOnce = await Promise.all([
      outcome(st.stylize(photo, { signal: aborted })),
      outcome(st.styleVector(painting, { signal: aborted })),
      outcome(st.gatys(photo, photo, { size: 32, signal: aborted }).result),
    ]);
    const atOnceMs = performance.now() - t0;
    // Abort while a stylization runs: it rejects at once, the engine stays usable.
    await st.stylize(big, { style: 7 });
    const c = new AbortController();
    const t1 = performance.now();
    const p = st.stylize(big, { style: 7, signal: c.signal });
    setTimeout(() => c.abort(new Error("the user closed the dialog")), 20);
    const during = await outcome(p);
    const duringMs = performance.now() - t1;
    const next = await outcome(st.stylize(photo, { style: 7 }));
    // Gatys: abort after the first reported iteration; the run stops at its next one and
    // frees its buffers (the engine's live bytes go back to what they were).
    const live = () => st.gpuMemory.allocatedBytes - st.gpuMemory.freeBytes;
    const vggEvents = [];
    const onDownloadProgress = (e) => vggEvents.push([e.loaded, e.total, e.cached]);
    await st.gatys(photo, photo, { size: 32, iterations: 1, optimizer: "adam", previewEvery: 0, onDownloadProgress }).result; // VGG19 loaded
    const base = live();
    const g = new AbortController();
    let iterations = 0;
    const run = st.gatys(photo, photo, { size: 32, iterations: 50, optimizer: "adam", previewEvery: 0, signal: g.signal });
    run.onProgress((e) => {
      iterations = e.iteration;
      if (e.iteration >= 1) g.abort();
    });
    const gatys = await outcome(run.result);
    const deadline = performance.now() + 60_000;
    while (live() !== base && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const eventsAfterWait = iterations;
    await new Promise((r) => setTimeout(r, 500));
    return { vggEvents, vggBytes: m.MODELS.vgg19.bytes, atOnce, atOnceMs, during, duringMs, next, gatys, freed: live() === base, base, now: live(), iterations, stoppedBy: eventsAfterWait, stillAt: iterations };
  });
  // VGG19's download (20 MB) reported as it comes, ending at its size.
  assert.ok(r.vggEvents.length > 2, `${r.vggEvents.length} VGG19 progress events`);
  assert.ok(r.vggEvents.every(([loaded, total, cached], i) => total === r.vggBytes && !cached && (i === 0 || loaded >= r.vggEvents[i - 1][0])));
  assert.equal(r.vggEvents.at(-1)[0], r.vggBytes);
  assert.deepEqual(r.atOnce.map((o) => o.code), ["cancelled", "cancelled", "cancelled"]);
  assert.ok(r.atOnceMs < 1000, `an aborted signal rejects at once (${r.atOnceMs} ms)`);
  assert.equal(r.during.code, "cancelled", JSON.stringify(r.during));
  assert.match(r.during.message, /stylize was cancelled \(the user closed the dialog\)/);
  console.log(`abort during stylize: rejected after ${r.duringMs.toFixed(0)} ms`);
  assert.equal(r.next.ok, true, "the engine works after an aborted call");
  assert.equal(r.gatys.code, "cancelled");
  assert.ok(r.iterations >= 1 && r.iterations <= 2, `the run stopped at iteration ${r.iterations} of 50`);
  assert.equal(r.stillAt, r.stoppedBy, "no iterations after the stop");
  assert.ok(r.freed, `the run's buffers are freed: live bytes ${r.now}, before ${r.base}`);
});

test("a lost device is `device-lost`, and create() works again", async () => {
  const r = await page.evaluate(async () => {
    const st5 = await m.StyleTransfer.create();
    await st5.stylize(photo, { style: 1 });
    devices.at(-1).destroy(); // not through the engine: what a driver reset looks like
    await new Promise((r) => setTimeout(r, 100));
    const next = await outcome(st5.stylize(photo, { style: 1 }));
    const again = await outcome(st5.styleVector(painting));
    const fresh = await m.StyleTransfer.create();
    const works = await outcome(fresh.stylize(photo, { style: 1 }));
    st5.destroy();
    // Headless Chromium cannot present a WebGPU canvas: it destroys every GPU device of the
    // page instead. stylizeTo says so (it used to resolve as if the frame were drawn).
    const canvas = document.createElement("canvas");
    document.body.append(canvas);
    const present = await outcome(fresh.stylizeTo(canvas, photo, { style: 1 }));
    fresh.destroy();
    return { next, again, works, closed: st5.closed, present };
  });
  assert.equal(r.next.code, "device-lost", JSON.stringify(r.next));
  assert.match(r.next.message, /GPU device was lost.*StyleTransfer\.create\(\)/);
  assert.equal(r.again.code, "device-lost");
  assert.equal(r.works.ok, true, JSON.stringify(r.works));
  assert.equal(r.works.width, 32);
  assert.equal(r.closed, true);
  assert.equal(r.present.code, "device-lost", JSON.stringify(r.present));
  assert.match(r.present.message, /cannot present WebGPU canvases here/);
});
