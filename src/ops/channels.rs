//! Moving values between planes and slices without changing the image grid: [`channel_map`]
//! turns planes of one pixel convention into another's (a channel permutation with a scale
//! and bias per channel: the 26-style net's RGB in [0, 1] into VGG's mean-subtracted BGR, and
//! back for the gradient), [`copy_strided`] writes a strided slice of one tensor into
//! another (a trained style's flat parameter row to and from its layers' gamma and beta), and
//! [`transpose`] turns a [rows, cols] matrix into its [cols, rows] transpose (a feature map's
//! [C, H*W] view into [H*W, C], for a Gram matrix run as a convolution).

use super::{kernel, shape_err, PixelMap};
use crate::gpu::params::params;
use crate::gpu::{linear_workgroups, DType, GpuContext, Kernel, Plan, Tensor};
use crate::{Error, Result};

const MAP: Kernel = kernel!("channel_map.wgsl", "main");
const COPY: Kernel = kernel!("copy_strided.wgsl", "main");
const TRANSPOSE: Kernel = kernel!("transpose.wgsl", "main");

/// `y[c] = scale[c] * x[order[c]] + bias[c]` for each plane c of a [C, H, W] tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelMap {
    /// Planes in and out (1 to 4).
    pub channels: usize,
    /// The input plane each output plane reads.
    pub order: [u32; 4],
    /// Per output plane.
    pub scale: [f32; 4],
    /// Per output plane.
    pub bias: [f32; 4],
}

impl ChannelMap {
    /// The map from planes made with `from` to the planes `to` makes of the same pixels (both
    /// with the same channels, taken from R, G, B or A).
    pub fn between(from: &PixelMap, to: &PixelMap) -> Self {
        let inv = from.inverse();
        let mut m = Self {
            channels: to.channels,
            order: [0, 1, 2, 3],
            scale: [1.0; 4],
            bias: [0.0; 4],
        };
        for c in 0..to.channels {
            // plane_to[c] = byte[b] * to.scale + to.bias, byte[b] = plane_from[j] * inv + inv_b.
            let b = to.order[c] as usize;
            m.order[c] = inv.order[b];
            m.scale[c] = inv.scale[b] * to.scale[c];
            m.bias[c] = inv.bias[b] * to.scale[c] + to.bias[c];
        }
        m
    }

    /// The map that carries a gradient with respect to this map's output back to its input
    /// (the transpose: the permutation inverted, the scales kept, no bias). Fails unless
    /// `order` is a permutation.
    pub fn gradient(&self) -> Result<Self> {
        let n = self.channels;
        let mut g = Self {
            channels: n,
            order: [0, 1, 2, 3],
            scale: [1.0; 4],
            bias: [0.0; 4],
        };
        let mut seen = [false; 4];
        for c in 0..n {
            let j = self.order[c] as usize;
            if j >= n || std::mem::replace(&mut seen[j], true) {
                return Err(Error::InvalidArgument {
                    op: "channel_map",
                    message: format!("{:?} is not a permutation of {n} planes", &self.order[..n]),
                });
            }
            g.order[j] = c as u32;
            g.scale[j] = self.scale[c];
        }
        Ok(g)
    }
}

params! {
    pub(crate) struct MapParams {
        plane: u32,
        channels: u32,
        _pad: [u32; 2],
        order: [u32; 4],
        scale: [f32; 4],
        bias: [f32; 4],
    }
}

/// Appends `y = m(x)` for a [C, H, W] tensor `x` with `m.channels` planes.
pub fn channel_map(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    m: &ChannelMap,
) -> Result<Tensor> {
    let (c, h, w) = x.chw("channel_map")?;
    let valid =
        c == m.channels && (1..=4).contains(&c) && m.order[..c].iter().all(|&o| (o as usize) < c);
    if !valid {
        return Err(shape_err(
            "channel_map",
            format!(
                "'{}' has {c} planes but the map {m:?} takes {}",
                x.label(),
                m.channels
            ),
        ));
    }
    let y = plan.alloc(ctx, &format!("{}.mapped", x.label()), x.shape(), DType::F32)?;
    let p = MapParams {
        plane: (h * w) as u32,
        channels: c as u32,
        _pad: [0; 2],
        order: m.order,
        scale: m.scale,
        bias: m.bias,
    };
    let groups = linear_workgroups(c * h * w, 256);
    plan.push(ctx.dispatch("channel_map", &MAP, &[], &p, &[x, &y], groups)?);
    Ok(y)
}

/// Every `stride`-th value from `offset` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strided {
    /// The first value's index.
    pub offset: usize,
    /// The distance between values (at least 1).
    pub stride: usize,
}

impl Strided {
    /// `n` values one after the other from `offset`.
    pub fn contiguous(offset: usize) -> Self {
        Self { offset, stride: 1 }
    }
}

/// How [`copy_strided`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `dst = scale * src`.
    Set,
    /// `dst += scale * src`.
    Add,
}

params! {
    pub(crate) struct CopyParams {
        n: u32,
        src_offset: u32,
        src_stride: u32,
        dst_offset: u32,
        dst_stride: u32,
        add: u32,
        scale: f32,
        _pad: u32,
    }
}

/// Appends `dst[to_i] = scale * src[from_i]` (or `+=`) for i < n, writing `dst` in place.
#[allow(clippy::too_many_arguments)]
pub fn copy_strided(
    ctx: &GpuContext,
    plan: &mut Plan,
    n: usize,
    (src, from): (&Tensor, Strided),
    (dst, to): (&Tensor, Strided),
    scale: f32,
    write: Write,
) -> Result<()> {
    for (t, s) in [(src, from), (dst, to)] {
        let last = s.offset + n.saturating_sub(1) * s.stride;
        if n == 0 || s.stride == 0 || last >= t.numel() || t.dtype() != DType::F32 {
            return Err(shape_err(
                "copy_strided",
                format!(
                    "{n} values from {} every {} do not fit '{}' ({} f32 values)",
                    s.offset,
                    s.stride,
                    t.label(),
                    t.numel()
                ),
            ));
        }
    }
    let p = CopyParams {
        n: n as u32,
        src_offset: from.offset as u32,
        src_stride: from.stride as u32,
        dst_offset: to.offset as u32,
        dst_stride: to.stride as u32,
        add: (write == Write::Add) as u32,
        scale,
        _pad: 0,
    };
    let groups = linear_workgroups(n, 256);
    plan.push(ctx.dispatch("copy_strided", &COPY, &[], &p, &[src, dst], groups)?);
    Ok(())
}

params! {
    pub(crate) struct TransposeParams {
        rows: u32,
        cols: u32,
        _pad0: u32,
        _pad1: u32,
    }
}

/// Appends the [cols, rows] transpose of `x` read as a [rows, cols] matrix (row-major; any
/// shape of rows x cols values, such as a [C, H, W] feature map with rows = C).
pub fn transpose(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    [rows, cols]: [usize; 2],
) -> Result<Tensor> {
    if rows * cols != x.numel() || rows * cols == 0 || x.dtype() != DType::F32 {
        return Err(shape_err(
            "transpose",
            format!(
                "'{}' ({:?} {:?}) is not an f32 matrix of {rows} x {cols} values",
                x.label(),
                x.dtype(),
                x.shape()
            ),
        ));
    }
    let y = plan.alloc(ctx, &format!("{}.t", x.label()), &[cols, rows], DType::F32)?;
    let p = TransposeParams {
        rows: rows as u32,
        cols: cols as u32,
        _pad0: 0,
        _pad1: 0,
    };
    let groups = linear_workgroups(rows * cols, 256);
    plan.push(ctx.dispatch("transpose", &TRANSPOSE, &[], &p, &[x, &y], groups)?);
    Ok(y)
}
