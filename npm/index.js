// The package's JavaScript API: a small class over the wasm engine. It validates the options
// (request.js), turns any image source into pixels, downloads and checks the bundled models on
// first use (download.js), tracks the calls in flight (so destroy() waits for them) and gives
// every error a `code`.
import init, { Engine } from "./webgpu_style_transfer.js";
import {
  STYLE_COUNT,
  STYLE_VECTOR_LENGTH,
  error,
  show,
  checkImage,
  checkModelSource,
  checkStyleVector,
  createRequest,
  gatysRequest,
  loadRequest,
  profileRequest,
  trainRequest,
  tuneRequest,
  normalizeWeights,
  stylizeRequest,
} from "./request.js";
import { readTuning, writeTuning } from "./tuning.js";
import { CACHE_NAME, SharedTask, abortable, cancelledError, download, packagedModel, sha256 } from "./download.js";

export { STYLE_COUNT, STYLE_VECTOR_LENGTH };

/** The Cache API cache the package keeps its model files in (named after the package version). */
export const MODEL_CACHE_NAME = CACHE_NAME;

/** The model files shipped in the package: `{ url, bytes, sha256 }` each. */
export const MODELS = Object.freeze({
  multistyle: packagedModel("multistyle26.safetensors", new URL("./multistyle26.safetensors", import.meta.url)),
  // The arbitrary-style pair (2.7 MB): fetched on the first styleVector / styleImage call.
  arbitrary: packagedModel("arbitrary.safetensors", new URL("./arbitrary.safetensors", import.meta.url)),
  // VGG19 for Gatys runs (20 MB): fetched only when a run starts.
  vgg19: packagedModel("vgg19.safetensors", new URL("./vgg19.safetensors", import.meta.url)),
  // VGG16, the loss net of training (7.4 MB): fetched when the first training run starts.
  vgg16: packagedModel("vgg16.safetensors", new URL("./vgg16.safetensors", import.meta.url)),
  // The default training photos (39 JPEGs in one file, 3 MB; sources and licences in
  // photos/SOURCES.md): fetched when a run without `images` starts.
  photos: packagedModel("photos.safetensors", new URL("./photos.safetensors", import.meta.url)),
});

/** Every code an error of this package can carry. */
export const ERROR_CODES = Object.freeze([
  "webgpu-unavailable",
  "invalid-argument",
  "too-large",
  "bad-image",
  "bad-model",
  "gpu-error",
  "device-lost",
  "diverged",
  "io-error",
  "cancelled",
  "destroyed",
  "internal",
]);

const WASM_URL = new URL("./webgpu_style_transfer_bg.wasm", import.meta.url);
let ready = null;

/** Instantiates the WebAssembly module once (on the first `StyleTransfer.create()`). */
function loadWasm() {
  ready ??= init({ module_or_path: WASM_URL }).catch((e) => {
    ready = null;
    throw error("webgpu-unavailable", `could not load the engine's WebAssembly from ${WASM_URL} (${e.message})`);
  });
  return ready;
}

/**
 * Any thrown value -> an Error with one of ERROR_CODES. Engine errors already carry theirs; a
 * DOMException from the browser's WebGPU is a `gpu-error`; anything else is a bug of this
 * package (`internal`), its original kept as `cause`.
 */
function wrap(e, op) {
  if (e instanceof Error && typeof e.code === "string" && ERROR_CODES.includes(e.code)) return e;
  const message = e instanceof Error ? e.message : String(e);
  if (typeof DOMException !== "undefined" && e instanceof DOMException) {
    if (e.name === "AbortError") return error("cancelled", `${op} was cancelled`, { cause: e });
    return error("gpu-error", `${op}: ${e.name}: ${message}`, { cause: e });
  }
  return error("internal", `${op}: ${message} (an unexpected failure inside webgpu-style-transfer; please report it)`, { cause: e });
}

/**
 * A long run that reports as it goes (a Gatys optimisation, a training run): listen with
 * `onProgress(fn)` or `for await (const e of run)`, stop it with `cancel()` (or the `signal`
 * option), and await `result`.
 */
class Run {
  #listeners = [];
  #queue = [];
  #waiters = [];
  #done = false;
  #stop = null; // null, or the code the run stops with ("cancelled", "destroyed")
  /** What the run ends with (see the subclasses). */
  result;

  constructor(start) {
    this.result = start((event) => this.#emit(event), () => this.#stop).finally(() => {
      this.#done = true;
      for (const w of this.#waiters.splice(0)) w({ done: true, value: undefined });
    });
    // The result is also awaited through the iterator; keep an unobserved rejection quiet.
    this.result.catch(() => {});
  }

  #emit(event) {
    for (const fn of this.#listeners) fn(event);
    const w = this.#waiters.shift();
    if (w) w({ done: false, value: event });
    else this.#queue.push(event);
  }

  /** Calls `fn(event)` at each reported iteration or step (see the subclasses). */
  onProgress(fn) {
    if (typeof fn !== "function") throw error("invalid-argument", `onProgress takes a function, got ${show(fn)}`);
    this.#listeners.push(fn);
    return this;
  }

  /** Stops the run at its next reported iteration or step; its GPU buffers are released. */
  cancel(code = "cancelled") {
    this.#stop ??= code;
  }

  [Symbol.asyncIterator]() {
    return {
      next: () => {
        if (this.#queue.length) return Promise.resolve({ done: false, value: this.#queue.shift() });
        if (this.#done) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: () => {
        this.cancel();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
}

/**
 * A running Gatys optimisation. `result` resolves to `{ image: ImageData, iterations, losses }`;
 * rejects with code "cancelled" (its `image` holds the picture so far) after `cancel()`.
 * Progress events: `{ stage, stages, width, height, iteration, iterations, total, content,
 * style, tv, elapsedMs, preview? }`.
 */
export class GatysRun extends Run {}

/** The learned style's file of each ended TrainRun. */
const learnedFiles = new WeakMap();

/**
 * A running training of a new style. `result` resolves to `{ model, steps, losses }`: `model`
 * a learned style usable in `stylize({ model })`, `stylizeTo` and `style` blends; after
 * `cancel()` it resolves too, with `cancelled: true` and the style learned so far. Progress
 * events: `{ step, steps, total, content, style, tv, elapsedMs, stepsPerSecond, preview? }`.
 */
export class TrainRun extends Run {
  /**
   * The learned style as the file `style-transfer train` writes (safetensors, family
   * "multistyle26-style"): `loadModel()` and the CLI's `stylize --model` read it.
   */
  async save() {
    try {
      await this.result;
    } catch {
      // The error is the result's; save() has nothing to give.
    }
    const bytes = learnedFiles.get(this);
    if (!bytes) throw error("invalid-argument", "save: the training run failed, so there is no style to save");
    return bytes.slice();
  }
}

const SOURCE_TYPES = "an ImageData, ImageBitmap, HTMLImageElement, HTMLCanvasElement, OffscreenCanvas, HTMLVideoElement, VideoFrame, Blob, ArrayBuffer or Uint8Array";

/** Any image source -> ImageData (RGBA8); errors are `invalid-argument` or `bad-image`. */
export async function toImageData(source) {
  return readImage("toImageData", "source", source);
}

async function readImage(op, name, source) {
  checkImage(op, name, source);
  if (typeof ImageData !== "undefined" && source instanceof ImageData) return source;
  try {
    let drawable = source;
    if (source instanceof Blob || source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
      const blob = source instanceof Blob ? source : new Blob([source]);
      try {
        drawable = await createImageBitmap(blob);
      } catch (e) {
        throw error("bad-image", `${op}: cannot decode ${name} (${e.message}); use PNG, JPEG or WebP bytes`);
      }
    }
    if (typeof HTMLImageElement !== "undefined" && drawable instanceof HTMLImageElement && !drawable.complete) {
      await drawable.decode();
    }
    const width = drawable.videoWidth ?? drawable.displayWidth ?? drawable.naturalWidth ?? drawable.width;
    const height = drawable.videoHeight ?? drawable.displayHeight ?? drawable.naturalHeight ?? drawable.height;
    if (!width || !height) throw error("bad-image", `${op}: ${name} has no pixels yet (not loaded, or 0x0)`);
    const canvas = new OffscreenCanvas(width, height);
    const g = canvas.getContext("2d", { willReadFrequently: true });
    g.drawImage(drawable, 0, 0, width, height);
    return g.getImageData(0, 0, width, height);
  } catch (e) {
    if (e instanceof Error && typeof e.code === "string" && ERROR_CODES.includes(e.code)) throw e;
    throw error("bad-image", `${op}: cannot read the pixels of ${name} (${e?.message ?? e}); give ${SOURCE_TYPES} that has loaded`, { cause: e });
  }
}

/**
 * A weighted blend of style vectors (from `styleVector`): `blendStyleVectors([[a, 0.7], [b, 0.3]])`.
 * Weights must be finite and >= 0 with a positive sum; they are normalised to sum to 1.
 */
export function blendStyleVectors(parts) {
  const op = "blendStyleVectors";
  if (!Array.isArray(parts) || parts.length === 0) throw error("invalid-argument", `${op}: give a list of [styleVector, weight] pairs, got ${show(parts)}`);
  parts.forEach((p, i) => {
    if (!Array.isArray(p) || p.length !== 2) throw error("invalid-argument", `${op}: part ${i} must be a [styleVector, weight] pair, got ${show(p)}`);
    checkStyleVector(op, `part ${i}'s style vector`, p[0]);
  });
  const shares = normalizeWeights(op, "blend weight", parts.map((p) => p[1]));
  const out = new Float64Array(STYLE_VECTOR_LENGTH);
  parts.forEach(([v], k) => {
    for (let i = 0; i < out.length; i++) out[i] += v[i] * shares[k];
  });
  return Float32Array.from(out);
}

/**
 * The photos in the package's photo file (safetensors: one uint8 tensor of JPEG bytes per
 * photo, named by its file name): `[name, Blob]` pairs.
 */
function unpackPhotos(bytes) {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  const data = bytes.subarray(8 + length);
  return Object.entries(header)
    .filter(([name]) => name !== "__metadata__")
    .map(([name, t]) => [name, new Blob([data.subarray(t.data_offsets[0], t.data_offsets[1])], { type: "image/jpeg" })]);
}

/** What a learned style records of its painting: its file name, and its sha256 when given as bytes. */
async function paintingMeta(painting) {
  const meta = {};
  if (typeof File !== "undefined" && painting instanceof File) meta.paintingName = painting.name;
  if (painting instanceof Blob || painting instanceof ArrayBuffer || ArrayBuffer.isView(painting)) {
    const bytes = painting instanceof Blob ? await painting.arrayBuffer() : painting;
    meta.paintingSha256 = await sha256(bytes);
  }
  return meta;
}

/**
 * Steps per second from progress events: over the steps since the first report (whose time
 * holds the run's set-up and shader compilation), or from the start until there is a second.
 */
function stepRate() {
  let first = null;
  return (e) => {
    if (first === null || e.step <= first.step) {
      first ??= e;
      return e.elapsedMs > 0 ? (1000 * e.step) / e.elapsedMs : 0;
    }
    return (1000 * (e.step - first.step)) / (e.elapsedMs - first.elapsedMs);
  };
}

/** ImageData -> what the engine reads: `{ data, width, height }`. */
function pixelsOf(image) {
  return { data: image.data, width: image.width, height: image.height };
}

/**
 * A model loaded by `StyleTransfer.loadModel()`: a Johnson transform net (`family` "johnson",
 * used as `model`) or a learned style of the 26-style net (`family` "multistyle26-style", used
 * as `model` or as a part of a `style` blend).
 */
export class TransformNet {
  #owner;
  constructor(owner, id, family) {
    this.#owner = owner;
    this.id = id;
    this.family = family;
  }
  /** Whether this net was loaded by `owner`. */
  static belongsTo(net, owner) {
    return net !== null && typeof net === "object" && #owner in net && net.#owner === owner;
  }
}

const CONSTRUCT = Symbol("StyleTransfer.create");

/** Neural style transfer on this device's GPU. Create with `await StyleTransfer.create()`. */
export class StyleTransfer {
  #engine;
  #adapter;
  /** "open", "destroying" (destroy() called, calls in flight), "destroyed", or "lost". */
  #state = "open";
  #lost = null;
  #busy = 0;
  #loads = new Map();
  #runs = new Set();
  #liveVectors = new WeakMap();
  /** Which VGG19 the engine holds: "package:max", "package:avg", "custom" or null. */
  #vggLoaded = null;
  /** The tuning mode, and the table text last read from or written to IndexedDB. */
  #tune = "cached";
  #storedTuning = null;

  constructor(engine, token) {
    if (token !== CONSTRUCT) throw error("invalid-argument", "use `await StyleTransfer.create()` to make a StyleTransfer");
    this.#engine = engine;
    this.#adapter = Object.freeze(engine.adapter);
  }

  /**
   * Opens the GPU; rejects with code "webgpu-unavailable" where the browser has no WebGPU.
   * `tune`: "cached" (default) runs the kernels timed on this GPU before (kept in IndexedDB),
   * "full" also times, before a `stylize()`, the layers its size lacks (at most `tuneBudgetMs`,
   * default 30 s) and keeps them, "off" runs the fixed kernels.
   */
  static async create(options) {
    const { powerPreference, tune, tuneBudgetMs } = createRequest(options);
    await loadWasm();
    let st;
    try {
      const engine = await Engine.create(powerPreference);
      engine.setTuneMode(tune, tuneBudgetMs);
      st = new StyleTransfer(engine, CONSTRUCT);
    } catch (e) {
      throw wrap(e, "create");
    }
    st.#tune = tune;
    if (tune !== "off") await st.#restoreTuning();
    return st;
  }

  /** Loads this GPU's tuned kernels from IndexedDB; a damaged entry is reported and not used. */
  async #restoreTuning() {
    const text = await readTuning(this.#engine.tuningKey);
    if (text === null) return;
    try {
      this.#engine.loadTuning(text);
      this.#storedTuning = text;
    } catch (e) {
      console.warn(`webgpu-style-transfer: the kernel tuning cache is not used (${e.message}); it will be replaced when kernels are tuned again`);
    }
  }

  /** Stores the engine's tuned kernels in IndexedDB if they changed. */
  async #storeTuning() {
    if (this.#tune === "off" || !this.#engine) return;
    const text = this.#engine.tuningText();
    if (text === this.#storedTuning) return;
    if (await writeTuning(this.#engine.tuningKey, text)) this.#storedTuning = text;
  }

  /**
   * The kernel tuning of this GPU: `{ mode, key, entries: [{ key, choice, ms, fixed, fixedMs }] }`
   * (each layer shape tuned: the tile kept and its time, the fixed tile and its time).
   */
  get tuning() {
    return this.#engine ? this.#engine.tuning : { mode: this.#tune, key: "", entries: [] };
  }

  /**
   * Times the convolution tiles of `net` ("multistyle", "arbitrary", "gatys" or a Johnson net
   * from `loadModel()`) on a `size` px square (default 512) that this GPU's table lacks, for at
   * most `budgetMs` (default 30 s; no tile is started after it), and keeps them (in IndexedDB)
   * for every later run. Resolves to `{ tuned: [{ key, choice, ms, fixed, fixedMs }], cached,
   * left, cutShort, ms, summary }`.
   * Pictures do not change: a tuned tile gives the fixed tile's output to the bit.
   */
  tune(net, options) {
    const op = "tune";
    return this.#call(
      op,
      () => {
        const r = tuneRequest(net, options, (m) => TransformNet.belongsTo(m, this));
        if (this.#tune === "off") throw error("invalid-argument", `${op}: this StyleTransfer was created with { tune: "off" }; create one with "cached" or "full" to tune`);
        return r;
      },
      async (r) => {
        if (r.net === "multistyle") await this.#multistyle(op, r);
        if (r.net === "arbitrary") await this.#arbitrary(op, r);
        if (r.net === "gatys") await this.#vgg(op, { ...r, pooling: "max", vgg: undefined });
        this.#alive(op);
        const report = await this.#engine.tune(r.net, r.model?.id, r.size, r.budgetMs);
        await this.#storeTuning();
        return report;
      },
    );
  }

  /** The adapter: { name, backend, driver, deviceType, shaderF16, limits }. */
  get adapter() {
    return this.#adapter;
  }

  /**
   * GPU memory of the engine's buffers: `{ allocatedBytes, peakBytes, freeBytes }` (bytes held,
   * the most held so far, and held for reuse); zeros once the device is released.
   */
  get gpuMemory() {
    return this.#engine ? this.#engine.memory : { allocatedBytes: 0, peakBytes: 0, freeBytes: 0 };
  }

  /** Whether destroy() was called or the device was lost: no more calls can be made. */
  get closed() {
    return this.#state !== "open" || this.#deviceLost() !== null;
  }

  /** The device's loss, `{ reason, message }`, or null while it works (or after our own destroy()). */
  #deviceLost() {
    if (this.#lost) return this.#lost;
    if (this.#state !== "open") return null;
    const lost = this.#engine.lost;
    if (lost) {
      this.#lost = lost;
      this.#state = "lost";
      this.#release();
    }
    return this.#lost;
  }

  #lostError(op, cause) {
    const { reason, message } = this.#lost;
    const presenting = cause?.message?.includes("while presenting") ? "; this browser cannot present WebGPU canvases here (it destroyed the page's GPU devices), use stylize()" : "";
    return error("device-lost", `${op}: the GPU device was lost (${reason}${message ? `: ${message}` : ""})${presenting}; make a new one with StyleTransfer.create()`, { reason, cause });
  }

  /** Throws unless a new call can start now (not destroyed, device not lost). */
  #check(op) {
    if (this.#deviceLost()) throw this.#lostError(op);
    if (this.#state !== "open") throw error("destroyed", `${op}: this StyleTransfer was destroyed; make a new one with StyleTransfer.create()`);
  }

  /**
   * Throws unless a call in flight can go on: it can after destroy() (which waits for it),
   * not after a device loss.
   */
  #alive(op) {
    if (this.#deviceLost()) throw this.#lostError(op);
    if (!this.#engine) throw error("destroyed", `${op}: this StyleTransfer was destroyed`);
  }

  /**
   * One call of the API. `request()` validates the arguments (into a request with an optional
   * `signal`); `work(request)` does the call. Refused after destroy() or a device loss;
   * counted while in flight (destroy() waits for it); rejected with `cancelled` as soon as the
   * signal aborts; its errors given a code. Never throws synchronously.
   */
  async #call(op, request, work) {
    this.#check(op);
    const r = request();
    if (r?.signal?.aborted) throw cancelledError(op, r.signal);
    this.#busy++;
    const p = (async () => {
      try {
        return await work(r);
      } finally {
        this.#busy--;
        this.#release();
      }
    })();
    p.catch(() => {});
    try {
      return await abortable(p, r?.signal, op);
    } catch (e) {
      if (e?.code !== "cancelled" && this.#deviceLost()) throw this.#lostError(op, e);
      throw wrap(e, op);
    }
  }

  /** Frees the engine once nothing is in flight, after destroy() or a device loss. */
  #release() {
    if (this.#busy > 0 || !this.#engine) return;
    if (this.#state === "destroying" || this.#state === "lost") {
      const engine = this.#engine;
      this.#engine = null;
      if (this.#state === "destroying") this.#state = "destroyed";
      try {
        engine.destroy();
        engine.free();
      } catch {
        // Already gone with the device.
      }
    }
  }

  /**
   * The engine's model `key`, its bytes from `fetchBytes(signal, emit)` then given to
   * `load(bytes)`, once, shared by concurrent callers (each with its own signal and progress
   * callback).
   */
  #load(op, key, { has, fetchBytes, load }, opts) {
    if (has()) return Promise.resolve();
    let task = this.#loads.get(key);
    if (!task) {
      task = new SharedTask(async (signal, emit) => {
        const bytes = await fetchBytes(signal, emit);
        this.#alive(op);
        load(bytes);
      });
      this.#loads.set(key, task);
      const forget = () => this.#loads.get(key) === task && this.#loads.delete(key);
      task.promise.then(forget, forget);
    }
    return task.wait(op, opts);
  }

  /** A model file of the package (checked against its sha256, kept in the Cache API). */
  #packaged(op, key, model, what, has, load, opts) {
    return this.#load(op, key, {
      has,
      fetchBytes: (signal, emit) => download(model.url, { what, expect: model, signal, onProgress: emit }),
      load,
    }, opts);
  }

  #multistyle(op, opts) {
    const e = this.#engine;
    return this.#packaged(op, "multistyle", MODELS.multistyle, "the 26-style net", () => e.hasMultiStyle, (b) => e.loadMultiStyle(b), opts);
  }

  #arbitrary(op, opts) {
    const e = this.#engine;
    return this.#packaged(op, "arbitrary", MODELS.arbitrary, "the arbitrary-style net", () => e.hasArbitrary, (b) => e.loadArbitrary(b), opts);
  }

  /** The style vector of `painting` (already checked), within a call. */
  async #styleVector(op, painting, r) {
    await this.#arbitrary(op, r);
    const pixels = await readImage(op, "painting", painting);
    this.#alive(op);
    const vector = await this.#engine.styleVector(pixelsOf(pixels));
    // With tune: "full" the predictor's kernels were timed first: keep them.
    if (this.#tune === "full") await this.#storeTuning();
    return vector;
  }

  /**
   * The style of any painting as a 100-value Float32Array (arbitrary-style net). Keep it to
   * stylize many photos (`stylize(photo, { styleVector })`) or blend several with
   * `blendStyleVectors`. Options: `{ signal, onDownloadProgress }`.
   */
  styleVector(painting, options) {
    const op = "styleVector";
    return this.#call(
      op,
      () => {
        checkImage(op, "painting", painting);
        return loadRequest(op, options);
      },
      (r) => this.#styleVector(op, painting, r),
    );
  }

  /**
   * Loads a converted Johnson transform net (URL or bytes of a file made by
   * `tools/convert_models.py johnson`); pass it as `stylize(image, { model })`. Options:
   * `{ signal, onDownloadProgress }` (for a URL).
   */
  loadModel(source, options) {
    const op = "loadModel";
    return this.#call(
      op,
      () => {
        checkModelSource(op, "source", source);
        return loadRequest(op, options);
      },
      async (r) => {
        let bytes;
        if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
          bytes = new Uint8Array(source.buffer ?? source, source.byteOffset ?? 0, source.byteLength);
        } else {
          const url = new URL(String(source), globalThis.location?.href);
          bytes = await download(url, { what: "the model", signal: r.signal, onProgress: r.onDownloadProgress });
        }
        this.#alive(op);
        const { id, family } = this.#engine.loadModel(bytes);
        return new TransformNet(this, id, family);
      },
    );
  }

  /** The engine's request for a validated `stylize` / `stylizeTo` request: net loaded, style resolved. */
  async #prepare(op, r, live) {
    const request = { strength: r.strength, preserveColors: r.preserveColors, maxSize: r.maxSize, tileSize: r.tileSize };
    if (r.net === "multistyle") {
      await this.#multistyle(op, r);
      const s = r.style;
      return { ...request, style: { ...s, models: s.models.map((m) => m.id) } };
    }
    if (r.net === "johnson") return { ...request, model: r.model.id };
    let vector = r.styleVector;
    if (r.styleImage !== undefined) {
      vector = live ? this.#liveVectors.get(r.styleImage) : undefined;
      if (!vector) {
        vector = await this.#styleVector(op, r.styleImage, r);
        if (live) this.#liveVectors.set(r.styleImage, vector);
      }
    }
    await this.#arbitrary(op, r);
    return { ...request, styleVector: vector };
  }

  /**
   * Stylizes an image with one of the 26 styles or a blend, a painting's style, or a net from
   * `loadModel`; resolves to an ImageData the size of the (possibly `maxSize`-scaled) input.
   */
  stylize(image, options) {
    const op = "stylize";
    return this.#call(
      op,
      () => {
        checkImage(op, "image", image);
        return stylizeRequest(op, options, { isModel: (m) => TransformNet.belongsTo(m, this) });
      },
      async (r) => {
        const request = await this.#prepare(op, r, false);
        const pixels = await readImage(op, "image", image);
        this.#alive(op);
        const out = await this.#engine.stylize(pixelsOf(pixels), request, r.onProgress);
        if (this.#tune === "full") await this.#storeTuning();
        return new ImageData(out.data, out.width, out.height);
      },
    );
  }

  /**
   * Live: stylizes one frame of `source` (a video, camera, canvas or any image) and draws it
   * straight into `canvas` on the GPU; the result is never read back. Same options as
   * `stylize` but `tileSize` (`styleImage` is turned into a vector once per painting object);
   * `strength` blends with the frame for every net here. The canvas is sized to the
   * (maxSize-scaled, default 512) frame and must not have a 2d/webgl context. Call it once per
   * frame (requestAnimationFrame); it resolves when the GPU has drawn the frame.
   */
  stylizeTo(canvas, source, options) {
    const op = "stylizeTo";
    return this.#call(
      op,
      () => {
        const isCanvas =
          (typeof HTMLCanvasElement !== "undefined" && canvas instanceof HTMLCanvasElement) || (typeof OffscreenCanvas !== "undefined" && canvas instanceof OffscreenCanvas);
        if (!isCanvas) throw error("invalid-argument", `${op}: canvas must be an HTMLCanvasElement or an OffscreenCanvas, got ${show(canvas)}`);
        checkImage(op, "source", source);
        return stylizeRequest(op, options, { live: true, isModel: (m) => TransformNet.belongsTo(m, this) });
      },
      async (r) => {
        const request = await this.#prepare(op, r, true);
        const pixels = await readImage(op, "source", source);
        const long = Math.max(pixels.width, pixels.height);
        const scale = request.maxSize > 0 && long > request.maxSize ? request.maxSize / long : 1;
        const w = Math.max(1, Math.round(pixels.width * scale));
        const h = Math.max(1, Math.round(pixels.height * scale));
        if (canvas.width !== w || canvas.height !== h) {
          canvas.width = w;
          canvas.height = h;
        }
        this.#alive(op);
        await this.#engine.stylizeTo(canvas, w, h, pixelsOf(pixels), request);
      },
    );
  }

  /** VGG19 with `pooling`, from the package (checked and cached) or from `r.vgg`. */
  async #vgg(op, r) {
    const e = this.#engine;
    if (r.vgg === undefined) {
      const tag = `package:${r.pooling}`;
      const load = (b) => {
        e.loadVgg(b, r.pooling);
        this.#vggLoaded = tag;
      };
      return this.#packaged(op, tag, MODELS.vgg19, "VGG19", () => this.#vggLoaded === tag, load, r);
    }
    const source = r.vgg;
    let bytes;
    if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
      bytes = source instanceof Uint8Array ? source : new Uint8Array(source.buffer ?? source, source.byteOffset ?? 0, source.byteLength);
    } else {
      bytes = await download(new URL(String(source), globalThis.location?.href), { what: "VGG19", signal: r.signal, onProgress: r.onDownloadProgress });
    }
    this.#alive(op);
    this.#vggLoaded = null;
    e.loadVgg(bytes, r.pooling);
    this.#vggLoaded = "custom";
  }

  /**
   * Starts a Gatys optimisation of `content` towards the style of `styles` (one image or an
   * array). Options: see GatysOptions in index.d.ts; `signal` cancels like `run.cancel()`.
   */
  gatys(content, styles, options) {
    const op = "gatys";
    const run = new GatysRun((emit, stopped) =>
      this.#call(
        op,
        () => gatysRequest(content, styles, options),
        async (r) => {
          const onAbort = () => run.cancel();
          r.signal?.addEventListener("abort", onAbort, { once: true });
          try {
            await this.#vgg(op, r);
            const c = await readImage(op, "content", content);
            const s = await Promise.all(r.styles.map((x, i) => readImage(op, Array.isArray(styles) ? `styles[${i}]` : "styles", x)));
            if (stopped() === "destroyed") throw error("destroyed", `${op}: the StyleTransfer was destroyed before the run started`);
            this.#alive(op);
            const out = await this.#engine.gatys(pixelsOf(c), s.map(pixelsOf), r.engine, (e) => {
              if (e.preview) e.preview = new ImageData(e.preview.data, e.preview.width, e.preview.height);
              emit(e);
              return stopped() === null;
            });
            const image = new ImageData(out.data, out.width, out.height);
            if (out.cancelled) {
              const why = stopped() === "destroyed" ? "destroyed" : "cancelled";
              const message = why === "destroyed" ? "the StyleTransfer was destroyed" : "the Gatys run was cancelled";
              throw error(why, `${op}: ${message} after ${out.iterations} iterations`, { image, iterations: out.iterations });
            }
            return { image, iterations: out.iterations, losses: out.losses };
          } finally {
            r.signal?.removeEventListener("abort", onAbort);
          }
        },
      ).finally(() => this.#runs.delete(run)),
    );
    if (this.#state === "open") this.#runs.add(run);
    return run;
  }

  /** The loss net `name` ("vgg16" or "vgg19") of the package, in the engine's training slot. */
  #lossNet(op, name, r) {
    const e = this.#engine;
    const what = name === "vgg16" ? "VGG16" : "VGG19";
    return this.#packaged(op, `loss:${name}`, MODELS[name], what, () => e.lossNet === name, (b) => e.loadLossNet(b), r);
  }

  /** The package's default training photos, as ImageData. */
  async #defaultPhotos(op, r) {
    if (!MODELS.photos) throw error("invalid-argument", `${op}: this build of the package has no default photos; pass your own as the images option`);
    const bytes = await download(MODELS.photos.url, { what: "the training photos", expect: MODELS.photos, signal: r.signal, onProgress: r.onDownloadProgress });
    const photos = unpackPhotos(bytes);
    if (photos.length === 0) throw error("invalid-argument", `${op}: this build of the package has no default photos (its set-up could not assemble them); pass your own as the images option`);
    return Promise.all(photos.map(([name, blob]) => readImage(op, `the package's photo ${name}`, blob)));
  }

  /**
   * Starts learning a new style of the 26-style net from `painting`, on this device's GPU
   * (nothing leaves the page). Options: see TrainOptions in index.d.ts. `run.cancel()` stops
   * at the next reported step and still gives the style learned so far; the `signal` option
   * rejects the run with code "cancelled" instead, like any call's signal.
   */
  train(painting, options) {
    const op = "train";
    const run = new TrainRun((emit, stopped) =>
      this.#call(
        op,
        () => trainRequest(painting, options),
        async (r) => {
          const onAbort = () => run.cancel();
          r.signal?.addEventListener("abort", onAbort, { once: true });
          try {
            await Promise.all([this.#multistyle(op, r), this.#lossNet(op, r.engine.lossNet, r)]);
            const art = await readImage(op, "painting", painting);
            const photos = r.images
              ? await Promise.all(r.images.map((x, i) => readImage(op, `images[${i}]`, x)))
              : await this.#defaultPhotos(op, r);
            const preview = r.preview === undefined ? photos[0] : await readImage(op, "preview", r.preview);
            const request = { ...r.engine, ...(await paintingMeta(painting)) };
            if (stopped() === "destroyed") throw error("destroyed", `${op}: the StyleTransfer was destroyed before the run started`);
            this.#alive(op);
            const rate = stepRate();
            const out = await this.#engine.train(pixelsOf(art), photos.map(pixelsOf), pixelsOf(preview), request, (e) => {
              if (e.preview) e.preview = new ImageData(e.preview.data, e.preview.width, e.preview.height);
              e.stepsPerSecond = rate(e);
              emit(e);
              return stopped() === null;
            });
            learnedFiles.set(run, out.bytes);
            if (stopped() === "destroyed") throw error("destroyed", `${op}: the StyleTransfer was destroyed after ${out.steps} steps`, { steps: out.steps });
            const model = new TransformNet(this, out.id, out.family);
            return { model, steps: out.steps, losses: out.losses, cancelled: out.cancelled };
          } finally {
            r.signal?.removeEventListener("abort", onAbort);
          }
        },
      ).finally(() => this.#runs.delete(run)),
    );
    if (this.#state === "open") this.#runs.add(run);
    return run;
  }

  /**
   * Where a net's time goes on this GPU: its plan on a `size` px square input (default 256),
   * each dispatch timed on its own (fastest of `runs`, default 3) and the whole plan as one
   * submission. `net`: "multistyle", "arbitrary", "gatys" (one gradient evaluation through
   * VGG19) or a Johnson net from `loadModel()`. Resolves to `{ dispatches: [{ label, kernel,
   * output, flops, ms, gflops }], planMs, timing }` (`gflops` null where the op does not state
   * its operations; `timing` "gpu" where the device has timestamp queries, else "host").
   */
  profile(net, options) {
    const op = "profile";
    return this.#call(
      op,
      () => profileRequest(net, options, (m) => TransformNet.belongsTo(m, this)),
      async (r) => {
        if (r.net === "multistyle") await this.#multistyle(op, r);
        if (r.net === "arbitrary") await this.#arbitrary(op, r);
        if (r.net === "gatys") await this.#vgg(op, { ...r, pooling: "max", vgg: undefined });
        this.#alive(op);
        return this.#engine.profile(r.net, r.model?.id, r.size, r.runs);
      },
    );
  }

  /** The convolution benchmark: [{ case, kernel, ms, gflops }]. */
  benchConv(runs = 3) {
    const op = "benchConv";
    return this.#call(
      op,
      () => {
        if (!(Number.isInteger(runs) && runs >= 1 && runs <= 1000)) throw error("invalid-argument", `${op}: runs must be a whole number from 1 to 1000, got ${show(runs)}`);
      },
      () => this.#engine.benchConv(runs),
    );
  }

  /**
   * Releases the GPU device. Calls in flight finish first (a Gatys run stops at its next
   * iteration, rejecting with code "destroyed"), then the device is released; later calls
   * reject with code "destroyed".
   */
  destroy() {
    if (this.#state !== "open") return;
    this.#state = "destroying";
    for (const run of this.#runs) run.cancel("destroyed");
    for (const task of this.#loads.values()) task.abort();
    this.#release();
  }
}
