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
use crate::Result;

/// Instance-norm epsilon of PyTorch's InstanceNorm2d.
const EPS: f32 = 1e-5;

/// (conv, in, out, kernel, stride, its instance norm (none for the last conv)).
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

struct Layer {
    conv: Conv2d,
    /// Affine instance norm (gamma, beta), absent on the last conv.
    norm: Option<(Tensor, Tensor)>,
}

/// A Johnson transform net with its weights on the GPU.
pub struct JohnsonNet {
    layers: Vec<Layer>,
    plans: Plans,
}

impl JohnsonNet {
    /// Uploads the net from a converted `johnson` model file (f32, f16 or 8-bit codebook
    /// weights), checking every tensor's shape.
    pub fn load(ctx: &GpuContext, file: &ModelFile) -> Result<Self> {
        file.expect_family("johnson")?;
        let mut layers = Vec::with_capacity(LAYERS.len());
        for (name, cin, cout, k, stride, norm) in LAYERS {
            let w = file.weight(name, &[cout, cin, k, k])?;
            let b = file.tensor(&format!("{name}.bias"), &[cout])?;
            let params = Conv2dParams::padded(k / 2, Padding::Reflect).stride(stride);
            let conv = Conv2d::new(ctx, name, &w, [cout, cin, k, k], Some(b), params)?;
            let norm = match norm {
                Some(n) => {
                    let g = file.tensor(&format!("{n}.weight"), &[cout])?;
                    let bt = file.tensor(&format!("{n}.bias"), &[cout])?;
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
            plans: Plans::default(),
        })
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
