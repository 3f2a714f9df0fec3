//! A loaded transform net with the style it is to run: what one stylization request names,
//! whichever net it is. The CLI and the browser facade hold their nets as they like and
//! describe each request as a [`Styled`].

use super::net::{OutputOptions, Progress};
use super::runner;
use super::whole::Submitted;
use super::{ArbitraryNet, JohnsonNet, MultiStyle26, StyleVector, StyleWeights};
use crate::gpu::{GpuContext, Plan, Tensor};
use crate::image::Rgba8Image;
use crate::tune::TuneReport;
use crate::Result;

/// A transform net and its style.
#[derive(Clone, Copy)]
pub enum Styled<'a> {
    /// The 26-style net with one of its styles or a blend of them.
    MultiStyle(&'a MultiStyle26, &'a StyleWeights),
    /// The arbitrary-style net with a style vector.
    Arbitrary(&'a ArbitraryNet, &'a StyleVector),
    /// A Johnson net (its style is in its weights).
    Johnson(&'a JohnsonNet),
}

impl Styled<'_> {
    /// Stylizes a photo (see each net's `stylize`); `progress` hears from runs done in tiles.
    pub async fn stylize(
        &self,
        ctx: &GpuContext,
        photo: &Rgba8Image,
        opts: &OutputOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Rgba8Image> {
        match *self {
            Self::MultiStyle(net, style) => {
                runner::stylize(ctx, net, photo, style, opts, progress).await
            }
            Self::Arbitrary(net, style) => {
                let (style, opts) = net.with_strength(ctx, photo, style, opts).await?;
                runner::stylize(ctx, net, photo, &style, &opts, progress).await
            }
            Self::Johnson(net) => runner::stylize(ctx, net, photo, &(), opts, progress).await,
        }
    }

    /// Records the net on `x` ([3, H, W]): what [`crate::tune::tune_net`] times.
    pub fn record(&self, ctx: &GpuContext, plan: &mut Plan, x: &Tensor) -> Result<Tensor> {
        match *self {
            Self::MultiStyle(net, _) => net.record(ctx, plan, x),
            Self::Arbitrary(net, _) => net.record(ctx, plan, x),
            Self::Johnson(net) => net.record(ctx, plan, x),
        }
    }

    /// Times the kernels a run on `photo` (as `opts` scales it) would use that the context's
    /// table lacks, within `budget_ms` ([`crate::tune::tune_net`]); for the arbitrary-style net
    /// its style predictor's first (a painting's style and a strength below 1 run it), within
    /// the same budget.
    pub async fn tune(
        &self,
        ctx: &GpuContext,
        photo: &Rgba8Image,
        opts: &OutputOptions,
        budget_ms: f64,
    ) -> Result<TuneReport> {
        let now = &crate::clock::now_ms;
        let (w, h) = photo.fitted_size(opts.max_size);
        if let Self::Arbitrary(net, _) = *self {
            return net.tune(ctx, (h, w), budget_ms, now).await;
        }
        let record = |plan: &mut Plan, x: &Tensor| self.record(ctx, plan, x);
        crate::tune::tune_net(ctx, &record, (h, w), budget_ms, now).await
    }

    /// Runs the net on the whole photo (scaled to `max_size`) without reading back, for live
    /// output.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) async fn submit(
        &self,
        ctx: &GpuContext,
        photo: &Rgba8Image,
        max_size: usize,
    ) -> Result<Submitted> {
        match *self {
            Self::MultiStyle(net, style) => runner::submit(ctx, net, photo, style, max_size).await,
            Self::Arbitrary(net, style) => runner::submit(ctx, net, photo, style, max_size).await,
            Self::Johnson(net) => runner::submit(ctx, net, photo, &(), max_size).await,
        }
    }
}
