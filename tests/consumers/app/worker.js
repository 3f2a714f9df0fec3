// The same use of the package inside a dedicated Web Worker (WebGPU and OffscreenCanvas, no
// DOM), and a two-step training run: the files training fetches (VGG16) are found where the
// bundler put them.
import { StyleTransfer } from "webgpu-style-transfer";

/** A w x h test pattern. */
function pattern(w, h, k) {
  const img = new ImageData(w, h);
  for (let i = 0; i < img.data.length; i += 4) img.data.set([(i * k) % 256, (i * 3) % 256, (i >> 5) % 256, 255], i);
  return img;
}

async function train(st, img, styled) {
  const run = st.train(pattern(40, 32, 7), { images: [pattern(32, 32, 1)], size: 32, batch: 1, steps: 2, styleSize: 32, previewEvery: 1, previewSize: 24 });
  let events = 0;
  let previews = 0;
  run.onProgress((e) => {
    events++;
    if (e.preview) previews++;
  });
  const { model, steps } = await run.result;
  const mine = await st.stylize(img, { model });
  const saved = await run.save();
  return { steps, events, previews, own: mine.data.some((v, i) => v !== styled.data[i]), saved: saved.length > 1000 };
}

self.onmessage = async () => {
  try {
    const st = await StyleTransfer.create();
    const img = pattern(24, 16, 1);
    const y = await st.stylize(img, { style: 19 });
    const trained = await train(st, img, y);
    self.postMessage({ width: y.width, height: y.height, changed: y.data.some((v, i) => v !== img.data[i]), pixels: Array.from(y.data.slice(0, 64)), trained });
  } catch (e) {
    self.postMessage({ error: e.message, code: e.code });
  }
};
