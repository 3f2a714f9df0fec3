// Model downloads: progress events, cancellation, and for the package's own model files an
// integrity check against the sha256 recorded when the package was built (manifest.js, written
// by scripts/build-wasm.sh), on the network copy and on the Cache API copy alike. A cached copy
// that does not match is deleted and fetched again; a download that does not match is a
// `bad-model` error naming both hashes. Only checked files are kept in the Cache API, in a cache
// named after the package version (other versions' caches are deleted).
import { FILES, VERSION } from "./manifest.js";
import { error } from "./request.js";

export const CACHE_PREFIX = "webgpu-style-transfer-models-";
/** The Cache API cache holding this version's model files. */
export const CACHE_NAME = `${CACHE_PREFIX}${VERSION}`;

/**
 * `{ url, bytes, sha256 }` of a model file shipped in the package, or null where this build
 * has none (the optional training photos). The caller writes the URL
 * as a literal `new URL("./file", import.meta.url)`, so that bundlers copy that one file.
 */
export function packagedModel(file, url) {
  const f = FILES[file];
  if (!f) return null;
  return Object.freeze({ url, bytes: f.bytes, sha256: f.sha256 });
}

/** The `cancelled` error of `op`, carrying the signal's reason. */
export function cancelledError(op, signal) {
  const why = signal?.reason instanceof Error && signal.reason.name !== "AbortError" ? ` (${signal.reason.message})` : "";
  return error("cancelled", `${op} was cancelled${why}`, { reason: signal?.reason });
}

/** `promise`, or a `cancelled` rejection as soon as `signal` aborts (the work itself goes on). */
export function abortable(promise, signal, op) {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(cancelledError(op, signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(cancelledError(op, signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * One piece of work (a download and the engine's load of it) shared by every caller waiting
 * for it. Each caller brings its own signal and progress callback; the work is aborted only
 * when every caller has given up.
 */
export class SharedTask {
  #controller = new AbortController();
  #listeners = new Set();
  #waiters = 0;
  #settled = false;
  promise;

  /** `run(signal, emit)`: the work; `emit(event)` reaches every waiting caller's callback. */
  constructor(run) {
    this.promise = run(this.#controller.signal, (event) => {
      for (const fn of this.#listeners) {
        try {
          fn({ ...event });
        } catch (e) {
          // A throwing progress callback must not break the download; report it like an
          // exception in an event listener.
          setTimeout(() => {
            throw e;
          });
        }
      }
    }).finally(() => {
      this.#settled = true;
    });
    this.promise.catch(() => {});
  }

  /** Waits for the work as `op`, with the caller's `signal` and `onDownloadProgress`. */
  wait(op, { signal, onDownloadProgress } = {}) {
    this.#waiters++;
    if (onDownloadProgress) this.#listeners.add(onDownloadProgress);
    return abortable(this.promise, signal, op).finally(() => {
      this.#waiters--;
      if (onDownloadProgress) this.#listeners.delete(onDownloadProgress);
      if (this.#waiters === 0 && !this.#settled) this.#controller.abort();
    });
  }

  /** Aborts the work whoever waits (the StyleTransfer is being destroyed). */
  abort() {
    this.#controller.abort();
  }
}

/**
 * This version's model cache, or null where the Cache API is missing (insecure contexts).
 * Opened on each use (a Cache object outlives a deletion of its cache and then stores
 * nothing), deleting other versions' caches first.
 */
async function openCache() {
  if (typeof caches === "undefined") return null;
  try {
    for (const name of await caches.keys()) {
      if (name.startsWith(CACHE_PREFIX) && name !== CACHE_NAME) await caches.delete(name);
    }
    return await caches.open(CACHE_NAME);
  } catch {
    return null;
  }
}

/** Lower-case hex sha256 of bytes (Web Crypto where available, else a plain implementation). */
export async function sha256(bytes) {
  let digest;
  if (globalThis.crypto?.subtle) digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  else digest = sha256Plain(bytes);
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Bytes of `url`. `expect` ({ bytes, sha256 }) marks a file of this package: it is checked,
 * and kept in (and taken from) the Cache API. `onProgress({ loaded, total, url, cached })`
 * is called as bytes arrive: `loaded` never decreases, and the last event has
 * `loaded === total`.
 */
export async function download(url, { what, expect, signal, onProgress = () => {} }) {
  const href = String(url);
  const store = expect ? await openCache() : null;
  if (store) {
    const hit = await store.match(href).catch(() => undefined);
    if (hit) {
      const bytes = new Uint8Array(await hit.arrayBuffer().catch(() => new ArrayBuffer(0)));
      if (bytes.length === expect.bytes && (await sha256(bytes)) === expect.sha256) {
        onProgress({ loaded: bytes.length, total: bytes.length, url: href, cached: true });
        return bytes;
      }
      // A stale (older package) or damaged entry: drop it and fetch the file again.
      await store.delete(href).catch(() => {});
    }
  }
  let res;
  try {
    res = await fetch(href, { signal });
  } catch (e) {
    if (signal?.aborted) throw cancelledError(`downloading ${what}`, signal);
    throw error("bad-model", `could not download ${what} from ${href} (${e.message})`);
  }
  if (!res.ok) throw error("bad-model", `could not download ${what} from ${href} (HTTP ${res.status})`);
  const length = Number(res.headers.get("Content-Length"));
  const total = expect ? expect.bytes : length > 0 ? length : undefined;
  let bytes;
  try {
    bytes = await readBody(res, total, href, onProgress);
  } catch (e) {
    if (signal?.aborted) throw cancelledError(`downloading ${what}`, signal);
    throw error("bad-model", `the download of ${what} from ${href} broke off (${e.message})`);
  }
  if (expect) {
    const got = await sha256(bytes);
    if (got !== expect.sha256) {
      throw error(
        "bad-model",
        `${what} from ${href} is not the file this package was built with: sha256 ${got} (${bytes.length} bytes), expected ${expect.sha256} (${expect.bytes} bytes)`,
        { expected: expect.sha256, got },
      );
    }
    if (store) {
      const copy = new Response(bytes, { headers: { "Content-Type": "application/octet-stream" } });
      await store.put(href, copy).catch(() => {});
    }
  }
  return bytes;
}

/** Reads a response body chunk by chunk, reporting progress. */
async function readBody(res, total, url, onProgress) {
  let loaded = 0;
  const report = (t) => onProgress({ loaded, total: t, url, cached: false });
  report(total);
  if (!res.body?.getReader) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    loaded = bytes.length;
    report(loaded);
    return bytes;
  }
  const reader = res.body.getReader();
  const chunks = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    // A wrong Content-Length (a compressed transfer) must not make `loaded` pass `total`.
    if (total === undefined || loaded < total) report(total);
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  report(loaded);
  return bytes;
}

/** SHA-256 without Web Crypto (FIPS 180-4), for pages served over plain http. */
function sha256Plain(bytes) {
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  const H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const n = bytes.length;
  const padded = new Uint8Array(Math.ceil((n + 9) / 64) * 64);
  padded.set(bytes);
  padded[n] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(n / 2 ** 29));
  view.setUint32(padded.length - 4, (n << 3) >>> 0);
  const W = new Uint32Array(64);
  const rotr = (x, r) => (x >>> r) | (x << (32 - r));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) W[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(W[i - 15], 7) ^ rotr(W[i - 15], 18) ^ (W[i - 15] >>> 3);
      const s1 = rotr(W[i - 2], 17) ^ rotr(W[i - 2], 19) ^ (W[i - 2] >>> 10);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, h] = H;
    for (let i = 0; i < 64; i++) {
      const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    H[0] += a;
    H[1] += b;
    H[2] += c;
    H[3] += d;
    H[4] += e;
    H[5] += f;
    H[6] += g;
    H[7] += h;
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  H.forEach((v, i) => ov.setUint32(i * 4, v));
  return out;
}

export { sha256Plain as _sha256Plain };
