// The package's JavaScript API: a small class over the wasm engine. It turns any image source
// into pixels, loads the bundled models on first use, fills in option defaults and gives every
// error a `code`.
import { Engine } from "./webgpu_style_transfer.js";

const MULTISTYLE_URL = new URL("./multistyle26.safetensors", import.meta.url);

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

/** Neural style transfer on this device's GPU. Create with `await StyleTransfer.create()`. */
export class StyleTransfer {
  #engine;
  #loading = null;

  constructor(engine) {
    this.#engine = engine;
  }

  /** Opens the GPU; rejects with code "webgpu-unavailable" where the browser has no WebGPU. */
  static async create(options = {}) {
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

  /**
   * Stylizes an image with one of the 26 styles or a blend; resolves to an ImageData the size
   * of the (possibly `maxSize`-scaled) input.
   */
  async stylize(image, options = {}) {
    const { style = 0, strength = 1, preserveColors = false, maxSize = 1024 } = options;
    const [indices, weights] = styleParts(style);
    await this.#multistyle();
    const pixels = await toImageData(image);
    try {
      const out = await this.#engine.stylize(new Uint8Array(pixels.data.buffer, pixels.data.byteOffset, pixels.data.byteLength), pixels.width, pixels.height, indices, weights, strength, preserveColors, maxSize);
      return new ImageData(out.data, out.width, out.height);
    } catch (e) {
      throw wrap(e);
    }
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
