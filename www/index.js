// The demo page. For now it opens the GPU through the engine and shows what it found; the
// photo filter and the Gatys studio are added as the engine grows.
import { StyleTransfer } from "webgpu-style-transfer";

const $ = (id) => document.getElementById(id);

function formatBytes(n) {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(0)} MiB`;
}

async function main() {
  let st;
  try {
    st = await StyleTransfer.create();
  } catch (e) {
    // A friendly page instead of a blank one: say what is missing and where to get it.
    $("adapter").textContent = "no GPU";
    const status = $("status");
    status.classList.add("error");
    status.innerHTML = "";
    const h = document.createElement("h2");
    h.textContent = e.code === "webgpu-unavailable" ? "WebGPU is not available in this browser" : "The GPU could not be started";
    const p = document.createElement("p");
    p.textContent = e.message;
    status.append(h, p);
    document.body.dataset.state = "no-webgpu";
    return;
  }
  window.styleTransfer = st; // for the end-to-end tests and the console
  const a = st.adapter;
  $("adapter").textContent = `${a.name} · ${a.backend}`;
  const status = $("status");
  status.innerHTML = "";
  const h = document.createElement("h2");
  h.textContent = "GPU ready";
  const dl = document.createElement("dl");
  const rows = [
    ["Adapter", a.name],
    ["Backend", a.backend],
    ["Type", a.deviceType],
    ["shader-f16", a.shaderF16 ? "yes" : "no"],
    ["Largest storage binding", formatBytes(a.limits.maxStorageBufferBindingSize)],
    ["Largest buffer", formatBytes(a.limits.maxBufferSize)],
    ["Workgroup memory", `${a.limits.maxComputeWorkgroupStorageSize / 1024} KiB`],
  ];
  for (const [k, v] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    dl.append(dt, dd);
  }
  status.append(h, dl);
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
  document.body.dataset.state = "ready";
}

main();
