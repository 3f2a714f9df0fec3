//! Nearest-neighbour upsampling by an integer factor (x2 in the transform nets).

use super::{grid, kernel, shape_err};
use crate::gpu::params::params;
use crate::gpu::{DType, GpuContext, Kernel, Plan, Tensor};
use crate::Result;

const UPSAMPLE: Kernel = kernel!("upsample.wgsl", "main");

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
    let p = Params {
        in_h: h as u32,
        in_w: w as u32,
        out_h: oh as u32,
        out_w: ow as u32,
        channels: c as u32,
        factor: factor as u32,
        _pad: [0; 2],
    };
    plan.push(ctx.dispatch(
        "upsample_nearest",
        &UPSAMPLE,
        &[],
        &p,
        &[x, &y],
        grid(ow, oh, c, [8, 8]),
    )?);
    Ok(y)
}
