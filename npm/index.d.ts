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

export interface StylizeOptions {
  /** Default 0. */
  style?: Style;
  /** 1 = full style (default), 0 = the photo. */
  strength?: number;
  /** Keep the photo's colours (stylized luminance, photo chroma). Default false. */
  preserveColors?: boolean;
  /** Scale the image down so its longer side is at most this (default 1024; 0 = never). */
  maxSize?: number;
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

/** Errors are `Error`s with one of these codes. */
export type ErrorCode = "webgpu-unavailable" | "too-large" | "invalid-argument" | "gpu-error" | "bad-image" | "bad-model";
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
  /** Stylizes with the 26-style net (loaded from the package on first use). */
  stylize(image: ImageSource, options?: StylizeOptions): Promise<ImageData>;
  /** Times the convolution kernels on this GPU. */
  benchConv(runs?: number): Promise<ConvBenchRow[]>;
  /** Releases the GPU device. */
  destroy(): void;
}
