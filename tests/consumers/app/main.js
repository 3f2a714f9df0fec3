// A tiny app that uses the package as a user would, built by webpack and by Vite in the
// consumer-app tests: open the GPU, stylize a small image, do the same in a Web Worker (and
// train a style there), report.
import { StyleTransfer, STYLE_COUNT } from "webgpu-style-transfer";

async function main() {
  const out = document.getElementById("out");
  try {
    const st = await StyleTransfer.create();
    const img = new ImageData(24, 16);
    for (let i = 0; i < img.data.length; i += 4) img.data.set([i % 256, (i * 3) % 256, (i >> 5) % 256, 255], i);
    const y = await st.stylize(img, { style: 19 });
    const changed = y.data.some((v, i) => v !== img.data[i]);
    // The same in a Web Worker: it must give the same pixels.
    const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    const inWorker = await new Promise((resolve) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => resolve({ error: e.message ?? "worker failed to start" });
      worker.postMessage("go");
    });
    worker.terminate();
    const sameInWorker = !inWorker.error && inWorker.pixels.every((v, i) => v === y.data[i]);
    window.result = { adapter: st.adapter.name, width: y.width, height: y.height, changed, styles: STYLE_COUNT, worker: inWorker.error ? inWorker : { width: inWorker.width, height: inWorker.height, same: sameInWorker, trained: inWorker.trained } };
  } catch (e) {
    window.result = { error: e.message, code: e.code };
  }
  out.textContent = JSON.stringify(window.result);
}

main();
