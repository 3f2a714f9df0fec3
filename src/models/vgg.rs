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
    pooling: PoolMode,
}

impl Vgg19 {
    /// Uploads the 13 convolutions up to conv5_1 from a converted `vgg19` model file.
    pub fn load(ctx: &GpuContext, file: &ModelFile, pooling: PoolMode) -> Result<Self> {
        file.expect_family("vgg19")?;
        let mut convs = Vec::with_capacity(LAYERS.len());
        for (b, c, cin, cout) in LAYERS {
            let name = format!("block{b}_conv{c}");
            let w = file.codebook(&name, &[cout, cin, 3, 3])?;
            let bias = file.tensor(&format!("{name}.bias"), &[cout])?;
            let params = Conv2dParams::padded(1, Padding::Zero).activation(Activation::Relu);
            convs.push(Conv2d::new(
                ctx,
                &name,
                &w,
                [cout, cin, 3, 3],
                Some(bias),
                params,
            )?);
        }
        Ok(Self { convs, pooling })
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
        let idx: Vec<usize> = taps
            .iter()
            .map(|t| {
                TAPS.iter()
                    .position(|n| n == t)
                    .ok_or_else(|| Error::InvalidArgument {
                        op: "vgg19",
                        message: format!("unknown layer '{t}'; the layers are {}", TAPS.join(", ")),
                    })
            })
            .collect::<Result<_>>()?;
        let (_, h, w) = x.chw("vgg19")?;
        let last = idx.iter().copied().max().unwrap_or(0);
        let pools_before = LAYERS[last].0 - 1;
        if h >> pools_before == 0 || w >> pools_before == 0 {
            return Err(Error::Shape { op: "vgg19", message: format!("a {h}x{w} image is too small to reach {} (it is halved {pools_before} times); use at least {1}x{1}", TAPS[last], 1 << pools_before) });
        }
        let mut out: Vec<Option<Tensor>> = vec![None; taps.len()];
        let mut t = x.clone();
        for (i, conv) in self.convs.iter().enumerate().take(last + 1) {
            // Pool at the start of each block after the first.
            if i > 0 && LAYERS[i].0 != LAYERS[i - 1].0 {
                let p = ops::pool2d(ctx, plan, &t, self.pooling, 2, 2)?;
                t = p;
            }
            t = conv.record(ctx, plan, &t)?;
            for (slot, &j) in idx.iter().enumerate() {
                if j == i {
                    out[slot] = Some(t.clone());
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|t| t.expect("every tap is at or before the last layer run"))
            .collect())
    }
}
