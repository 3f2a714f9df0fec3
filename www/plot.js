// The loss plot of the Gatys studio and the Train tab: each weighted loss against the
// iteration or step, on a log scale (they span orders of magnitude and fall by factors).

const SERIES = [
  ["total", "#e0a030"],
  ["content", "#4b6bfb"],
  ["style", "#d04080"],
  ["tv", "#30a060"],
];

/** Draws `history` (progress events) into `canvas`; `x` names the event's counter ("iteration", "step"). */
export function plotLosses(canvas, history, x) {
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  if (history.length < 2) return;
  const logs = history.flatMap((e) => SERIES.map(([k]) => e[k])).filter((v) => v > 0).map(Math.log10);
  const lo = Math.floor(Math.min(...logs));
  const hi = Math.ceil(Math.max(...logs));
  const n = Math.max(history.at(-1)[x], 1);
  const pad = 34;
  const px = (i) => pad + ((canvas.width - pad - 6) * i) / n;
  const py = (v) => 6 + ((canvas.height - 26) * (hi - Math.log10(v))) / Math.max(hi - lo, 1);
  g.font = "12px system-ui";
  g.fillStyle = "#888";
  g.strokeStyle = "#8884";
  for (let d = lo; d <= hi; d++) {
    g.beginPath();
    g.moveTo(pad, py(10 ** d));
    g.lineTo(canvas.width, py(10 ** d));
    g.stroke();
    g.fillText(`1e${d}`, 2, py(10 ** d) + 4);
  }
  g.fillText(`${x} ${history.at(-1)[x]}`, canvas.width - 110, canvas.height - 4);
  for (const [k, color] of SERIES) {
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    let started = false;
    for (const e of history) {
      if (!(e[k] > 0)) continue;
      started ? g.lineTo(px(e[x]), py(e[k])) : g.moveTo(px(e[x]), py(e[k]));
      started = true;
    }
    g.stroke();
  }
}
