/** The GPU the engine runs on. */
export interface AdapterInfo {
  name: string;
  /** "webgpu" in browsers; "vulkan", "metal", "dx12" or "gl" natively. */
  backend: string;
  driver: string;
  deviceType: "discrete" | "integrated" | "virtual" | "cpu" | "other";
  shaderF16: boolean;
  /** Whether the device has timestamp queries (`profile` then times dispatches on the GPU's clock). */
  timestampQuery: boolean;
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupsPerDimension: number;
  };
}

export interface CreateOptions {
  powerPreference?: "high-performance" | "low-power";
  /**
   * Kernel tuning: "cached" (default) runs the convolution tiles timed on this GPU before
   * (kept in IndexedDB per adapter and driver), "full" also times, before a `stylize()` (and
   * the arbitrary-style predictor's before a `styleVector()`), the layers its size lacks and
   * keeps them, "off" runs the fixed tiles. Pictures are the same in every mode (to the bit, but
   * for split-K, which a real GPU's tuning may pick for a small layer: float rounding).
   */
  tune?: "off" | "cached" | "full";
  /** The most milliseconds a `stylize()` spends tuning in mode "full", 1 to 3600000 (default 30000). */
  tuneBudgetMs?: number;
}

/**
 * One of the 26 built-in styles (a whole number 0-25), or a blend `{ index: weight }`: keys
 * "0"-"25", weights finite and >= 0 with a positive sum (normalised to sum to 1).
 */
/**
 * A style of the 26-style net: a built-in index (0-25), a blend `{ 3: 0.5, 12: 0.5 }`, a learned
 * style from `loadModel()`, or a blend of both as `[style, weight]` pairs, e.g.
 * `[[3, 0.5], [mine, 0.5]]`. Weights are normalised to sum to 1.
 */
export type Style = number | Record<number, number> | TransformNet | Array<[number | TransformNet, number]>;

/**
 * A model from `StyleTransfer.loadModel()`: a Johnson transform net (`family` "johnson"), or a
 * style learned for the 26-style net by `style-transfer train` or `train()` (`family`
 * "multistyle26-style").
 */
export declare class TransformNet {
  private constructor();
  readonly family: "johnson" | "multistyle26-style";
}

/** A painting's style for the arbitrary-style net: 100 values from `styleVector()`. */
export type StyleVector = Float32Array;

/** The length of a style vector (100). */
export declare const STYLE_VECTOR_LENGTH: 100;

/**
 * A weighted blend of style vectors: `blendStyleVectors([[a, 0.7], [b, 0.3]])`. Weights must be
 * finite and >= 0 with a positive sum; they are normalised (by the largest first, so huge
 * weights do not overflow).
 */
export declare function blendStyleVectors(parts: Array<[StyleVector, number]>): StyleVector;

/** A download of a model file: `loaded` never decreases, and the last event has `loaded === total`. */
export interface DownloadProgress {
  /** Bytes received so far. */
  loaded: number;
  /** Bytes expected: the recorded size of the package's own files, else the server's Content-Length (undefined when it sends none, until the last event). */
  total: number | undefined;
  /** The file's URL. */
  url: string;
  /** True when the file came (checked) from the Cache API: one event, `loaded === total`. */
  cached: boolean;
}

/** Options of every call that may download a model. */
export interface LoadOptions {
  /** Cancels the call: it rejects with code "cancelled" (at once when already aborted). */
  signal?: AbortSignal;
  /** Called as a model file downloads (the arbitrary-style pair, 2.7 MB; VGG19, 20 MB; a model by URL). */
  onDownloadProgress?: (event: DownloadProgress) => void;
}

/**
 * Give at most one of `style`, `styleImage`, `styleVector`, `model` (default: style 0). Every
 * option is checked: a value of the wrong type or out of range, or an option name that is not
 * one of these, rejects with code "invalid-argument" naming it; nothing is coerced.
 */
export interface StylizeOptions extends LoadOptions {
  /** One of the 26 built-in styles, a learned style, or a blend of them (the 26-style net). Default 0. */
  style?: Style;
  /** Any painting: its style vector is computed first (arbitrary-style net). */
  styleImage?: ImageSource;
  /** A style vector from `styleVector()` (or a blend of several). */
  styleVector?: StyleVector;
  /** A net from `loadModel()`: a Johnson net, or a learned style (the 26-style net runs it). */
  model?: TransformNet;
  /**
   * A finite number from 0 to 1: 1 = full style (default), 0 = the photo. With a painting's
   * style, the style vector moves toward the photo's own; with the other nets (and always in
   * `stylizeTo`), the result is blended with the photo.
   */
  strength?: number;
  /** Keep the photo's colours (stylized luminance, photo chroma): true or false (default). */
  preserveColors?: boolean;
  /** Scale the image down so its longer side is at most this many pixels: a whole number (default 1024, 512 for `stylizeTo`; 0 = never). */
  maxSize?: number;
  /**
   * Work in tiles of this many pixels, with instance-norm statistics over the whole image, so
   * the result equals an untiled run (default 0: only when the image is too large for the
   * device, with the largest tile that fits). Not accepted by `stylizeTo`.
   */
  tileSize?: number;
  /**
   * Called as a run in tiles goes (it is submitted in 32 parts; a large image can take minutes
   * on a slow GPU). A run of the whole image is one submission and reports nothing. Not
   * accepted by `stylizeTo`.
   */
  onProgress?: (event: StylizeProgress) => void;
}

/** Progress of a `stylize` run in tiles. */
export interface StylizeProgress {
  /** GPU passes (one layer over one tile) done so far. */
  done: number;
  /** GPU passes in the run. */
  total: number;
  /** How many tiles the image is processed in. */
  tiles: number;
  /** Their side in pixels (before the margins they share). */
  tile: number;
}

/** Options of `stylizeTo`: those of `stylize` but `tileSize` and `onProgress`. */
export type LiveOptions = Omit<StylizeOptions, "tileSize" | "onProgress">;

export type ImageSource =
  | ImageData
  | ImageBitmap
  | HTMLImageElement
  | HTMLCanvasElement
  | OffscreenCanvas
  | HTMLVideoElement
  | VideoFrame
  | Blob
  | ArrayBuffer
  | Uint8Array;

export interface ConvBenchRow {
  case: string;
  kernel: string;
  ms: number;
  gflops: number;
}

/**
 * Options of a Gatys run; defaults as in jcjohnson/neural-style except where noted. Checked
 * like StylizeOptions (unknown names and bad values are "invalid-argument" errors). `signal`
 * stops the run at its next iteration (its GPU buffers are freed) and rejects `result` with
 * code "cancelled" at once; `onDownloadProgress` reports VGG19's download.
 */
export interface GatysOptions extends LoadOptions {
  /** Longer side of the result in pixels (default 512). */
  size?: number;
  /** Iterations per stage (default 1000). */
  iterations?: number;
  /** Default "lbfgs". */
  optimizer?: "lbfgs" | "adam";
  /** Step size: 1 for L-BFGS, 10 for Adam by default. */
  learningRate?: number;
  /** L-BFGS pairs kept (default 20; each costs two image-sized GPU buffers). */
  history?: number;
  /** Default 5. */
  contentWeight?: number;
  /** Default 100. */
  styleWeight?: number;
  /** Default 1e-3. */
  tvWeight?: number;
  /** Start from noise (default) or the content image. */
  init?: "noise" | "content";
  /** Seed of the noise (default 0). */
  seed?: number;
  /** Multi-scale stages, e.g. [256, 512]; each starts from the previous result upscaled. */
  scales?: number[];
  /** Style images are scaled to a longer side of styleScale * size (default 1). */
  styleScale?: number;
  /** Blend weights of several style images (normalised; default equal). */
  styleBlendWeights?: number[];
  /** VGG19's pooling: "max" (default, as trained) or "avg" (as in Gatys et al.). */
  pooling?: "max" | "avg";
  /** Keep the photo's colours. */
  preserveColors?: boolean;
  /** Attach a preview image to the progress every this many iterations (default 10; 0 = never). */
  previewEvery?: number;
  /** Report progress (and read the losses back) every this many iterations (default 1). */
  reportEvery?: number;
  /** A URL or the bytes of a converted VGG19 (default: the file in this package). */
  vgg?: string | URL | ArrayBuffer | Uint8Array;
}

/** One reported iteration; each loss is already multiplied by its weight. */
export interface GatysProgress {
  stage: number;
  stages: number;
  width: number;
  height: number;
  /** 0 is the initial image. */
  iteration: number;
  iterations: number;
  total: number;
  content: number;
  style: number;
  tv: number;
  elapsedMs: number;
  /** The current image, every `previewEvery` iterations. */
  preview?: ImageData;
}

export interface GatysResult {
  image: ImageData;
  iterations: number;
  losses: { total: number; content: number; style: number; tv: number };
}

/** A running Gatys optimisation. */
export declare class GatysRun implements AsyncIterable<GatysProgress> {
  private constructor();
  /** The final image; rejects with code "cancelled" (with `image`, the picture so far) after `cancel()`. */
  readonly result: Promise<GatysResult>;
  onProgress(fn: (event: GatysProgress) => void): this;
  /** Stops at the next reported iteration and releases the run's GPU buffers. */
  cancel(): void;
  [Symbol.asyncIterator](): AsyncIterator<GatysProgress>;
}

/**
 * Options of a training run (`StyleTransfer.train`): a new style for the 26-style net, learned
 * as `style-transfer train` learns it (Adam on one gamma/beta row per conditional norm, the
 * convolutions frozen; content + style Gram + total-variation loss through VGG16). Defaults as
 * the CLI's but `size` 128 and `steps` 300. Checked like the other options ("invalid-argument").
 * `signal` rejects `result` with code "cancelled" at once (the run stops at its next step);
 * `onDownloadProgress` reports VGG16's, the 26-style net's and the default photos' downloads.
 */
export interface TrainOptions extends LoadOptions {
  /** Training photos (at least one); default: the package's 39 photos (3 MB, fetched once and cached). */
  images?: ImageSource[];
  /** The photo shown stylized in progress events (default: the first training photo). */
  preview?: ImageSource;
  /** The style's name, kept in its file (default "my-style"). */
  name?: string;
  /** Side of the square training crops in pixels: a multiple of 4, at least 32 (default 128). */
  size?: number;
  /** Photos per step, their gradients averaged (default 4). */
  batch?: number;
  /** Optimiser steps (default 300). */
  steps?: number;
  /** Adam's step size (default 0.01). */
  learningRate?: number;
  /** The painting is scaled so its longer side is this many pixels (default 256). */
  styleSize?: number;
  /** Default 1. */
  contentWeight?: number;
  /** Default 5. */
  styleWeight?: number;
  /** Default 1e-6. */
  tvWeight?: number;
  /** Default ["relu3_3"]. */
  contentLayers?: string[];
  /** Default ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]. */
  styleLayers?: string[];
  /** One weight per style layer (default all 1). */
  layerWeights?: number[];
  /** The loss network (default "vgg16", 7.4 MB; "vgg19" is 20 MB). */
  lossNet?: "vgg16" | "vgg19";
  /** Seeds the crops and flips (default 0): the same seed and photos give the same style. */
  seed?: number;
  /** Start from built-in style 0-25 instead of the mean of the 26. */
  initStyle?: number;
  /** Report progress (and read the losses back) every this many steps (default 1). */
  reportEvery?: number;
  /** Attach a preview to the progress every this many steps (default 10) and at the last. */
  previewEvery?: number;
  /** Longer side of the preview in pixels (default 256). */
  previewSize?: number;
}

/** One reported step; each loss is already multiplied by its weight (the batch's mean). */
export interface TrainProgress {
  /** Steps done (1 to steps). */
  step: number;
  steps: number;
  total: number;
  content: number;
  style: number;
  tv: number;
  /** Since the first step started (set-up and the painting's Grams excluded). */
  elapsedMs: number;
  /** Measured over the steps after the first report (the first holds shader compilation). */
  stepsPerSecond: number;
  /** The preview photo stylized with the style so far, every `previewEvery` steps. */
  preview?: ImageData;
}

export interface TrainResult {
  /** The learned style: use it as `stylize(image, { model })`, in `stylizeTo`, or in a `style` blend. */
  model: TransformNet;
  /** Steps done. */
  steps: number;
  /** Whether `cancel()` stopped the run before its last step (`model` is the style so far). */
  cancelled: boolean;
  /** The last reported losses. */
  losses?: { total: number; content: number; style: number; tv: number };
}

/** A running training of a new style. */
export declare class TrainRun implements AsyncIterable<TrainProgress> {
  private constructor();
  /**
   * The learned style. `cancel()` ends the run early and still resolves (with `cancelled:
   * true`); the `signal` option and `destroy()` reject it ("cancelled", "destroyed").
   */
  readonly result: Promise<TrainResult>;
  onProgress(fn: (event: TrainProgress) => void): this;
  /** Stops at the next reported step and releases the run's GPU buffers. */
  cancel(): void;
  /**
   * Once the run has ended: the style's file as `style-transfer train` writes it (safetensors,
   * family "multistyle26-style"), for `loadModel()` or the CLI's `stylize --model`.
   */
  save(): Promise<Uint8Array>;
  [Symbol.asyncIterator](): AsyncIterator<TrainProgress>;
}

/** Options of `StyleTransfer.profile`. */
export interface ProfileOptions extends LoadOptions {
  /** Side of the square input in pixels, 16 to 4096 (default 256). */
  size?: number;
  /** Runs per dispatch (the fastest is kept) and of the whole plan (the median), 1 to 100 (default 3). */
  runs?: number;
}

export interface TuneOptions extends LoadOptions {
  /** Side of the square input the layers are timed at, 16 to 4096 (default 512). */
  size?: number;
  /** The most milliseconds spent timing, 1 to 3600000 (default 30000); layers left over keep their fixed tile. */
  budgetMs?: number;
}

/** One layer shape tuned: the tile kept and its time, the fixed tile and its time (ms, same timing). */
export interface TunedLayer {
  /** The layer shape and output size class ("conv2d 32->32 3x3 s1 up1 map1 act0 co32 out~2^14"). */
  key: string;
  /** The tile kept ("tiled 16px 16co 64t"); the fixed one unless another was at least 5 % faster. */
  choice: string;
  ms: number;
  fixed: string;
  fixedMs: number;
  /** Whether the budget ran out while its tiles were timed: the next tuning times the rest. */
  cutShort: boolean;
}

export interface TuneReport {
  /** The layer shapes timed by this call. */
  tuned: TunedLayer[];
  /** Layer shapes the table already had. */
  cached: number;
  /** Layer shapes left untimed because the budget ran out (a later call takes them up). */
  left: number;
  /**
   * Layer shapes the budget ran out on while their tiles were timed: the fastest of the tiles
   * timed is kept (the fixed tile is always among them) and the next call times the rest.
   */
  cutShort: number;
  /** Milliseconds the call spent. */
  ms: number;
  /** One line saying the above. */
  summary: string;
}

export interface Tuning {
  mode: "off" | "cached" | "full";
  /** The adapter and driver the choices belong to (the IndexedDB key). */
  key: string;
  entries: TunedLayer[];
}

/** One dispatch of a profiled plan. */
export interface ProfiledDispatch {
  /** The op and its output ("contract.0", "instance_norm.stats", ...). */
  label: string;
  /** The kernel's shader file. */
  kernel: string;
  /** The output tensor's shape. */
  output: number[];
  /** Floating-point operations (0 where the op does not state them). */
  flops: number;
  /** Milliseconds (the fastest of the runs). */
  ms: number;
  gflops: number | null;
}

export interface Profile {
  dispatches: ProfiledDispatch[];
  /** The whole plan as one submission, milliseconds (host clock). */
  planMs: number;
  /** The dispatches' clock: the GPU's timestamps where the device has timestamp queries, else the host's (each dispatch submitted alone). */
  timing: "gpu" | "host";
}

/**
 * Every error the package throws or rejects with is an `Error` with one of these codes:
 * - `webgpu-unavailable`: no WebGPU in this browser (the message names browsers that have it);
 * - `invalid-argument`: a bad argument or option (the message names it and the value given);
 * - `too-large`: the image or run does not fit the device (the message names what fits);
 * - `bad-image`: an image that cannot be decoded or read;
 * - `bad-model`: a model file that cannot be downloaded, is not a model of the right kind, or
 *   (the package's own files) whose sha256 is not the one recorded when the package was built;
 * - `gpu-error`: the GPU reported an error (or the browser cannot present a WebGPU canvas);
 * - `device-lost`: the GPU device was lost (driver reset, another tab, ...); make a new
 *   StyleTransfer with `StyleTransfer.create()`;
 * - `diverged`: a Gatys or training run's loss became NaN or infinite;
 * - `io-error`: a file could not be read or written (the engine's native side; not expected in browsers);
 * - `cancelled`: the call's `signal` aborted, or `GatysRun.cancel()`;
 * - `destroyed`: a call after `destroy()` (and a Gatys or training run stopped by it);
 * - `internal`: an unexpected failure inside the package (a bug: please report it).
 */
export type ErrorCode =
  | "webgpu-unavailable"
  | "invalid-argument"
  | "too-large"
  | "bad-image"
  | "bad-model"
  | "gpu-error"
  | "device-lost"
  | "diverged"
  | "io-error"
  | "cancelled"
  | "destroyed"
  | "internal";
export interface StyleTransferError extends Error {
  code: ErrorCode;
  /** `cancelled`: the signal's reason. */
  reason?: unknown;
  /** `cancelled` / `destroyed` Gatys runs: the picture so far and the iterations done. */
  image?: ImageData;
  iterations?: number;
  /** `bad-model` from an integrity check: the sha256 recorded in the package and the one downloaded. */
  expected?: string;
  got?: string;
}

/** The codes of `ErrorCode`, as a list. */
export declare const ERROR_CODES: readonly ErrorCode[];

/** A model file shipped in the package, with its size and sha256 (checked on every download and cached copy). */
export interface PackagedModel {
  url: URL;
  bytes: number;
  sha256: string;
}
export declare const MODELS: {
  readonly multistyle: PackagedModel;
  readonly arbitrary: PackagedModel;
  readonly vgg19: PackagedModel;
  /** The loss net of training. */
  readonly vgg16: PackagedModel;
  /** The default training photos (one file of 39 JPEGs; empty in a build made without them). */
  readonly photos: PackagedModel;
};
/** The Cache API cache the package keeps its checked model files in (named after the package's version; older versions' caches are deleted). */
export declare const MODEL_CACHE_NAME: string;

export declare const STYLE_COUNT: 26;

/** Any image source as RGBA8 pixels ("invalid-argument" for other values, "bad-image" when it cannot be read). */
export declare function toImageData(source: ImageSource): Promise<ImageData>;

/**
 * Neural style transfer on this device's GPU. Every method validates its arguments before any
 * work and rejects (never throws synchronously) with a StyleTransferError.
 */
export declare class StyleTransfer {
  private constructor();
  /** Opens the GPU; rejects with code "webgpu-unavailable" where the browser has no WebGPU. */
  static create(options?: CreateOptions): Promise<StyleTransfer>;
  readonly adapter: AdapterInfo;
  /** GPU memory of the engine's buffers, in bytes: held, the most held so far, held for reuse (zeros once the device is released). */
  readonly gpuMemory: { allocatedBytes: number; peakBytes: number; freeBytes: number };
  /** True after `destroy()` or once the device is lost: calls then reject ("destroyed" / "device-lost"). */
  readonly closed: boolean;
  /**
   * Loads a model file (URL or bytes): a converted Johnson net (`tools/convert_models.py
   * johnson`) or a style learned by `style-transfer train` (run by the 26-style net).
   */
  loadModel(source: string | URL | ArrayBuffer | Uint8Array, options?: LoadOptions): Promise<TransformNet>;
  /**
   * Stylizes with the 26-style net (in the package, checked and cached on first use), a
   * painting's style, or `options.model`. An aborted `signal` rejects at once with
   * "cancelled" (a GPU pass already submitted finishes in the background).
   */
  stylize(image: ImageSource, options?: StylizeOptions): Promise<ImageData>;
  /**
   * Live: stylizes one frame of `source` (video, camera, canvas, image) and draws it straight
   * into `canvas` on the GPU, with no read-back. The canvas is sized to the frame (scaled to
   * `maxSize`, default 512) and must not have a 2d/webgl context. `strength` blends with the
   * frame for every net. Call once per animation frame; resolves when the frame is drawn.
   * Where the browser cannot present a WebGPU canvas, rejects with "gpu-error", or with
   * "device-lost" where the browser destroys the page's GPU devices instead (headless
   * Chromium): fall back to `stylize()` then (on a new StyleTransfer after "device-lost").
   */
  stylizeTo(canvas: HTMLCanvasElement | OffscreenCanvas, source: ImageSource, options?: LiveOptions): Promise<void>;
  /** The style of any painting (it is scaled to cover 256x256 and centre-cropped). */
  styleVector(painting: ImageSource, options?: LoadOptions): Promise<StyleVector>;
  /**
   * Gatys optimisation of `content` towards the style of one or more paintings; VGG19 (20 MB)
   * is downloaded on the first run and kept in the Cache API.
   */
  gatys(content: ImageSource, styles: ImageSource | ImageSource[], options?: GatysOptions): GatysRun;
  /**
   * Learns a new style of the 26-style net from `painting` on this GPU (nothing is uploaded
   * anywhere); VGG16 (7.4 MB) and, without `images`, the default photos (3 MB) are fetched on
   * the first run and cached. A run too large for the device fails with "too-large" naming a
   * size that fits, before anything is allocated.
   */
  train(painting: ImageSource, options?: TrainOptions): TrainRun;
  /**
   * Where a net's time goes on this GPU: its plan timed dispatch by dispatch (as the CLI's
   * `style-transfer profile`). `net`: "multistyle", "arbitrary", "gatys" (one gradient
   * evaluation through VGG19, fetched if needed) or a Johnson net from `loadModel()`.
   */
  profile(net: "multistyle" | "arbitrary" | "gatys" | TransformNet, options?: ProfileOptions): Promise<Profile>;
  /**
   * Times the convolution tiles of `net` at `size` px that this GPU's table lacks and keeps
   * them (IndexedDB) for every later run: "multistyle", "arbitrary" (its style predictor's
   * too), "gatys" or a Johnson net.
   * Rejects with "invalid-argument" on a StyleTransfer created with `{ tune: "off" }`.
   */
  tune(net: "multistyle" | "arbitrary" | "gatys" | TransformNet, options?: TuneOptions): Promise<TuneReport>;
  /** This GPU's tuned kernels. */
  readonly tuning: Tuning;
  /** Times the convolution kernels on this GPU. */
  benchConv(runs?: number): Promise<ConvBenchRow[]>;
  /**
   * Releases the GPU device. Calls in flight finish first (a Gatys run stops at its next
   * iteration with "destroyed"), then the device is released; later calls reject with
   * "destroyed". Calling it again does nothing.
   */
  destroy(): void;
}
