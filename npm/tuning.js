// The kernel choices timed on this GPU, kept in IndexedDB under the adapter and driver they
// were timed on, so that only the first run pays for tuning. The store is an optimisation:
// where IndexedDB is missing or fails (private modes, insecure contexts), nothing is kept and
// the engine runs its fixed kernels.

const DB_NAME = "webgpu-style-transfer";
const STORE = "kernel-tuning";

/** How long opening the database may take before the engine goes on without it. */
const OPEN_TIMEOUT_MS = 3000;

/**
 * The database, or null where IndexedDB is unavailable, fails, or does not answer within
 * OPEN_TIMEOUT_MS (an open can wait indefinitely on another tab's connection): creating a
 * StyleTransfer must never hang on its cache.
 */
function openDb() {
  return new Promise((resolve) => {
    if (typeof indexedDB === "undefined") return resolve(null);
    let req;
    try {
      req = indexedDB.open(DB_NAME, 1);
    } catch {
      return resolve(null);
    }
    let settled = false;
    const settle = (db) => {
      if (settled) {
        db?.close();
        return;
      }
      settled = true;
      clearTimeout(timer);
      resolve(db);
    };
    const timer = setTimeout(() => settle(null), OPEN_TIMEOUT_MS);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => settle(req.result);
    req.onerror = () => settle(null);
    // Blocked by an older version's connection elsewhere: wait for it (or the timeout).
  });
}

/** One request on the store, resolving to its result (null when it fails). */
async function withStore(mode, make) {
  const db = await openDb();
  if (!db) return null;
  try {
    return await new Promise((resolve) => {
      const tx = db.transaction(STORE, mode);
      const req = make(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result ?? null);
      tx.onerror = () => resolve(null);
      tx.onabort = () => resolve(null);
    });
  } catch {
    return null;
  } finally {
    db.close();
  }
}

/** The table text stored for `key` (an adapter and driver), or null. */
export async function readTuning(key) {
  const text = await withStore("readonly", (s) => s.get(key));
  return typeof text === "string" ? text : null;
}

/** Stores the table text for `key`; whether it was stored. */
export async function writeTuning(key, text) {
  return (await withStore("readwrite", (s) => s.put(text, key))) !== null;
}

/** Deletes the table stored for `key`. */
export async function deleteTuning(key) {
  await withStore("readwrite", (s) => s.delete(key));
}
