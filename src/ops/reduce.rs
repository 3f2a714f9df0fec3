//! Whole-tensor reductions to one value: sum, mean, sum of squares, sum of squared
//! differences. Two dispatches: per-workgroup partial sums, then one workgroup adds them.

use super::{kernel, same_shape, shape_err};
use crate::gpu::params::params;
use crate::gpu::{DType, GpuContext, Kernel, Plan, Tensor};
use crate::Result;

const PARTIAL: Kernel = kernel!("reduce.wgsl", "partial");
const FINISH: Kernel = kernel!("reduce_finish.wgsl", "main");
const TV_BACKWARD: Kernel = kernel!("tv_backward.wgsl", "main");

/// Elements each workgroup of the first stage reduces.
const CHUNK: usize = 4096;

/// What is summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// sum of a.
    Sum,
    /// sum of (a - b)^2.
    SumSquaredDiff,
    /// sum of a^2.
    SumSquares,
    /// Total variation of a [C, H, W] tensor: sum over pixels with a right and a lower
    /// neighbour of (a[y][x] - a[y][x+1])^2 + (a[y][x] - a[y+1][x])^2, over all channels.
    TotalVariation,
}

params! {
    pub(crate) struct Params {
        n: u32,
        chunk: u32,
        mode: u32,
        parts: u32,
        scale: f32,
        width: u32,
        height: u32,
        _pad: u32,
    }
}

/// Appends `scale * reduction(a[, b])` to `plan`; the result is a one-element tensor.
pub fn reduce(
    ctx: &GpuContext,
    plan: &mut Plan,
    a: &Tensor,
    b: Option<&Tensor>,
    mode: Reduction,
    scale: f32,
) -> Result<Tensor> {
    let n = a.numel();
    let b = match (mode, b) {
        (Reduction::SumSquaredDiff, Some(b)) => {
            same_shape("reduce", a, b)?;
            b
        }
        (Reduction::SumSquaredDiff, None) => {
            return Err(shape_err(
                "reduce",
                "the sum of squared differences needs a second tensor".into(),
            ))
        }
        _ => a,
    };
    let parts = n.div_ceil(CHUNK);
    if parts > 65535 {
        return Err(crate::Error::TooLarge {
            op: "reduce".into(),
            what: format!("'{}' with {n} elements", a.label()),
            needed: format!("{parts} workgroups"),
            limit: "65535".into(),
            limit_name: "maxComputeWorkgroupsPerDimension",
            hint: "reduce a smaller tensor, or in parts".into(),
        });
    }
    // (height, width) of the planes, used by the total variation.
    let dims = match (mode, a.shape()) {
        (Reduction::TotalVariation, &[_, h, w]) => (h, w),
        (Reduction::TotalVariation, s) => {
            return Err(shape_err(
                "reduce",
                format!("total variation needs a [C, H, W] tensor, got {s:?}"),
            ));
        }
        _ => (1, 1),
    };
    let code = match mode {
        Reduction::Sum => 0,
        Reduction::SumSquaredDiff => 1,
        Reduction::SumSquares => 2,
        Reduction::TotalVariation => 3,
    };
    let p = Params {
        n: n as u32,
        chunk: CHUNK as u32,
        mode: code,
        parts: parts as u32,
        scale,
        width: dims.1 as u32,
        height: dims.0 as u32,
        _pad: 0,
    };
    let partials = plan.alloc(
        ctx,
        &format!("{}.partials", a.label()),
        &[parts],
        DType::F32,
    )?;
    let out = plan.alloc(ctx, &format!("{}.reduced", a.label()), &[1], DType::F32)?;
    plan.push(ctx.dispatch(
        "reduce.partial",
        &PARTIAL,
        &[],
        &p,
        &[a, b, &partials],
        [parts as u32, 1, 1],
    )?);
    plan.push(ctx.dispatch(
        "reduce.finish",
        &FINISH,
        &[],
        &p,
        &[&partials, &out],
        [1, 1, 1],
    )?);
    Ok(out)
}

/// Appends the sum of `a`.
pub fn sum(ctx: &GpuContext, plan: &mut Plan, a: &Tensor) -> Result<Tensor> {
    reduce(ctx, plan, a, None, Reduction::Sum, 1.0)
}

/// Appends the mean of `a`.
pub fn mean(ctx: &GpuContext, plan: &mut Plan, a: &Tensor) -> Result<Tensor> {
    reduce(ctx, plan, a, None, Reduction::Sum, 1.0 / a.numel() as f32)
}

/// Appends the sum of `(a - b)^2`.
pub fn sum_squared_diff(
    ctx: &GpuContext,
    plan: &mut Plan,
    a: &Tensor,
    b: &Tensor,
) -> Result<Tensor> {
    reduce(ctx, plan, a, Some(b), Reduction::SumSquaredDiff, 1.0)
}

/// Appends the total variation of `a` [C, H, W] times `scale`.
pub fn total_variation(
    ctx: &GpuContext,
    plan: &mut Plan,
    a: &Tensor,
    scale: f32,
) -> Result<Tensor> {
    reduce(ctx, plan, a, None, Reduction::TotalVariation, scale)
}

params! {
    pub(crate) struct TvParams {
        n: u32,
        width: u32,
        height: u32,
        _pad: u32,
        scale: f32,
        _pad1: [u32; 3],
    }
}

/// Appends the gradient of [`total_variation`]`(a, scale)` with respect to `a` [C, H, W].
pub fn total_variation_backward(
    ctx: &GpuContext,
    plan: &mut Plan,
    a: &Tensor,
    scale: f32,
) -> Result<Tensor> {
    let (_, h, w) = a.chw("total_variation_backward")?;
    let n = a.numel();
    let g = plan.alloc(
        ctx,
        &format!("{}.tv_grad", a.label()),
        a.shape(),
        DType::F32,
    )?;
    let p = TvParams {
        n: n as u32,
        width: w as u32,
        height: h as u32,
        _pad: 0,
        scale,
        _pad1: [0; 3],
    };
    plan.push(ctx.dispatch(
        "total_variation_backward",
        &TV_BACKWARD,
        &[],
        &p,
        &[a, &g],
        crate::gpu::linear_workgroups(n, 256),
    )?);
    Ok(g)
}
