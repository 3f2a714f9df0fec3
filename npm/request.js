// Option validation: the one place where what a caller passes to the API is checked and turned
// into a validated request. Nothing is coerced: a value of the wrong type or out of range, and
// an option name this call does not know, is an `invalid-argument` error naming the value as
// the caller wrote it. The engine (Rust) receives only requests built here.

/** Number of built-in styles of the 26-style net. */
export const STYLE_COUNT = 26;
/** The family of a learned style of the 26-style net (`style-transfer train`). */
export const LEARNED_FAMILY = "multistyle26-style";

/** Length of a style vector of the arbitrary-style net. */
export const STYLE_VECTOR_LENGTH = 100;

/** An `Error` with a `code` (and any extra fields). */
export function error(code, message, extra) {
  const e = new Error(message);
  e.code = code;
  if (extra) Object.assign(e, extra);
  return e;
}

/** A value as the caller wrote it, for messages: `NaN`, `-1`, `"3"`, `{"abc":1}`, `null`. */
export function show(v) {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (typeof v === "bigint") return `${v}n`;
  if (v === null || v === undefined || typeof v === "boolean") return String(v);
  if (typeof v === "function") return "a function";
  if (typeof v === "symbol") return v.toString();
  if (ArrayBuffer.isView(v)) return `a ${v.constructor?.name ?? "typed array"} of length ${v.length ?? v.byteLength}`;
  const proto = Object.getPrototypeOf(v);
  if (proto !== null && proto !== Object.prototype && !Array.isArray(v)) return `a ${v.constructor?.name ?? "object"}`;
  let s;
  try {
    s = JSON.stringify(v, (_, x) => (typeof x === "number" && !Number.isFinite(x) ? String(x) : x));
  } catch {
    s = undefined;
  }
  if (s === undefined) return Array.isArray(v) ? "an array" : "an object";
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

const bad = (op, message) => error("invalid-argument", `${op}: ${message}`);

/** A whole number in [min, max]. */
function whole(op, name, v, { min = 0, max = Number.MAX_SAFE_INTEGER, what = "" } = {}) {
  if (!(typeof v === "number" && Number.isInteger(v) && v >= min && v <= max)) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw bad(op, `${name} must be a whole number ${range}${what}, got ${show(v)}`);
  }
  return v;
}

/** A finite number in [min, max] (or (min, max] with `above`). */
function finite(op, name, v, { min = -Infinity, max = Infinity, above = false } = {}) {
  const ok = typeof v === "number" && Number.isFinite(v) && (above ? v > min : v >= min) && v <= max;
  if (!ok) {
    let range = "";
    if (min > -Infinity && max < Infinity) range = ` from ${min} to ${max}`;
    else if (min > -Infinity) range = above ? ` > ${min}` : ` >= ${min}`;
    throw bad(op, `${name} must be a finite number${range}, got ${show(v)}`);
  }
  return v;
}

function boolean(op, name, v) {
  if (typeof v !== "boolean") throw bad(op, `${name} must be true or false, got ${show(v)}`);
  return v;
}

function oneOf(op, name, v, values) {
  if (!values.includes(v)) throw bad(op, `${name} must be ${values.map((x) => JSON.stringify(x)).join(" or ")}, got ${show(v)}`);
  return v;
}

/** Edit distance, for "did you mean" hints. */
function distance(a, b) {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

/**
 * The options object of `op`: undefined (no options) or a plain object whose every key is in
 * `known`. Unknown names are errors (a typo like `strenght` would otherwise be ignored).
 */
function optionsObject(op, options, known) {
  if (options === undefined) return {};
  const proto = options === null || typeof options !== "object" ? undefined : Object.getPrototypeOf(options);
  if (!(proto === Object.prototype || proto === null)) {
    throw bad(op, `options must be a plain object such as { ${known[0]}: ... }, got ${show(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const near = known.filter((k) => distance(key, k) <= 2).sort((x, y) => distance(key, x) - distance(key, y));
    const hint = near.length ? ` (did you mean ${near[0]}?)` : "";
    throw bad(op, `unknown option ${JSON.stringify(key)}${hint}; the options are ${known.join(", ")}`);
  }
  return options;
}

/** What the image arguments accept. */
const IMAGE_TYPES = "an ImageData, ImageBitmap, HTMLImageElement, HTMLCanvasElement, OffscreenCanvas, HTMLVideoElement, VideoFrame, Blob, ArrayBuffer or Uint8Array";

function isA(v, name) {
  const C = globalThis[name];
  return typeof C === "function" && v instanceof C;
}

/** Whether `v` is an image source the package can read (checked before any work starts). */
export function isImageSource(v) {
  if (v === null || typeof v !== "object") return false;
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return true;
  return ["ImageData", "ImageBitmap", "HTMLImageElement", "HTMLCanvasElement", "OffscreenCanvas", "HTMLVideoElement", "VideoFrame", "Blob", "SVGImageElement"].some((n) => isA(v, n));
}

/** Checks an image argument; `name` says which one ("image", "painting", "styles[1]"). */
export function checkImage(op, name, v) {
  if (!isImageSource(v)) throw bad(op, `${name} must be ${IMAGE_TYPES}, got ${show(v)}`);
  return v;
}

/** An AbortSignal (or undefined). */
function signalOption(op, v) {
  if (v === undefined) return undefined;
  const ok = v !== null && typeof v === "object" && typeof v.aborted === "boolean" && typeof v.addEventListener === "function";
  if (!ok) throw bad(op, `signal must be an AbortSignal (from an AbortController), got ${show(v)}`);
  return v;
}

function callbackOption(op, name, v) {
  if (v === undefined) return undefined;
  if (typeof v !== "function") throw bad(op, `${name} must be a function, got ${show(v)}`);
  return v;
}

/**
 * Blend weights -> shares summing to 1: each finite and >= 0, their sum > 0. Divided by the
 * largest first, so weights near the float limits (1e308 + 1e308) do not overflow.
 */
export function normalizeWeights(op, name, weights) {
  for (const [i, w] of weights.entries()) {
    if (!(typeof w === "number" && Number.isFinite(w) && w >= 0)) {
      throw bad(op, `${name} ${i} is ${show(w)}; weights must be finite numbers >= 0`);
    }
  }
  const max = Math.max(...weights);
  if (!(max > 0)) throw bad(op, `the ${name}s sum to 0; give one a positive weight`);
  const scaled = weights.map((w) => w / max);
  const sum = scaled.reduce((a, b) => a + b, 0);
  return scaled.map((w) => w / sum);
}

const STYLE_FORMS = "a style index from 0 to 25, a blend such as { 3: 0.5, 12: 0.5 }, a learned style from loadModel(), or a list of [style, weight] pairs";

/**
 * `style` option -> { indices, weights, models, modelWeights } (all weights together summing
 * to 1; `models` holds learned styles, which `isStyle(m)` recognises). Accepted: an index, an
 * `{ index: weight }` object, a learned style, or an array of `[index | learned style, weight]`.
 */
function styleOption(op, style, isStyle) {
  const parts = styleParts(op, style, isStyle);
  const shares = normalizeWeights(op, "style weight", parts.map(([, w]) => w));
  const r = { indices: [], weights: [], models: [], modelWeights: [] };
  parts.forEach(([s], i) => {
    if (typeof s === "number") {
      r.indices.push(s);
      r.weights.push(shares[i]);
    } else {
      r.models.push(s);
      r.modelWeights.push(shares[i]);
    }
  });
  return r;
}

/** The `style` option as [index | learned style, raw weight] pairs. */
function styleParts(op, style, isStyle) {
  const index = (v, what) => {
    if (!(Number.isInteger(v) && v >= 0 && v < STYLE_COUNT)) throw bad(op, `${what} must be ${STYLE_FORMS}, got ${show(v)}`);
    return v;
  };
  if (typeof style === "number") return [[index(style, "style"), 1]];
  if (isStyle(style)) return [[style, 1]];
  if (Array.isArray(style)) {
    if (style.length === 0) throw bad(op, "style is an empty blend; give at least one [style, weight]");
    return style.map((p, i) => {
      if (!Array.isArray(p) || p.length !== 2) throw bad(op, `style[${i}] must be a [style, weight] pair, got ${show(p)}`);
      return [isStyle(p[0]) ? p[0] : index(p[0], `style[${i}][0]`), p[1]];
    });
  }
  const proto = style === null || typeof style !== "object" ? undefined : Object.getPrototypeOf(style);
  if (!(proto === Object.prototype || proto === null)) throw bad(op, `style must be ${STYLE_FORMS}, got ${show(style)}`);
  const entries = Object.entries(style);
  if (entries.length === 0) throw bad(op, "style is an empty blend; give at least one { index: weight }");
  for (const [k] of entries) {
    if (!/^(0|[1-9][0-9]*)$/.test(k) || Number(k) >= STYLE_COUNT) {
      throw bad(op, `style blend key ${JSON.stringify(k)} is not a style index from 0 to ${STYLE_COUNT - 1}`);
    }
  }
  return entries.map(([k, w]) => [Number(k), w]);
}

/** A style vector: a Float32Array of 100 finite values. */
export function checkStyleVector(op, name, v) {
  if (!(v instanceof Float32Array) || v.length !== STYLE_VECTOR_LENGTH) {
    throw bad(op, `${name} must be a Float32Array of ${STYLE_VECTOR_LENGTH} values from styleVector(), got ${show(v)}`);
  }
  const i = v.findIndex((x) => !Number.isFinite(x));
  if (i >= 0) throw bad(op, `${name}[${i}] is ${show(v[i])}; a style vector holds finite values`);
  return v;
}

/** Options every downloading call takes. */
function loadOptions(op, o) {
  return { signal: signalOption(op, o.signal), onDownloadProgress: callbackOption(op, "onDownloadProgress", o.onDownloadProgress) };
}

const STYLIZE_OPTIONS = ["style", "styleImage", "styleVector", "model", "strength", "preserveColors", "maxSize", "tileSize", "onProgress", "signal", "onDownloadProgress"];
const LIVE_OPTIONS = STYLIZE_OPTIONS.filter((k) => k !== "tileSize" && k !== "onProgress");

/**
 * `stylize` / `stylizeTo` options -> a validated request:
 * `{ net: "multistyle" | "arbitrary" | "johnson", style?, styleImage?, styleVector?, model?,
 *    strength, preserveColors, maxSize, tileSize, onProgress, signal, onDownloadProgress }`.
 * `isModel(m)` says whether `m` is a net this StyleTransfer loaded.
 */
export function stylizeRequest(op, options, { live = false, isModel }) {
  const o = optionsObject(op, options, live ? LIVE_OPTIONS : STYLIZE_OPTIONS);
  const chosen = ["style", "styleImage", "styleVector", "model"].filter((k) => o[k] !== undefined);
  if (chosen.length > 1) throw bad(op, `give one of style, styleImage, styleVector or model, not ${chosen.join(" and ")}`);
  const r = {
    strength: o.strength === undefined ? 1 : finite(op, "strength", o.strength, { min: 0, max: 1 }),
    preserveColors: o.preserveColors === undefined ? false : boolean(op, "preserveColors", o.preserveColors),
    maxSize: o.maxSize === undefined ? (live ? 512 : 1024) : whole(op, "maxSize", o.maxSize, { what: " (pixels; 0 = no limit)" }),
    tileSize: o.tileSize === undefined ? 0 : whole(op, "tileSize", o.tileSize, { what: " (pixels; 0 = automatic)" }),
    onProgress: callbackOption(op, "onProgress", o.onProgress),
    ...loadOptions(op, o),
  };
  if (o.styleImage !== undefined) {
    return { ...r, net: "arbitrary", styleImage: checkImage(op, "styleImage", o.styleImage) };
  }
  if (o.styleVector !== undefined) {
    return { ...r, net: "arbitrary", styleVector: checkStyleVector(op, "styleVector", o.styleVector) };
  }
  const isStyle = (m) => isModel(m) && m.family === LEARNED_FAMILY;
  if (o.model !== undefined) {
    if (!isModel(o.model)) throw bad(op, `model must be a net from this StyleTransfer's loadModel(), got ${show(o.model)}`);
    if (isStyle(o.model)) return { ...r, net: "multistyle", style: styleOption(op, o.model, isStyle) };
    return { ...r, net: "johnson", model: o.model };
  }
  return { ...r, net: "multistyle", style: styleOption(op, o.style === undefined ? 0 : o.style, isStyle) };
}

/** `styleVector` / `loadModel` options: `{ signal, onDownloadProgress }`. */
export function loadRequest(op, options) {
  return loadOptions(op, optionsObject(op, options, ["signal", "onDownloadProgress"]));
}

/** `StyleTransfer.create` options. */
export function createRequest(options) {
  const op = "create";
  const o = optionsObject(op, options, ["powerPreference", "tune", "tuneBudgetMs"]);
  return {
    powerPreference: o.powerPreference === undefined ? undefined : oneOf(op, "powerPreference", o.powerPreference, ["high-performance", "low-power"]),
    tune: o.tune === undefined ? "cached" : oneOf(op, "tune", o.tune, ["off", "cached", "full"]),
    tuneBudgetMs: o.tuneBudgetMs === undefined ? 30_000 : whole(op, "tuneBudgetMs", o.tuneBudgetMs, { min: 1, max: 3_600_000 }),
  };
}

/** A model source: a URL (string or URL) or bytes. */
export function checkModelSource(op, name, v) {
  if (typeof v === "string" || isA(v, "URL") || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return v;
  throw bad(op, `${name} must be a URL (string or URL) or the bytes of a converted model (ArrayBuffer or Uint8Array), got ${show(v)}`);
}

const GATYS_OPTIONS = [
  "size", "iterations", "optimizer", "learningRate", "history", "contentWeight", "styleWeight", "tvWeight", "init", "seed", "scales",
  "styleScale", "styleBlendWeights", "pooling", "preserveColors", "previewEvery", "reportEvery", "vgg", "signal", "onDownloadProgress",
];

/**
 * `gatys` arguments -> a validated request: `{ styles: ImageSource[], engine: {...}, pooling,
 * vgg, signal, onDownloadProgress }`, where `engine` is what the wasm engine reads (defaults
 * filled in; the engine still checks what depends on the images and the device, such as the
 * smallest size VGG19 accepts).
 */
export function gatysRequest(content, styles, options) {
  const op = "gatys";
  checkImage(op, "content", content);
  const list = Array.isArray(styles) ? styles : [styles];
  if (list.length === 0) throw bad(op, "give at least one style image");
  list.forEach((s, i) => checkImage(op, Array.isArray(styles) ? `styles[${i}]` : "styles", s));
  const o = optionsObject(op, options, GATYS_OPTIONS);
  const opt = (name, check, fallback) => (o[name] === undefined ? fallback : check(name, o[name]));
  const count = (min) => (name, v) => whole(op, name, v, { min });
  const weight = (name, v) => finite(op, name, v, { min: 0 });
  const positive = (name, v) => finite(op, name, v, { min: 0, above: true });
  const engine = {
    size: opt("size", count(1), 512),
    iterations: opt("iterations", count(0), 1000),
    optimizer: opt("optimizer", (n, v) => oneOf(op, n, v, ["lbfgs", "adam"]), "lbfgs"),
    learningRate: opt("learningRate", positive, undefined),
    history: opt("history", count(1), 20),
    contentWeight: opt("contentWeight", weight, 5),
    styleWeight: opt("styleWeight", weight, 100),
    tvWeight: opt("tvWeight", weight, 1e-3),
    init: opt("init", (n, v) => oneOf(op, n, v, ["noise", "content"]), "noise"),
    seed: opt("seed", count(0), 0),
    scales: opt("scales", (n, v) => {
      if (!Array.isArray(v) || v.length === 0) throw bad(op, `scales must be a non-empty array of sizes such as [256, 512], got ${show(v)}`);
      return v.map((x, i) => whole(op, `scales[${i}]`, x, { min: 1 }));
    }, []),
    styleScale: opt("styleScale", positive, 1),
    styleBlendWeights: opt("styleBlendWeights", (n, v) => {
      if (!Array.isArray(v)) throw bad(op, `styleBlendWeights must be an array of numbers, one per style image, got ${show(v)}`);
      if (v.length !== list.length) throw bad(op, `${v.length} styleBlendWeights for ${list.length} style images; give one per image`);
      return normalizeWeights(op, "style blend weight", v);
    }, []),
    preserveColors: opt("preserveColors", (n, v) => boolean(op, n, v), false),
    previewEvery: opt("previewEvery", count(0), 10),
    reportEvery: opt("reportEvery", count(1), 1),
  };
  return {
    styles: list,
    engine,
    pooling: opt("pooling", (n, v) => oneOf(op, n, v, ["max", "avg"]), "max"),
    vgg: o.vgg === undefined ? undefined : checkModelSource(op, "vgg", o.vgg),
    ...loadOptions(op, o),
  };
}

const TRAIN_OPTIONS = [
  "images", "preview", "name", "size", "batch", "steps", "learningRate", "styleSize", "contentWeight", "styleWeight", "tvWeight",
  "contentLayers", "styleLayers", "layerWeights", "lossNet", "seed", "initStyle", "reportEvery", "previewEvery", "previewSize",
  "signal", "onDownloadProgress",
];

/** The layers each loss net has taps at. */
const LOSS_NET_LAYERS = {
  vgg16: ["relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu4_1", "relu4_2", "relu4_3"],
  vgg19: ["relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu3_4", "relu4_1", "relu4_2", "relu4_3", "relu4_4", "relu5_1"],
};

/** The smallest training size (VGG halves a crop three times before relu4_3; the net quarters it). */
export const TRAIN_MIN_SIZE = 32;

/**
 * `train` arguments -> a validated request: `{ images?: ImageSource[], preview?, engine: {...},
 * signal, onDownloadProgress }`, where `engine` is what the wasm engine reads (defaults filled
 * in: the recipe of `style-transfer train` but 128 px crops and 300 steps, which a browser
 * finishes in minutes on a real GPU).
 */
export function trainRequest(painting, options) {
  const op = "train";
  checkImage(op, "painting", painting);
  const o = optionsObject(op, options, TRAIN_OPTIONS);
  const opt = (name, check, fallback) => (o[name] === undefined ? fallback : check(name, o[name]));
  const count = (min, max) => (name, v) => whole(op, name, v, { min, max });
  const weight = (name, v) => finite(op, name, v, { min: 0 });
  const lossNet = opt("lossNet", (n, v) => oneOf(op, n, v, ["vgg16", "vgg19"]), "vgg16");
  const layers = (name, v) => {
    if (!Array.isArray(v) || v.length === 0) throw bad(op, `${name} must be a non-empty array of layer names such as ["relu3_3"], got ${show(v)}`);
    v.forEach((x, i) => {
      if (!LOSS_NET_LAYERS[lossNet].includes(x)) throw bad(op, `${name}[${i}] is ${show(x)}, not a layer of ${lossNet} (${LOSS_NET_LAYERS[lossNet].join(", ")})`);
    });
    return v;
  };
  const styleLayers = opt("styleLayers", layers, ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]);
  const size = opt("size", count(TRAIN_MIN_SIZE, 4096), 128);
  if (size % 4 !== 0) throw bad(op, `size must be a multiple of 4 (the net quarters the crop), got ${size}; try ${Math.round(size / 4) * 4}`);
  const images = opt("images", (n, v) => {
    if (!Array.isArray(v) || v.length === 0) throw bad(op, `${n} must be a non-empty array of photos, got ${show(v)}; leave it out to train on the package's own photos`);
    v.forEach((x, i) => checkImage(op, `${n}[${i}]`, x));
    return v;
  }, undefined);
  const engine = {
    size,
    batch: opt("batch", count(1, 64), 4),
    steps: opt("steps", count(1), 300),
    learningRate: opt("learningRate", (n, v) => finite(op, n, v, { min: 0, above: true }), 0.01),
    styleSize: opt("styleSize", count(TRAIN_MIN_SIZE, 4096), 256),
    contentWeight: opt("contentWeight", weight, 1),
    styleWeight: opt("styleWeight", weight, 5),
    tvWeight: opt("tvWeight", weight, 1e-6),
    contentLayers: opt("contentLayers", layers, ["relu3_3"]),
    styleLayers,
    layerWeights: opt("layerWeights", (n, v) => {
      if (!Array.isArray(v) || v.length !== styleLayers.length) throw bad(op, `${n} must be an array of ${styleLayers.length} numbers, one per style layer, got ${show(v)}`);
      return v.map((x, i) => weight(`${n}[${i}]`, x));
    }, styleLayers.map(() => 1)),
    lossNet,
    seed: opt("seed", count(0, 2 ** 32 - 1), 0),
    initStyle: opt("initStyle", count(0, STYLE_COUNT - 1), null),
    reportEvery: opt("reportEvery", count(1), 1),
    previewEvery: opt("previewEvery", count(1), 10),
    previewSize: opt("previewSize", count(16, 4096), 256),
    name: opt("name", (n, v) => {
      if (typeof v !== "string" || v.length === 0 || v.length > 200) throw bad(op, `${n} must be a non-empty string of at most 200 characters, got ${show(v)}`);
      return v;
    }, "my-style"),
  };
  return {
    images,
    preview: opt("preview", (n, v) => checkImage(op, n, v), undefined),
    engine,
    ...loadOptions(op, o),
  };
}

/**
 * `profile` arguments -> a validated request: `{ net: "multistyle" | "arbitrary" | "gatys" |
 * "model", model?, size, runs, signal, onDownloadProgress }`. `isModel(m)` says whether `m`
 * is a Johnson net this StyleTransfer loaded.
 */
export function profileRequest(what, options, isModel) {
  const op = "profile";
  const o = optionsObject(op, options, ["size", "runs", "signal", "onDownloadProgress"]);
  const r = {
    size: o.size === undefined ? 256 : whole(op, "size", o.size, { min: 16, max: 4096 }),
    runs: o.runs === undefined ? 3 : whole(op, "runs", o.runs, { min: 1, max: 100 }),
    ...loadOptions(op, o),
  };
  return { ...r, ...timedNet(op, what, isModel) };
}

/** The net `profile` or `tune` times: `{ net, model }`. */
function timedNet(op, what, isModel) {
  if (isModel(what)) {
    if (what.family === LEARNED_FAMILY) throw bad(op, `a learned style is not a net to ${op}; ${op} "multistyle"`);
    return { net: "model", model: what };
  }
  return { net: oneOf(op, "net", what, ["multistyle", "arbitrary", "gatys"]) };
}

/**
 * `tune` arguments -> a validated request: `{ net, model?, size, budgetMs, signal,
 * onDownloadProgress }` (the net as for `profile`).
 */
export function tuneRequest(what, options, isModel) {
  const op = "tune";
  const o = optionsObject(op, options, ["size", "budgetMs", "signal", "onDownloadProgress"]);
  const r = {
    size: o.size === undefined ? 512 : whole(op, "size", o.size, { min: 16, max: 4096 }),
    budgetMs: o.budgetMs === undefined ? 30_000 : whole(op, "budgetMs", o.budgetMs, { min: 1, max: 3_600_000 }),
    ...loadOptions(op, o),
  };
  return { ...r, ...timedNet(op, what, isModel) };
}
