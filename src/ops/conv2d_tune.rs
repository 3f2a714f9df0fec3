//! Tuning the convolutions on the device: which register tile and workgroup size (or block
//! tile of the workgroup-memory kernel) a tiled layer runs with, and how many output pixels an
//! invocation of a depthwise layer computes. A tile does not change the weights' layout (only
//! which channel blocks an invocation takes) nor the order each output sums in, so a tuned
//! layer gives bit-identical results (split-K excepted: it sums input-channel slices apart, so
//! it is offered only on real GPUs, for layers too small to fill them) and the choice can be
//! made when a plan is recorded, per input size.
//!
//! A layer is a [`ConvProblem`]: its key (shape, stride, input read path and the output plane's
//! size class) names it in the device's [`crate::gpu::TuningTable`]; its text form is what
//! [`time_problem`] rebuilds it from to time the candidates on synthetic data.

use std::fmt;

use super::conv2d::{
    depthwise_px, depthwise_tile, Conv2d, ConvInput, PointwiseTiling, SharedTiling, TileChoice,
    Tiling,
};
use super::{Activation, ChannelAffine, Conv2dParams, ConvKernel, Padding};
use crate::gpu::{GpuContext, Plan, Timing, Tuned};
use crate::{Error, Result};

/// A candidate must beat the fixed choice by this factor to replace it: smaller differences
/// are within the timing noise of a shared machine, and the fixed choice is kept.
const MARGIN: f64 = 0.95;
/// A candidate whose first timed run is this much slower than the best so far is not timed
/// again (bounds tuning time on slow emulated devices).
const PRUNE: f64 = 1.5;

impl fmt::Display for Tiling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tiled {}px {}co {}t",
            self.tile_px,
            4 * self.tile_co4,
            self.wg_x * self.wg_y
        )
    }
}

impl fmt::Display for SharedTiling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shared {}px {}co {}x{}t",
            self.tile_px,
            4 * self.tile_co4,
            self.wg_px,
            self.wg_co
        )
    }
}

impl fmt::Display for TileChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TileChoice::Registers(t) => t.fmt(f),
            TileChoice::Shared(t) => t.fmt(f),
            TileChoice::Depthwise(px) => write!(f, "depthwise {px}px"),
            TileChoice::SplitK(t, split) => write!(f, "{t} split{split}"),
            TileChoice::Subgroup(t) => write!(f, "{t} sg"),
            TileChoice::Pointwise(t) => t.fmt(f),
        }
    }
}

impl fmt::Display for PointwiseTiling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sg = if self.shared { " sg" } else { "" };
        write!(
            f,
            "pointwise {}px {}co{sg}",
            4 * self.tile_v4,
            4 * self.tile_co4
        )
    }
}

impl PointwiseTiling {
    /// Parses its text form ("pointwise 8px 16co", "pointwise 8px 16co sg").
    pub fn parse(s: &str) -> Option<Self> {
        let (s, shared) = match s.strip_suffix(" sg") {
            Some(rest) => (rest, true),
            None => (s, false),
        };
        let mut f = s.strip_prefix("pointwise ")?.split(' ');
        let mut num = |unit: &str| f.next()?.strip_suffix(unit)?.parse::<usize>().ok();
        let (px, co) = (num("px")?, num("co")?);
        (f.next().is_none() && px % 4 == 0 && co % 4 == 0).then_some(Self {
            tile_v4: px / 4,
            tile_co4: co / 4,
            shared,
        })
    }
}

impl TileChoice {
    /// Parses the text form of each kind ("tiled 8px 16co 64t", "shared 4px 8co 16x4t",
    /// "depthwise 4px", "tiled 8px 16co 64t split4", "tiled 8px 16co 64t sg",
    /// "pointwise 8px 16co sg").
    pub fn parse(s: &str) -> Option<Self> {
        if s.starts_with("pointwise ") {
            return PointwiseTiling::parse(s).map(TileChoice::Pointwise);
        }
        if let Some(tile) = s.strip_suffix(" sg") {
            return Tiling::parse(tile).map(TileChoice::Subgroup);
        }
        if let Some((tile, split)) = s.rsplit_once(" split") {
            return Some(TileChoice::SplitK(
                Tiling::parse(tile)?,
                split.parse().ok()?,
            ));
        }
        if let Some(t) = Tiling::parse(s) {
            return Some(TileChoice::Registers(t));
        }
        if let Some(px) = s.strip_prefix("depthwise ") {
            return px
                .strip_suffix("px")?
                .parse()
                .ok()
                .map(TileChoice::Depthwise);
        }
        let mut f = s.strip_prefix("shared ")?.split(' ');
        let mut num = |unit: &str| f.next()?.strip_suffix(unit)?.parse::<usize>().ok();
        let (px, co) = (num("px")?, num("co")?);
        let (wg_px, wg_co) = f.next()?.strip_suffix('t')?.split_once('x')?;
        (co % 4 == 0).then_some(())?;
        Some(TileChoice::Shared(SharedTiling {
            wg_px: wg_px.parse().ok()?,
            wg_co: wg_co.parse().ok()?,
            tile_px: px,
            tile_co4: co / 4,
        }))
    }
}

impl Tiling {
    /// Parses [`Tiling`]'s text form ("tiled 8px 16co 64t").
    pub fn parse(s: &str) -> Option<Self> {
        let mut f = s.strip_prefix("tiled ")?.split(' ');
        let mut num = |unit: &str| f.next()?.strip_suffix(unit)?.parse::<usize>().ok();
        let (px, co, threads) = (num("px")?, num("co")?, num("t")?);
        f.next().is_none().then_some(())?;
        // The workgroup is shaped to the grid when recorded; only its size matters here.
        let wg_x = threads.min(8);
        (co % 4 == 0 && threads % wg_x == 0 && threads > 0).then_some(Self {
            tile_px: px,
            tile_co4: co / 4,
            wg_x,
            wg_y: threads / wg_x,
        })
    }
}

/// One tiled or depthwise convolution as a net records it: enough to name it in the tuning
/// table and to rebuild it on synthetic data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvProblem {
    /// [out_c, in_c, k_h, k_w].
    pub shape: [usize; 4],
    /// Stride, padding, groups (1, or the channels of a depthwise layer) and the fused
    /// activation.
    pub params: Conv2dParams,
    /// The input as stored: [in_c, H, W].
    pub stored: [usize; 3],
    /// Nearest upsampling on load: 1 or 2.
    pub upsample: usize,
    /// The activation of the per-channel map the input is read through, if any.
    pub map: Option<Activation>,
    /// Output channels as the weights' layout pads them.
    pub co_pad: usize,
}

impl ConvProblem {
    /// The problem of `conv` reading `x` through `input`.
    pub(crate) fn of(conv: &Conv2d, stored: [usize; 3], input: &ConvInput) -> Self {
        Self {
            shape: conv.shape(),
            params: *conv.params(),
            stored,
            upsample: input.upsample,
            map: input.map.map(|m| m.act),
            co_pad: conv.padded_out_channels(),
        }
    }

    /// Whether it is a depthwise layer (groups = channels).
    pub fn is_depthwise(&self) -> bool {
        self.params.groups > 1
    }

    /// Its key in the tuning table: the layer's shape (with "dw" for a depthwise one), stride
    /// and read path, and the output plane's size class (the power of two nearest its pixel
    /// count), so that photos of similar sizes share a choice. Padding is left out (it moves a
    /// border, not the cost).
    pub fn key(&self) -> Result<String> {
        let [out_c, _, k_h, k_w] = self.shape;
        let in_c = self.stored[0];
        let (oh, ow) = self.output_size()?;
        let class = ((oh * ow) as f64).log2().round() as u32;
        let map = self
            .map
            .map_or("stored".into(), |a| format!("map{}", a.code()));
        let dw = if self.is_depthwise() { " dw" } else { "" };
        Ok(format!(
            "conv2d {in_c}->{out_c} {k_h}x{k_w}{dw} s{} up{} {map} act{} co{} out~2^{class}",
            self.params.stride,
            self.upsample,
            self.params.activation.code(),
            self.co_pad
        ))
    }

    fn output_size(&self) -> Result<(usize, usize)> {
        let [_, h, w] = self.stored;
        let (h, w) = (h * self.upsample, w * self.upsample);
        let [t, l, b, r] = self.params.pad;
        let [_, _, k_h, k_w] = self.shape;
        let s = self.params.stride;
        if h + t + b < k_h || w + l + r < k_w || s == 0 {
            return Err(bad_problem(format!("{self} has no output")));
        }
        Ok(((h + t + b - k_h) / s + 1, (w + l + r - k_w) / s + 1))
    }

    /// The fixed choice for it on this device (what runs untuned).
    pub fn fixed(&self, ctx: &GpuContext) -> TileChoice {
        if self.is_depthwise() {
            return TileChoice::Depthwise(depthwise_px(ctx.adapter()));
        }
        let plane = self.output_size().map_or(0, |(h, w)| h * w);
        let own = self.fixed_tiling(ctx);
        TileChoice::untuned_layer(ctx, own, self.shape, plane, self.is_pointwise())
    }

    /// Whether it can run the pointwise kernel: a 1x1 layer, stride 1, no padding, groups 1,
    /// read without upsampling, on an output plane of whole vec4s.
    pub fn is_pointwise(&self) -> bool {
        let [_, _, k_h, k_w] = self.shape;
        let p = &self.params;
        (k_h, k_w, p.stride, p.groups, self.upsample) == (1, 1, 1, 1, 1)
            && p.pad == [0; 4]
            && self
                .output_size()
                .is_ok_and(|(h, w)| (h * w).is_multiple_of(4))
    }

    /// The pointwise kernel's tiles for a layer that can run it: 4, 8 or 16 pixels x 8 or 16
    /// channels or the fixed tile's, with subgroup-shared weight loads where the device has
    /// subgroups, and also without them except on an emulated GPU (as for the register tiles).
    pub fn pointwise_tiles(&self, ctx: &GpuContext) -> Vec<TileChoice> {
        if !self.is_pointwise() {
            return Vec::new();
        }
        let adapter = ctx.adapter();
        let shared = adapter.shares_subgroup_loads();
        let sharing: &[bool] = match (shared, adapter.is_emulated()) {
            (true, true) => &[true],
            (true, false) => &[true, false],
            (false, _) => &[false],
        };
        let fixed = self.fixed_tiling(ctx);
        let mut out = Vec::new();
        for tile_co4 in [2, 4, fixed.tile_co4] {
            for tile_v4 in [1, 2, 4] {
                for &shared in sharing {
                    let c = TileChoice::Pointwise(PointwiseTiling {
                        tile_v4,
                        tile_co4,
                        shared,
                    });
                    if self.fits(ctx, &c)
                        && 4 * tile_co4 <= self.shape[0].next_multiple_of(4)
                        && !out.contains(&c)
                    {
                        out.push(c);
                    }
                }
            }
        }
        out
    }

    fn fixed_tiling(&self, ctx: &GpuContext) -> Tiling {
        let [out_c, _, _, k_w] = self.shape;
        Tiling::for_adapter(out_c, k_w, self.params.stride, &ctx.adapter().device_type)
    }

    /// The kernel (and so the weights' layout) the layer is built with.
    fn kernel(&self, ctx: &GpuContext) -> ConvKernel {
        if self.is_depthwise() {
            ConvKernel::Depthwise {
                tile_px: depthwise_px(ctx.adapter()),
            }
        } else {
            ConvKernel::Tiled(self.fixed_tiling(ctx))
        }
    }

    /// The variants the tuner times on this device, the fixed choice first. A depthwise layer:
    /// 1, 2, 4, 8 or 16 output pixels an invocation, each that its rows make a different tile
    /// ([`depthwise_tile`]). A tiled layer: register tiles
    /// ([`ConvProblem::register_tiles`]) everywhere, each also with subgroup-shared weight
    /// loads where the device has subgroups (on an emulated GPU only those and the fixed plain
    /// tile: lavapipe ran every plain tile slower than its shared twin), and on real GPUs the
    /// workgroup-memory kernel's block tiles ([`ConvProblem::shared_tiles`]; on emulated GPUs
    /// it spills its loop-indexed accumulators, runs 10x slower than the register tiles and
    /// would only cost tuning time).
    pub fn candidates(&self, ctx: &GpuContext) -> Vec<TileChoice> {
        let mut out = vec![self.fixed(ctx)];
        if self.is_depthwise() {
            let out_w = self.output_size().map_or(1, |(_, w)| w);
            // The tile each offered choice runs on these rows.
            let runs = |c: &TileChoice| match c {
                TileChoice::Depthwise(px) => Some(depthwise_tile(*px, out_w)),
                _ => None,
            };
            for px in [1, 2, 4, 8, 16] {
                let c = TileChoice::Depthwise(px);
                if !out.iter().any(|o| runs(o) == runs(&c)) {
                    out.push(c);
                }
            }
            return out;
        }
        let adapter = ctx.adapter();
        let shared = adapter.shares_subgroup_loads();
        let fixed = self.fixed_tiling(ctx);
        for t in self.register_tiles(ctx) {
            let plain = !(shared && adapter.is_emulated()) || t == fixed;
            let twins = [
                shared.then_some(TileChoice::Subgroup(t)),
                plain.then_some(TileChoice::Registers(t)),
            ];
            for c in twins.into_iter().flatten() {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        for c in self.pointwise_tiles(ctx) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        if !adapter.is_emulated() {
            out.extend(self.shared_tiles());
            out.extend(self.split_tiles(ctx));
        }
        out
    }

    /// Split-K with the fixed tile, for a layer whose fixed grid has fewer than 16384
    /// invocations (too few to fill a large GPU: an H200 holds 270,000 at once): 2, 4, 8 or 16
    /// slices of at least 8 input channels each. Its sums run in another order, so the tuner
    /// offers it only where it can pay, on real GPUs.
    pub fn split_tiles(&self, ctx: &GpuContext) -> Vec<TileChoice> {
        let t = self.fixed_tiling(ctx);
        let Ok((oh, ow)) = self.output_size() else {
            return Vec::new();
        };
        let invocations = ow.div_ceil(t.tile_px) * oh * (self.co_pad / 4 / t.tile_co4);
        if invocations >= 16384 {
            return Vec::new();
        }
        [2, 4, 8, 16]
            .into_iter()
            .filter(|s| 8 * s <= self.shape[1])
            .map(|s| TileChoice::SplitK(t, s))
            .filter(|c| self.fits(ctx, c))
            .collect()
    }

    /// The workgroup-memory kernel's block tiles that fit: 64 to 128 invocations, 2 to 8
    /// pixels and 4 to 16 channels each, no more channel groups a workgroup than the layer has.
    pub fn shared_tiles(&self) -> Vec<TileChoice> {
        let groups = self.co_pad / 4;
        let tiles = [
            (16, 4, 4, 2),
            (32, 2, 2, 4),
            (16, 8, 2, 2),
            (8, 8, 8, 1),
            (64, 1, 2, 4),
            (32, 4, 4, 1),
            (32, 2, 4, 1),
            (64, 1, 4, 1),
        ];
        tiles
            .into_iter()
            .map(|(wg_px, wg_co, tile_px, tile_co4)| SharedTiling {
                wg_px,
                wg_co,
                tile_px,
                tile_co4,
            })
            .filter(|t| t.wg_co * t.tile_co4 <= groups.max(1))
            .filter(|t| t.validate(self.shape[3], self.params.stride).is_ok())
            .map(TileChoice::Shared)
            .collect()
    }

    /// The register tiles it can run with: 4, 8 or 16 pixels (and 2 on an output at most 16
    /// wide: lavapipe ran MobileNetV2's 1x1 layers on 8x8 planes 10-15 % faster with 2 than
    /// with 4), 4, 8 or 16 output channels or the fixed tile's (a divisor of its padded
    /// channels, and no more than it has), 64 or 128 invocations a workgroup; the fixed tile
    /// first.
    pub fn register_tiles(&self, ctx: &GpuContext) -> Vec<Tiling> {
        let out_c = self.shape[0];
        let fixed = self.fixed_tiling(ctx);
        let narrow = self.output_size().is_ok_and(|(_, ow)| ow <= 16);
        let pixels: &[usize] = if narrow { &[2, 4, 8, 16] } else { &[4, 8, 16] };
        let mut out = vec![fixed];
        for threads in [64, 128] {
            for tile_co4 in [1, 2, 4, fixed.tile_co4] {
                for &tile_px in pixels {
                    let t = Tiling {
                        tile_px,
                        tile_co4,
                        wg_x: 8,
                        wg_y: threads / 8,
                    };
                    if self.fits(ctx, &TileChoice::Registers(t))
                        && 4 * tile_co4 <= out_c.next_multiple_of(4)
                        && !out.contains(&t)
                    {
                        out.push(t);
                    }
                }
            }
        }
        out
    }

    /// Whether `choice` can run this problem with the weights as laid out (a layer of this
    /// device's layout: `co_pad` is the layout's).
    pub fn fits(&self, ctx: &GpuContext, choice: &TileChoice) -> bool {
        let kernel = self.kernel(ctx);
        let pointwise = !matches!(choice, TileChoice::Pointwise(_)) || self.is_pointwise();
        pointwise && choice.fits(kernel, self.shape, self.params.stride, self.co_pad / 4)
    }

    /// Parses the text form ([`ConvProblem`]'s `Display`).
    pub fn parse(s: &str) -> Result<Self> {
        let n: Vec<usize> = s
            .split(' ')
            .map(str::parse)
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad_problem(format!("'{s}' is not a convolution problem")))?;
        let [out_c, in_c, k_h, k_w, stride, t, l, b, r, reflect, act, h, w, up, map, co_pad, groups] =
            n[..]
        else {
            return Err(bad_problem(format!(
                "'{s}' has {} numbers, 17 expected",
                n.len()
            )));
        };
        let code = |c: usize| Activation::from_code(c as u32);
        let map = match map {
            0 => Some(None),
            m => code(m - 1).map(Some),
        };
        let (Some(activation), Some(map)) = (code(act), map) else {
            return Err(bad_problem(format!("'{s}' names an unknown activation")));
        };
        let params = Conv2dParams {
            stride,
            pad: [t, l, b, r],
            padding: if reflect == 1 {
                Padding::Reflect
            } else {
                Padding::Zero
            },
            groups,
            activation,
        };
        // A depthwise layer's weights hold one input channel a filter.
        let depthwise = in_c == 1 && groups == out_c && map.is_none() && up == 1;
        if groups != 1 && !depthwise {
            return Err(bad_problem(format!(
                "'{s}' is neither a dense nor a depthwise layer read as stored"
            )));
        }
        let p = Self {
            shape: [out_c, in_c, k_h, k_w],
            params,
            stored: [in_c * groups, h, w],
            upsample: up,
            map,
            co_pad,
        };
        p.output_size()?;
        Ok(p)
    }
}

impl fmt::Display for ConvProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [out_c, in_c, k_h, k_w] = self.shape;
        let [t, l, b, r] = self.params.pad;
        let [_, h, w] = self.stored;
        write!(
            f,
            "{out_c} {in_c} {k_h} {k_w} {} {t} {l} {b} {r} {} {} {h} {w} {} {} {} {}",
            self.params.stride,
            (self.params.padding == Padding::Reflect) as u8,
            self.params.activation.code(),
            self.upsample,
            self.map.map_or(0, |a| a.code() + 1),
            self.co_pad,
            self.params.groups
        )
    }
}

fn bad_problem(message: String) -> Error {
    Error::InvalidArgument {
        op: "tune",
        message,
    }
}

/// What `conv` runs on `x` through `input`: the tuned choice where the device's table has one
/// that fits (and tuning is not off), else the layer's own tile. While a net is recorded for
/// tuning, a miss is noted for [`crate::tune`] to time.
pub(crate) fn tiling_for(
    ctx: &GpuContext,
    conv: &Conv2d,
    own: TileChoice,
    stored: [usize; 3],
    input: &ConvInput,
) -> TileChoice {
    let problem = ConvProblem::of(conv, stored, input);
    let Ok(key) = problem.key() else {
        return own;
    };
    let fixed = problem.fixed(ctx).to_string();
    let choice = ctx
        .tune_state()
        .choice(&key, &fixed, || problem.to_string());
    choice
        .and_then(|c| TileChoice::parse(&c))
        .filter(|t| problem.fits(ctx, t))
        .unwrap_or(own)
}

/// A problem's timing: the choice, and how many of its candidate tiles were timed.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemTiming {
    /// The fastest timed tile, or the fixed one unless another beat it by 5 %.
    pub tuned: Tuned,
    /// Candidates timed, in this call or the one it resumed (the fixed one always; fewer than
    /// `offered` when the deadline came).
    pub timed: usize,
    /// Candidates the device offers for the problem.
    pub offered: usize,
}

/// Times the candidate tiles of `problem` on synthetic data (the fastest of `runs` per tile,
/// on the GPU's timestamps where the device has them) and returns the choice: the fastest, or
/// the fixed one unless another beats it by 5 %. The fixed tile is timed first; no other is
/// started once `now()` is past `deadline` (on a software GPU one 512 px layer's tiles can
/// take minutes, so a budget checked only between layers would not bound the tuning).
/// `earlier`, an entry an earlier deadline cut short, is resumed: the fixed tile and its
/// choice are timed again (times from another run do not compare), then the tiles it lacked.
pub async fn time_problem(
    ctx: &GpuContext,
    problem: &ConvProblem,
    runs: usize,
    deadline: f64,
    earlier: Option<&Tuned>,
    now: &dyn Fn() -> f64,
) -> Result<ProblemTiming> {
    let layer = synthetic_layer(ctx, problem)?;
    let timing = Timing::best(ctx);
    let order = TimingOrder::new(ctx, problem, earlier);
    let mut best: Option<(TileChoice, f64)> = None;
    let mut fixed_ms = f64::NAN;
    let mut timed = order.done;
    for (i, &t) in order.tiles.iter().enumerate() {
        if i > 0 && now() > deadline {
            break;
        }
        if i >= order.again {
            timed += 1;
        }
        let mut plan = Plan::new("tune");
        layer.record(ctx, &mut plan, t)?;
        plan.run(ctx).await?;
        ctx.finish().await?;
        let mut ms = plan.time_dispatches(ctx, 1, timing, now).await?[0];
        let best_ms = best.map_or(f64::INFINITY, |b| b.1);
        if ms < PRUNE * best_ms && runs > 1 {
            ms = ms.min(plan.time_dispatches(ctx, runs - 1, timing, now).await?[0]);
        }
        if i == 0 {
            fixed_ms = ms;
        }
        if ms < best_ms {
            best = Some((t, ms));
        }
    }
    ctx.take_uncaptured("tune")?;
    let fixed = problem.fixed(ctx);
    let (choice, ms) = match best {
        Some((t, ms)) if ms < MARGIN * fixed_ms => (t, ms),
        _ => (fixed, fixed_ms),
    };
    let tuned = Tuned {
        choice: choice.to_string(),
        ms,
        fixed: fixed.to_string(),
        fixed_ms,
        resume_at: (timed < order.offered).then_some(timed),
    };
    Ok(ProblemTiming {
        tuned,
        timed,
        offered: order.offered,
    })
}

/// The tiles [`time_problem`] times, in order: the fixed one, an earlier cut-short run's
/// choice, then the candidates not timed yet.
struct TimingOrder {
    tiles: Vec<TileChoice>,
    /// `tiles[..again]` were timed before (the fixed tile counts as such in a fresh run).
    again: usize,
    /// Candidates covered before this run (1, the fixed tile, in a fresh run).
    done: usize,
    /// Candidates offered.
    offered: usize,
}

impl TimingOrder {
    fn new(ctx: &GpuContext, problem: &ConvProblem, earlier: Option<&Tuned>) -> Self {
        let all = problem.candidates(ctx);
        let offered = all.len();
        let done = earlier
            .and_then(|e| e.resume_at)
            .unwrap_or(1)
            .clamp(1, offered);
        let choice = earlier
            .and_then(|e| TileChoice::parse(&e.choice))
            .filter(|c| *c != all[0] && problem.fits(ctx, c));
        let mut tiles = vec![all[0]];
        tiles.extend(choice);
        let again = tiles.len();
        tiles.extend(&all[done..]);
        TimingOrder {
            tiles,
            again,
            done,
            offered,
        }
    }
}

/// A layer of the problem's shape with seeded weights, its input and map.
struct SyntheticLayer {
    conv: Conv2d,
    x: crate::gpu::Tensor,
    map: Option<ChannelAffine>,
    upsample: usize,
}

impl SyntheticLayer {
    fn record(&self, ctx: &GpuContext, plan: &mut Plan, t: TileChoice) -> Result<()> {
        let input = ConvInput {
            map: self.map.as_ref(),
            upsample: self.upsample,
        };
        self.conv
            .record_choice(ctx, plan, &self.x, input, t)
            .map(drop)
    }
}

/// A seeded stream of values in [-0.5, 0.5) (xorshift32), for synthetic layers whose values
/// do not matter, only their cost (tuning, benchmarks).
pub(crate) fn xorshift(mut seed: u32) -> impl FnMut() -> f32 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as f32 / u32::MAX as f32 - 0.5
    }
}

fn synthetic_layer(ctx: &GpuContext, p: &ConvProblem) -> Result<SyntheticLayer> {
    let [out_c, in_c, k_h, k_w] = p.shape;
    let mut rnd = xorshift(0x9e37_79b9);
    let mut values = |n: usize| -> Vec<f32> { (0..n).map(|_| rnd()).collect() };
    let fixed = p.kernel(ctx);
    let w = values(out_c * in_c * k_h * k_w);
    let b = values(out_c);
    let conv = Conv2d::with_kernel(ctx, "tune.conv", &w, p.shape, Some(&b), p.params, fixed)?;
    if conv.padded_out_channels() != p.co_pad {
        return Err(bad_problem(format!(
            "{p}: the layer's weights pad {out_c} channels to {}, this device's layout to {}",
            p.co_pad,
            conv.padded_out_channels()
        )));
    }
    let x = ctx.upload("tune.x", &p.stored, &values(p.stored.iter().product()))?;
    let map = match p.map {
        Some(act) => {
            let coeffs: Vec<f32> = (0..in_c).flat_map(|_| [0.1, 0.9, 0.05, 0.0]).collect();
            Some(ChannelAffine {
                coeffs: ctx.upload("tune.map", &[in_c, 4], &coeffs)?,
                act,
            })
        }
        None => None,
    };
    Ok(SyntheticLayer {
        conv,
        x,
        map,
        upsample: p.upsample,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilings_and_problems_round_trip_through_their_text() {
        let t = Tiling {
            tile_px: 16,
            tile_co4: 2,
            wg_x: 8,
            wg_y: 16,
        };
        assert_eq!(t.to_string(), "tiled 16px 8co 128t");
        assert_eq!(Tiling::parse(&t.to_string()), Some(t));
        assert_eq!(Tiling::parse("tiled 8px 6co 64t"), None);
        assert_eq!(Tiling::parse("naive"), None);
        let s = TileChoice::Shared(SharedTiling {
            wg_px: 16,
            wg_co: 4,
            tile_px: 4,
            tile_co4: 2,
        });
        assert_eq!(s.to_string(), "shared 4px 8co 16x4t");
        assert_eq!(TileChoice::parse(&s.to_string()), Some(s));
        assert_eq!(
            TileChoice::parse(&t.to_string()),
            Some(TileChoice::Registers(t))
        );
        assert_eq!(TileChoice::parse("shared 4px 8co 16t"), None);
        for c in [TileChoice::Depthwise(2), TileChoice::SplitK(t, 4)] {
            assert_eq!(TileChoice::parse(&c.to_string()), Some(c), "{c}");
        }
        assert_eq!(
            TileChoice::SplitK(t, 4).to_string(),
            "tiled 16px 8co 128t split4"
        );
        assert_eq!(TileChoice::parse("tiled 16px 8co 128t split"), None);
        assert_eq!(TileChoice::parse("tiled 16px 8co 128t 4"), None);
        assert_eq!(TileChoice::parse("depthwise px"), None);
        for (shared, text) in [
            (false, "pointwise 8px 16co"),
            (true, "pointwise 8px 16co sg"),
        ] {
            let c = TileChoice::Pointwise(PointwiseTiling {
                tile_v4: 2,
                tile_co4: 4,
                shared,
            });
            assert_eq!(c.to_string(), text);
            assert_eq!(TileChoice::parse(text), Some(c));
        }
        for bad in [
            "pointwise 6px 16co",
            "pointwise 8px 16co 64t",
            "pointwise 8px",
        ] {
            assert_eq!(TileChoice::parse(bad), None, "{bad}");
        }
        let p = ConvProblem {
            shape: [32, 3, 9, 9],
            params: Conv2dParams::padded(4, Padding::Reflect).activation(Activation::Relu),
            stored: [3, 100, 60],
            upsample: 2,
            map: Some(Activation::Relu),
            co_pad: 32,
        };
        assert_eq!(ConvProblem::parse(&p.to_string()).unwrap(), p);
        let p0 = ConvProblem {
            map: None,
            upsample: 1,
            ..p
        };
        assert_eq!(ConvProblem::parse(&p0.to_string()).unwrap(), p0);
        // 200 x 120 = 24000 output pixels: nearest power of two 2^15 (32768 is nearer than 16384).
        assert_eq!(
            p.key().unwrap(),
            "conv2d 3->32 9x9 s1 up2 map1 act1 co32 out~2^15"
        );
        assert!(ConvProblem::parse("1 2 3")
            .unwrap_err()
            .to_string()
            .contains("17 expected"));
        let e = ConvProblem::parse(&p.to_string().replacen("32 3 9 9 1", "32 3 9 9 0", 1));
        assert!(e.is_err());
    }
}
