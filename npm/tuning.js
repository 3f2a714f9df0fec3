// The kernel choices timed on this GPU, kept in IndexedDB under the adapter and driver they
// were timed on, so that only the first run pays for tuning. The store is an optimisation:
// where IndexedDB is missing or fails (private modes, insecure contexts), nothing is kept and
// the engine runs its fixed kernels.

const DB_NAME = "webgpu-style-transfer";
const STORE = "kernel-tuning";

/** The database, or null where IndexedDB is unavailable. */
function openDb() {
  return new Promise((resolve) => {
    if (typeof indexedDB === "undefined") return resolve(null);
    let req;
    try {
      req = indexedDB.open(DB_NAME, 1);
    } catch {
      return resolve(null);
    }
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => resolve(null);
    req.onblocked = () => resolve(null);
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
