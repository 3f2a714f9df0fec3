//! What a run trains, whichever net it is: a transform net whose trained parameters live in one
//! flat vector on the GPU (the vector Adam updates), copied into the tensors the net reads at
//! the start of every step ([`Model::record_unpack`]), and whose backward pass writes their
//! gradient into a vector of the same layout ([`Model::backward`]).

use super::johnson::JohnsonParams;
use super::style_row::StyleRow;
use super::tape::Tape;
use crate::gpu::{GpuContext, Plan, Tensor};
use crate::models::direct;
use crate::models::net::{Builder, Net};
use crate::ops::{PixelMap, Write};
use crate::Result;

/// The trained net.
pub(crate) enum Model {
    /// A new style's row for the 26-style net.
    Style(StyleRow),
    /// A whole Johnson net.
    Johnson(JohnsonParams),
}

impl Model {
    /// The trained vector.
    pub(crate) fn params(&self) -> &Tensor {
        match self {
            Model::Style(m) => m.params(),
            Model::Johnson(m) => m.params(),
        }
    }

    /// How photo pixels become the net's input (and its output's range).
    pub(crate) fn pixel_map(&self) -> PixelMap {
        match self {
            Model::Style(m) => m.net.pixel_map(),
            Model::Johnson(m) => m.net.pixel_map(),
        }
    }

    /// The net's forward pass on any builder.
    pub(crate) fn forward<B: Builder>(&self, b: &mut B, x: &B::T) -> Result<B::T> {
        match self {
            Model::Style(m) => m.net.forward(b, x),
            Model::Johnson(m) => m.net.forward(b, x),
        }
    }

    /// The forward pass on whole tensors, without keeping activations (evaluation).
    pub(crate) fn record_direct(
        &self,
        ctx: &GpuContext,
        plan: &mut Plan,
        x: &Tensor,
    ) -> Result<Tensor> {
        match self {
            Model::Style(m) => direct::forward(&m.net, ctx, plan, x),
            Model::Johnson(m) => direct::forward(&m.net, ctx, plan, x),
        }
    }

    /// Records the copy of the vector into the tensors the net reads.
    pub(crate) fn record_unpack(&self, ctx: &GpuContext, plan: &mut Plan) -> Result<()> {
        match self {
            Model::Style(m) => m.record_unpack(ctx, plan),
            Model::Johnson(m) => m.record_unpack(ctx, plan),
        }
    }

    /// Records the tape's backward pass from `g` (the loss's gradient at value `out`), writing
    /// `scale` times the parameters' gradient into `grad`.
    pub(crate) fn backward(
        &self,
        tape: Tape<'_>,
        (out, g): (usize, Tensor),
        grad: &Tensor,
        scale: f32,
        write: Write,
    ) -> Result<()> {
        match self {
            Model::Style(m) => tape.backward(out, g, &mut m.gradients(grad, scale, write)),
            Model::Johnson(m) => tape.backward(out, g, &mut m.gradients(grad, scale, write)),
        }
    }

    /// A vector in the trained vector's layout (the parameters, Adam's moments, a gradient) in
    /// the device-independent order files keep.
    pub(crate) fn layout_to_file_order(&self, flat: Vec<f32>) -> Result<Vec<f32>> {
        match self {
            Model::Style(_) => Ok(flat),
            Model::Johnson(m) => m.layout_to_file_order(&flat),
        }
    }

    /// The inverse of [`Model::layout_to_file_order`].
    pub(crate) fn layout_from_file_order(&self, values: &[f32]) -> Result<Vec<f32>> {
        match self {
            Model::Style(_) => Ok(values.to_vec()),
            Model::Johnson(m) => m.layout_from_file_order(values),
        }
    }
}
