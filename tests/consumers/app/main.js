// A tiny app that uses the package as a user would, built by webpack and by Vite in the
// consumer-app tests: open the GPU, stylize an 8x8 image, report what happened.
import { StyleTransfer, STYLE_COUNT } from "webgpu-style-transfer";

async function main() {
  const out = document.getElementById("out");
  try {
    const st = await StyleTransfer.create();
    const img = new ImageData(24, 16);
    for (let i = 0; i < img.data.length; i += 4) img.data.set([i % 256, (i * 3) % 256, 128, 255], i);
    const y = await st.stylize(img, { style: 19 });
    const changed = y.data.some((v, i) => v !== img.data[i]);
    window.result = { adapter: st.adapter.name, width: y.width, height: y.height, changed, styles: STYLE_COUNT };
  } catch (e) {
    window.result = { error: e.message, code: e.code };
  }
  out.textContent = JSON.stringify(window.result);
}

main();
