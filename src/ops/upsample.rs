//! Nearest-neighbour upsampling by an integer factor (x2 in the transform nets), and its
//! backward (each input's gradient is the sum over the block it was copied to).

use super::{grid, kernel, shape_err};
use crate::gpu::params::params;
use crate::gpu::{DType, GpuContext, Kernel, Plan, Tensor};
use crate::Result;

const UPSAMPLE: Kernel = kernel!("upsample.wgsl", "main");
const BACKWARD: Kernel = kernel!("upsample.wgsl", "backward");
const DILATE: Kernel = kernel!("upsample.wgsl", "dilate");

params! {
    pub(crate) struct Params {
        in_h: u32,
        in_w: u32,
        out_h: u32,
        out_w: u32,
        channels: u32,
        factor: u32,
        _pad: [u32; 2],
    }
}

/// Appends nearest upsampling of `x` [C, H, W] to [C, factor * H, factor * W].
pub fn upsample_nearest(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    factor: usize,
) -> Result<Tensor> {
    let (c, h, w) = x.chw("upsample_nearest")?;
    if factor == 0 {
        return Err(shape_err(
            "upsample_nearest",
            "factor must be at least 1".into(),
        ));
    }
    let (oh, ow) = (h * factor, w * factor);
    let y = plan.alloc(ctx, &format!("{}.up", x.label()), &[c, oh, ow], DType::F32)?;
    let p = Params::new(c, (h, w), factor);
    push(
        ctx,
        plan,
        ("upsample_nearest", &UPSAMPLE),
        &p,
        [x, &y],
        (ow, oh, c),
    )?;
    Ok(y)
}

impl Params {
    fn new(c: usize, (h, w): (usize, usize), factor: usize) -> Self {
        Self {
            in_h: h as u32,
            in_w: w as u32,
            out_h: (h * factor) as u32,
            out_w: (w * factor) as u32,
            channels: c as u32,
            factor: factor as u32,
            _pad: [0; 2],
        }
    }
}

/// Appends the backward of [`upsample_nearest`]: the gradient with respect to its input
/// [C, H, W] from `grad_out` [C, factor * H, factor * W] (each input's block summed).
pub fn upsample_nearest_backward(
    ctx: &GpuContext,
    plan: &mut Plan,
    grad_out: &Tensor,
    factor: usize,
) -> Result<Tensor> {
    let (c, oh, ow) = grad_out.chw("upsample_nearest_backward")?;
    if factor == 0 || oh % factor != 0 || ow % factor != 0 {
        return Err(shape_err(
            "upsample_nearest_backward",
            format!("a gradient of {oh}x{ow} is not an upsampling by {factor}"),
        ));
    }
    let (h, w) = (oh / factor, ow / factor);
    let label = format!("{}.up_grad", grad_out.label());
    let g = plan.alloc(ctx, &label, &[c, h, w], DType::F32)?;
    let p = Params::new(c, (h, w), factor);
    let kernel = ("upsample_nearest_backward", &BACKWARD);
    push(ctx, plan, kernel, &p, [grad_out, &g], (w, h, c))?;
    Ok(g)
}

/// Appends the dilation of `x` [C, H, W] by `factor` into [C, out_h, out_w]: `factor - 1`
/// zeros inserted between neighbouring values, and fewer than `factor` zero rows and columns
/// after the last (those a strided layer never reads), so `x` must be the output of a strided
/// layer over `out_h` x `out_w`: H = (out_h - 1) / factor + 1, and W likewise. A smaller `x`
/// would fit, zero-filled, and give a layer's input gradient that is wrong without a word.
pub fn dilate(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    factor: usize,
    (oh, ow): (usize, usize),
) -> Result<Tensor> {
    let (c, h, w) = x.chw("dilate")?;
    if factor == 0 {
        return Err(shape_err("dilate", "the factor must be at least 1".into()));
    }
    let layer = ((oh.max(1) - 1) / factor + 1, (ow.max(1) - 1) / factor + 1);
    if (h, w) != layer {
        return Err(shape_err(
            "dilate",
            format!(
                "[{c}, {h}, {w}] is not the layer's {}x{} output whose dilation by {factor} is {oh}x{ow}",
                layer.0, layer.1
            ),
        ));
    }
    let y = plan.alloc(
        ctx,
        &format!("{}.dilated", x.label()),
        &[c, oh, ow],
        DType::F32,
    )?;
    let p = Params {
        out_h: oh as u32,
        out_w: ow as u32,
        ..Params::new(c, (h, w), factor)
    };
    push(ctx, plan, ("dilate", &DILATE), &p, [x, &y], (ow, oh, c))?;
    Ok(y)
}

/// Pushes one of this file's kernels: one thread per element of the (w, h, c) grid it writes,
/// reading `io[0]` and writing `io[1]`.
fn push(
    ctx: &GpuContext,
    plan: &mut Plan,
    (label, kernel): (&str, &Kernel),
    p: &Params,
    io: [&Tensor; 2],
    (w, h, c): (usize, usize, usize),
) -> Result<()> {
    plan.push(ctx.dispatch(label, kernel, &[], p, &io, grid(w, h, c, [8, 8]))?);
    Ok(())
}
