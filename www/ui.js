// Small helpers the page's tabs share.

/** "Downloading VGG19: 3.1 of 20.0 MB" for a download progress event. */
export function downloadText(what, e) {
  const mb = (n) => (n / 2 ** 20).toFixed(1);
  if (e.cached) return `${what}: from the browser's cache`;
  return e.total ? `Downloading ${what}: ${mb(e.loaded)} of ${mb(e.total)} MB` : `Downloading ${what}: ${mb(e.loaded)} MB`;
}

export function drawTo(canvas, imageData) {
  canvas.width = imageData.width;
  canvas.height = imageData.height;
  canvas.getContext("2d").putImageData(imageData, 0, 0);
}

