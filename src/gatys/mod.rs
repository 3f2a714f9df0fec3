//! Gatys et al. (2015) style transfer by optimising the image: the loss terms, computed on the
//! GPU exactly as jcjohnson/neural-style defines them (below), so results compare with it.
//!
//! The optimised image `x` lives in VGG's input space (BGR, 0-255, minus the mean); the loss
//! is [`crate::loss`]'s with content at relu4_2 and style at relu1_1 .. relu5_1.
//!
//! The gradient with respect to `x` is computed on the GPU in the same plan as the losses
//! ([`record_gradient`]): the forward pass keeps every layer's activation, each loss term adds
//! its gradient at its layer, and [`crate::models::Vgg::record_backward`] carries the sum down to the image.
//! [`crate::optim`] updates the image (L-BFGS or Adam, state on the GPU); [`run`] is the whole run with
//! its options, progress events, cancellation and memory estimate.

pub mod run;

pub use crate::loss::{
    losses, read_terms, record_gradient, targets, LossValues, LossWeights, Recorded, Targets,
    CONTENT_LAYER, STYLE_LAYERS,
};
pub use crate::optim::{Optimizer, OptimizerState};
pub use run::{estimate_memory, Gatys, GatysOptions, GatysOutput, Init, MemoryEstimate, Progress};
