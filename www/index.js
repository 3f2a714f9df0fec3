// The demo page: open the GPU, then a photo filter (the 26-style net, or the style of any
// painting through the arbitrary-style net), the Gatys studio and the Train tab (train.js).
// Every picture on the page, the style thumbnails included, is rendered by the engine.
import * as styleTransferModule from "webgpu-style-transfer";
import { StyleTransfer, STYLE_COUNT, toImageData } from "webgpu-style-transfer";
import samplePhoto from "./assets/chelsea.png";
import samplePainting from "./assets/starry_night.jpg";
import { plotLosses } from "./plot.js";
import { setUpTrain } from "./train.js";
import { downloadText, drawTo } from "./ui.js";

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

// The engine, shared by the whole page. A lost GPU device (the browser reset it, or could not
// present the webcam's WebGPU canvas) makes it unusable: reopen() replaces it.
let st;

let reopening = null;
function reopen() {
  if (!st.closed) return Promise.resolve(st);
  reopening ??= createAgain()
    .then((s) => {
      st = s;
      window.styleTransfer = s;
      return s;
    })
    .finally(() => (reopening = null));
  return reopening;
}

/**
 * A new engine, tried three times a second apart: a browser that destroyed the page's GPU
 * devices may be restarting its GPU process, and refuse an adapter for that long.
 */
async function createAgain() {
  for (let attempt = 1; ; attempt++) {
    try {
      return await StyleTransfer.create();
    } catch (e) {
      if (attempt === 3) throw e;
      console.info(`opening the GPU again failed (${e.message}); trying again`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** `f()` (a call on `st`), once more on a new engine if the device was lost meanwhile. */
async function withEngine(f) {
  try {
    return await f();
  } catch (e) {
    if (e.code !== "device-lost") throw e;
    await reopen();
    return f();
  }
}

async function main() {
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
  window.styleTransferModule = styleTransferModule;
  const a = st.adapter;
  $("adapter").textContent = `${a.name} · ${a.backend}`;
  const dl = document.createElement("dl");
  for (const [k, v] of [
    ["Adapter", a.name],
    ["Backend", a.backend],
    ["Type", a.deviceType],
    ["shader-f16", a.shaderF16 ? "yes" : "no"],
    ["Timestamp queries", a.timestampQuery ? "yes" : "no"],
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

  setUpTabs();
  const filter = setUpFilter();
  setUpStudio();
  setUpTrain({ engine: () => st, samples: { painting: samplePainting, photo: samplePhoto }, addLearnedStyle: filter.addLearnedStyle });
  setUpBench();
}

// The tabs; arrow keys move between them (the WAI-ARIA tabs pattern).
function setUpTabs() {
  const tabs = [$("tab-filter"), $("tab-studio"), $("tab-train")];
  $("tabs").hidden = false;
  const select = (tab) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    }
    document.body.dataset.tab = tab.id;
  };
  tabs.forEach((t, i) => {
    t.addEventListener("click", () => select(t));
    t.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
      const next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      select(next);
      next.focus();
    });
  });
  select(tabs[0]);
}

function loadImage(src) {
  const img = new Image();
  img.src = src;
  return toImageData(img);
}

// The Gatys studio: a run with the chosen options, its preview drawn as it comes, a loss plot.
function setUpStudio() {
  let photo = null;
  let paintings = [];
  let run = null;
  const history = []; // progress events of the current run

  const showPaintings = () => {
    const list = $("g-painting-list");
    list.replaceChildren(
      ...paintings.map((p, i) => {
        const c = document.createElement("canvas");
        drawTo(c, p);
        c.setAttribute("aria-label", `Painting ${i + 1}`);
        return c;
      }),
    );
  };
  loadImage(samplePhoto).then((p) => (photo ??= p));
  loadImage(samplePainting).then((p) => {
    if (!paintings.length) paintings = [p];
    showPaintings();
  });
  $("g-photo").addEventListener("change", async (e) => {
    if (e.target.files[0]) photo = await toImageData(e.target.files[0]).catch(() => photo);
  });
  $("g-paintings").addEventListener("change", async (e) => {
    const files = [...e.target.files];
    if (files.length) paintings = await Promise.all(files.map((f) => toImageData(f)));
    showPaintings();
  });

  const plot = () => plotLosses($("loss-plot"), history, "iteration");

  const fmt = (v) => v.toExponential(2);
  $("g-start").addEventListener("click", async () => {
    if (!photo || !paintings.length) {
      $("g-stats").textContent = "Choose a photo and at least one painting first.";
      return;
    }
    const opts = {
      size: Number($("g-size").value),
      iterations: Number($("g-iterations").value),
      optimizer: $("g-optimizer").value,
      init: $("g-init").value,
      contentWeight: Number($("g-content-weight").value),
      styleWeight: Number($("g-style-weight").value),
      tvWeight: Number($("g-tv-weight").value),
      pooling: $("g-pooling").value,
      preserveColors: $("g-preserve").checked,
      previewEvery: 1,
    };
    history.length = 0;
    plot();
    $("g-start").disabled = true;
    $("g-cancel").disabled = false;
    $("g-progress").value = 0;
    $("g-stats").textContent = "Loading VGG19 and preparing the shaders…";
    document.body.dataset.gatys = "running";
    opts.onDownloadProgress = (e) => {
      if (!history.length) $("g-stats").textContent = downloadText("VGG19", e);
    };
    run = st.gatys(photo, paintings, opts);
    let lastPreview = 0;
    run.onProgress((e) => {
      history.push(e);
      // Redraw at most about 10 times a second: fast GPUs report hundreds of iterations.
      const now = performance.now();
      if (e.preview && (now - lastPreview > 100 || e.iteration === e.iterations)) {
        drawTo($("g-out"), e.preview);
        lastPreview = now;
      }
      $("g-progress").value = (e.stage * e.iterations + e.iteration) / (e.stages * e.iterations);
      const first = history.find((h) => h.stage === e.stage);
      const rate = e.iteration > first.iteration ? ((e.iteration - first.iteration) * 1000) / (e.elapsedMs - first.elapsedMs) : 0;
      $("g-stats").textContent = `iteration ${e.iteration}/${e.iterations}${e.stages > 1 ? ` (stage ${e.stage + 1}/${e.stages})` : ""} · ${rate.toFixed(rate < 1 ? 2 : 1)} it/s · loss ${fmt(e.total)} (content ${fmt(e.content)}, style ${fmt(e.style)}, smoothness ${fmt(e.tv)})`;
      document.body.dataset.gatysIteration = String(e.iteration);
      plot();
    });
    try {
      const out = await run.result;
      drawTo($("g-out"), out.image);
      $("g-stats").textContent += " · done";
      document.body.dataset.gatys = "done";
    } catch (e) {
      if (e.code === "cancelled") {
        drawTo($("g-out"), e.image);
        $("g-stats").textContent = `Cancelled after ${e.iterations} iterations.`;
        document.body.dataset.gatys = "cancelled";
      } else {
        $("g-stats").textContent = `The run failed: ${e.message}`;
        document.body.dataset.gatys = "failed";
      }
    } finally {
      $("g-download").href = $("g-out").toDataURL("image/png");
      $("g-download").removeAttribute("aria-disabled");
      $("g-start").disabled = false;
      $("g-cancel").disabled = true;
      run = null;
    }
  });
  $("g-cancel").addEventListener("click", () => run?.cancel());
}

function setUpFilter() {
  $("filter").hidden = false;
  for (let i = 0; i < STYLE_COUNT; i++) {
    $("style").add(new Option(`Style ${i}`, String(i)));
    $("style2").add(new Option(`Style ${i}`, String(i)));
  }
  $("style").value = "19";
  const paintingOption = new Option("Your painting", "painting");
  $("style").add(paintingOption);
  paintingOption.disabled = true;
  const learned = []; // styles trained on this page (Train tab): { name, model }

  let photo = null; // ImageData of the current photo
  let paintingVector = null; // style vector of the chosen painting (arbitrary-style net)
  let busy = false;
  let again = false;

  // A painting's style: computed once (the predictor), then every render reuses the vector.
  async function usePainting(source) {
    try {
      const pixels = await toImageData(source);
      drawTo($("painting-thumb"), pixels);
      $("painting-thumb").hidden = false;
      $("timing").textContent = "Reading the painting's style…";
      paintingVector = await st.styleVector(pixels, {
        onDownloadProgress: (e) => ($("timing").textContent = e.loaded < e.total ? downloadText("the arbitrary-style net", e) : "Reading the painting's style…"),
      });
    } catch (e) {
      $("timing").textContent = `Could not use that painting: ${e.message}`;
      return;
    }
    paintingOption.disabled = false;
    $("style").value = "painting";
    markChosen();
    syncControls();
    document.body.dataset.painting = "1";
    render();
  }

  function options() {
    const common = { strength: Number($("strength").value) / 100, preserveColors: $("preserve").checked, maxSize: MAX_SIZE };
    if ($("style").value === "painting") return { styleVector: paintingVector, ...common };
    const s1 = $("style").value;
    const s2 = $("style2").value;
    const blend = Number($("blend").value) / 100;
    const style = s2 === "" || s2 === s1 ? styleOf(s1) : [[styleOf(s1), 1 - blend], [styleOf(s2), blend]];
    return { style, ...common };
  }

  /** A style picker's value -> the `style` option: a built-in index or a learned style. */
  function styleOf(value) {
    return value.startsWith("learned:") ? learned[Number(value.slice(8))].model : Number(value);
  }

  /** Marks the gallery thumbnail of the chosen style. */
  function markChosen() {
    for (const t of $("gallery").children) t.setAttribute("aria-pressed", String(t.dataset.value === $("style").value));
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
      if (e.code === "device-lost") {
        // The browser lost the GPU device: open a new one and render again.
        await reopen().then(() => (again = true), () => {});
      }
    } finally {
      busy = false;
      delete document.body.dataset.busy;
    }
    if (again) render();
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
    await renderGallery().catch((e) => ($("timing").textContent = `Could not render the gallery: ${e.message}`));
  }

  /** A gallery thumbnail that picks `value` ("3", "learned:0") when clicked. */
  function thumb(value, label) {
    const b = document.createElement("button");
    b.className = "thumb";
    b.type = "button";
    b.dataset.value = value;
    b.setAttribute("aria-label", value.startsWith("learned:") ? `Your style ${label}` : `Style ${label}`);
    b.setAttribute("aria-pressed", String($("style").value === value));
    const c = document.createElement("canvas");
    const span = document.createElement("span");
    span.textContent = label;
    b.append(c, span);
    b.addEventListener("click", () => {
      $("style").value = value;
      syncControls();
      markChosen();
      render();
    });
    return b;
  }

  async function drawThumb(b) {
    const out = await withEngine(() => st.stylize(photo, { style: styleOf(b.dataset.value), maxSize: 96 }));
    drawTo(b.querySelector("canvas"), out);
  }

  async function renderGallery() {
    const gallery = $("gallery");
    const values = [...Array(STYLE_COUNT).keys()].map(String).concat(learned.map((_, k) => `learned:${k}`));
    gallery.replaceChildren(...values.map((v) => thumb(v, v.startsWith("learned:") ? learned[Number(v.slice(8))].name : v)));
    for (const b of gallery.children) await drawThumb(b);
    document.body.dataset.gallery = "done";
  }

  /** Adds a style trained on this page to the pickers and the gallery, and shows it. */
  async function addLearnedStyle(name, model) {
    const value = `learned:${learned.length}`;
    learned.push({ name, model });
    $("style").add(new Option(`Yours: ${name}`, value));
    $("style2").add(new Option(`Yours: ${name}`, value));
    $("style").value = value;
    syncControls();
    const b = thumb(value, name);
    $("gallery").append(b);
    markChosen();
    render();
    if (photo) await drawThumb(b);
  }

  function syncControls() {
    const painting = $("style").value === "painting";
    $("style2").disabled = painting;
    $("blend").disabled = painting || $("style2").value === "";
  }
  // The webcam: every frame goes through the net. stylizeTo() draws it straight into a WebGPU
  // canvas (#live) with no read-back; where the browser cannot present a WebGPU canvas (the
  // first frame fails), the page falls back to stylize() (one read-back per frame) into the
  // After canvas, and says so.
  let camera = null;
  let liveMode = null; // "present" (stylizeTo) or "readback" (stylize), decided by the first frame
  let liveNote = "";
  async function startWebcam() {
    try {
      camera = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    } catch (e) {
      $("timing").textContent = `No webcam: ${e.message}`;
      return;
    }
    const video = $("camera");
    video.srcObject = camera;
    await video.play();
    $("webcam").textContent = "Stop the webcam";
    $("webcam").setAttribute("aria-pressed", "true");
    $("before").parentElement.hidden = true;
    let frames = 0;
    let avg = 0;
    let last = 0;
    const show = (mode) => {
      $("live").hidden = mode !== "present";
      $("after").hidden = mode === "present";
      document.body.dataset.liveMode = mode;
    };
    const loop = async () => {
      if (!camera) return;
      const t0 = performance.now();
      try {
        if (liveMode !== "readback") {
          try {
            await st.stylizeTo($("live"), video, { ...options(), maxSize: 320 });
            if (liveMode === null) liveMode = "present";
          } catch (e) {
            if (liveMode !== null || e.code === "destroyed") throw e;
            // The first frame could not be presented. Some browsers (headless Chromium) destroy
            // the page's GPU devices when that happens: open a new engine then.
            if (e.code === "device-lost") await reopen();
            liveMode = "readback";
            liveNote = ` · drawing into a WebGPU canvas failed in this browser (${e.code}), so each frame is read back and drawn by stylize()`;
            console.info(`stylizeTo failed, falling back to stylize(): ${e.message}`);
          }
        }
        if (liveMode === "readback") {
          const out = await withEngine(() => st.stylize(video, { ...options(), maxSize: 320 }));
          if (!camera) return;
          drawTo($("after"), out);
        }
        if (!camera) return;
        show(liveMode);
      } catch (e) {
        $("timing").textContent = `Live frame failed: ${e.message}`;
        stopWebcam();
        return;
      }
      // Frames per second from the time between frames (the loop waits for each frame).
      const now = performance.now();
      const ms = frames === 0 ? now - t0 : now - last;
      last = now;
      avg = frames === 0 ? ms : 0.9 * avg + 0.1 * ms;
      frames++;
      document.body.dataset.liveFrames = String(frames);
      const canvas = liveMode === "present" ? $("live") : $("after");
      const how = liveMode === "present" ? "drawn on the GPU, no read-back" : "read back";
      $("timing").textContent = `Webcam ${canvas.width}×${canvas.height}, ${how}: ${(1000 / avg).toFixed(1)} fps (${avg.toFixed(0)} ms per frame)${liveNote}`;
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  }
  function stopWebcam() {
    for (const t of camera?.getTracks() ?? []) t.stop();
    camera = null;
    $("webcam").textContent = "Start the webcam";
    $("webcam").setAttribute("aria-pressed", "false");
    $("before").parentElement.hidden = false;
    $("live").hidden = true;
    $("after").hidden = false;
    render();
  }
  $("webcam").addEventListener("click", () => (camera ? stopWebcam() : startWebcam()));
  if (!navigator.mediaDevices?.getUserMedia) $("webcam").hidden = true;

  $("painting").addEventListener("change", (e) => e.target.files[0] && usePainting(e.target.files[0]));
  $("use-sample-painting").addEventListener("click", () => usePainting(Object.assign(new Image(), { src: samplePainting })));
  for (const id of ["style", "style2", "strength", "preserve", "blend"]) {
    $(id).addEventListener("input", () => {
      syncControls();
      $("blend-out").value = `${$("blend").value}%`;
      $("strength-out").value = `${$("strength").value}%`;
      markChosen();
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
  return { addLearnedStyle };
}

/** A table of `rows` (arrays of cells) under a header row. */
function tableOf(header, rows) {
  const table = document.createElement("table");
  for (const [i, cells] of [header, ...rows].entries()) {
    const tr = document.createElement("tr");
    for (const v of cells) {
      const td = document.createElement(i === 0 ? "th" : "td");
      td.textContent = v;
      tr.append(td);
    }
    table.append(tr);
  }
  return table;
}

// The per-layer profile: time per kernel, then the five slowest layers.
async function showProfile() {
  $("profile").disabled = true;
  $("profile-out").textContent = "timing every layer…";
  try {
    const p = await st.profile("multistyle", { size: 256, runs: 2 });
    const total = p.dispatches.reduce((s, d) => s + d.ms, 0);
    const byKernel = new Map();
    for (const d of p.dispatches) byKernel.set(d.kernel, (byKernel.get(d.kernel) ?? 0) + d.ms);
    const kernels = [...byKernel].sort((a, b) => b[1] - a[1]).map(([k, ms]) => [k, ms.toFixed(1), `${((100 * ms) / total).toFixed(1)} %`]);
    const slowest = [...p.dispatches].sort((a, b) => b.ms - a.ms).slice(0, 5);
    const layers = slowest.map((d) => [d.label, d.output.join("×"), d.ms.toFixed(1), d.gflops === null ? "" : d.gflops.toFixed(1)]);
    const note = document.createElement("p");
    note.textContent = `${p.dispatches.length} dispatches, ${total.toFixed(1)} ms in all (${p.timing === "gpu" ? "GPU timestamps" : "each submitted alone, host clock"}); the whole net in one submission: ${p.planMs.toFixed(1)} ms.`;
    $("profile-out").replaceChildren(note, tableOf(["kernel", "ms", "share"], kernels), tableOf(["slowest layers", "output", "ms", "GFLOP/s"], layers));
    document.body.dataset.profile = "done";
  } catch (e) {
    $("profile-out").textContent = `profile failed: ${e.message}`;
  } finally {
    $("profile").disabled = false;
  }
}

// Kernel tuning: the 26-style net's layers timed on this GPU, what changed and what it gained.
async function tuneKernels() {
  $("tune").disabled = true;
  $("tune-out").textContent = "timing each layer's tiles…";
  try {
    const r = await st.tune("multistyle", { size: MAX_SIZE, budgetMs: 120_000 });
    const changed = r.tuned.filter((t) => t.choice !== t.fixed);
    const note = document.createElement("p");
    note.textContent = `${r.summary}. ${st.tuning.entries.length} layer shapes are tuned on this GPU and kept for your next visits.`;
    const rows = changed.map((t) => [t.key.split(" out~")[0], `${t.fixed} → ${t.choice}`, `${t.fixedMs.toFixed(1)} → ${t.ms.toFixed(1)}`, `${(t.fixedMs / t.ms).toFixed(2)}×`]);
    $("tune-out").replaceChildren(note, ...(rows.length ? [tableOf(["layer", "tile", "ms", "faster"], rows)] : []));
    document.body.dataset.tune = "done";
  } catch (e) {
    $("tune-out").textContent = `tuning failed: ${e.message}`;
  } finally {
    $("tune").disabled = false;
  }
}

function setUpBench() {
  $("bench-card").hidden = false;
  $("profile").addEventListener("click", showProfile);
  $("tune").addEventListener("click", tuneKernels);
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
