//! Where a plan's time goes: each dispatch timed, beside the whole plan run as one submission.
//!
//! Two clocks. Where the device has timestamp queries, every dispatch runs in its own compute
//! pass with the GPU's timestamps written before and after it, all in one submission: the
//! GPU's own time for each, without host overhead. Elsewhere (browsers without the feature,
//! some emulators) each dispatch is submitted alone and waited for, timed on the host: every
//! figure then holds one submission's overhead (tens of microseconds natively), so the
//! dispatches add up to somewhat more than the whole plan.

use super::context::GpuContext;
use super::plan::Plan;
use crate::error::{Error, Result};

/// Which clock timed a profile's dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// The GPU's timestamps around each dispatch (where the device has timestamp queries).
    Gpu,
    /// The host's clock around each dispatch submitted alone and waited for.
    Host,
}

impl Timing {
    /// The best clock this device offers.
    pub fn best(ctx: &GpuContext) -> Self {
        if ctx.adapter().timestamps {
            Timing::Gpu
        } else {
            Timing::Host
        }
    }

    /// How the dispatches were timed, for a table's heading.
    pub fn describe(self) -> &'static str {
        match self {
            Timing::Gpu => "GPU timestamps around each dispatch",
            Timing::Host => "each dispatch submitted alone and waited for (host clock)",
        }
    }
}

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
    /// The whole plan as one submission, milliseconds on the host's clock (median of the runs).
    pub plan_ms: f64,
    /// The clock of the dispatches' times.
    pub timing: Timing,
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

/// Most timestamp queries one query set holds (wgpu's limit): two per dispatch.
const MAX_QUERIES: usize = 4096;

impl Plan {
    /// Times every dispatch of the plan (the fastest of `runs`) with `timing` (host timing for
    /// a plan too long for one query set), and the whole plan as one submission (the median of
    /// `runs`), after one warm-up run. `now` returns milliseconds. The plan's buffers hold
    /// whatever the repeated dispatches leave in them: profile a plan, then rebuild or rerun it
    /// before reading results.
    pub async fn profile(
        &self,
        ctx: &GpuContext,
        runs: usize,
        timing: Timing,
        now: &dyn Fn() -> f64,
    ) -> Result<Profile> {
        let runs = runs.max(1);
        let n = self.dispatches().len();
        let timing = if 2 * n > MAX_QUERIES {
            Timing::Host
        } else {
            timing
        };
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
        let best = self.time_dispatches(ctx, runs, timing, now).await?;
        ctx.take_uncaptured("profile")?;
        let dispatches = self
            .dispatches()
            .iter()
            .zip(best)
            .map(|(d, ms)| DispatchTime {
                label: d.label().to_string(),
                kernel: d.kernel(),
                output: d.output_shape().to_vec(),
                flops: d.flops(),
                ms,
            })
            .collect();
        Ok(Profile {
            dispatches,
            plan_ms: whole[whole.len() / 2],
            timing,
        })
    }

    /// The fastest of `runs` timings of each dispatch, in milliseconds, with `timing` (which
    /// must suit the device and plan: see [`Plan::profile`]). Run the plan once before, so that
    /// pipeline creation is not timed.
    pub async fn time_dispatches(
        &self,
        ctx: &GpuContext,
        runs: usize,
        timing: Timing,
        now: &dyn Fn() -> f64,
    ) -> Result<Vec<f64>> {
        let mut best = vec![f64::INFINITY; self.dispatches().len()];
        for _ in 0..runs.max(1) {
            let times = match timing {
                Timing::Gpu => self.gpu_times(ctx).await?,
                Timing::Host => self.host_times(ctx, now).await?,
            };
            for (b, t) in best.iter_mut().zip(times) {
                *b = b.min(t);
            }
        }
        Ok(best)
    }

    /// Each dispatch submitted alone and waited for, on the host's clock.
    async fn host_times(&self, ctx: &GpuContext, now: &dyn Fn() -> f64) -> Result<Vec<f64>> {
        let mut times = Vec::with_capacity(self.dispatches().len());
        for i in 0..self.dispatches().len() {
            let t0 = now();
            self.submit_range(ctx, i..i + 1);
            ctx.finish().await?;
            times.push(now() - t0);
        }
        Ok(times)
    }

    /// The whole plan in one submission, each dispatch in its own pass between two GPU
    /// timestamps; milliseconds per dispatch.
    async fn gpu_times(&self, ctx: &GpuContext) -> Result<Vec<f64>> {
        let count = 2 * self.dispatches().len() as u32;
        let bytes = 8 * count as u64;
        let queries = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profile"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let buffer = |usage| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("profile timestamps"),
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        let resolved = buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC);
        let staging = buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("profile"),
            });
        self.encode_timed(&mut enc, &queries);
        enc.resolve_query_set(&queries, 0..count, &resolved, 0);
        enc.copy_buffer_to_buffer(&resolved, 0, &staging, 0, bytes);
        ctx.queue.submit([enc.finish()]);
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        ctx.wait_idle()?;
        let failed = |message: String| Error::Readback {
            label: "profile timestamps".into(),
            message,
        };
        rx.await
            .map_err(|_| failed("the device was lost before the data arrived".into()))?
            .map_err(|e| failed(e.to_string()))?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(
            &staging
                .get_mapped_range(..)
                .map_err(|e| failed(e.to_string()))?,
        );
        staging.unmap();
        // Nanoseconds per tick.
        let period = ctx.queue.get_timestamp_period() as f64;
        Ok(ticks
            .chunks_exact(2)
            .map(|t| t[1].saturating_sub(t[0]) as f64 * period / 1e6)
            .collect())
    }
}
