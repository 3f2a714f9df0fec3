//! Johnson, Alahi & Fei-Fei (2016)'s transform net, in the form of PyTorch examples'
//! `TransformerNet` (also the ONNX model zoo's fast-neural-style models): one style per trained
//! net. Files come from `tools/convert_models.py johnson NET.pth|NET.onnx OUT.safetensors`.
//!
//! Architecture (every conv with bias, reflection padded by k / 2; IN = affine instance norm,
//! eps 1e-5): 9x9 conv 3->32, IN, ReLU; 3x3 stride-2 convs 32->64 and 64->128, each IN + ReLU;
//! 5 residual blocks `x + IN(conv(ReLU(IN(conv(x)))))` of 128 channels; two (nearest x2, 3x3
//! conv, IN, ReLU) stages 128->64->32; 9x9 conv 32->3. Input and output are RGB in [0, 255]
//! (the output is clamped when it becomes pixels).

use super::direct;
use super::net::{Builder, Net, OutputOptions};
use super::runner::{self, Plans, Runnable};
use super::weights::ModelFile;
use crate::gpu::{GpuContext, Plan, Tensor};
use crate::image::Rgba8Image;
use crate::ops::{Activation, Conv2d, Conv2dParams, Padding, PixelMap};
use crate::{Error, Result};

/// Instance-norm epsilon of PyTorch's InstanceNorm2d.
const EPS: f32 = 1e-5;

/// (conv, in, out, kernel, stride, its instance norm (none for the last conv)), channels of
/// the full-width net; [`layer_specs`] scales them.
type LayerSpec = (
    &'static str,
    usize,
    usize,
    usize,
    usize,
    Option<&'static str>,
);

const LAYERS: [LayerSpec; 16] = [
    ("conv1", 3, 32, 9, 1, Some("in1")),
    ("conv2", 32, 64, 3, 2, Some("in2")),
    ("conv3", 64, 128, 3, 2, Some("in3")),
    ("res1.conv1", 128, 128, 3, 1, Some("res1.in1")),
    ("res1.conv2", 128, 128, 3, 1, Some("res1.in2")),
    ("res2.conv1", 128, 128, 3, 1, Some("res2.in1")),
    ("res2.conv2", 128, 128, 3, 1, Some("res2.in2")),
    ("res3.conv1", 128, 128, 3, 1, Some("res3.in1")),
    ("res3.conv2", 128, 128, 3, 1, Some("res3.in2")),
    ("res4.conv1", 128, 128, 3, 1, Some("res4.in1")),
    ("res4.conv2", 128, 128, 3, 1, Some("res4.in2")),
    ("res5.conv1", 128, 128, 3, 1, Some("res5.in1")),
    ("res5.conv2", 128, 128, 3, 1, Some("res5.in2")),
    ("deconv1", 128, 64, 3, 1, Some("in4")),
    ("deconv2", 64, 32, 3, 1, Some("in5")),
    ("deconv3", 32, 3, 9, 1, None),
];

/// Channels of the first layer of the full-width net; the half-width one (suggested by
/// Johnson et al. for slow hardware) has 16, and every layer but the RGB ends is scaled alike.
pub const FULL_WIDTH: usize = 32;

/// The layers of a net whose first layer has `base` channels.
fn layer_specs(base: usize) -> impl Iterator<Item = LayerSpec> {
    let scale = move |c: usize| if c == 3 { 3 } else { c * base / FULL_WIDTH };
    LAYERS
        .into_iter()
        .map(move |(n, cin, cout, k, s, norm)| (n, scale(cin), scale(cout), k, s, norm))
}

/// Every tensor of a net with `base` channels, in file order: per layer the conv's OIHW weight
/// and bias, then its norm's weight (gamma) and bias (beta); names as PyTorch's
/// `TransformerNet` state dict has them without the `.conv2d` level.
pub fn tensor_specs(base: usize) -> Vec<(String, Vec<usize>)> {
    let mut specs = Vec::new();
    for (name, cin, cout, k, _, norm) in layer_specs(base) {
        specs.push((format!("{name}.weight"), vec![cout, cin, k, k]));
        specs.push((format!("{name}.bias"), vec![cout]));
        if let Some(n) = norm {
            specs.push((format!("{n}.weight"), vec![cout]));
            specs.push((format!("{n}.bias"), vec![cout]));
        }
    }
    specs
}

/// A file's tensors in [`tensor_specs`] order, shapes checked, concatenated (f32, f16 or 8-bit
/// codebook weights expanded), with the net's width.
pub fn file_values(file: &ModelFile) -> Result<(usize, Vec<f32>)> {
    file.expect_family("johnson")?;
    let base = file
        .shape("conv1.weight")
        .map_or(FULL_WIDTH, |s| s[0].max(1));
    let mut values = Vec::new();
    for (name, shape) in tensor_specs(base) {
        match name.strip_suffix(".weight") {
            Some(prefix) if shape.len() == 4 => values.extend(file.weight(prefix, &shape)?),
            _ => values.extend_from_slice(file.tensor(&name, &shape)?),
        }
    }
    Ok((base, values))
}

/// Parameters of a net with `base` channels in its first layer (1,679,235 at full width).
pub fn param_count(base: usize) -> usize {
    tensor_specs(base)
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum()
}

/// Fails unless `n` values are what a net of `base` channels holds.
fn check_count(base: usize, n: usize) -> Result<()> {
    let total = param_count(base);
    if n == total {
        Ok(())
    } else {
        Err(Error::Model(format!(
            "a Johnson net of width {base} holds {total} values, {n} given"
        )))
    }
}

/// A Johnson net file's bytes from values in [`tensor_specs`] order (f32), with `meta` added to
/// the metadata the converter writes, and `extra` vectors (a checkpoint's optimiser state).
pub fn file_bytes(
    base: usize,
    values: &[f32],
    meta: &std::collections::BTreeMap<String, String>,
    extra: &[(String, &[f32])],
) -> Result<Vec<u8>> {
    check_count(base, values.len())?;
    let specs = tensor_specs(base);
    let mut rest = values;
    let mut tensors = Vec::new();
    for (name, shape) in specs {
        let (v, r) = rest.split_at(shape.iter().product());
        tensors.push((name, shape, v));
        rest = r;
    }
    for (name, v) in extra {
        tensors.push((name.clone(), vec![v.len()], v));
    }
    let mut metadata = meta.clone();
    metadata.insert("family".into(), "johnson".into());
    metadata.insert(
        "input".into(),
        "RGB in [0, 255], planar [3, H, W]; output RGB in [0, 255] (clamped by the engine)".into(),
    );
    // The converter's JSON list of layer names (plain identifiers: nothing to escape).
    let names: Vec<String> = LAYERS.iter().map(|l| format!("\"{}\"", l.0)).collect();
    metadata.insert("layers".into(), format!("[{}]", names.join(", ")));
    super::weights::write_f32(&tensors, metadata)
}

struct Layer {
    conv: Conv2d,
    /// Affine instance norm (gamma, beta), absent on the last conv.
    norm: Option<(Tensor, Tensor)>,
}

/// A Johnson transform net with its weights on the GPU.
pub struct JohnsonNet {
    layers: Vec<Layer>,
    /// Channels of the first layer (32 full width, 16 half).
    base: usize,
    plans: Plans,
}

impl JohnsonNet {
    /// Uploads the net from a converted or trained `johnson` model file (f32, f16 or 8-bit
    /// codebook weights, full or half width), checking every tensor's shape.
    pub fn load(ctx: &GpuContext, file: &ModelFile) -> Result<Self> {
        let (base, values) = file_values(file)?;
        Self::from_values(ctx, base, &values)
    }

    /// A net with `base` channels in its first layer, initialised as PyTorch initialises a new
    /// `TransformerNet`: conv weights and biases uniform in +-1/sqrt(fan_in) (Kaiming uniform with
    /// a = sqrt(5)), norms gamma 1 and beta 0. The values come from [`seeded_uniform`], so the
    /// same seed gives the same net on every machine.
    pub fn init(ctx: &GpuContext, base: usize, seed: u64) -> Result<Self> {
        Self::from_values(ctx, base, &init_values(base, seed))
    }

    /// Uploads a net from values in [`tensor_specs`] order.
    pub fn from_values(ctx: &GpuContext, base: usize, values: &[f32]) -> Result<Self> {
        if base == 0 || !base.is_multiple_of(4) {
            return Err(Error::Model(format!(
                "a Johnson net's first layer has a multiple of 4 channels (32 full width, 16 half), not {base}"
            )));
        }
        check_count(base, values.len())?;
        let mut rest = values;
        let mut take = |n: usize| {
            let (v, r) = rest.split_at(n);
            rest = r;
            v
        };
        let mut layers = Vec::with_capacity(LAYERS.len());
        for (name, cin, cout, k, stride, norm) in layer_specs(base) {
            let w = take(cout * cin * k * k);
            let b = take(cout);
            let params = Conv2dParams::padded(k / 2, Padding::Reflect).stride(stride);
            let conv = Conv2d::new(ctx, name, w, [cout, cin, k, k], Some(b), params)?;
            let norm = match norm {
                Some(n) => {
                    let g = take(cout);
                    let bt = take(cout);
                    Some((
                        ctx.upload(&format!("{n}.gamma"), &[cout], g)?,
                        ctx.upload(&format!("{n}.beta"), &[cout], bt)?,
                    ))
                }
                None => None,
            };
            layers.push(Layer { conv, norm });
        }
        Ok(Self {
            layers,
            base,
            plans: Plans::default(),
        })
    }

    /// Channels of the first layer (32 full width, 16 half).
    pub fn base_channels(&self) -> usize {
        self.base
    }

    /// Every layer's conv and norm (gamma, beta), in order (for training).
    pub(crate) fn layers(&self) -> impl Iterator<Item = (&Conv2d, Option<&(Tensor, Tensor)>)> {
        self.layers.iter().map(|l| (&l.conv, l.norm.as_ref()))
    }

    /// Stylizes a photo of any size (scaled to `opts.max_size`, reflection padded to
    /// multiples of 4, run whole or in tiles, cropped back), then applies strength (a blend
    /// with the photo) and colour preservation.
    pub async fn stylize(
        &self,
        ctx: &GpuContext,
        photo: &Rgba8Image,
        opts: &OutputOptions,
    ) -> Result<Rgba8Image> {
        runner::stylize(ctx, self, photo, &(), opts, &mut |_| {}).await
    }

    fn layer<B: Builder>(&self, b: &mut B, i: usize, x: &B::T, act: Activation) -> Result<B::T> {
        let l = &self.layers[i];
        match &l.norm {
            Some((gamma, beta)) => b.conv_norm(&l.conv, x, gamma, beta, EPS, act),
            None => b.conv(&l.conv, x),
        }
    }

    /// Records the forward pass for `x` ([3, H, W], RGB in [0, 255], H and W multiples of 4 and
    /// at least 8) and returns the output planes (RGB in [0, 255], not clamped).
    pub fn record(&self, ctx: &GpuContext, plan: &mut Plan, x: &Tensor) -> Result<Tensor> {
        direct::record(self, ctx, plan, x, "johnson")
    }
}

impl Runnable for JohnsonNet {
    /// The style is in the weights.
    type Style = ();

    fn plans(&self) -> &Plans {
        &self.plans
    }

    fn set_style(&self, _: &GpuContext, _: &()) -> Result<()> {
        Ok(())
    }
}

impl Net for JohnsonNet {
    fn pixel_map(&self) -> PixelMap {
        PixelMap::rgb_255()
    }

    fn forward<B: Builder>(&self, b: &mut B, x: &B::T) -> Result<B::T> {
        let mut t = self.layer(b, 0, x, Activation::Relu)?;
        for i in 1..3 {
            let next = self.layer(b, i, &t, Activation::Relu)?;
            b.release(std::mem::replace(&mut t, next));
        }
        for block in 0..5 {
            let a = self.layer(b, 3 + 2 * block, &t, Activation::Relu)?;
            let c = self.layer(b, 4 + 2 * block, &a, Activation::None)?;
            b.release(a);
            let sum = b.add(&t, &c)?;
            b.release(c);
            b.release(std::mem::replace(&mut t, sum));
        }
        for i in 13..15 {
            let up = b.upsample2(&t)?;
            let next = self.layer(b, i, &up, Activation::Relu)?;
            b.release(up);
            b.release(std::mem::replace(&mut t, next));
        }
        let out = self.layer(b, 15, &t, Activation::None)?;
        b.release(t);
        Ok(out)
    }
}

/// The `i`-th value of a stream of uniform values in [0, 1) from `seed`: SplitMix64 (Steele,
/// Lea & Flood 2014) of `seed + (i + 1) * 0x9E3779B97F4A7C15`, its top 24 bits over 2^24 (exact
/// in f32). Written so another language can reproduce it in a few lines.
pub fn seeded_uniform(seed: u64, i: u64) -> f32 {
    let mut z = seed.wrapping_add((i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 24) as f32
}

/// A fresh net's values in [`tensor_specs`] order (see [`JohnsonNet::init`]): one stream of
/// [`seeded_uniform`] over every conv weight and bias in order.
pub fn init_values(base: usize, seed: u64) -> Vec<f32> {
    let mut i = 0u64;
    let mut values = Vec::new();
    for (_, cin, cout, k, _, norm) in layer_specs(base) {
        let bound = 1.0 / ((cin * k * k) as f32).sqrt();
        for _ in 0..cout * cin * k * k + cout {
            values.push((2.0 * seeded_uniform(seed, i) - 1.0) * bound);
            i += 1;
        }
        if norm.is_some() {
            values.extend(std::iter::repeat_n(1.0, cout));
            values.extend(std::iter::repeat_n(0.0, cout));
        }
    }
    values
}
