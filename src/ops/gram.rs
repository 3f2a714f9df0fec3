//! Gram matrix of feature maps: `G = scale * F F^T` with F the [C, H*W] view of [C, H, W].
//! Gatys' style loss uses `scale = 1 / (C * H * W)`.

use super::{grid, kernel, shape_err, Conv2d, Unary};
use crate::gpu::params::params;
use crate::gpu::{DType, GpuContext, Kernel, Plan, Tensor};
use crate::Result;

const GRAM: Kernel = kernel!("gram.wgsl", "main");

params! {
    pub(crate) struct Params {
        channels: u32,
        n: u32,
        scale: f32,
        _pad: u32,
    }
}

/// Appends the [C, C] Gram matrix of `x` [C, H, W], multiplied by `scale`.
pub fn gram(ctx: &GpuContext, plan: &mut Plan, x: &Tensor, scale: f32) -> Result<Tensor> {
    let (c, h, w) = x.chw("gram")?;
    if ctx.adapter().subgroup_conv_by_default() && Conv2d::fills_channel_blocks(ctx, c) {
        return gram_as_conv(ctx, plan, x, [c, h * w], scale);
    }
    let g = plan.alloc(ctx, &format!("{}.gram", x.label()), &[c, c], DType::F32)?;
    let p = Params {
        channels: c as u32,
        n: (h * w) as u32,
        scale,
        _pad: 0,
    };
    let blocks = c.div_ceil(4);
    plan.push(
        ctx.dispatch(
            "gram",
            &GRAM,
            &[],
            &p,
            &[x, &g],
            grid(blocks, blocks, 1, [8, 8]),
        )?
        // A multiply-add per pair of channels and pixel.
        .with_flops(2 * (c * c * h * w) as u64),
    );
    Ok(g)
}

/// The Gram matrix of `x` viewed as [c, n] as a 1x1 convolution: the transposed features F^T
/// [n, c] are both its weights (the tiled layout is [in][out]: G's rows are F's) and its input
/// (n planes of c pixels), so the product lands as G [c, 1, c]. Where measured (lavapipe, the
/// subgroup kernels) this ran 2.9-5.4x faster than the Gram kernel, whose loads dominate; on
/// other GPUs, whose plane of only c pixels would leave most of them idle untuned, the Gram
/// kernel stays. `c` must fill the convolution's channel blocks.
fn gram_as_conv(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    [c, n]: [usize; 2],
    scale: f32,
) -> Result<Tensor> {
    let label = format!("{}.gram", x.label());
    let ft = super::transpose(ctx, plan, x, [c, n])?;
    let conv = Conv2d::pointwise_transposed(ctx, &label, &ft, n, c)?;
    let planes = ft.reshaped(&format!("{}.t", x.label()), &[n, 1, c], DType::F32);
    let product = conv.record(ctx, plan, &planes)?;
    let g = super::unary(
        ctx,
        plan,
        &product,
        Unary::Affine {
            alpha: scale,
            beta: 0.0,
        },
    )?;
    Ok(g.reshaped(&label, &[c, c], DType::F32))
}

/// Appends the gradient with respect to `x` [C, H, W] of a loss of `G = scale * F F^T`, given
/// `grad_g` = dL/dG [C, C], which must be symmetric (true of any loss of a Gram matrix written
/// in terms of G, such as Gatys' squared difference): `dL/dF = scale * (D + D^T) F = 2 scale D F`.
/// The product runs as a 1x1 convolution of `x` with the scaled matrix as its weights.
pub fn gram_backward(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    grad_g: &Tensor,
    scale: f32,
) -> Result<Tensor> {
    let (c, _, _) = x.chw("gram_backward")?;
    if grad_g.shape() != [c, c] {
        return Err(shape_err(
            "gram_backward",
            format!(
                "the gradient '{}' is {:?} but the Gram matrix of '{}' is [{c}, {c}]",
                grad_g.label(),
                grad_g.shape(),
                x.label()
            ),
        ));
    }
    let d = super::unary(
        ctx,
        plan,
        grad_g,
        Unary::Affine {
            alpha: 2.0 * scale,
            beta: 0.0,
        },
    )?;
    let conv = Conv2d::pointwise_symmetric(ctx, &format!("{}.gram_grad", x.label()), &d, c)?;
    conv.record(ctx, plan, x)
}
