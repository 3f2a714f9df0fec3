//! Where a plan's time goes: each dispatch timed on its own, beside the whole plan run as one
//! submission. Timed from the host (submit, then wait for the queue), which every adapter
//! can do, emulated ones and browsers without timestamp queries included; each dispatch's
//! figure therefore holds one submission's overhead (tens of microseconds natively), so the
//! per-dispatch times add up to somewhat more than the whole plan.

use super::context::GpuContext;
use super::plan::Plan;
use crate::error::Result;

/// One dispatch of a profiled plan.
#[derive(Debug, Clone, PartialEq)]
pub struct DispatchTime {
    /// The dispatch's label (the op and its output).
    pub label: String,
    /// The kernel's shader file.
    pub kernel: &'static str,
    /// The output tensor's shape.
    pub output: Vec<usize>,
    /// Floating-point operations, or 0 where the op does not state them.
    pub flops: u64,
    /// Milliseconds, the fastest of the runs.
    pub ms: f64,
}

impl DispatchTime {
    /// GFLOP/s, where the op states its operations.
    pub fn gflops(&self) -> Option<f64> {
        (self.flops > 0 && self.ms > 0.0).then(|| self.flops as f64 / (self.ms * 1e6))
    }
}

/// A plan's profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Every dispatch, in plan order.
    pub dispatches: Vec<DispatchTime>,
    /// The whole plan as one submission, milliseconds (median of the runs).
    pub plan_ms: f64,
}

impl Profile {
    /// The sum of the dispatches' times.
    pub fn dispatch_ms(&self) -> f64 {
        self.dispatches.iter().map(|d| d.ms).sum()
    }

    /// Each kernel's share of [`Profile::dispatch_ms`], largest first: `(kernel, dispatches, ms)`.
    pub fn by_kernel(&self) -> Vec<(&'static str, usize, f64)> {
        let mut out: Vec<(&'static str, usize, f64)> = Vec::new();
        for d in &self.dispatches {
            match out.iter_mut().find(|k| k.0 == d.kernel) {
                Some(k) => {
                    k.1 += 1;
                    k.2 += d.ms;
                }
                None => out.push((d.kernel, 1, d.ms)),
            }
        }
        out.sort_by(|a, b| b.2.total_cmp(&a.2));
        out
    }
}

impl Plan {
    /// Times every dispatch of the plan on its own (the fastest of `runs`, each submitted alone
    /// and waited for) and the whole plan as one submission (the median of `runs`), after one
    /// warm-up run. `now` returns milliseconds. The plan's buffers hold whatever the repeated
    /// dispatches leave in them: profile a plan, then rebuild or rerun it before reading results.
    pub async fn profile(
        &self,
        ctx: &GpuContext,
        runs: usize,
        now: &dyn Fn() -> f64,
    ) -> Result<Profile> {
        let runs = runs.max(1);
        self.run(ctx).await?;
        ctx.finish().await?;
        let mut whole = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t0 = now();
            self.run(ctx).await?;
            ctx.finish().await?;
            whole.push(now() - t0);
        }
        whole.sort_by(f64::total_cmp);
        let mut dispatches = Vec::with_capacity(self.dispatches().len());
        for (i, d) in self.dispatches().iter().enumerate() {
            let mut best = f64::INFINITY;
            for _ in 0..runs {
                let t0 = now();
                self.submit_range(ctx, i..i + 1);
                ctx.finish().await?;
                best = best.min(now() - t0);
            }
            dispatches.push(DispatchTime {
                label: d.label().to_string(),
                kernel: d.kernel(),
                output: d.output_shape().to_vec(),
                flops: d.flops(),
                ms: best,
            });
        }
        ctx.take_uncaptured("profile")?;
        Ok(Profile {
            dispatches,
            plan_ms: whole[whole.len() / 2],
        })
    }
}
