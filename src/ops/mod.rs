//! The op library: one file per op, each with its typed `Params` (binding 0), its kernel(s) from
//! `src/shaders/` and a launcher that appends dispatches to a [`crate::gpu::Plan`] and returns the output
//! tensor. Every op has a plain-loop CPU oracle in [`crate::reference`] and tests against it.
//! Backward kernels (for Gatys and training) live beside their forward op.

pub mod affine;
pub mod channels;
pub mod conv2d;
pub mod conv2d_grad;
pub mod conv2d_tune;
pub mod elementwise;
pub mod gram;
pub mod im2col;
pub mod instance_norm;
pub mod pad;
pub mod pixels;
pub mod pool;
pub mod reduce;
pub mod tile;
pub mod upsample;

pub use affine::{add_mapped, apply_map, ChannelAffine, Mapped};
pub use channels::{channel_map, copy_strided, transpose, ChannelMap, Strided, Write};
pub use conv2d::{
    Conv2d, Conv2dParams, ConvInput, ConvKernel, Padding, PointwiseTiling, SharedTiling,
    TileChoice, Tiling,
};
pub use conv2d_grad::{weight_gradient, GradTarget, InputGradient};
pub use elementwise::{
    accumulate, activation_backward, add, relu_backward, scale_add, unary, Unary,
};
pub use gram::{gram, gram_backward};
pub use im2col::{im2col, Rows, Windows};
pub use instance_norm::{
    instance_norm, instance_norm_apply, instance_norm_backward, instance_norm_coeffs,
    instance_norm_stats, InstanceNormGrads,
};
pub use pad::pad_backward;
pub use pixels::{planar_to_rgba, rgba_to_planar, PixelMap};
pub use pool::{pool2d, pool2d_backward, PoolMode};
pub use reduce::{
    mean, reduce, sum, sum_squared_diff, total_variation, total_variation_backward, Reduction,
};
pub use tile::{combine_stats, crop};
pub use upsample::{dilate, upsample_nearest, upsample_nearest_backward};

/// An activation fused into the end of a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// max(x, 0).
    Relu,
    /// min(max(x, 0), 6), as in MobileNetV2.
    Relu6,
    /// 1 / (1 + exp(-x)).
    Sigmoid,
}

impl Activation {
    /// The code the shaders switch on.
    pub(crate) fn code(self) -> u32 {
        match self {
            Activation::None => 0,
            Activation::Relu => 1,
            Activation::Relu6 => 2,
            Activation::Sigmoid => 3,
        }
    }

    /// The activation of a shader code ([`Activation::code`]'s inverse).
    pub(crate) fn from_code(code: u32) -> Option<Self> {
        [Self::None, Self::Relu, Self::Relu6, Self::Sigmoid]
            .into_iter()
            .find(|a| a.code() == code)
    }

    /// Applies the activation on the CPU (for oracles).
    pub fn apply(self, v: f32) -> f32 {
        match self {
            Activation::None => v,
            Activation::Relu => v.max(0.0),
            Activation::Relu6 => v.clamp(0.0, 6.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
        }
    }
}

/// Workgroups of `wg` x `wg2` threads covering a `w` x `h` grid, `depth` deep.
pub(crate) fn grid(w: usize, h: usize, depth: usize, wg: [usize; 2]) -> [u32; 3] {
    [
        w.div_ceil(wg[0]) as u32,
        h.div_ceil(wg[1]) as u32,
        depth as u32,
    ]
}

/// A shape error for `op`.
pub(crate) fn shape_err(op: &'static str, message: String) -> crate::Error {
    crate::Error::Shape { op, message }
}

/// A shape error for `op` unless `a` and `b` have one shape.
pub(crate) fn same_shape(
    op: &'static str,
    a: &crate::gpu::Tensor,
    b: &crate::gpu::Tensor,
) -> crate::Result<()> {
    if a.shape() == b.shape() {
        Ok(())
    } else {
        Err(shape_err(
            op,
            format!(
                "'{}' {:?} and '{}' {:?} must have the same shape",
                a.label(),
                a.shape(),
                b.label(),
                b.shape()
            ),
        ))
    }
}

/// Declares a [`crate::gpu::Kernel`] for a file in `src/shaders/`.
macro_rules! kernel {
    ($file:literal, $entry:literal) => {
        $crate::gpu::Kernel {
            name: $file,
            // Every compute shader is compiled with the shared helpers in front of it.
            source: concat!(
                include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/src/shaders/common.wgsl"
                )),
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/shaders/", $file))
            ),
            entry: $entry,
        }
    };
}
pub(crate) use kernel;
