//! VGG19's convolutional features (Simonyan & Zisserman 2014) up to relu5_1, the loss network
//! of Gatys optimisation. Weights come from the converted Keras "notop" VGG19
//! (`models/vgg19.safetensors`, 8-bit codebook form, expanded once on load). Input: BGR in
//! [0, 255] minus the ImageNet mean ([`crate::ops::PixelMap::vgg_bgr`]), planar [3, H, W].
//! Every conv is 3x3, zero padded by 1, with bias and ReLU (fused); a 2x2 stride-2 pool (max
//! as trained, or average as in Gatys et al.) follows blocks 1 to 4.

use super::weights::ModelFile;
use crate::gpu::{GpuContext, Plan, Tensor};
use crate::ops::{self, Activation, Conv2d, Conv2dParams, Padding, PoolMode};
use crate::{Error, Result};

/// The layers up to conv5_1: (block, conv, in channels, out channels).
const LAYERS: [(usize, usize, usize, usize); 13] = [
    (1, 1, 3, 64),
    (1, 2, 64, 64),
    (2, 1, 64, 128),
    (2, 2, 128, 128),
    (3, 1, 128, 256),
    (3, 2, 256, 256),
    (3, 3, 256, 256),
    (3, 4, 256, 256),
    (4, 1, 256, 512),
    (4, 2, 512, 512),
    (4, 3, 512, 512),
    (4, 4, 512, 512),
    (5, 1, 512, 512),
];

/// Names of the feature maps that can be tapped, in network order.
pub const TAPS: [&str; 13] = [
    "relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu3_4",
    "relu4_1", "relu4_2", "relu4_3", "relu4_4", "relu5_1",
];

/// VGG19 up to relu5_1 on the GPU.
pub struct Vgg19 {
    convs: Vec<Conv2d>,
    /// The input-gradient convolutions (transposed, flipped weights), when loaded for Gatys.
    input_grads: Vec<Conv2d>,
    pooling: PoolMode,
}

impl Vgg19 {
    /// Uploads the 13 convolutions up to conv5_1 from a converted `vgg19` model file.
    pub fn load(ctx: &GpuContext, file: &ModelFile, pooling: PoolMode) -> Result<Self> {
        Self::load_layers(ctx, file, pooling, false)
    }

    /// [`Vgg19::load`], also uploading what [`Vgg19::record_backward`] needs (the weights a
    /// second time, transposed and flipped for the input-gradient convolutions).
    pub fn load_with_gradients(
        ctx: &GpuContext,
        file: &ModelFile,
        pooling: PoolMode,
    ) -> Result<Self> {
        Self::load_layers(ctx, file, pooling, true)
    }

    fn load_layers(
        ctx: &GpuContext,
        file: &ModelFile,
        pooling: PoolMode,
        gradients: bool,
    ) -> Result<Self> {
        file.expect_family("vgg19")?;
        let mut convs = Vec::with_capacity(LAYERS.len());
        let mut input_grads = Vec::new();
        for (b, c, cin, cout) in LAYERS {
            let name = format!("block{b}_conv{c}");
            let w = file.codebook(&name, &[cout, cin, 3, 3])?;
            let bias = file.tensor(&format!("{name}.bias"), &[cout])?;
            let params = Conv2dParams::padded(1, Padding::Zero).activation(Activation::Relu);
            if gradients {
                input_grads.push(ops::input_gradient(
                    ctx,
                    &name,
                    &w,
                    [cout, cin, 3, 3],
                    &params,
                )?);
            }
            convs.push(Conv2d::new(
                ctx,
                &name,
                &w,
                [cout, cin, 3, 3],
                Some(bias),
                params,
            )?);
        }
        Ok(Self {
            convs,
            input_grads,
            pooling,
        })
    }

    /// The pooling it was loaded with.
    pub fn pooling(&self) -> PoolMode {
        self.pooling
    }

    /// Bytes of weights it holds on the GPU.
    pub fn weight_bytes(&self) -> u64 {
        let n: usize = LAYERS.iter().map(|&(_, _, i, o)| i * o * 9 + o).sum();
        let copies = if self.input_grads.is_empty() { 1 } else { 2 };
        (n * 4 * copies) as u64
    }

    /// Records the forward pass of `x` up to the last requested tap and returns the tapped
    /// feature maps in the order asked. Unknown tap names are an error listing the valid ones.
    pub fn record(
        &self,
        ctx: &GpuContext,
        plan: &mut Plan,
        x: &Tensor,
        taps: &[&str],
    ) -> Result<Vec<Tensor>> {
        let idx = tap_indices(taps)?;
        let last = idx.iter().copied().max().unwrap_or(0);
        let acts = self.record_all(ctx, plan, x, last)?;
        Ok(idx.iter().map(|&j| acts[j].clone()).collect())
    }

    /// Records the forward pass of `x` to layer `last` (an index into [`TAPS`]) and returns every
    /// layer's ReLU output, which [`Vgg19::record_backward`] needs.
    pub fn record_all(
        &self,
        ctx: &GpuContext,
        plan: &mut Plan,
        x: &Tensor,
        last: usize,
    ) -> Result<Vec<Tensor>> {
        let (_, h, w) = x.chw("vgg19")?;
        let pools_before = LAYERS[last].0 - 1;
        if h >> pools_before == 0 || w >> pools_before == 0 {
            return Err(Error::Shape { op: "vgg19", message: format!("a {h}x{w} image is too small to reach {} (it is halved {pools_before} times); use at least {1}x{1}", TAPS[last], 1 << pools_before) });
        }
        let mut acts = Vec::with_capacity(last + 1);
        let mut t = x.clone();
        for (i, conv) in self.convs.iter().enumerate().take(last + 1) {
            if starts_block(i) {
                t = ops::pool2d(ctx, plan, &t, self.pooling, 2, 2)?;
            }
            t = conv.record(ctx, plan, &t)?;
            acts.push(t.clone());
        }
        Ok(acts)
    }

    /// Records the backward pass: given the activations of [`Vgg19::record_all`] and, for each
    /// layer, the gradient of the loss with respect to its ReLU output (`tap_grads(i)`, `None`
    /// where the loss does not read layer i), returns the gradient with respect to the input.
    /// Needs a model loaded with [`Vgg19::load_with_gradients`].
    pub fn record_backward(
        &self,
        ctx: &GpuContext,
        plan: &mut Plan,
        acts: &[Tensor],
        mut tap_grads: impl FnMut(&mut Plan, usize) -> Result<Option<Tensor>>,
    ) -> Result<Tensor> {
        if self.input_grads.is_empty() {
            return Err(Error::InvalidArgument {
                op: "vgg19",
                message: "this VGG19 was loaded without gradients; use Vgg19::load_with_gradients"
                    .into(),
            });
        }
        let mut g: Option<Tensor> = None;
        for i in (0..acts.len()).rev() {
            if let Some(t) = tap_grads(plan, i)? {
                g = Some(ops::accumulate(ctx, plan, g.take(), t)?);
            }
            let Some(gi) = g.take() else {
                // Nothing above this layer reads it yet (the loss taps nothing deeper).
                continue;
            };
            let gz = ops::relu_backward(ctx, plan, &gi, &acts[i])?;
            plan.release(gi);
            let gx = self.input_grads[i].record(ctx, plan, &gz)?;
            plan.release(gz);
            if i == 0 {
                return Ok(gx);
            }
            g = Some(if starts_block(i) {
                let up = ops::pool2d_backward(ctx, plan, &acts[i - 1], &gx, self.pooling, 2, 2)?;
                plan.release(gx);
                up
            } else {
                gx
            });
        }
        Err(Error::InvalidArgument {
            op: "vgg19",
            message: "the loss reads no layer, so there is no gradient".into(),
        })
    }
}

/// Whether layer `i` starts a block after the first (a pool comes before it).
fn starts_block(i: usize) -> bool {
    i > 0 && LAYERS[i].0 != LAYERS[i - 1].0
}

/// Indices into [`TAPS`] of the named layers, or an error listing the valid names.
pub fn tap_indices(taps: &[&str]) -> Result<Vec<usize>> {
    taps.iter()
        .map(|t| {
            TAPS.iter()
                .position(|n| n == t)
                .ok_or_else(|| Error::InvalidArgument {
                    op: "vgg19",
                    message: format!("unknown layer '{t}'; the layers are {}", TAPS.join(", ")),
                })
        })
        .collect()
}
