// The same use of the package inside a dedicated Web Worker (WebGPU and OffscreenCanvas, no DOM).
import { StyleTransfer } from "webgpu-style-transfer";

self.onmessage = async () => {
  try {
    const st = await StyleTransfer.create();
    const img = new ImageData(24, 16);
    for (let i = 0; i < img.data.length; i += 4) img.data.set([i % 256, (i * 3) % 256, 128, 255], i);
    const y = await st.stylize(img, { style: 19 });
    self.postMessage({ width: y.width, height: y.height, changed: y.data.some((v, i) => v !== img.data[i]), pixels: Array.from(y.data.slice(0, 64)) });
  } catch (e) {
    self.postMessage({ error: e.message, code: e.code });
  }
};
