/** The GPU the engine runs on. */
export interface AdapterInfo {
  name: string;
  /** "webgpu" in browsers; "vulkan", "metal", "dx12" or "gl" natively. */
  backend: string;
  driver: string;
  deviceType: "discrete" | "integrated" | "virtual" | "cpu" | "other";
  shaderF16: boolean;
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
}

/** One of the 26 built-in styles (0-25), or a blend `{ index: weight }` (weights are normalised). */
export type Style = number | Record<number, number>;

/** A Johnson transform net from `StyleTransfer.loadModel()`. */
export declare class TransformNet {
  private constructor();
  readonly family: "johnson";
}

/** A painting's style for the arbitrary-style net: 100 values from `styleVector()`. */
export type StyleVector = Float32Array;

/** The length of a style vector (100). */
export declare const STYLE_VECTOR_LENGTH: 100;

/** A weighted blend of style vectors, weights normalised: `blendStyleVectors([[a, 0.7], [b, 0.3]])`. */
export declare function blendStyleVectors(parts: Array<[StyleVector, number]>): StyleVector;

/** Give at most one of `style`, `styleImage`, `styleVector`, `model` (default: style 0). */
export interface StylizeOptions {
  /** One of the 26 built-in styles or a blend (the 26-style net). Default 0. */
  style?: Style;
  /** Any painting: its style vector is computed first (arbitrary-style net). */
  styleImage?: ImageSource;
  /** A style vector from `styleVector()` (or a blend of several). */
  styleVector?: StyleVector;
  /** A net from `loadModel()` instead of the 26-style net. */
  model?: TransformNet;
  /**
   * 1 = full style (default), 0 = the photo. With a painting's style, the style vector moves
   * toward the photo's own; with the other nets, the result is blended with the photo.
   */
  strength?: number;
  /** Keep the photo's colours (stylized luminance, photo chroma). Default false. */
  preserveColors?: boolean;
  /** Scale the image down so its longer side is at most this (default 1024; 0 = never). */
  maxSize?: number;
  /**
   * Work in tiles of this many pixels, with instance-norm statistics over the whole image, so
   * the result equals an untiled run (default 0: only when the image is too large for the
   * device, with the largest tile that fits).
   */
  tileSize?: number;
}

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

/** Options of a Gatys run; defaults as in jcjohnson/neural-style except where noted. */
export interface GatysOptions {
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

/** Errors are `Error`s with one of these codes. */
export type ErrorCode = "webgpu-unavailable" | "too-large" | "invalid-argument" | "gpu-error" | "bad-image" | "bad-model" | "diverged" | "cancelled";
export interface StyleTransferError extends Error {
  code: ErrorCode;
}

export declare const STYLE_COUNT: 26;

/** Any image source as RGBA8 pixels. */
export declare function toImageData(source: ImageSource): Promise<ImageData>;

/** Neural style transfer on this device's GPU. */
export declare class StyleTransfer {
  private constructor();
  /** Opens the GPU; rejects with code "webgpu-unavailable" where the browser has no WebGPU. */
  static create(options?: CreateOptions): Promise<StyleTransfer>;
  readonly adapter: AdapterInfo;
  /** Loads a converted Johnson net (URL or bytes of a `tools/convert_models.py johnson` file). */
  loadModel(source: string | URL | ArrayBuffer | Uint8Array): Promise<TransformNet>;
  /** Stylizes with the 26-style net (loaded from the package on first use), or with `options.model`. */
  stylize(image: ImageSource, options?: StylizeOptions): Promise<ImageData>;
  /**
   * Live: stylizes one frame of `source` (video, camera, canvas, image) and draws it straight
   * into `canvas` on the GPU, with no read-back. The canvas is sized to the frame (scaled to
   * `maxSize`, default 512) and must not have a 2d/webgl context. `strength` blends with the
   * frame for every net. Call once per animation frame; resolves when the frame is drawn.
   */
  stylizeTo(canvas: HTMLCanvasElement | OffscreenCanvas, source: ImageSource, options?: StylizeOptions): Promise<void>;
  /** The style of any painting (it is scaled to cover 256x256 and centre-cropped). */
  styleVector(painting: ImageSource): Promise<StyleVector>;
  /**
   * Gatys optimisation of `content` towards the style of one or more paintings; VGG19 (20 MB)
   * is downloaded on the first run and kept in the Cache API.
   */
  gatys(content: ImageSource, styles: ImageSource | ImageSource[], options?: GatysOptions): GatysRun;
  /** Times the convolution kernels on this GPU. */
  benchConv(runs?: number): Promise<ConvBenchRow[]>;
  /** Releases the GPU device. */
  destroy(): void;
}
