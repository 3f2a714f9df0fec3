//! VGG's convolutional features (Simonyan & Zisserman 2014), the loss networks: VGG19 up to
//! relu5_1 (Gatys optimisation; the converted Keras "notop" VGG19, `models/vgg19.safetensors`)
//! and VGG16 up to relu4_3 (training, as Johnson et al. 2016; Oxford's ImageNet VGG16,
//! `models/vgg16.safetensors`). Both files hold 8-bit codebook weights, expanded once on load.
//! Input: BGR in [0, 255] minus the ImageNet mean ([`crate::ops::PixelMap::vgg_bgr`]), planar
//! [3, H, W]. Every conv is 3x3, zero padded by 1, with bias and ReLU (fused); a 2x2 stride-2
//! pool (max as trained, or average as in Gatys et al.) comes before blocks 2 to 5.

use super::weights::ModelFile;
use crate::gpu::{GpuContext, Plan, Tensor};
use crate::ops::{self, Activation, Conv2d, Conv2dParams, Padding, PoolMode};
use crate::{Error, Result};

/// VGG19's layers up to conv5_1: (block, conv, in channels, out channels).
const VGG19_LAYERS: [(usize, usize, usize, usize); 13] = [
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

/// VGG19's feature maps that can be tapped, in network order.
const VGG19_TAPS: [&str; 13] = [
    "relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu3_4",
    "relu4_1", "relu4_2", "relu4_3", "relu4_4", "relu5_1",
];

/// VGG16's layers up to conv4_3.
const VGG16_LAYERS: [(usize, usize, usize, usize); 10] = [
    (1, 1, 3, 64),
    (1, 2, 64, 64),
    (2, 1, 64, 128),
    (2, 2, 128, 128),
    (3, 1, 128, 256),
    (3, 2, 256, 256),
    (3, 3, 256, 256),
    (4, 1, 256, 512),
    (4, 2, 512, 512),
    (4, 3, 512, 512),
];

/// VGG16's feature maps that can be tapped.
const VGG16_TAPS: [&str; 10] = [
    "relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu4_1",
    "relu4_2", "relu4_3",
];

/// Which VGG: the layers it has and the names of their feature maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VggArch {
    /// VGG16 to relu4_3 (the loss net of Johnson et al.'s training).
    Vgg16,
    /// VGG19 to relu5_1 (the loss net of Gatys et al.).
    Vgg19,
}

impl VggArch {
    /// The model-file family holding its weights (also its name).
    pub fn family(self) -> &'static str {
        match self {
            VggArch::Vgg16 => "vgg16",
            VggArch::Vgg19 => "vgg19",
        }
    }

    /// The architecture of a model-file family.
    pub fn from_family(family: &str) -> Result<Self> {
        match family {
            "vgg16" => Ok(VggArch::Vgg16),
            "vgg19" => Ok(VggArch::Vgg19),
            other => Err(Error::Model(format!(
                "this is a '{other}' model, not a 'vgg19' or 'vgg16' loss network; pass models/vgg19.safetensors or models/vgg16.safetensors"
            ))),
        }
    }

    /// (block, conv, in channels, out channels) of each layer.
    fn layers(self) -> &'static [(usize, usize, usize, usize)] {
        match self {
            VggArch::Vgg16 => &VGG16_LAYERS,
            VggArch::Vgg19 => &VGG19_LAYERS,
        }
    }

    /// Names of the feature maps that can be tapped, in network order.
    pub fn taps(self) -> &'static [&'static str] {
        match self {
            VggArch::Vgg16 => &VGG16_TAPS,
            VggArch::Vgg19 => &VGG19_TAPS,
        }
    }

    /// Channels of layer `i` (an index into [`VggArch::taps`]) and how many times the input
    /// was halved before it.
    pub fn geometry(self, i: usize) -> (usize, usize) {
        let (block, _, _, out) = self.layers()[i];
        (out, block - 1)
    }

    /// Indices into [`VggArch::taps`] of the named layers, or an error listing the valid names.
    pub fn tap_indices(self, taps: &[&str]) -> Result<Vec<usize>> {
        let all = self.taps();
        taps.iter()
            .map(|t| {
                all.iter()
                    .position(|n| n == t)
                    .ok_or_else(|| Error::InvalidArgument {
                        op: self.family(),
                        message: format!(
                            "unknown layer '{t}'; the layers of {} are {}",
                            self.family(),
                            all.join(", ")
                        ),
                    })
            })
            .collect()
    }

    /// Bytes of weights the net holds on the GPU (twice as many with the input-gradient
    /// convolutions).
    pub fn weight_bytes(self, with_gradients: bool) -> u64 {
        let n: usize = self
            .layers()
            .iter()
            .map(|&(_, _, i, o)| i * o * 9 + o)
            .sum();
        (n * 4 * if with_gradients { 2 } else { 1 }) as u64
    }

    /// Whether layer `i` starts a block after the first (a pool comes before it).
    fn starts_block(self, i: usize) -> bool {
        let layers = self.layers();
        i > 0 && layers[i].0 != layers[i - 1].0
    }
}

/// A VGG net's convolutions on the GPU.
pub struct Vgg {
    arch: VggArch,
    convs: Vec<Conv2d>,
    /// The input-gradient convolutions (transposed, flipped weights), when loaded for Gatys.
    input_grads: Vec<ops::InputGradient>,
    pooling: PoolMode,
}

impl Vgg {
    /// Uploads the convolutions from a converted `vgg16` or `vgg19` model file.
    pub fn load(ctx: &GpuContext, file: &ModelFile, pooling: PoolMode) -> Result<Self> {
        Self::load_layers(ctx, file, pooling, false)
    }

    /// [`Vgg::load`], also uploading what [`Vgg::record_backward`] needs (the weights a
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
        let arch = VggArch::from_family(file.family())?;
        let mut convs = Vec::with_capacity(arch.layers().len());
        let mut input_grads = Vec::new();
        for &(b, c, cin, cout) in arch.layers() {
            let name = format!("block{b}_conv{c}");
            let w = file.codebook(&name, &[cout, cin, 3, 3])?;
            let bias = file.tensor(&format!("{name}.bias"), &[cout])?;
            let params = Conv2dParams::padded(1, Padding::Zero).activation(Activation::Relu);
            if gradients {
                input_grads.push(ops::InputGradient::new(
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
            arch,
            convs,
            input_grads,
            pooling,
        })
    }

    /// Which VGG this is.
    pub fn arch(&self) -> VggArch {
        self.arch
    }

    /// The pooling it was loaded with.
    pub fn pooling(&self) -> PoolMode {
        self.pooling
    }

    /// Bytes of weights it holds on the GPU.
    pub fn weight_bytes(&self) -> u64 {
        self.arch.weight_bytes(!self.input_grads.is_empty())
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
        let idx = self.arch.tap_indices(taps)?;
        let last = idx.iter().copied().max().unwrap_or(0);
        let acts = self.record_all(ctx, plan, x, last)?;
        let taps: Vec<Tensor> = idx.iter().map(|&j| acts[j].clone()).collect();
        // The layers in between are dead: later outputs of the plan may reuse their buffers.
        for (j, a) in acts.into_iter().enumerate() {
            if !idx.contains(&j) {
                plan.release(a);
            }
        }
        Ok(taps)
    }

    /// Records the forward pass of `x` to layer `last` (an index into [`VggArch::taps`]) and
    /// returns every layer's ReLU output, which [`Vgg::record_backward`] needs.
    pub fn record_all(
        &self,
        ctx: &GpuContext,
        plan: &mut Plan,
        x: &Tensor,
        last: usize,
    ) -> Result<Vec<Tensor>> {
        let op = self.arch.family();
        let (_, h, w) = x.chw(op)?;
        let Some(&(block, ..)) = self.arch.layers().get(last) else {
            return Err(Error::InvalidArgument {
                op,
                message: format!(
                    "layer {last} is past the last of {op}'s {} layers",
                    self.convs.len()
                ),
            });
        };
        let pools_before = block - 1;
        if h >> pools_before == 0 || w >> pools_before == 0 {
            return Err(Error::Shape { op, message: format!("a {h}x{w} image is too small to reach {} (it is halved {pools_before} times); use at least {1}x{1}", self.arch.taps()[last], 1 << pools_before) });
        }
        let mut acts = Vec::with_capacity(last + 1);
        let mut t = x.clone();
        for (i, conv) in self.convs.iter().enumerate().take(last + 1) {
            if self.arch.starts_block(i) {
                t = ops::pool2d(ctx, plan, &t, self.pooling, 2, 2)?;
            }
            t = conv.record(ctx, plan, &t)?;
            acts.push(t.clone());
        }
        Ok(acts)
    }

    /// Records the backward pass: given the activations of [`Vgg::record_all`] and, for each
    /// layer, the gradient of the loss with respect to its ReLU output (`tap_grads(i)`, `None`
    /// where the loss does not read layer i), returns the gradient with respect to the input.
    /// Needs a model loaded with [`Vgg::load_with_gradients`].
    pub fn record_backward(
        &self,
        ctx: &GpuContext,
        plan: &mut Plan,
        acts: &[Tensor],
        mut tap_grads: impl FnMut(&mut Plan, usize) -> Result<Option<Tensor>>,
    ) -> Result<Tensor> {
        if self.input_grads.is_empty() {
            return Err(Error::InvalidArgument {
                op: self.arch.family(),
                message: "this VGG was loaded without gradients; use Vgg::load_with_gradients"
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
            let (_, h, w) = gz.chw(self.arch.family())?;
            let gx = self.input_grads[i].record(ctx, plan, &gz, (h, w))?;
            plan.release(gz);
            if i == 0 {
                return Ok(gx);
            }
            g = Some(if self.arch.starts_block(i) {
                let up = ops::pool2d_backward(ctx, plan, &acts[i - 1], &gx, self.pooling, 2, 2)?;
                plan.release(gx);
                up
            } else {
                gx
            });
        }
        Err(Error::InvalidArgument {
            op: self.arch.family(),
            message: "the loss reads no layer, so there is no gradient".into(),
        })
    }
}
