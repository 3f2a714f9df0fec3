//! A convolution's input windows as the rows of a matrix (im2col), in the order of the tiled
//! kernel's weight layout: how a weight gradient becomes a matrix product that the
//! convolution kernels compute ([`crate::ops::weight_gradient`]).

use std::ops::Range;

use super::{kernel, shape_err, Conv2d, Padding};
use crate::gpu::params::params;
use crate::gpu::{linear_workgroups, DType, GpuContext, Kernel, Plan, Tensor};
use crate::Result;

const IM2COL: Kernel = kernel!("im2col.wgsl", "main");

params! {
    pub(crate) struct Params {
        channels: u32,
        in_h: u32,
        in_w: u32,
        out_w: u32,
        k_h: u32,
        k_w: u32,
        stride: u32,
        pad_t: u32,
        pad_l: u32,
        reflect: u32,
        first: u32,
        rows: u32,
        cols: u32,
        ones: u32,
        _pad0: u32,
        _pad1: u32,
    }
}

/// The windows a convolution reads from its input: kernel size, stride, padding, and the
/// output plane (one window per output pixel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// [k_h, k_w].
    pub kernel: [usize; 2],
    /// The step between windows.
    pub stride: usize,
    /// Top and left padding (the bottom and right follow from the output plane).
    pub pad: [usize; 2],
    /// Zero or mirrored.
    pub padding: Padding,
    /// The output plane [out_h, out_w].
    pub out: [usize; 2],
}

impl Windows {
    /// The windows of `conv` (groups 1) over an input plane of `h` x `w`.
    pub fn of(conv: &Conv2d, h: usize, w: usize) -> Result<Self> {
        let [_, _, k_h, k_w] = conv.shape();
        let p = conv.params();
        let (oh, ow) = conv.output_size(h, w)?;
        Ok(Self {
            kernel: [k_h, k_w],
            stride: p.stride,
            pad: [p.pad[0], p.pad[1]],
            padding: p.padding,
            out: [oh, ow],
        })
    }

    /// Each pixel on its own (a 1x1 window, stride 1): [`im2col`] then transposes a range of
    /// pixels of a [C, H, W] map with this plane.
    pub fn pixels(h: usize, w: usize) -> Self {
        Self {
            kernel: [1, 1],
            stride: 1,
            pad: [0, 0],
            padding: Padding::Zero,
            out: [h, w],
        }
    }

    /// Values in one window of a map of `channels` channels.
    pub fn taps(&self, channels: usize) -> usize {
        channels * self.kernel[0] * self.kernel[1]
    }
}

/// The rows [`im2col`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    /// The output pixels whose windows become rows (row-major over the output plane).
    pub pixels: Range<usize>,
    /// Values a row: at least the window's taps (plus one with `ones`); the rest are 0.
    pub cols: usize,
    /// Whether the column after the taps is 1 (a bias in a matrix product).
    pub ones: bool,
}

/// Appends the [rows, cols] matrix whose row r is the window of `x` [C, H, W] under output
/// pixel `rows.pixels.start + r`, column `(ky * k_w + kx) * C + c` its value
/// x_padded[c, oy * stride + ky, ox * stride + kx] (the order of the tiled kernel's weight
/// layout), then 1 where `rows.ones`, then zeros.
pub fn im2col(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    windows: &Windows,
    rows: &Rows,
) -> Result<Tensor> {
    let (c, h, w) = x.chw("im2col")?;
    check(x, windows, rows, [c, h, w])?;
    let n = rows.pixels.len();
    // Rounded: a net's layers make matrices of many sizes, which then share a few buffers.
    let y = plan.alloc_rounded(
        ctx,
        &format!("{}.windows", x.label()),
        &[n, rows.cols],
        DType::F32,
    )?;
    let p = Params {
        channels: c as u32,
        in_h: h as u32,
        in_w: w as u32,
        out_w: windows.out[1] as u32,
        k_h: windows.kernel[0] as u32,
        k_w: windows.kernel[1] as u32,
        stride: windows.stride as u32,
        pad_t: windows.pad[0] as u32,
        pad_l: windows.pad[1] as u32,
        reflect: (windows.padding == Padding::Reflect) as u32,
        first: rows.pixels.start as u32,
        rows: n as u32,
        cols: rows.cols as u32,
        ones: rows.ones as u32,
        _pad0: 0,
        _pad1: 0,
    };
    let groups = linear_workgroups(n * (windows.kernel[0] * windows.kernel[1] + 1), 256);
    plan.push(ctx.dispatch("im2col", &IM2COL, &[], &p, &[x, &y], groups)?);
    Ok(y)
}

/// The windows lie in the padded input, the pixels in the output plane, the row holds them.
fn check(x: &Tensor, win: &Windows, rows: &Rows, [c, h, w]: [usize; 3]) -> Result<()> {
    let [k_h, k_w] = win.kernel;
    let [oh, ow] = win.out;
    let fits = |k: usize, pad: usize, out: usize, n: usize| {
        k >= 1 && win.stride >= 1 && out >= 1 && (out - 1) * win.stride + k <= n + 2 * pad
    };
    let problem = if !fits(k_h, win.pad[0], oh, h) || !fits(k_w, win.pad[1], ow, w) {
        format!("{k_h}x{k_w} windows at stride {} with padding {:?} do not give a {oh}x{ow} output from '{}' {:?}", win.stride, win.pad, x.label(), x.shape())
    } else if win.padding == Padding::Reflect && (win.pad[0] >= h || win.pad[1] >= w) {
        format!(
            "mirrored padding {:?} needs an input larger than the padding; '{}' is {:?}",
            win.pad,
            x.label(),
            x.shape()
        )
    } else if rows.pixels.is_empty() || rows.pixels.end > oh * ow {
        format!(
            "pixels {:?} are not a range within the {oh}x{ow} output",
            rows.pixels
        )
    } else if rows.cols < win.taps(c) + rows.ones as usize {
        format!(
            "rows of {} values cannot hold a window's {} taps{}",
            rows.cols,
            win.taps(c),
            if rows.ones {
                " and the ones column"
            } else {
                ""
            }
        )
    } else if rows.pixels.len() * rows.cols > u32::MAX as usize {
        format!(
            "{} rows of {} values are too many for one dispatch; take fewer pixels",
            rows.pixels.len(),
            rows.cols
        )
    } else {
        return Ok(());
    };
    Err(shape_err("im2col", problem))
}
