//! An instance norm's apply as a per-channel map that the next op does as it reads its input,
//! instead of a pass of its own over memory: [`ChannelAffine`] holds the map (from
//! [`super::instance_norm_coeffs`]); [`add_mapped`] adds two tensors each read as stored or
//! through its map (a residual block's end), [`apply_map`] writes a mapped tensor out, and
//! [`super::Conv2d::record_input`] convolves a mapped (and upsampled) input.

use super::{kernel, same_shape, shape_err, Activation};
use crate::gpu::params::params;
use crate::gpu::{linear_workgroups, DType, GpuContext, Kernel, Plan, Tensor};
use crate::Result;

const AFFINE: Kernel = kernel!("channel_affine.wgsl", "main");
/// Four elements a thread as vec4s, where the plane is whole vec4s: the same bits.
const AFFINE_V4: Kernel = kernel!("channel_affine.wgsl", "main_v4");

params! {
    pub(crate) struct Params {
        channels: u32,
        plane: u32,
        flags: u32,
        acts: u32,
    }
}

/// `act((x - mean[c]) * scale[c] + beta[c])` for each channel c of a [C, H, W] tensor: an
/// instance norm with scale = gamma / sqrt(var + eps). `coeffs` is [C, 4] (mean, scale, beta,
/// 0), on the GPU, so that a plan recorded once follows parameters written later (a style
/// change).
#[derive(Debug, Clone)]
pub struct ChannelAffine {
    /// [C, 4]: (mean, scale, beta, 0) per channel.
    pub coeffs: Tensor,
    /// Applied after the affine map.
    pub act: Activation,
}

impl ChannelAffine {
    /// Channels the map has.
    pub fn channels(&self) -> usize {
        self.coeffs.numel() / 4
    }

    /// Fails unless the map has one (mean, scale, beta, 0) per channel of `x`.
    pub(crate) fn check(&self, op: &'static str, x: &Tensor) -> Result<()> {
        let (c, _, _) = x.chw(op)?;
        if self.coeffs.numel() == 4 * c {
            return Ok(());
        }
        Err(shape_err(
            op,
            format!(
                "the channel map '{}' has {} values but '{}' {:?} needs 4 per channel ({})",
                self.coeffs.label(),
                self.coeffs.numel(),
                x.label(),
                x.shape(),
                4 * c
            ),
        ))
    }
}

/// A tensor and the map it is read through (`None`: as stored).
pub type Mapped<'a> = (&'a Tensor, Option<&'a ChannelAffine>);

/// Appends `y = fa(a) + fb(b)`, each side read as stored or through its map.
pub fn add_mapped(ctx: &GpuContext, plan: &mut Plan, a: Mapped, b: Mapped) -> Result<Tensor> {
    same_shape("add", a.0, b.0)?;
    record(ctx, plan, a, Some(b))
}

/// Appends `y = map(x)`: a mapped tensor written out.
pub fn apply_map(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    map: &ChannelAffine,
) -> Result<Tensor> {
    record(ctx, plan, (x, Some(map)), None)
}

fn record(ctx: &GpuContext, plan: &mut Plan, a: Mapped, b: Option<Mapped>) -> Result<Tensor> {
    let op = "channel_affine";
    let (c, h, w) = a.0.chw(op)?;
    for (x, map) in [Some(a), b].into_iter().flatten() {
        if let Some(m) = map {
            m.check(op, x)?;
        }
    }
    let mb = b.and_then(|b| b.1);
    let flags = a.1.is_some() as u32 | (mb.is_some() as u32) << 1 | (b.is_some() as u32) << 2;
    let act = |m: Option<&ChannelAffine>| m.map_or(0, |m| m.act.code());
    let p = Params {
        channels: c as u32,
        plane: (h * w) as u32,
        flags,
        acts: act(a.1) | act(mb) << 8,
    };
    let y = plan.alloc(
        ctx,
        &format!("{}.mapped", a.0.label()),
        a.0.shape(),
        DType::F32,
    )?;
    // Unread bindings are filled with a tensor the kernel never indexes on that path.
    let ma = a.1.map_or(a.0, |m| &m.coeffs);
    let b_t = b.map_or(a.0, |b| b.0);
    let mb = mb.map_or(ma, |m| &m.coeffs);
    let (kernel, threads) = if (h * w) % 4 == 0 {
        (&AFFINE_V4, c * h * w / 4)
    } else {
        (&AFFINE, c * h * w)
    };
    plan.push(ctx.dispatch(
        "channel_affine",
        kernel,
        &[],
        &p,
        &[a.0, b_t, ma, mb, &y],
        linear_workgroups(threads, 256),
    )?);
    Ok(y)
}
