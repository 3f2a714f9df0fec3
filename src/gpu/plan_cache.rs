//! Recorded plans kept for reuse, bounded by the bytes they hold.
//!
//! A net records one [`super::Plan`] per input size and reuses it for every photo of that size.
//! A batch of photos of many sizes would otherwise keep every size's buffers forever; this
//! cache evicts the least recently used plans once their buffers pass a byte budget (the plan
//! just used is always kept), and hands the evicted buffers back to the device.

use std::hash::Hash;
use std::sync::Mutex;

use super::context::GpuContext;
use crate::Result;

/// The default budget of a net's plan cache: 256 MiB of buffers, about two 1024 px plans of
/// the 26-style net, or many small ones.
pub const DEFAULT_PLAN_BUDGET: u64 = 256 << 20;

/// Values (recorded plans with their buffers) by key, least recently used evicted beyond a
/// byte budget.
pub struct PlanCache<K: Hash + Eq, V> {
    inner: Mutex<Inner<K, V>>,
}

struct Inner<K: Hash + Eq, V> {
    entries: lru::LruCache<K, (V, u64)>,
    bytes: u64,
    budget: u64,
    /// The context's tuning generation the entries were recorded under.
    tuning: u64,
}

impl<K: Hash + Eq + Clone, V> Default for PlanCache<K, V> {
    fn default() -> Self {
        Self::with_budget(DEFAULT_PLAN_BUDGET)
    }
}

impl<K: Hash + Eq + Clone, V> PlanCache<K, V> {
    /// An empty cache that keeps at most `budget` bytes of plans (and always the last used).
    pub fn with_budget(budget: u64) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: lru::LruCache::unbounded(),
                bytes: 0,
                budget,
                tuning: 0,
            }),
        }
    }

    /// Calls `use_value` with the value for `key`, made first by `make` (which returns it with
    /// the bytes it holds) if the cache does not have it, or had it from before the context's
    /// kernel tuning changed. The cache is locked meanwhile.
    pub fn with<R>(
        &self,
        ctx: &GpuContext,
        key: K,
        make: impl FnOnce() -> Result<(V, u64)>,
        use_value: impl FnOnce(&mut V) -> Result<R>,
    ) -> Result<R> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let tuning = ctx.tuning_generation();
        if inner.tuning != tuning {
            // Kernel choices changed since these plans were recorded: record them again.
            inner.entries.clear();
            inner.bytes = 0;
            inner.tuning = tuning;
            ctx.trim_pool();
        }
        if !inner.entries.contains(&key) {
            let (value, bytes) = make()?;
            inner.entries.put(key.clone(), (value, bytes));
            inner.bytes += bytes;
            if inner.evict() {
                // The evicted plans' buffers went back to the pool: free them for real.
                ctx.trim_pool();
            }
        }
        let (value, _) = inner.entries.get_mut(&key).expect("inserted above");
        use_value(value)
    }

    /// Plans kept, and the bytes of their buffers.
    pub fn usage(&self) -> (usize, u64) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (inner.entries.len(), inner.bytes)
    }
}

impl<K: Hash + Eq, V> Inner<K, V> {
    /// Drops least recently used entries until within budget, keeping the newest; whether
    /// any was dropped.
    fn evict(&mut self) -> bool {
        let mut evicted = false;
        while self.bytes > self.budget && self.entries.len() > 1 {
            if let Some((_, (_, bytes))) = self.entries.pop_lru() {
                self.bytes -= bytes;
                evicted = true;
            }
        }
        evicted
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_plans_go_beyond_the_budget() {
        let ctx = pollster::block_on(GpuContext::new()).expect("a GPU adapter (lavapipe)");
        let cache: PlanCache<usize, String> = PlanCache::with_budget(100);
        let made = std::cell::Cell::new(0);
        let get = |key: usize, bytes: u64| {
            cache
                .with(
                    &ctx,
                    key,
                    || {
                        made.set(made.get() + 1);
                        Ok((format!("plan {key}"), bytes))
                    },
                    |v| Ok(v.clone()),
                )
                .unwrap()
        };
        assert_eq!(get(1, 40), "plan 1");
        assert_eq!(get(2, 40), "plan 2");
        assert_eq!(get(1, 40), "plan 1"); // reused, and now the most recent
        assert_eq!((made.get(), cache.usage()), (2, (2, 80)));
        get(3, 40); // 120 bytes > 100: plan 2, the least recently used, goes
        assert_eq!(cache.usage(), (2, 80));
        get(1, 40);
        assert_eq!(made.get(), 3, "plan 1 was kept");
        get(2, 40);
        assert_eq!(made.get(), 4, "plan 2 was evicted and made again");
        // A plan larger than the whole budget is still kept while it is the last one used.
        get(4, 500);
        assert_eq!(cache.usage(), (1, 500));
    }
}
