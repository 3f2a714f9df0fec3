//! Gatys et al. (2015) style transfer by optimising the image: the loss terms, computed on the
//! GPU exactly as jcjohnson/neural-style defines them (below), so results compare with it.
//!
//! The optimised image `x` lives in VGG's input space (BGR, 0-255, minus the mean).
//! - content: `content_weight * mean((F(x) - F(c))^2)` at relu4_2;
//! - style: for each style layer l, `G = F F^T / (C H W)` and
//!   `style_weight * w_l * mean over C x C of (G(x) - G_target)^2`, with `G_target` the blend
//!   `sum_i b_i G(s_i)` of the style images' Gram matrices;
//! - total variation: `tv_weight * 0.5 * sum (x[i,j] - x[i,j+1])^2 + (x[i,j] - x[i+1,j])^2`.
//!
//! The gradient with respect to `x` is computed on the GPU in the same plan as the losses
//! ([`record_gradient`]): the forward pass keeps every layer's activation, each loss term adds
//! its gradient at its layer, and [`crate::models::Vgg::record_backward`] carries the sum down to the image.
//! [`optim`] updates the image (L-BFGS or Adam, state on the GPU); [`run`] is the whole run with
//! its options, progress events, cancellation and memory estimate.

pub mod loss;
pub mod optim;
pub mod run;

pub use loss::{
    losses, read_terms, record_gradient, targets, LossValues, LossWeights, Recorded, Targets,
    CONTENT_LAYER, STYLE_LAYERS,
};
pub use optim::{Optimizer, OptimizerState};
pub use run::{estimate_memory, Gatys, GatysOptions, GatysOutput, Init, MemoryEstimate, Progress};
