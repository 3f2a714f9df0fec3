//! What every transform net shares, and nothing that runs one: the layer operations a net is
//! written against ([`Builder`]; [`super::direct`] records them on whole tensors), the [`Net`]
//! trait, the input check, and the options of a stylization's output ([`OutputOptions`]).
//!
//! The runners ([`super::whole`], [`super::tiled`], [`super::runner`]) build on this module;
//! the nets ([`super::multistyle`], [`super::arbitrary`], [`super::johnson`]) on the runners.

use crate::gpu::Tensor;
use crate::ops::{Activation, Conv2d, PixelMap};
use crate::{Error, Result};

/// How a stylization's output is made, the same for every net.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputOptions {
    /// 1 = full style, 0 = the photo. The 26-style and Johnson nets blend their output with the
    /// photo; the arbitrary-style net moves its style vector toward the photo's own instead
    /// (`strength * painting + (1 - strength) * photo`), as Ghiasi et al. do.
    pub strength: f32,
    /// Keep the photo's colours (stylized luminance, photo chroma).
    pub preserve_colors: bool,
    /// Scale the photo down first so its longer side is at most this (0 = never).
    pub max_size: usize,
    /// Process the image in tiles of this many pixels (0 = only when the image is too large
    /// for the device, with the largest tile that fits); the result equals the untiled one.
    pub tile: usize,
}

impl Default for OutputOptions {
    /// Full strength, colours from the style, no resizing, tiles only when needed.
    fn default() -> Self {
        Self {
            strength: 1.0,
            preserve_colors: false,
            max_size: 0,
            tile: 0,
        }
    }
}

impl OutputOptions {
    /// Fails unless the options make sense (strength in [0, 1]).
    pub fn validate(&self) -> Result<()> {
        if (0.0..=1.0).contains(&self.strength) {
            Ok(())
        } else {
            Err(Error::InvalidArgument {
                op: "stylize",
                message: format!("strength must be between 0 and 1, got {}", self.strength),
            })
        }
    }
}

/// How far a stylization has come, reported between the parts of a tiled run (a whole-image
/// run is one submission and reports nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Dispatches (layer passes over one tile) done.
    pub done: usize,
    /// Dispatches in the run.
    pub total: usize,
    /// Tiles the image is processed in.
    pub tiles: usize,
    /// Their side in pixels (before margins).
    pub tile: usize,
}

/// The layer operations the transform nets are made of.
pub(crate) trait Builder {
    /// A whole tensor, or a set of tiles.
    type T: Clone;
    /// A convolution (with its fused bias and activation).
    fn conv(&mut self, conv: &Conv2d, x: &Self::T) -> Result<Self::T>;
    /// Instance norm with statistics over the whole image, then `act`.
    fn norm(
        &mut self,
        x: &Self::T,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f32,
        act: Activation,
    ) -> Result<Self::T>;
    /// `a + b`.
    fn add(&mut self, a: &Self::T, b: &Self::T) -> Result<Self::T>;
    /// Nearest upsampling x2.
    fn upsample2(&mut self, x: &Self::T) -> Result<Self::T>;
    /// `x` is no longer needed: later outputs may reuse its buffers.
    fn release(&mut self, x: Self::T);

    /// A convolution followed by instance norm (the conv's output released).
    fn conv_norm(
        &mut self,
        conv: &Conv2d,
        x: &Self::T,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f32,
        act: Activation,
    ) -> Result<Self::T> {
        let y = self.conv(conv, x)?;
        let out = self.norm(&y, gamma, beta, eps, act)?;
        self.release(y);
        Ok(out)
    }
}

/// A fully convolutional transform net, written once against [`Builder`].
pub(crate) trait Net {
    /// How photo pixels become the net's input planes; its output planes are in the same range.
    fn pixel_map(&self) -> PixelMap;
    /// The layers from planar input to planar output.
    fn forward<B: Builder>(&self, b: &mut B, x: &B::T) -> Result<B::T>;
}

/// Fails unless `x` is an RGB input the transform nets take (sides multiples of 4, at least 8).
pub(crate) fn check_input(x: &Tensor, op: &'static str) -> Result<()> {
    let (c, h, w) = x.chw(op)?;
    if c != 3 || h % 4 != 0 || w % 4 != 0 || h < 8 || w < 8 {
        return Err(Error::Shape {
            op,
            message: format!("the net takes an RGB image whose sides are multiples of 4 and at least 8; got [{c}, {h}, {w}]"),
        });
    }
    Ok(())
}
