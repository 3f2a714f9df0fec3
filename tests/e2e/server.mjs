// A static file server for the built demo page (dist/) on 127.0.0.1, with the cross-origin
// isolation headers the page is served with in development.
import { createServer } from "node:http";
import { mkdirSync } from "node:fs";
import { before, after } from "node:test";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".css": "text/css",
};

/** Serves `root` on a free loopback port; resolves to { url, close }. */
export function serve(root) {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    const file = join(root, path.endsWith("/") ? `${path}index.html` : path);
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Embedder-Policy": "require-corp",
      });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end("not found");
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

/** Screenshots of the browser tests (git-ignored). */
export const SHOTS = new URL("../../test-results/", import.meta.url).pathname;

/**
 * Serves the built demo page (dist/) for the tests of one file: started before them, closed
 * after them. Returns `{ url() }`; also makes sure the screenshot folder exists.
 */
export function serveDist() {
  let server;
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await serve(new URL("../../dist/", import.meta.url).pathname);
  });
  after(async () => server?.close());
  return { url: () => server.url };
}
