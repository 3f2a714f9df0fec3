// The demo page: open the GPU, then a photo filter with the 26-style net. Every picture on the
// page, the style thumbnails included, is rendered by the engine.
import { StyleTransfer, STYLE_COUNT, toImageData } from "webgpu-style-transfer";
import samplePhoto from "./assets/chelsea.png";

const $ = (id) => document.getElementById(id);
const MAX_SIZE = 512; // longer side the filter works at

function formatBytes(n) {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(0)} MiB`;
}

function showError(title, message) {
  const status = $("status");
  status.hidden = false;
  status.classList.add("error");
  const h = document.createElement("h2");
  h.textContent = title;
  const p = document.createElement("p");
  p.textContent = message;
  status.replaceChildren(h, p);
}

function drawTo(canvas, imageData) {
  canvas.width = imageData.width;
  canvas.height = imageData.height;
  canvas.getContext("2d").putImageData(imageData, 0, 0);
}

async function main() {
  let st;
  try {
    st = await StyleTransfer.create();
  } catch (e) {
    // A friendly page instead of a blank one: say what is missing and where to get it.
    $("adapter").textContent = "no GPU";
    showError(e.code === "webgpu-unavailable" ? "WebGPU is not available in this browser" : "The GPU could not be started", e.message);
    document.body.dataset.state = "no-webgpu";
    return;
  }
  window.styleTransfer = st; // for the end-to-end tests and the console
  const a = st.adapter;
  $("adapter").textContent = `${a.name} · ${a.backend}`;
  const dl = document.createElement("dl");
  for (const [k, v] of [
    ["Adapter", a.name],
    ["Backend", a.backend],
    ["Type", a.deviceType],
    ["shader-f16", a.shaderF16 ? "yes" : "no"],
    ["Largest storage binding", formatBytes(a.limits.maxStorageBufferBindingSize)],
  ]) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    dl.append(dt, dd);
  }
  const h = document.createElement("h2");
  h.textContent = "GPU ready";
  $("status").replaceChildren(h, dl);

  setUpFilter(st);
  setUpBench(st);
}

function setUpFilter(st) {
  $("filter").hidden = false;
  for (let i = 0; i < STYLE_COUNT; i++) {
    $("style").add(new Option(`Style ${i}`, String(i)));
    $("style2").add(new Option(`Style ${i}`, String(i)));
  }
  $("style").value = "19";

  let photo = null; // ImageData of the current photo
  let busy = false;
  let again = false;

  function options() {
    const s1 = Number($("style").value);
    const s2 = $("style2").value;
    const blend = Number($("blend").value) / 100;
    const style = s2 === "" || Number(s2) === s1 ? s1 : { [s1]: 1 - blend, [Number(s2)]: blend };
    return { style, strength: Number($("strength").value) / 100, preserveColors: $("preserve").checked, maxSize: MAX_SIZE };
  }

  // Re-render on every control change; changes during a run coalesce into one more run.
  async function render() {
    if (!photo) return;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    document.body.dataset.busy = "1";
    try {
      if (!document.body.dataset.renders) {
        $("timing").textContent = "Preparing the GPU shaders: the first picture takes longer…";
      }
      do {
        again = false;
        const t0 = performance.now();
        const out = await st.stylize(photo, options());
        const ms = performance.now() - t0;
        drawTo($("after"), out);
        $("timing").textContent = `${out.width}×${out.height} in ${ms.toFixed(0)} ms`;
        $("download").href = $("after").toDataURL("image/png");
        $("download").removeAttribute("aria-disabled");
      } while (again);
      document.body.dataset.renders = String(Number(document.body.dataset.renders ?? 0) + 1);
    } catch (e) {
      $("timing").textContent = `Could not stylize: ${e.message}`;
    } finally {
      busy = false;
      delete document.body.dataset.busy;
    }
  }

  async function usePhoto(source) {
    try {
      photo = await toImageData(source);
    } catch (e) {
      $("timing").textContent = `Could not read that image: ${e.message}`;
      return;
    }
    drawTo($("before"), photo);
    await render();
    document.body.dataset.state = "ready";
    await renderGallery();
  }

  async function renderGallery() {
    const gallery = $("gallery");
    gallery.replaceChildren();
    for (let i = 0; i < STYLE_COUNT; i++) {
      const b = document.createElement("button");
      b.className = "thumb";
      b.type = "button";
      b.setAttribute("aria-label", `Style ${i}`);
      b.setAttribute("aria-pressed", String($("style").value === String(i)));
      const c = document.createElement("canvas");
      const span = document.createElement("span");
      span.textContent = i;
      b.append(c, span);
      b.addEventListener("click", () => {
        $("style").value = String(i);
        for (const t of gallery.children) t.setAttribute("aria-pressed", String(t === b));
        render();
      });
      gallery.append(b);
    }
    for (let i = 0; i < STYLE_COUNT; i++) {
      const out = await st.stylize(photo, { style: i, maxSize: 96 });
      drawTo(gallery.children[i].querySelector("canvas"), out);
    }
    document.body.dataset.gallery = "done";
  }

  for (const id of ["style", "style2", "strength", "preserve", "blend"]) {
    $(id).addEventListener("input", () => {
      $("blend").disabled = $("style2").value === "";
      $("blend-out").value = `${$("blend").value}%`;
      $("strength-out").value = `${$("strength").value}%`;
      for (const t of $("gallery").children) t.setAttribute("aria-pressed", String(t.getAttribute("aria-label") === `Style ${$("style").value}`));
      render();
    });
  }
  $("file").addEventListener("change", (e) => e.target.files[0] && usePhoto(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const f = e.dataTransfer.files[0];
    if (f) usePhoto(f);
  });

  const img = new Image();
  img.src = samplePhoto;
  usePhoto(img);
}

function setUpBench(st) {
  $("bench-card").hidden = false;
  $("bench").addEventListener("click", async () => {
    $("bench").disabled = true;
    $("bench-out").textContent = "running…";
    try {
      const rows = await st.benchConv(3);
      const table = document.createElement("table");
      table.innerHTML = "<tr><th>layer</th><th>kernel</th><th>ms</th><th>GFLOP/s</th></tr>";
      for (const r of rows) {
        const tr = document.createElement("tr");
        for (const v of [r.case, r.kernel, r.ms.toFixed(1), r.gflops.toFixed(2)]) {
          const td = document.createElement("td");
          td.textContent = v;
          tr.append(td);
        }
        table.append(tr);
      }
      $("bench-out").replaceChildren(table);
    } catch (e) {
      $("bench-out").textContent = `benchmark failed: ${e.message}`;
    } finally {
      $("bench").disabled = false;
    }
  });
}

main();
