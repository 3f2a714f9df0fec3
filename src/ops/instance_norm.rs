//! Instance normalisation: per-channel statistics over H x W, then
//! `gamma * (x - mean) / sqrt(var + eps) + beta` and a fused activation. Plain affine instance
//! norm and conditional instance norm (gamma and beta computed per style) share the kernels:
//! gamma and beta are always tensors.

use super::{kernel, shape_err, Activation, ChannelAffine};
use crate::gpu::params::params;
use crate::gpu::{linear_workgroups, DType, GpuContext, Kernel, Plan, Tensor};
use crate::Result;

const STATS: Kernel = kernel!("instance_norm.wgsl", "stats_main");
const COEFFS: Kernel = kernel!("instance_norm.wgsl", "coeffs_main");
const APPLY: Kernel = kernel!("instance_norm_apply.wgsl", "main");
const BACKWARD: Kernel = kernel!("instance_norm_backward.wgsl", "main");

params! {
    pub(crate) struct Params {
        channels: u32,
        plane: u32,
        act: u32,
        eps: f32,
    }
}

/// Appends the per-channel statistics of `x` [C, H, W] to `plan`: a [C, 2] tensor of
/// (mean, biased variance).
pub fn instance_norm_stats(ctx: &GpuContext, plan: &mut Plan, x: &Tensor) -> Result<Tensor> {
    let (c, h, w) = x.chw("instance_norm")?;
    let stats = plan.alloc(ctx, &format!("{}.stats", x.label()), &[c, 2], DType::F32)?;
    let p = Params {
        channels: c as u32,
        plane: (h * w) as u32,
        act: 0,
        eps: 0.0,
    };
    plan.push(ctx.dispatch(
        "instance_norm.stats",
        &STATS,
        &[],
        &p,
        &[x, &stats],
        [c as u32, 1, 1],
    )?);
    Ok(stats)
}

/// Appends the statistics of `x` [C, H, W] as the normalisation's per-channel map
/// ([`ChannelAffine`]: `act((x - mean) * scale + beta)`, scale = gamma / sqrt(var + eps)),
/// for the next op to apply as it reads `x` ([super::add_mapped], [super::Conv2d::record_input])
/// instead of a pass of its own. One dispatch, as [`instance_norm_stats`].
pub fn instance_norm_coeffs(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
    act: Activation,
) -> Result<ChannelAffine> {
    let (c, h, w) = x.chw("instance_norm")?;
    check_sizes(
        "instance_norm",
        x,
        &[("gamma", gamma, c), ("beta", beta, c)],
    )?;
    check_eps(eps)?;
    let coeffs = plan.alloc(ctx, &format!("{}.norm", x.label()), &[c, 4], DType::F32)?;
    let p = Params {
        channels: c as u32,
        plane: (h * w) as u32,
        act: 0,
        eps,
    };
    plan.push(ctx.dispatch(
        "instance_norm.coeffs",
        &COEFFS,
        &[],
        &p,
        &[x, gamma, beta, &coeffs],
        [c as u32, 1, 1],
    )?);
    Ok(ChannelAffine { coeffs, act })
}

/// Appends the normalisation of `x` with given statistics ([C, 2], from
/// [`instance_norm_stats`], possibly of a larger image that `x` is a tile of).
#[allow(clippy::too_many_arguments)]
pub fn instance_norm_apply(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    stats: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
    act: Activation,
) -> Result<Tensor> {
    let (c, h, w) = x.chw("instance_norm")?;
    let per_channel = [
        ("stats", stats, c * 2),
        ("gamma", gamma, c),
        ("beta", beta, c),
    ];
    check_sizes("instance_norm", x, &per_channel)?;
    check_eps(eps)?;
    let n = c * h * w;
    let y = plan.alloc(ctx, &format!("{}.in", x.label()), x.shape(), DType::F32)?;
    let p = Params {
        channels: c as u32,
        plane: (h * w) as u32,
        act: act.code(),
        eps,
    };
    plan.push(ctx.dispatch(
        "instance_norm.apply",
        &APPLY,
        &[],
        &p,
        &[x, stats, gamma, beta, &y],
        linear_workgroups(n, 256),
    )?);
    Ok(y)
}

/// Appends instance normalisation of `x` [C, H, W] with per-channel `gamma` and `beta` [C].
pub fn instance_norm(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
    act: Activation,
) -> Result<Tensor> {
    let stats = instance_norm_stats(ctx, plan, x)?;
    instance_norm_apply(ctx, plan, x, &stats, gamma, beta, eps, act)
}

/// The gradients of an instance norm ([`instance_norm`] without its activation).
pub struct InstanceNormGrads {
    /// dL/dx, [C, H, W].
    pub x: Tensor,
    /// [C, 2]: (dL/dgamma, dL/dbeta) of each channel.
    pub params: Tensor,
}

/// Appends the backward of `y = gamma * (x - mean) / sqrt(var + eps) + beta` with the
/// statistics of `x` itself (`stats` from [`instance_norm_stats`] of `x`), from `grad_out`
/// = dL/dy (apply an activation's backward first): the gradients with respect to `x`, `gamma`
/// and `beta`.
pub fn instance_norm_backward(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    stats: &Tensor,
    gamma: &Tensor,
    grad_out: &Tensor,
    eps: f32,
) -> Result<InstanceNormGrads> {
    let (c, h, w) = x.chw("instance_norm_backward")?;
    super::same_shape("instance_norm_backward", x, grad_out)?;
    let per_channel = [("stats", stats, c * 2), ("gamma", gamma, c)];
    check_sizes("instance_norm_backward", x, &per_channel)?;
    let gx = plan.alloc(ctx, &format!("{}.grad", x.label()), x.shape(), DType::F32)?;
    let label = format!("{}.norm_grad", x.label());
    let params = plan.alloc(ctx, &label, &[c, 2], DType::F32)?;
    let p = Params {
        channels: c as u32,
        plane: (h * w) as u32,
        act: 0,
        eps,
    };
    plan.push(ctx.dispatch(
        "instance_norm_backward",
        &BACKWARD,
        &[],
        &p,
        &[x, stats, gamma, grad_out, &gx, &params],
        [c as u32, 1, 1],
    )?);
    Ok(InstanceNormGrads { x: gx, params })
}

fn check_eps(eps: f32) -> Result<()> {
    if eps.is_nan() || eps < 0.0 {
        return Err(crate::Error::InvalidArgument {
            op: "instance_norm",
            message: format!("eps must be a non-negative number, got {eps}"),
        });
    }
    Ok(())
}

/// Fails unless each (name, tensor, values) holds that many values (the per-channel tensors
/// that go with `x`).
fn check_sizes(op: &'static str, x: &Tensor, tensors: &[(&str, &Tensor, usize)]) -> Result<()> {
    for &(name, t, want) in tensors {
        if t.numel() != want {
            return Err(shape_err(
                op,
                format!(
                    "{name} '{}' has {} values but '{}' {:?} needs {want}",
                    t.label(),
                    t.numel(),
                    x.label(),
                    x.shape()
                ),
            ));
        }
    }
    Ok(())
}
