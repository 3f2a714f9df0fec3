// The Train tab: learn a new style of the 26-style net from a painting on this GPU, watch it
// form on a photo, then use it in the photo filter or download it.
import { MODELS, toImageData } from "webgpu-style-transfer";
import { plotLosses } from "./plot.js";
import { downloadText, drawTo } from "./ui.js";

const $ = (id) => document.getElementById(id);
const mb = (n) => `${(n / 2 ** 20).toFixed(1)} MB`;

/** "4 min 10 s", "35 s". */
function duration(seconds) {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * `engine()` gives the page's StyleTransfer; `samples` the sample painting and preview photo
 * (URLs); `addLearnedStyle(name, model)` puts a finished style into the photo filter.
 */
export function setUpTrain({ engine, samples, addLearnedStyle }) {
  // The painting as given (a File, or the sample's bytes), so that the style file records its
  // name and sha256.
  let painting = null;
  let photos = null; // the user's photos, or null for the package's own
  let preview = null;
  let run = null;
  let result = null; // { name, model, bytes } of the last run
  const history = [];

  const loadUrl = (src) => toImageData(Object.assign(new Image(), { src }));
  const showPainting = async (source) => drawTo($("t-painting-thumb"), await toImageData(source));
  fetch(samples.painting)
    .then((r) => r.blob())
    .then((blob) => {
      painting ??= new File([blob], "starry_night.jpg", { type: blob.type });
      return showPainting(painting);
    })
    .catch((e) => ($("t-stats").textContent = `Could not load the sample painting: ${e.message}`));
  loadUrl(samples.photo).then((p) => (preview = p));
  $("t-downloads").textContent =
    `The first run downloads VGG16, the loss network (${mb(MODELS.vgg16.bytes)}), and, unless you give your own, ` +
    `the training photos (${mb(MODELS.photos.bytes)}); both are kept in the browser's cache.`;

  $("t-painting").addEventListener("change", async (e) => {
    const f = e.target.files[0];
    if (!f) return;
    try {
      await showPainting(f);
      painting = f;
    } catch (err) {
      $("t-stats").textContent = `Could not read that painting: ${err.message}`;
    }
  });
  $("t-photos").addEventListener("change", async (e) => {
    const files = [...e.target.files];
    try {
      photos = files.length ? await Promise.all(files.map((f) => toImageData(f))) : null;
      $("t-photo-note").textContent = photos ? `${photos.length} photos of yours.` : "Default: the package's 39 photos.";
    } catch (err) {
      $("t-stats").textContent = `Could not read a photo: ${err.message}`;
    }
  });

  /** The run's options from the form. */
  function options() {
    const steps = Number($("t-steps").value);
    return {
      ...(photos ? { images: photos } : {}),
      ...(preview ? { preview } : {}),
      name: $("t-name").value.trim() || "my-style",
      size: Number($("t-size").value),
      steps,
      batch: Number($("t-batch").value),
      learningRate: Number($("t-lr").value),
      styleWeight: Number($("t-style-weight").value),
      contentWeight: Number($("t-content-weight").value),
      tvWeight: Number($("t-tv-weight").value),
      previewEvery: Math.max(1, Math.round(steps / 60)),
      previewSize: 256,
      onDownloadProgress: (e) => {
        const file = String(e.url).split("/").pop();
        if (!history.length) $("t-stats").textContent = downloadText(file, e);
      },
    };
  }

  const busy = (on) => {
    $("t-start").disabled = on;
    $("t-estimate").disabled = on;
    $("t-cancel").disabled = !on;
    document.body.dataset.train = on ? "running" : document.body.dataset.train;
  };
  const fmt = (v) => v.toExponential(2);

  // A three-step run with the chosen settings: this GPU's speed, before committing to a long run.
  $("t-estimate").addEventListener("click", async () => {
    if (!painting) return;
    const opts = options();
    busy(true);
    $("t-stats").textContent = "Timing three steps (the first one also prepares the shaders)…";
    history.length = 0;
    try {
      run = engine().train(painting, { ...opts, steps: 3, previewEvery: 3 });
      let rate = 0;
      run.onProgress((e) => (rate = e.stepsPerSecond));
      const r = await run.result;
      if (r.cancelled) {
        $("t-stats").textContent = "Timing cancelled.";
      } else {
        $("t-stats").textContent = `This GPU: ${rate.toFixed(rate < 1 ? 2 : 1)} steps/s at ${opts.size} px, ${opts.batch} photos per step: ${opts.steps} steps take about ${duration(opts.steps / rate)}.`;
      }
      document.body.dataset.train = "timed";
    } catch (e) {
      $("t-stats").textContent = `Could not time it: ${e.message}`;
      document.body.dataset.train = "failed";
    } finally {
      run = null;
      busy(false);
    }
  });

  $("t-start").addEventListener("click", async () => {
    if (!painting) return;
    const opts = options();
    history.length = 0;
    plotLosses($("t-plot"), history, "step");
    result = null;
    $("t-use").disabled = true;
    $("t-download").setAttribute("aria-disabled", "true");
    $("t-progress").value = 0;
    $("t-stats").textContent = "Loading the nets and reading the painting…";
    busy(true);
    run = engine().train(painting, opts);
    const current = run;
    current.onProgress((e) => {
      history.push(e);
      if (e.preview) drawTo($("t-preview"), e.preview);
      $("t-progress").value = e.step / e.steps;
      const left = (e.steps - e.step) / e.stepsPerSecond;
      $("t-stats").textContent = `step ${e.step}/${e.steps} · ${e.stepsPerSecond.toFixed(e.stepsPerSecond < 1 ? 2 : 1)} steps/s · ${duration(left)} left · loss ${fmt(e.total)} (content ${fmt(e.content)}, style ${fmt(e.style)}, smoothness ${fmt(e.tv)})`;
      document.body.dataset.trainStep = String(e.step);
      plotLosses($("t-plot"), history, "step");
    });
    try {
      const r = await current.result;
      result = { name: opts.name, model: r.model, bytes: await current.save() };
      $("t-stats").textContent += r.cancelled ? ` · cancelled after ${r.steps} steps: the style so far is kept` : " · done";
      document.body.dataset.train = r.cancelled ? "cancelled" : "done";
      const url = URL.createObjectURL(new Blob([result.bytes], { type: "application/octet-stream" }));
      $("t-download").href = url;
      $("t-download").download = `${opts.name}.safetensors`;
      $("t-download").removeAttribute("aria-disabled");
      $("t-use").disabled = false;
    } catch (e) {
      $("t-stats").textContent = `The run failed: ${e.message}`;
      document.body.dataset.train = "failed";
    } finally {
      run = null;
      busy(false);
    }
  });
  $("t-cancel").addEventListener("click", () => run?.cancel());
  $("t-use").addEventListener("click", async () => {
    if (!result) return;
    $("t-use").disabled = true;
    $("tab-filter").click();
    await addLearnedStyle(result.name, result.model);
  });
}
