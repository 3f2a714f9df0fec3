//! Gram matrix of feature maps: `G = scale * F F^T` with F the [C, H*W] view of [C, H, W].
//! Gatys' style loss uses `scale = 1 / (C * H * W)`.

use super::{grid, kernel};
use crate::gpu::{DType, GpuContext, Kernel, Plan, Tensor};
use crate::Result;

const GRAM: Kernel = kernel!("gram.wgsl", "main");

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    channels: u32,
    n: u32,
    scale: f32,
    _pad: u32,
}

/// Appends the [C, C] Gram matrix of `x` [C, H, W], multiplied by `scale`.
pub fn gram(ctx: &GpuContext, plan: &mut Plan, x: &Tensor, scale: f32) -> Result<Tensor> {
    let (c, h, w) = x.chw("gram")?;
    let g = plan.alloc(ctx, &format!("{}.gram", x.label()), &[c, c], DType::F32)?;
    let p = Params {
        channels: c as u32,
        n: (h * w) as u32,
        scale,
        _pad: 0,
    };
    let blocks = c.div_ceil(4);
    plan.push(ctx.dispatch(
        "gram",
        &GRAM,
        &[],
        &p,
        &[x, &g],
        grid(blocks, blocks, 1, [8, 8]),
    )?);
    Ok(g)
}
