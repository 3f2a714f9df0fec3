//! A whole Gatys run: images in, options, progress events, cancellation, a memory estimate
//! checked before anything is allocated, multi-scale stages, and the final image.
//!
//! Each iteration is one submission (the optimiser's update of `x` followed by the loss and
//! gradient of the new `x`); the loss terms are read back only every `report_every` iterations,
//! and the image only when a preview is asked for. Iteration 0 reports the initial image.

use super::{read_terms, record_gradient, targets, LossValues, LossWeights, Optimizer};
use super::{OptimizerState, Recorded};
use crate::clock::now_ms;
use crate::gpu::{GpuContext, Plan, Tensor};
use crate::image::Rgba8Image;
use crate::models::vgg::VggArch;
use crate::models::{ModelFile, Vgg};
use crate::ops::{self, PixelMap, PoolMode};
use crate::{Error, Result};

/// Where the optimised image starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    /// Gaussian noise of standard deviation 0.001 in VGG space (neural-style's `-init random`),
    /// from a seed.
    Noise {
        /// Seed of the generator.
        seed: u64,
    },
    /// The content image.
    Content,
    /// A given image (resized to the content's size).
    Image(Rgba8Image),
}

/// Everything a run can be told; [`GatysOptions::default`] is neural-style's defaults except
/// the L-BFGS history (20 rather than 100 pairs).
#[derive(Debug, Clone, PartialEq)]
pub struct GatysOptions {
    /// Longer side of the result in pixels (512). Ignored when `scales` is set.
    pub size: usize,
    /// Multi-scale stages, e.g. `[256, 512]`: each starts from the previous result upscaled.
    /// Empty: one stage at `size`.
    pub scales: Vec<usize>,
    /// Iterations per stage (1000).
    pub iterations: usize,
    /// The optimiser.
    pub optimizer: Optimizer,
    /// Loss weights and layers.
    pub weights: LossWeights,
    /// Style images are scaled so their longer side is `style_scale * size` (1).
    pub style_scale: f32,
    /// Blend weights of the style images (normalised); empty means equal weights.
    pub style_blend: Vec<f32>,
    /// Where the image starts.
    pub init: Init,
    /// Keep the result's luminance and the photo's colours.
    pub preserve_colors: bool,
    /// Read the losses back (and report progress) every this many iterations (1).
    pub report_every: usize,
    /// Attach a preview image to the progress every this many iterations (0: never).
    pub preview_every: usize,
}

impl Default for GatysOptions {
    fn default() -> Self {
        Self {
            size: 512,
            scales: Vec::new(),
            iterations: 1000,
            optimizer: Optimizer::lbfgs(),
            weights: LossWeights::default(),
            style_scale: 1.0,
            style_blend: Vec::new(),
            init: Init::Noise { seed: 0 },
            preserve_colors: false,
            report_every: 1,
            preview_every: 0,
        }
    }
}

/// Smallest side a run accepts: VGG halves the image four times before relu5_1.
pub const MIN_SIZE: usize = 16;

impl GatysOptions {
    /// The stages' sizes (longer side).
    pub fn stages(&self) -> Vec<usize> {
        if self.scales.is_empty() {
            vec![self.size]
        } else {
            self.scales.clone()
        }
    }

    /// Checks every option against the number of style images, naming the first problem.
    pub fn validate(&self, styles: usize) -> Result<()> {
        let bad = |message: String| {
            Err(Error::InvalidArgument {
                op: "gatys",
                message,
            })
        };
        if let Some(s) = self.stages().iter().find(|&&s| s < MIN_SIZE) {
            return bad(format!(
                "a size of {s} px is too small; VGG19 needs at least {MIN_SIZE} px"
            ));
        }
        if self.scales.windows(2).any(|w| w[1] < w[0]) {
            return bad(format!("scales must not decrease, got {:?}", self.scales));
        }
        if styles == 0 {
            return bad("give at least one style image".into());
        }
        if !self.style_blend.is_empty() {
            if self.style_blend.len() != styles {
                return bad(format!(
                    "{} style blend weights for {styles} style images; give one per image",
                    self.style_blend.len()
                ));
            }
            crate::blend::normalize("gatys style blend", &self.style_blend)?;
        }
        if !(self.style_scale.is_finite() && self.style_scale > 0.0) {
            return bad(format!(
                "the style scale must be positive, got {}",
                self.style_scale
            ));
        }
        if self.report_every == 0 {
            return bad("report_every must be at least 1".into());
        }
        self.weights.validate()?;
        self.optimizer.validate()
    }
}

/// What a run reports as it goes.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    /// Stage index (0-based) and the number of stages.
    pub stage: (usize, usize),
    /// Width and height of this stage.
    pub size: (usize, usize),
    /// Iteration within the stage (0 = the initial image).
    pub iteration: usize,
    /// Iterations of the stage.
    pub iterations: usize,
    /// Each loss term, already weighted.
    pub losses: LossValues,
    /// Milliseconds since the run started.
    pub elapsed_ms: f64,
    /// The current image, when a preview was due.
    pub preview: Option<&'a Rgba8Image>,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct GatysOutput {
    /// The final (or, if cancelled, the current) image at the last stage's size.
    pub image: Rgba8Image,
    /// The last losses read.
    pub losses: Option<LossValues>,
    /// Whether the progress callback stopped the run.
    pub cancelled: bool,
    /// Iterations done over all stages.
    pub iterations: usize,
}

/// What a run at one size needs on the GPU, estimated before anything is allocated.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryEstimate {
    /// Bytes of all buffers at the peak (the loss network's weights included).
    pub total_bytes: u64,
    /// The largest single buffer, in bytes, and what it holds.
    pub largest_buffer: (u64, String),
}

/// Channels and the downscaling of each VGG19 layer (index into its taps).
fn layer_geometry(i: usize) -> (usize, usize) {
    VggArch::Vgg19.geometry(i)
}

/// Estimates the GPU memory of a run at `width` x `height` with style images of the given
/// sizes (already scaled), `weight_bytes` of loss-network weights.
pub fn estimate_memory(
    width: usize,
    height: usize,
    style_sizes: &[(usize, usize)],
    opts: &GatysOptions,
    weight_bytes: u64,
) -> MemoryEstimate {
    let content = VggArch::Vgg19
        .tap_indices(&opts.weights.content_refs())
        .unwrap_or_default();
    let style = VggArch::Vgg19
        .tap_indices(&opts.weights.style_refs())
        .unwrap_or_default();
    let last = content.iter().chain(&style).copied().max().unwrap_or(0);
    // Forward activations of every layer to `last`, with the pooled maps before each block.
    let forward = |w: usize, h: usize| -> (u64, u64) {
        let mut sum = 0u64;
        let mut largest = 0u64;
        for i in 0..=last {
            let (c, pools) = layer_geometry(i);
            let bytes = (c * (h >> pools).max(1) * (w >> pools).max(1) * 4) as u64;
            let pooled = if i > 0 && layer_geometry(i - 1).1 != pools {
                (layer_geometry(i - 1).0 * (h >> pools).max(1) * (w >> pools).max(1) * 4) as u64
            } else {
                0
            };
            sum += bytes + pooled;
            largest = largest.max(bytes);
        }
        (sum, largest)
    };
    let n = 3 * width * height;
    let image = (n * 4) as u64;
    // Targets phase: the content and each style image run forward in one plan.
    let (fwd, fwd_largest) = forward(width, height);
    let mut targets_phase = fwd;
    let mut largest = (fwd_largest, "the first layer's activations".to_string());
    for &(w, h) in style_sizes {
        let (sum, big) = forward(w, h);
        targets_phase += sum;
        if big > largest.0 {
            largest = (big, "a style image's first-layer activations".to_string());
        }
    }
    // Run phase: the forward activations, about three live gradients of each block's size
    // (plan.release reuses the rest), Gram matrices and their gradients, the image, its
    // gradient and the optimiser's state.
    let mut backward = 0u64;
    for pools in 0..=layer_geometry(last).1 {
        let i = (0..=last)
            .find(|&i| layer_geometry(i).1 == pools)
            .unwrap_or(0);
        let (c, _) = layer_geometry(i);
        backward += 3 * (c * (height >> pools).max(1) * (width >> pools).max(1) * 4) as u64;
    }
    let grams: u64 = style
        .iter()
        .map(|&i| 4 * (layer_geometry(i).0.pow(2) * 4) as u64)
        .sum();
    let optimizer = opts.optimizer.state_bytes(n);
    if let Optimizer::Lbfgs { history, .. } = opts.optimizer {
        let hist = (history * n * 4) as u64;
        if hist > largest.0 {
            largest = (hist, format!("the L-BFGS history of {history} pairs"));
        }
    }
    let run_phase = fwd + backward + grams + 4 * image + optimizer;
    MemoryEstimate {
        total_bytes: weight_bytes + targets_phase.max(run_phase),
        largest_buffer: largest,
    }
}

/// The largest `n` in `lo..hi` with `fits(n)`, by bisection, given `fits(lo)` (or `lo` when
/// none fits); `fits` must be monotone.
fn largest_fitting(lo: usize, hi: usize, fits: &dyn Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (lo, hi);
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Gatys optimisation on one GPU: VGG19 (with its gradient convolutions) loaded once, any
/// number of runs.
pub struct Gatys {
    vgg: Vgg,
}

impl Gatys {
    /// Loads VGG19 from a converted `vgg19` model file with the given pooling.
    pub fn new(ctx: &GpuContext, file: &ModelFile, pooling: PoolMode) -> Result<Self> {
        Ok(Self {
            vgg: Vgg::load_with_gradients(ctx, file, pooling)?,
        })
    }

    /// The loss network.
    pub fn vgg(&self) -> &Vgg {
        &self.vgg
    }

    /// Checks that a run at `side` px fits the device's buffer limits; if not, the error names
    /// the largest side that fits.
    pub fn check_fits(
        &self,
        ctx: &GpuContext,
        content: &Rgba8Image,
        styles: &[Rgba8Image],
        opts: &GatysOptions,
        side: usize,
    ) -> Result<MemoryEstimate> {
        let limit = ctx
            .limits()
            .max_storage_buffer_binding_size
            .min(ctx.limits().max_buffer_size);
        // The estimate at a size and a style scale.
        let at = |side: usize, style_scale: f32| {
            let (w, h) = content.size_with_long_side(side);
            let style_side = (style_scale * side as f32).round().max(1.0) as usize;
            let sizes: Vec<_> = styles
                .iter()
                .map(|s| s.size_with_long_side(style_side))
                .collect();
            estimate_memory(w, h, &sizes, opts, self.vgg.weight_bytes())
        };
        let fits = |side: usize, style_scale: f32| at(side, style_scale).largest_buffer.0 <= limit;
        let est = at(side, opts.style_scale);
        if est.largest_buffer.0 <= limit {
            return Ok(est);
        }
        let too_large = |hint: String| Error::TooLarge {
            op: "gatys".into(),
            what: format!("a {side} px run ({})", est.largest_buffer.1),
            needed: format!(
                "{:.1} MiB in one buffer",
                est.largest_buffer.0 as f64 / 1048576.0
            ),
            limit: format!("{:.1} MiB", limit as f64 / 1048576.0),
            limit_name: "maxStorageBufferBindingSize",
            hint,
        };
        // When the run fits with tiny style images, the cause is --style-scale (the style
        // images are scaled from the run's size), and a smaller --size would only hide it.
        if fits(side, 0.0) {
            let max_percent = (opts.style_scale * 100.0).ceil() as usize;
            let pct = largest_fitting(1, max_percent, &|p| fits(side, p as f32 / 100.0));
            let scale = pct as f32 / 100.0;
            return Err(too_large(format!(
                "the style images are too large at --style-scale {}; the largest style scale \
                 that fits at {side} px is {scale:.2} (--style-scale {scale:.2})",
                opts.style_scale
            )));
        }
        let lo = largest_fitting(MIN_SIZE, side, &|s| fits(s, opts.style_scale));
        Err(too_large(format!(
            "the largest size that fits is {lo} px (--size {lo}); a smaller L-BFGS history or \
             --optimizer adam also helps, and --scales reaches it in stages"
        )))
    }

    /// Runs the optimisation. `on_progress` is called at iteration 0 and every
    /// `report_every` iterations (and at the last) of each stage; returning `false` cancels the
    /// run, which then returns the current image with `cancelled` set. The GPU buffers of the
    /// run are released when it returns, however it ends.
    pub async fn run(
        &self,
        ctx: &GpuContext,
        content: &Rgba8Image,
        styles: &[Rgba8Image],
        opts: &GatysOptions,
        on_progress: &mut dyn FnMut(&Progress) -> bool,
    ) -> Result<GatysOutput> {
        let out = self
            .run_stages(ctx, content, styles, opts, on_progress)
            .await;
        ctx.trim_pool();
        out
    }

    async fn run_stages(
        &self,
        ctx: &GpuContext,
        content: &Rgba8Image,
        styles: &[Rgba8Image],
        opts: &GatysOptions,
        on_progress: &mut dyn FnMut(&Progress) -> bool,
    ) -> Result<GatysOutput> {
        opts.validate(styles.len())?;
        let stages = opts.stages();
        for &side in &stages {
            self.check_fits(ctx, content, styles, opts, side)?;
        }
        let start = now_ms();
        let mut previous: Option<Rgba8Image> = None;
        let mut iterations = 0;
        let mut losses = None;
        for (si, &side) in stages.iter().enumerate() {
            let stage = self
                .prepare(ctx, content, styles, opts, side, previous.as_ref())
                .await?;
            let info = StageInfo {
                index: (si, stages.len()),
                start,
            };
            let mut stage = stage;
            let (done, cancelled) = stage
                .iterate(ctx, opts, &info, &mut losses, on_progress)
                .await?;
            iterations += done;
            let image = from_vgg(ctx, &stage.x).await?;
            let photo = stage.photo.clone();
            drop(stage);
            if cancelled || si + 1 == stages.len() {
                let image = if opts.preserve_colors {
                    keep_colors(&image, &photo)
                } else {
                    image
                };
                return Ok(GatysOutput {
                    image,
                    losses,
                    cancelled,
                    iterations,
                });
            }
            ctx.trim_pool();
            previous = Some(image);
        }
        unreachable!("at least one stage, and the last returns")
    }

    /// One stage at `side` px: the targets from the photo and the style images, the starting
    /// image (the previous stage's result scaled up, or the run's `init`), and the recorded
    /// gradient and optimiser plans.
    async fn prepare(
        &self,
        ctx: &GpuContext,
        content: &Rgba8Image,
        styles: &[Rgba8Image],
        opts: &GatysOptions,
        side: usize,
        previous: Option<&Rgba8Image>,
    ) -> Result<Stage> {
        let (w, h) = content.size_with_long_side(side);
        let photo = content.clone().resized(w, h);
        let style_side = (opts.style_scale * side as f32).round().max(1.0) as usize;
        let c = to_vgg(ctx, &photo).await?;
        let mut style_tensors = Vec::new();
        for s in styles {
            let (sw, sh) = s.size_with_long_side(style_side);
            style_tensors.push(to_vgg(ctx, &s.clone().resized(sw, sh)).await?);
        }
        let blend = opts
            .style_blend
            .iter()
            .copied()
            .chain(std::iter::repeat(1.0));
        let pairs: Vec<(&Tensor, f32)> = style_tensors.iter().zip(blend).collect();
        let tg = targets(ctx, &self.vgg, &c, &pairs, &opts.weights).await?;
        drop(pairs);
        drop((style_tensors, c));
        // The style images' activations went back to the pool at sizes the run will not
        // reuse: free them before the run allocates its own.
        ctx.trim_pool();
        // x is updated in place, so it always gets its own buffer (for `Init::Content` a
        // second conversion of the photo, not the content target's tensor).
        let x = match (previous, &opts.init) {
            (Some(prev), _) => to_vgg(ctx, &prev.clone().resized(w, h)).await?,
            (None, Init::Content) => to_vgg(ctx, &photo).await?,
            (None, Init::Image(img)) => to_vgg(ctx, &img.clone().resized(w, h)).await?,
            (None, Init::Noise { seed }) => {
                ctx.upload("gatys.x", &[3, h, w], &noise(3 * w * h, *seed, 0.001))?
            }
        };
        let mut grad_plan = Plan::new("gatys.gradient");
        let rec = record_gradient(ctx, &mut grad_plan, &self.vgg, &x, &tg, &opts.weights, true)?;
        let grad = rec.grad.as_ref().expect("asked for the gradient");
        let optim = OptimizerState::new(ctx, &opts.optimizer, &x, grad)?;
        Ok(Stage {
            photo,
            size: (w, h),
            x,
            grad_plan,
            rec,
            optim,
        })
    }
}

/// Where a stage stands in its run.
struct StageInfo {
    /// Stage index (0-based) and the number of stages.
    index: (usize, usize),
    /// When the run started ([`now_ms`]).
    start: f64,
}

/// One stage of a run, recorded: the plans keep the targets and activations they bind.
struct Stage {
    photo: Rgba8Image,
    size: (usize, usize),
    x: Tensor,
    grad_plan: Plan,
    rec: Recorded,
    optim: OptimizerState,
}

impl Stage {
    /// Runs the stage's iterations (one submission each: the optimiser's step, then the
    /// gradient of the new image), reporting every `report_every` (losses into `last`) until
    /// done or `on_progress` says stop; returns the iterations done and whether it stopped.
    async fn iterate(
        &mut self,
        ctx: &GpuContext,
        opts: &GatysOptions,
        info: &StageInfo,
        last: &mut Option<LossValues>,
        on_progress: &mut dyn FnMut(&Progress) -> bool,
    ) -> Result<(usize, bool)> {
        let (si, stages) = info.index;
        let side = self.size.0.max(self.size.1);
        let label = if stages > 1 {
            format!(" (stage {} of {stages}, {side} px)", si + 1)
        } else {
            String::new()
        };
        for it in 0..=opts.iterations {
            if it == 0 {
                Plan::run_all(ctx, &[&self.grad_plan]).await?;
            } else {
                let step = self.optim.next_step();
                Plan::run_all(ctx, &[step, &self.grad_plan]).await?;
            }
            if it % opts.report_every != 0 && it != opts.iterations {
                continue;
            }
            let losses = read_losses(ctx, &self.rec, it, &label).await?;
            *last = Some(losses);
            let preview = if opts.preview_every > 0 && it % opts.preview_every == 0 {
                Some(from_vgg(ctx, &self.x).await?)
            } else {
                None
            };
            let keep_going = on_progress(&Progress {
                stage: info.index,
                size: self.size,
                iteration: it,
                iterations: opts.iterations,
                losses,
                elapsed_ms: now_ms() - info.start,
                preview: preview.as_ref(),
            });
            if !keep_going {
                return Ok((it, true));
            }
        }
        Ok((opts.iterations, false))
    }
}

/// Reads the loss terms and fails on a value that is not finite.
async fn read_losses(
    ctx: &GpuContext,
    rec: &Recorded,
    iteration: usize,
    stage: &str,
) -> Result<LossValues> {
    let v = rec.values(&read_terms(ctx, rec).await?);
    for (what, value) in [
        ("content", v.content),
        ("style", v.style),
        ("total variation", v.tv),
        ("total", v.total),
    ] {
        if !value.is_finite() {
            return Err(Error::Diverged {
                what,
                value,
                iteration,
                stage: stage.to_string(),
            });
        }
    }
    Ok(v)
}

/// Uploads an image as a VGG-space tensor [3, H, W].
pub async fn to_vgg(ctx: &GpuContext, img: &Rgba8Image) -> Result<Tensor> {
    let px = ctx.upload_rgba8("gatys.image", img.width, img.height, &img.data)?;
    let mut plan = Plan::new("gatys.to_vgg");
    let x = ops::rgba_to_planar(ctx, &mut plan, &px, &PixelMap::vgg_bgr())?;
    plan.run(ctx).await?;
    Ok(x)
}

/// Reads a VGG-space tensor back as an RGBA8 image (values clamped to [0, 255]).
pub async fn from_vgg(ctx: &GpuContext, x: &Tensor) -> Result<Rgba8Image> {
    let (_, h, w) = x.chw("gatys")?;
    let mut plan = Plan::new("gatys.from_vgg");
    let px = ops::planar_to_rgba(ctx, &mut plan, x, &PixelMap::vgg_bgr())?;
    plan.run(ctx).await?;
    Rgba8Image::new(w, h, ctx.read_bytes(&px).await?)
}

/// The result's luminance with the photo's chroma (both the same size).
fn keep_colors(result: &Rgba8Image, photo: &Rgba8Image) -> Rgba8Image {
    let n = result.width * result.height;
    let mut planes = vec![0.0f32; 3 * n];
    for i in 0..n {
        for c in 0..3 {
            planes[c * n + i] = result.data[i * 4 + c] as f32 / 255.0;
        }
    }
    crate::image::compose(&planes, photo, 1.0, true)
}

/// `n` samples of a normal distribution with standard deviation `std` (Box-Muller on a seeded
/// ChaCha generator, so a seed gives the same image on every platform).
fn noise(n: usize, seed: u64, std: f32) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
        let u2: f64 = rng.gen();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        out.push((r * t.cos()) as f32 * std);
        out.push((r * t.sin()) as f32 * std);
    }
    out.truncate(n);
    out
}

/// Names of the layers a run can use, for error messages and help text.
pub fn layer_names() -> &'static [&'static str] {
    VggArch::Vgg19.taps()
}
