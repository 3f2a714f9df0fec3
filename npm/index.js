// The package's JavaScript API: a small class over the wasm engine. It turns any image source
// into pixels, loads the bundled models on first use, fills in option defaults and gives every
// error a `code`.
import init, { Engine } from "./webgpu_style_transfer.js";

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

const MULTISTYLE_URL = new URL("./multistyle26.safetensors", import.meta.url);
// The arbitrary-style pair (2.7 MB): fetched on the first styleVector / styleImage call.
const ARBITRARY_URL = new URL("./arbitrary.safetensors", import.meta.url);
// VGG19 for Gatys runs (20 MB): fetched only when a run starts, then kept in the Cache API.
const VGG_URL = new URL("./vgg19.safetensors", import.meta.url);
const CACHE_NAME = "webgpu-style-transfer-models-v1";

/** Bytes of a model URL, from the Cache API when the browser keeps one (secure contexts). */
async function fetchModel(url, what) {
  const cache = typeof caches !== "undefined" ? await caches.open(CACHE_NAME).catch(() => null) : null;
  let res = cache ? await cache.match(url).catch(() => undefined) : undefined;
  if (!res) {
    try {
      res = await fetch(url);
    } catch (e) {
      throw error("bad-model", `could not download ${what} from ${url} (${e.message})`);
    }
    if (!res.ok) throw error("bad-model", `could not download ${what} from ${url} (HTTP ${res.status})`);
    if (cache) await cache.put(url, res.clone()).catch(() => {});
  }
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * A running Gatys optimisation: listen with `onProgress(fn)` or `for await (const e of run)`,
 * stop it with `cancel()`, and await `result` for the final image.
 */
export class GatysRun {
  #listeners = [];
  #queue = [];
  #waiters = [];
  #done = false;
  #cancelled = false;
  /** Resolves to `{ image: ImageData, iterations, losses }`; rejects with code "cancelled" (its `image` holds the picture so far) after `cancel()`. */
  result;

  constructor(start) {
    this.result = start((event) => this.#emit(event), () => this.#cancelled).finally(() => {
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

  /** Calls `fn(event)` at each reported iteration: `{ stage, stages, width, height, iteration, iterations, total, content, style, tv, elapsedMs, preview? }`. */
  onProgress(fn) {
    this.#listeners.push(fn);
    return this;
  }

  /** Stops the run at its next reported iteration; its GPU buffers are released. */
  cancel() {
    this.#cancelled = true;
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

/** Number of built-in styles of the 26-style net. */
export const STYLE_COUNT = 26;

function error(code, message) {
  const e = new Error(message);
  e.code = code;
  return e;
}

/** Style option -> parallel index and weight arrays (validated again by the engine). */
function styleParts(style) {
  if (typeof style === "number") return [Uint32Array.of(style), Float32Array.of(1)];
  if (style && typeof style === "object") {
    const entries = Object.entries(style);
    return [Uint32Array.from(entries, ([k]) => Number(k)), Float32Array.from(entries, ([, v]) => Number(v))];
  }
  throw error("invalid-argument", `style must be an index (0-${STYLE_COUNT - 1}) or a blend such as {3: 0.5, 12: 0.5}, got ${String(style)}`);
}

/** Any image source -> ImageData (RGBA8). */
export async function toImageData(source) {
  if (typeof ImageData !== "undefined" && source instanceof ImageData) return source;
  let drawable = source;
  if (source instanceof Blob || source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    const blob = source instanceof Blob ? source : new Blob([source]);
    try {
      drawable = await createImageBitmap(blob);
    } catch (e) {
      throw error("bad-image", `cannot decode the image (${e.message}); use PNG, JPEG or WebP bytes`);
    }
  }
  if (typeof HTMLImageElement !== "undefined" && drawable instanceof HTMLImageElement && !drawable.complete) {
    await drawable.decode();
  }
  const width = drawable.videoWidth ?? drawable.displayWidth ?? drawable.naturalWidth ?? drawable.width;
  const height = drawable.videoHeight ?? drawable.displayHeight ?? drawable.naturalHeight ?? drawable.height;
  if (!width || !height) throw error("bad-image", "the image has no pixels yet (not loaded, or 0x0)");
  const canvas = new OffscreenCanvas(width, height);
  const g = canvas.getContext("2d", { willReadFrequently: true });
  g.drawImage(drawable, 0, 0, width, height);
  return g.getImageData(0, 0, width, height);
}

function wrap(e) {
  if (e instanceof Error) return e;
  return error("gpu-error", String(e));
}

export const STYLE_VECTOR_LENGTH = 100;

/**
 * A weighted blend of style vectors (from `styleVector`): `blendStyleVectors([[a, 0.7], [b, 0.3]])`.
 * Weights are normalised to sum to 1.
 */
export function blendStyleVectors(parts) {
  if (!Array.isArray(parts) || parts.length === 0) throw error("invalid-argument", "give a list of [styleVector, weight] pairs");
  let sum = 0;
  for (const [v, w] of parts) {
    if (!(v instanceof Float32Array) || v.length !== STYLE_VECTOR_LENGTH) throw error("invalid-argument", `a style vector is a Float32Array of ${STYLE_VECTOR_LENGTH} values from styleVector()`);
    if (!(Number.isFinite(w) && w >= 0)) throw error("invalid-argument", `blend weight ${w} must be a finite, non-negative number`);
    sum += w;
  }
  if (sum <= 0) throw error("invalid-argument", "the blend weights sum to 0; give one a positive weight");
  const out = new Float32Array(STYLE_VECTOR_LENGTH);
  for (const [v, w] of parts) for (let i = 0; i < out.length; i++) out[i] += (v[i] * w) / sum;
  return out;
}

/** ImageData -> the byte view the engine takes. */
function bytesOf(pixels) {
  return new Uint8Array(pixels.data.buffer, pixels.data.byteOffset, pixels.data.byteLength);
}

/** A Johnson transform net loaded by `StyleTransfer.loadModel()`. */
export class TransformNet {
  constructor(owner, id) {
    this.owner = owner;
    this.id = id;
    this.family = "johnson";
  }
}

/** Neural style transfer on this device's GPU. Create with `await StyleTransfer.create()`. */
export class StyleTransfer {
  #engine;
  #loading = null;
  #loadingArbitrary = null;
  #liveVectors = new WeakMap();

  constructor(engine) {
    this.#engine = engine;
  }

  /** Opens the GPU; rejects with code "webgpu-unavailable" where the browser has no WebGPU. */
  static async create(options = {}) {
    await loadWasm();
    try {
      return new StyleTransfer(await Engine.create(options.powerPreference));
    } catch (e) {
      throw wrap(e);
    }
  }

  /** The adapter: { name, backend, driver, deviceType, shaderF16, limits }. */
  get adapter() {
    return this.#engine.adapter;
  }

  async #multistyle() {
    if (this.#engine.hasMultiStyle) return;
    this.#loading ??= (async () => {
      const res = await fetch(MULTISTYLE_URL);
      if (!res.ok) throw error("bad-model", `could not load the 26-style net from ${MULTISTYLE_URL} (HTTP ${res.status})`);
      this.#engine.loadMultiStyle(new Uint8Array(await res.arrayBuffer()));
    })();
    try {
      await this.#loading;
    } catch (e) {
      this.#loading = null;
      throw wrap(e);
    }
  }

  async #arbitrary() {
    if (this.#engine.hasArbitrary) return;
    this.#loadingArbitrary ??= (async () => {
      this.#engine.loadArbitrary(await fetchModel(ARBITRARY_URL, "the arbitrary-style net"));
    })();
    try {
      await this.#loadingArbitrary;
    } catch (e) {
      this.#loadingArbitrary = null;
      throw wrap(e);
    }
  }

  /**
   * The style of any painting as a 100-value Float32Array (arbitrary-style net). Keep it to
   * stylize many photos (`stylize(photo, { styleVector })`) or blend several with
   * `blendStyleVectors`.
   */
  async styleVector(painting) {
    await this.#arbitrary();
    const pixels = await toImageData(painting);
    try {
      return await this.#engine.styleVector(bytesOf(pixels), pixels.width, pixels.height);
    } catch (e) {
      throw wrap(e);
    }
  }

  /**
   * Loads a converted Johnson transform net (URL or bytes of a file made by
   * `tools/convert_models.py johnson`); pass it as `stylize(image, { model })`.
   */
  async loadModel(source) {
    const bytes =
      source instanceof ArrayBuffer || ArrayBuffer.isView(source)
        ? new Uint8Array(source.buffer ?? source, source.byteOffset ?? 0, source.byteLength)
        : await fetchModel(new URL(String(source), globalThis.location?.href), "the model");
    try {
      return new TransformNet(this, this.#engine.loadJohnson(bytes));
    } catch (e) {
      throw wrap(e);
    }
  }

  /**
   * Stylizes an image with one of the 26 styles or a blend, or with a net from `loadModel`
   * (`{ model }`); resolves to an ImageData the size of the (possibly `maxSize`-scaled) input.
   */
  async stylize(image, options = {}) {
    const { style = 0, strength = 1, preserveColors = false, maxSize = 1024, model, styleImage, tileSize = 0 } = options;
    let { styleVector } = options;
    const chosen = ["style", "styleImage", "styleVector", "model"].filter((k) => options[k] !== undefined);
    if (chosen.length > 1) throw error("invalid-argument", `give one of style, styleImage, styleVector or model, not ${chosen.join(" and ")}`);
    if (!(Number.isInteger(tileSize) && tileSize >= 0)) throw error("invalid-argument", `tileSize must be a whole number of pixels (0: automatic), got ${tileSize}`);
    if (styleImage !== undefined || styleVector !== undefined) {
      if (styleImage !== undefined) styleVector = await this.styleVector(styleImage);
      if (!(styleVector instanceof Float32Array) || styleVector.length !== STYLE_VECTOR_LENGTH) {
        throw error("invalid-argument", `styleVector must be a Float32Array of ${STYLE_VECTOR_LENGTH} values from styleVector()`);
      }
      await this.#arbitrary();
      const pixels = await toImageData(image);
      try {
        const out = await this.#engine.stylizeArbitrary(bytesOf(pixels), pixels.width, pixels.height, styleVector, strength, preserveColors, maxSize, tileSize);
        return new ImageData(out.data, out.width, out.height);
      } catch (e) {
        throw wrap(e);
      }
    }
    if (model !== undefined) {
      if (!(model instanceof TransformNet) || model.owner !== this) {
        throw error("invalid-argument", "model must come from this StyleTransfer's loadModel()");
      }
      const pixels = await toImageData(image);
      try {
        const out = await this.#engine.stylizeWith(model.id, bytesOf(pixels), pixels.width, pixels.height, strength, preserveColors, maxSize, tileSize);
        return new ImageData(out.data, out.width, out.height);
      } catch (e) {
        throw wrap(e);
      }
    }
    const [indices, weights] = styleParts(style);
    await this.#multistyle();
    const pixels = await toImageData(image);
    try {
      const out = await this.#engine.stylize(bytesOf(pixels), pixels.width, pixels.height, indices, weights, strength, preserveColors, maxSize, tileSize);
      return new ImageData(out.data, out.width, out.height);
    } catch (e) {
      throw wrap(e);
    }
  }

  /**
   * Live: stylizes one frame of `source` (a video, camera, canvas or any image) and draws it
   * straight into `canvas` on the GPU; the result is never read back. Same options as
   * `stylize` (`styleImage` is turned into a vector once per painting object); `strength`
   * blends with the frame for every net here. The canvas is sized to the (maxSize-scaled)
   * frame and must not have a 2d/webgl context. Call it once per frame (requestAnimationFrame);
   * it resolves when the GPU has drawn the frame.
   */
  async stylizeTo(canvas, source, options = {}) {
    const { style = 0, strength = 1, preserveColors = false, maxSize = 512, model, styleImage } = options;
    let { styleVector } = options;
    const chosen = ["style", "styleImage", "styleVector", "model"].filter((k) => options[k] !== undefined);
    if (chosen.length > 1) throw error("invalid-argument", `give one of style, styleImage, styleVector or model, not ${chosen.join(" and ")}`);
    const isCanvas = (typeof HTMLCanvasElement !== "undefined" && canvas instanceof HTMLCanvasElement) || (typeof OffscreenCanvas !== "undefined" && canvas instanceof OffscreenCanvas);
    if (!isCanvas) throw error("invalid-argument", "stylizeTo draws into an HTMLCanvasElement or an OffscreenCanvas");
    let net = "multistyle";
    let indices = new Uint32Array(0);
    let weights = new Float32Array(0);
    let id = 0;
    if (styleImage !== undefined) {
      if (styleImage === null || typeof styleImage !== "object") throw error("invalid-argument", "styleImage must be an image (ImageData, ImageBitmap, an element, a Blob or bytes)");
      if (!this.#liveVectors.has(styleImage)) this.#liveVectors.set(styleImage, await this.styleVector(styleImage));
      styleVector = this.#liveVectors.get(styleImage);
    }
    if (styleVector !== undefined) {
      if (!(styleVector instanceof Float32Array) || styleVector.length !== STYLE_VECTOR_LENGTH) {
        throw error("invalid-argument", `styleVector must be a Float32Array of ${STYLE_VECTOR_LENGTH} values from styleVector()`);
      }
      await this.#arbitrary();
      net = "arbitrary";
    } else if (model !== undefined) {
      if (!(model instanceof TransformNet) || model.owner !== this) throw error("invalid-argument", "model must come from this StyleTransfer's loadModel()");
      net = "johnson";
      id = model.id;
    } else {
      [indices, weights] = styleParts(style);
      await this.#multistyle();
    }
    const pixels = await toImageData(source);
    const long = Math.max(pixels.width, pixels.height);
    const scale = maxSize > 0 && long > maxSize ? maxSize / long : 1;
    const w = Math.max(1, Math.round(pixels.width * scale));
    const h = Math.max(1, Math.round(pixels.height * scale));
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    try {
      await this.#engine.stylizeTo(canvas, w, h, bytesOf(pixels), pixels.width, pixels.height, net, indices, weights, styleVector ?? new Float32Array(0), id, strength, preserveColors, maxSize);
    } catch (e) {
      throw wrap(e);
    }
  }

  async #vgg(pooling, source) {
    if (this.#engine.vggPooling === pooling && !source) return;
    let bytes;
    if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
      bytes = source instanceof Uint8Array ? source : new Uint8Array(source.buffer ?? source, source.byteOffset ?? 0, source.byteLength);
    } else {
      bytes = await fetchModel(source ? new URL(String(source), globalThis.location?.href) : VGG_URL, "VGG19");
    }
    try {
      this.#engine.loadVgg(bytes, pooling);
    } catch (e) {
      throw wrap(e);
    }
  }

  /**
   * Starts a Gatys optimisation of `content` towards the style of `styles` (one image or an
   * array). Options: `{ size, iterations, optimizer: "lbfgs" | "adam", learningRate, history,
   * contentWeight, styleWeight, tvWeight, init: "noise" | "content", seed, scales, styleScale,
   * styleBlendWeights, pooling: "max" | "avg", preserveColors, previewEvery, reportEvery, vgg }`
   * (`vgg`: a URL or the bytes of a converted VGG19; by default the package's own file).
   */
  gatys(content, styles, options = {}) {
    const list = Array.isArray(styles) ? styles : [styles];
    const { pooling = "max", vgg, ...rest } = options;
    const opts = { size: 512, iterations: 1000, previewEvery: 10, ...rest };
    return new GatysRun(async (emit, isCancelled) => {
      await this.#vgg(pooling, vgg);
      const c = await toImageData(content);
      const s = await Promise.all(list.map(toImageData));
      let out;
      try {
        out = await this.#engine.gatys(
          new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength),
          c.width,
          c.height,
          s.map((p) => ({ data: p.data, width: p.width, height: p.height })),
          opts,
          (e) => {
            if (e.preview) e.preview = new ImageData(e.preview.data, e.preview.width, e.preview.height);
            emit(e);
            return !isCancelled();
          },
        );
      } catch (e) {
        throw wrap(e);
      }
      const image = new ImageData(out.data, out.width, out.height);
      if (out.cancelled) {
        const e = error("cancelled", `the Gatys run was cancelled after ${out.iterations} iterations`);
        e.image = image;
        e.iterations = out.iterations;
        throw e;
      }
      return { image, iterations: out.iterations, losses: out.losses };
    });
  }

  /** The convolution benchmark: [{ case, kernel, ms, gflops }]. */
  benchConv(runs = 3) {
    return this.#engine.benchConv(runs);
  }

  /** Releases the GPU device. */
  destroy() {
    this.#engine.destroy();
  }
}
