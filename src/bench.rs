//! Kernel benchmarks, shared by the native `style-transfer bench` command and the browser
//! (`StyleTransfer.benchConv()` in the wasm facade), so both report the same figures.

use crate::gpu::{AdapterSummary, GpuContext, Plan};
use crate::ops::{
    Conv2d, Conv2dParams, ConvKernel, Padding, PointwiseTiling, SharedTiling, TileChoice, Tiling,
};
use crate::Result;

/// One convolution shape to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvCase {
    /// Short name for the table.
    pub name: &'static str,
    /// Input channels.
    pub in_c: usize,
    /// Output channels.
    pub out_c: usize,
    /// Kernel size (square).
    pub k: usize,
    /// Input height and width (square).
    pub size: usize,
    /// Padding on each side (reflection).
    pub pad: usize,
    /// Depthwise (one filter per channel, in_c = out_c) rather than dense.
    pub depthwise: bool,
}

/// The benchmark cases: a 3x3 128->128 conv on 64x64 (the residual blocks of
/// Johnson's net) and a 9x9 3->32 conv on 256x256 (its first layer), plus the thin last layer;
/// and two 3x3 depthwise layers of the arbitrary-style predictor (MobileNetV2), a wide plane
/// and a small one, and two of its pointwise (1x1) layers, which take most of its time.
pub const CONV_CASES: [ConvCase; 7] = [
    ConvCase {
        name: "3x3 128->128 @64x64",
        in_c: 128,
        out_c: 128,
        k: 3,
        size: 64,
        pad: 1,
        depthwise: false,
    },
    ConvCase {
        name: "9x9 3->32 @256x256",
        in_c: 3,
        out_c: 32,
        k: 9,
        size: 256,
        pad: 4,
        depthwise: false,
    },
    ConvCase {
        name: "9x9 32->3 @256x256",
        in_c: 32,
        out_c: 3,
        k: 9,
        size: 256,
        pad: 4,
        depthwise: false,
    },
    ConvCase {
        name: "3x3 depthwise 144 @64x64",
        in_c: 144,
        out_c: 144,
        k: 3,
        size: 64,
        pad: 1,
        depthwise: true,
    },
    ConvCase {
        name: "3x3 depthwise 960 @8x8",
        in_c: 960,
        out_c: 960,
        k: 3,
        size: 8,
        pad: 1,
        depthwise: true,
    },
    ConvCase {
        name: "1x1 24->144 @64x64",
        in_c: 24,
        out_c: 144,
        k: 1,
        size: 64,
        pad: 0,
        depthwise: false,
    },
    ConvCase {
        name: "1x1 960->160 @8x8",
        in_c: 960,
        out_c: 160,
        k: 1,
        size: 8,
        pad: 0,
        depthwise: false,
    },
];

/// One measured row.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvResult {
    /// The case's name.
    pub case: &'static str,
    /// "naive", or "tiled PXxCO" with the tile's pixels and output channels.
    pub kernel: String,
    /// Milliseconds per dispatch (median of the timed runs).
    pub ms: f64,
    /// Useful GFLOP/s (2 * MACs / time).
    pub gflops: f64,
}

/// A kernel the convolution benchmark times: the naive one, or a tile of the tiled layout
/// (register-tiled or workgroup-memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchKernel {
    /// One output per invocation.
    Naive,
    /// The tiled layout's weights, run with this tile.
    Tiled(TileChoice),
}

/// Kernels timed for each case: the naive one, the engine's default tile on this kind of
/// adapter, a few other tile shapes to show the trade-off on the adapter at hand, each also
/// with shared weight loads where the adapter's subgroups allow them, and two block tiles of
/// the workgroup-memory kernel; for a depthwise case the naive kernel and the depthwise
/// kernel's pixels per invocation (the default first).
pub fn kernels_for(case: &ConvCase, adapter: &AdapterSummary) -> Vec<BenchKernel> {
    let device_type = adapter.device_type.as_str();
    if case.depthwise {
        let mut ks = vec![BenchKernel::Naive];
        for px in [crate::ops::conv2d::depthwise_px(adapter), 1, 4, 8, 16] {
            let k = BenchKernel::Tiled(TileChoice::Depthwise(px));
            if !ks.contains(&k) {
                ks.push(k);
            }
        }
        return ks;
    }
    let default = Tiling::for_adapter(case.out_c, case.k, 1, device_type);
    let tiled = |t| BenchKernel::Tiled(TileChoice::Registers(t));
    let mut ks = vec![BenchKernel::Naive, tiled(default)];
    for (px, co4) in [(8, 4), (4, 4), (8, 2), (16, 4), (8, 1), (16, 1)] {
        let t = Tiling {
            tile_px: px,
            tile_co4: co4,
            ..default
        };
        if !ks.contains(&tiled(t))
            && co4 * 4 <= case.out_c.next_multiple_of(4)
            && (px - 1) + case.k <= 24
        {
            ks.push(tiled(t));
        }
    }
    if adapter.shares_subgroup_loads() {
        let twins: Vec<_> = ks
            .iter()
            .filter_map(|k| match k {
                BenchKernel::Tiled(TileChoice::Registers(t)) => {
                    Some(BenchKernel::Tiled(TileChoice::Subgroup(*t)))
                }
                _ => None,
            })
            .collect();
        ks.extend(twins);
    }
    for (wg_px, wg_co, tile_px, tile_co4) in [(16, 4, 4, 2), (64, 1, 4, 1)] {
        let t = SharedTiling {
            wg_px,
            wg_co,
            tile_px,
            tile_co4,
        };
        if wg_co * tile_co4 <= case.out_c.div_ceil(4) && t.channels_per_step(case.k, 1).is_some() {
            ks.push(BenchKernel::Tiled(TileChoice::Shared(t)));
        }
    }
    // 1x1 layers: the pointwise kernel's tiles (8 and 16 pixels x 16 channels).
    if case.k == 1 && case.pad == 0 && (case.size * case.size).is_multiple_of(4) {
        for tile_v4 in [2, 4] {
            for shared in [false, adapter.shares_subgroup_loads()] {
                let t = PointwiseTiling {
                    tile_v4,
                    tile_co4: 4.min(case.out_c.div_ceil(4)),
                    shared,
                };
                let k = BenchKernel::Tiled(TileChoice::Pointwise(t));
                if !ks.contains(&k) {
                    ks.push(k);
                }
            }
        }
    }
    // Split-K fills a large GPU on small layers; on the emulated ones it only adds a pass.
    if matches!(device_type, "discrete" | "integrated") && case.in_c >= 32 {
        ks.push(BenchKernel::Tiled(TileChoice::SplitK(default, 4)));
    }
    ks
}

/// Times `kernel` on `case`: one warm-up run (includes pipeline compilation), then `runs`
/// submissions, each timed from submit to completion; reports the median (emulated GPUs on
/// shared machines are noisy). `now` returns milliseconds.
pub async fn time_conv(
    ctx: &GpuContext,
    case: &ConvCase,
    kernel: BenchKernel,
    runs: usize,
    now: &dyn Fn() -> f64,
) -> Result<ConvResult> {
    let ConvCase {
        in_c,
        out_c,
        k,
        size,
        pad,
        depthwise,
        ..
    } = *case;
    let groups = if depthwise { in_c } else { 1 };
    let mut rnd = crate::ops::conv2d_tune::xorshift(0x2545_f491);
    let w: Vec<f32> = (0..out_c * in_c / groups * k * k)
        .map(|_| rnd() * 0.1)
        .collect();
    let x: Vec<f32> = (0..in_c * size * size).map(|_| rnd()).collect();
    // The tiled layout is the default tile's; the tile timed is given at record time (so a
    // tuned choice in the device's table does not replace it).
    let layout = match kernel {
        BenchKernel::Naive => ConvKernel::Naive,
        BenchKernel::Tiled(TileChoice::Depthwise(tile_px)) => ConvKernel::Depthwise { tile_px },
        BenchKernel::Tiled(_) => {
            ConvKernel::Tiled(Tiling::for_adapter(out_c, k, 1, &ctx.adapter().device_type))
        }
    };
    let params = Conv2dParams::padded(pad, Padding::Reflect).groups(groups);
    let shape = [out_c, in_c / groups, k, k];
    let conv = Conv2d::with_kernel(ctx, "bench.conv", &w, shape, None, params, layout)?;
    let x = ctx.upload("bench.x", &[in_c, size, size], &x)?;
    let mut plan = Plan::new("bench");
    let _y = match kernel {
        BenchKernel::Naive => conv.record(ctx, &mut plan, &x)?,
        BenchKernel::Tiled(t) => conv.record_choice(ctx, &mut plan, &x, Default::default(), t)?,
    };
    plan.run(ctx).await?;
    ctx.finish().await?;
    let ms = median_run(ctx, &plan, runs, now).await?;
    let (oh, ow) = conv.output_size(size, size)?;
    let flops = 2.0 * (out_c * oh * ow * in_c / groups * k * k) as f64;
    let kernel = match kernel {
        BenchKernel::Naive => "naive".to_string(),
        BenchKernel::Tiled(TileChoice::Registers(t)) => {
            format!("tiled {}px x {}co", t.tile_px, t.tile_co4 * 4)
        }
        BenchKernel::Tiled(TileChoice::Subgroup(t)) => format!(
            "tiled {}px x {}co, subgroup-shared weights",
            t.tile_px,
            t.tile_co4 * 4
        ),
        BenchKernel::Tiled(TileChoice::Shared(t)) => format!(
            "shared {}px x {}co, {}x{} invocations",
            t.tile_px,
            t.tile_co4 * 4,
            t.wg_px,
            t.wg_co
        ),
        BenchKernel::Tiled(TileChoice::Depthwise(px)) => format!("depthwise {px}px"),
        BenchKernel::Tiled(TileChoice::SplitK(t, split)) => format!(
            "tiled {}px x {}co, split-K {split}",
            t.tile_px,
            t.tile_co4 * 4
        ),
        BenchKernel::Tiled(TileChoice::Pointwise(t)) => {
            let sg = if t.shared {
                ", subgroup-shared weights"
            } else {
                ""
            };
            format!("pointwise {}px x {}co{sg}", 4 * t.tile_v4, 4 * t.tile_co4)
        }
    };
    Ok(ConvResult {
        case: case.name,
        kernel,
        ms,
        gflops: flops / (ms * 1e6),
    })
}

/// Times every kernel of [`kernels_for`] on every case of [`CONV_CASES`] whose name contains
/// `filter` (all cases for an empty filter).
pub async fn conv_table(
    ctx: &GpuContext,
    runs: usize,
    filter: &str,
    now: &dyn Fn() -> f64,
) -> Result<Vec<ConvResult>> {
    let mut rows = Vec::new();
    for case in CONV_CASES.iter().filter(|c| c.name.contains(filter)) {
        for kernel in kernels_for(case, ctx.adapter()) {
            // The naive kernel is slow on emulated GPUs: fewer runs of it.
            let n = if kernel == BenchKernel::Naive {
                runs.div_ceil(4)
            } else {
                runs
            };
            rows.push(time_conv(ctx, case, kernel, n, now).await?);
        }
    }
    Ok(rows)
}

/// Formats rows as a Markdown table, with the speed-up over the naive kernel of the same case.
pub fn conv_markdown(adapter: &str, rows: &[ConvResult]) -> String {
    let mut s = format!("Adapter: {adapter}\n\n| case | kernel | ms | GFLOP/s | vs naive |\n|---|---|---:|---:|---:|\n");
    for r in rows {
        let naive = rows
            .iter()
            .find(|n| n.case == r.case && n.kernel == "naive")
            .map_or(f64::NAN, |n| n.gflops);
        s.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.1}x |\n",
            r.case,
            r.kernel,
            r.ms,
            r.gflops,
            r.gflops / naive
        ));
    }
    s
}

/// Milliseconds per image of the 26-style net at each size (square RGB input already on the
/// GPU, one submission per run, median of `runs` after a warm-up run). `now` returns ms.
pub async fn multistyle_table(
    ctx: &GpuContext,
    net: &crate::models::MultiStyle26,
    sizes: &[usize],
    runs: usize,
    now: &dyn Fn() -> f64,
) -> Result<Vec<(usize, f64)>> {
    net.set_style(ctx, &crate::models::StyleWeights::single(19)?)?;
    net_table(ctx, &|plan, x| net.record(ctx, plan, x), sizes, runs, now).await
}

/// [`multistyle_table`] for a Johnson net.
pub async fn johnson_table(
    ctx: &GpuContext,
    net: &crate::models::JohnsonNet,
    sizes: &[usize],
    runs: usize,
    now: &dyn Fn() -> f64,
) -> Result<Vec<(usize, f64)>> {
    net_table(ctx, &|plan, x| net.record(ctx, plan, x), sizes, runs, now).await
}

/// The arbitrary-style transformer: milliseconds per image at each size (the style vector is
/// fixed, as in a live filter), and the predictor's milliseconds per painting (256x256).
pub async fn arbitrary_table(
    ctx: &GpuContext,
    net: &crate::models::ArbitraryNet,
    sizes: &[usize],
    runs: usize,
    now: &dyn Fn() -> f64,
) -> Result<(Vec<(usize, f64)>, f64)> {
    let side = crate::models::arbitrary::PREDICTOR_SIZE;
    let painting = test_card(side, side, 7);
    let style = net.predict_square(ctx, &painting).await?;
    net.set_style(ctx, &style)?;
    let rows = net_table(ctx, &|plan, x| net.record(ctx, plan, x), sizes, runs, now).await?;
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let t0 = now();
        net.predict_square(ctx, &painting).await?;
        times.push(now() - t0);
    }
    times.sort_by(f64::total_cmp);
    Ok((rows, times[times.len() / 2]))
}

/// Milliseconds per run of the net that `record` appends, on square inputs of each size.
async fn net_table(
    ctx: &GpuContext,
    record: &dyn Fn(&mut Plan, &crate::gpu::Tensor) -> Result<crate::gpu::Tensor>,
    sizes: &[usize],
    runs: usize,
    now: &dyn Fn() -> f64,
) -> Result<Vec<(usize, f64)>> {
    let mut rows = Vec::new();
    for &size in sizes {
        let x = net_input(ctx, size)?;
        let mut plan = Plan::new("bench.net");
        let _y = record(&mut plan, &x)?;
        plan.run(ctx).await?;
        ctx.finish().await?;
        rows.push((size, median_run(ctx, &plan, runs, now).await?));
    }
    Ok(rows)
}

/// A deterministic square RGB input of `size` px on the GPU, [3, size, size] in [0, 1].
fn net_input(ctx: &GpuContext, size: usize) -> Result<crate::gpu::Tensor> {
    let x: Vec<f32> = (0..3 * size * size)
        .map(|i| ((i * 7919) % 255) as f32 / 255.0)
        .collect();
    ctx.upload("bench.photo", &[3, size, size], &x)
}

/// The profile of the net that `record` appends, on a square input of `size` px (see
/// [`Plan::profile`]).
pub async fn profile_net(
    ctx: &GpuContext,
    record: &dyn Fn(&mut Plan, &crate::gpu::Tensor) -> Result<crate::gpu::Tensor>,
    size: usize,
    runs: usize,
    timing: crate::gpu::Timing,
    now: &dyn Fn() -> f64,
) -> Result<crate::gpu::Profile> {
    let x = net_input(ctx, size)?;
    let mut plan = Plan::new("profile.net");
    let _y = record(&mut plan, &x)?;
    plan.profile(ctx, runs, timing, now).await
}

/// The net that `record` appends on a square input of `size` px, twice: with the fixed kernel
/// choices and with this device's tuned ones (tune first: [`crate::tune::tune_net`]), both
/// profiled `rounds` times in alternation (each dispatch's fastest and each plan's median
/// kept), so that the machine's drift falls on both alike.
pub async fn fixed_and_tuned(
    ctx: &GpuContext,
    record: &dyn Fn(&mut Plan, &crate::gpu::Tensor) -> Result<crate::gpu::Tensor>,
    size: usize,
    rounds: usize,
    timing: crate::gpu::Timing,
    now: &dyn Fn() -> f64,
) -> Result<FixedAndTuned> {
    use crate::gpu::TuneMode;
    let x = net_input(ctx, size)?;
    let mode = ctx.tune_mode();
    let mut plans = Vec::new();
    for m in [TuneMode::Off, TuneMode::Cached] {
        ctx.set_tune_mode(m);
        let mut plan = Plan::new("bench.tuned");
        let recorded = record(&mut plan, &x);
        ctx.set_tune_mode(mode);
        recorded?;
        plans.push(plan);
    }
    let mut best: [Option<crate::gpu::Profile>; 2] = [None, None];
    let mut whole: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..rounds.max(1) {
        for (i, plan) in plans.iter().enumerate() {
            let p = plan.profile(ctx, 1, timing, now).await?;
            whole[i].push(p.plan_ms);
            best[i] = Some(match best[i].take() {
                None => p,
                Some(mut b) => {
                    for (d, n) in b.dispatches.iter_mut().zip(&p.dispatches) {
                        d.ms = d.ms.min(n.ms);
                    }
                    b
                }
            });
        }
    }
    let [fixed, tuned] = best.map(|p| p.expect("at least one round"));
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [wf, wt] = whole;
    let changed = plans[0]
        .dispatches()
        .iter()
        .zip(plans[1].dispatches())
        .map(|(a, b)| !a.same_launch(b))
        .collect();
    Ok(FixedAndTuned {
        fixed: crate::gpu::Profile {
            plan_ms: median(wf),
            ..fixed
        },
        tuned: crate::gpu::Profile {
            plan_ms: median(wt),
            ..tuned
        },
        changed,
    })
}

/// A net profiled with the fixed kernel choices and with the tuned ones ([`fixed_and_tuned`]).
#[derive(Debug, Clone)]
pub struct FixedAndTuned {
    /// With the fixed choices.
    pub fixed: crate::gpu::Profile,
    /// With this device's tuned choices.
    pub tuned: crate::gpu::Profile,
    /// Per dispatch, whether tuning changed its launch (another kernel specialisation or grid).
    pub changed: Vec<bool>,
}

/// Fixed and tuned profiles of one net side by side as Markdown: each convolution's time with
/// both (and the ratio), then the dispatches' sums and the whole plans.
/// Layers whose tile tuning kept are marked "kept": their two times differ by noise alone.
pub fn fixed_and_tuned_markdown(r: &FixedAndTuned) -> String {
    let (fixed, tuned) = (&r.fixed, &r.tuned);
    let mut s = format!("Timed with {}.\n\n", fixed.timing.describe());
    s += "| # | layer | output | tile | fixed ms | tuned ms | fixed / tuned |\n|---:|---|---|---|---:|---:|---:|\n";
    for (i, (f, t)) in fixed.dispatches.iter().zip(&tuned.dispatches).enumerate() {
        if !crate::ops::conv2d::TUNED_KERNELS.contains(&f.kernel) {
            continue;
        }
        s += &format!(
            "| {i} | {} | {:?} | {} | {:.3} | {:.3} | {:.2}x |\n",
            f.label,
            f.output,
            if r.changed[i] { "tuned" } else { "kept" },
            f.ms,
            t.ms,
            f.ms / t.ms
        );
    }
    let convs = |p: &crate::gpu::Profile| -> f64 {
        p.dispatches
            .iter()
            .filter(|d| crate::ops::conv2d::TUNED_KERNELS.contains(&d.kernel))
            .map(|d| d.ms)
            .sum()
    };
    s += &format!(
        "\nConvolutions: fixed {:.2} ms, tuned {:.2} ms ({:.2}x). All dispatches: fixed {:.2} ms, tuned {:.2} ms. Whole plan as one submission (median): fixed {:.2} ms, tuned {:.2} ms ({:.2}x).\n",
        convs(fixed),
        convs(tuned),
        convs(fixed) / convs(tuned),
        fixed.dispatch_ms(),
        tuned.dispatch_ms(),
        fixed.plan_ms,
        tuned.plan_ms,
        fixed.plan_ms / tuned.plan_ms
    );
    s
}

/// One Gatys gradient evaluation (VGG19 forward and backward, the loss and its gradient: what an
/// iteration costs besides the optimiser's few element-wise passes) on a `width` x `height`
/// image, with the default loss layers and weights, ready to record.
pub struct GatysGradient<'a> {
    gatys: &'a crate::gatys::Gatys,
    targets: crate::loss::Targets,
    weights: crate::loss::LossWeights,
    x: crate::gpu::Tensor,
}

impl<'a> GatysGradient<'a> {
    /// Computes the targets of test-card content and style images.
    pub async fn new(
        ctx: &GpuContext,
        gatys: &'a crate::gatys::Gatys,
        width: usize,
        height: usize,
    ) -> Result<Self> {
        use crate::gatys::run::to_vgg;
        let weights = crate::loss::LossWeights::default();
        let content = to_vgg(ctx, &test_card(width, height, 0)).await?;
        let style = to_vgg(ctx, &test_card(width, height * 3 / 4, 1)).await?;
        let targets =
            crate::loss::targets(ctx, gatys.vgg(), &content, &[(&style, 1.0)], &weights).await?;
        let x = to_vgg(ctx, &test_card(width, height, 2)).await?;
        Ok(Self {
            gatys,
            targets,
            weights,
            x,
        })
    }

    /// Appends the evaluation to `plan`.
    pub fn record(&self, ctx: &GpuContext, plan: &mut Plan) -> Result<()> {
        let vgg = self.gatys.vgg();
        crate::loss::record_gradient(ctx, plan, vgg, &self.x, &self.targets, &self.weights, true)
            .map(drop)
    }
}

/// The profile of one Gatys gradient evaluation ([`GatysGradient`]) at `size` px.
pub async fn profile_gatys(
    ctx: &GpuContext,
    gatys: &crate::gatys::Gatys,
    size: usize,
    runs: usize,
    timing: crate::gpu::Timing,
    now: &dyn Fn() -> f64,
) -> Result<crate::gpu::Profile> {
    let step = GatysGradient::new(ctx, gatys, size, size).await?;
    let mut plan = Plan::new("profile.gatys");
    step.record(ctx, &mut plan)?;
    plan.profile(ctx, runs, timing, now).await
}

/// The profile of one training step (batch 1, VGG16 loss, the default settings) at `size` px:
/// of a new style of the 26-style net when `net` is its file, else of a Johnson net of `base`
/// channels.
#[allow(clippy::too_many_arguments)]
pub async fn profile_train(
    ctx: &GpuContext,
    net: Option<&crate::models::ModelFile>,
    base: usize,
    vgg: &crate::models::ModelFile,
    size: usize,
    runs: usize,
    timing: crate::gpu::Timing,
    now: &dyn Fn() -> f64,
) -> Result<crate::gpu::Profile> {
    use crate::train::{TrainOptions, Trainer};
    let painting = test_card(256, 200, 9);
    let t = match net {
        Some(net) => {
            let opts = TrainOptions {
                size,
                batch: 1,
                ..TrainOptions::default()
            };
            Trainer::multistyle(ctx, net, vgg, &painting, opts).await?
        }
        None => {
            let opts = TrainOptions {
                size,
                batch: 1,
                ..TrainOptions::johnson(base)
            };
            Trainer::johnson(ctx, None, vgg, &painting, opts).await?
        }
    };
    t.profile_step(ctx, &[test_card(size, size, 0)], runs, timing, now)
        .await
}

/// A profile as Markdown: one row per dispatch (layer, kernel, output shape, ms, GFLOP/s where
/// the op states its operations, share of the dispatches' total), then the time per kernel,
/// then the dispatches' sum beside the whole plan as one submission.
pub fn profile_markdown(profile: &crate::gpu::Profile) -> String {
    let total = profile.dispatch_ms().max(f64::MIN_POSITIVE);
    let mut s = format!("Timed with {}.\n\n", profile.timing.describe());
    s += "| # | layer | kernel | output | ms | GFLOP/s | share |\n|---:|---|---|---|---:|---:|---:|\n";
    for (i, d) in profile.dispatches.iter().enumerate() {
        let gflops = d.gflops().map_or("".into(), |g| format!("{g:.1}"));
        s += &format!(
            "| {i} | {} | {} | {:?} | {:.3} | {gflops} | {:.1} % |\n",
            d.label,
            d.kernel,
            d.output,
            d.ms,
            100.0 * d.ms / total
        );
    }
    s += "\n| kernel | dispatches | ms | share |\n|---|---:|---:|---:|\n";
    for (kernel, n, ms) in profile.by_kernel() {
        s += &format!(
            "| {kernel} | {n} | {ms:.3} | {:.1} % |\n",
            100.0 * ms / total
        );
    }
    s += &format!(
        "\n{} dispatches: {:.2} ms in all timed one by one; the whole plan {:.2} ms as one submission (host clock, median)\n",
        profile.dispatches.len(),
        profile.dispatch_ms(),
        profile.plan_ms
    );
    s
}

/// Runs `plan` `runs` times (at least once), each timed from submit to completion, and returns
/// the median in milliseconds (emulated GPUs on shared machines are noisy).
async fn median_run(
    ctx: &GpuContext,
    plan: &Plan,
    runs: usize,
    now: &dyn Fn() -> f64,
) -> Result<f64> {
    let mut times = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let t0 = now();
        plan.run(ctx).await?;
        ctx.finish().await?;
        times.push(now() - t0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// One row of the Gatys benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct GatysRow {
    /// Longer side in pixels (the image is square).
    pub size: usize,
    /// "adam" or "lbfgs".
    pub optimizer: &'static str,
    /// Iterations timed.
    pub iterations: usize,
    /// Milliseconds per iteration (one update plus one loss and gradient evaluation).
    pub ms_per_iteration: f64,
    /// Peak bytes of GPU buffers during the run, the loss network's weights included.
    pub peak_bytes: u64,
}

/// A deterministic test card: smooth colour ramps plus a little texture.
fn test_card(width: usize, height: usize, seed: usize) -> crate::image::Rgba8Image {
    let mut data = Vec::with_capacity(width * height * 4);
    for y in 0..height {
        for x in 0..width {
            let t = ((x * 31 + y * 17 + seed * 101) % 64) as f32;
            data.push((255.0 * x as f32 / width as f32) as u8);
            data.push((255.0 * y as f32 / height as f32) as u8);
            data.push((128.0 + t) as u8);
            data.push(255);
        }
    }
    crate::image::Rgba8Image {
        width,
        height,
        data,
    }
}

/// Iterations per second of Gatys runs at each size with Adam and with L-BFGS (history 20),
/// on test-card images: the time from the initial image's losses to the last iteration's,
/// divided by `iterations` (losses are read back only at those two points).
pub async fn gatys_table(
    ctx: &GpuContext,
    gatys: &crate::gatys::Gatys,
    sizes: &[usize],
    iterations: usize,
) -> Result<Vec<GatysRow>> {
    use crate::gatys::{GatysOptions, Init, Optimizer};
    let mut rows = Vec::new();
    for &size in sizes {
        for (name, optimizer) in [("adam", Optimizer::adam()), ("lbfgs", Optimizer::lbfgs())] {
            let opts = GatysOptions {
                size,
                iterations: iterations.max(1),
                optimizer,
                init: Init::Content,
                report_every: iterations.max(1),
                ..GatysOptions::default()
            };
            ctx.trim_pool();
            ctx.reset_peak_memory();
            let (mut first, mut last) = (0.0, 0.0);
            gatys
                .run(
                    ctx,
                    &test_card(size, size, 0),
                    &[test_card(size, size * 3 / 4, 1)],
                    &opts,
                    &mut |p| {
                        if p.iteration == 0 {
                            first = p.elapsed_ms;
                        } else {
                            last = p.elapsed_ms;
                        }
                        true
                    },
                )
                .await?;
            rows.push(GatysRow {
                size,
                optimizer: name,
                iterations: opts.iterations,
                ms_per_iteration: (last - first) / opts.iterations as f64,
                peak_bytes: ctx.pool_stats().peak_bytes,
            });
        }
    }
    Ok(rows)
}

/// One row of the training benchmark.
#[derive(Debug, Clone)]
pub struct TrainRow {
    /// Crop side.
    pub size: usize,
    /// Photos per step.
    pub batch: usize,
    /// Mean milliseconds per step (after one warm-up step; each step waits for the GPU).
    pub ms_per_step: f64,
    /// Peak GPU memory of the engine's buffers.
    pub peak_bytes: u64,
}

/// Training steps at each size (VGG16 loss, the default settings), on test cards: of a new
/// 26-style-net style when `net` is the 26-style net's file, else of a Johnson net of `base`
/// channels from scratch. `steps` timed after one warm-up step, each read back so the GPU's
/// time is counted.
#[allow(clippy::too_many_arguments)]
pub async fn train_table(
    ctx: &GpuContext,
    net: Option<&crate::models::ModelFile>,
    base: usize,
    vgg: &crate::models::ModelFile,
    sizes: &[usize],
    batch: usize,
    steps: usize,
    now: &dyn Fn() -> f64,
) -> Result<Vec<TrainRow>> {
    use crate::train::{PhotoSet, TrainOptions, Trainer};
    let mut rows = Vec::new();
    for &size in sizes {
        ctx.trim_pool();
        ctx.reset_peak_memory();
        let painting = test_card(256, 200, 9);
        let mut t = match net {
            Some(net) => {
                let opts = TrainOptions {
                    size,
                    batch,
                    ..TrainOptions::default()
                };
                Trainer::multistyle(ctx, net, vgg, &painting, opts).await?
            }
            None => {
                let opts = TrainOptions {
                    size,
                    batch,
                    ..TrainOptions::johnson(base)
                };
                Trainer::johnson(ctx, None, vgg, &painting, opts).await?
            }
        };
        let photos: Vec<_> = (0..4).map(|i| test_card(size * 3 / 2, size, i)).collect();
        let set = PhotoSet::new(photos, size)?;
        t.step(ctx, &set, true).await?;
        let start = now();
        for _ in 0..steps.max(1) {
            t.step(ctx, &set, true).await?;
        }
        rows.push(TrainRow {
            size,
            batch,
            ms_per_step: (now() - start) / steps.max(1) as f64,
            peak_bytes: ctx.pool_stats().peak_bytes,
        });
    }
    Ok(rows)
}
