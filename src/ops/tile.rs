//! Ops for tiled runs: cropping a region out of a tensor, and combining per-tile instance-norm
//! statistics into whole-image ones.

use super::{grid, kernel, shape_err};
use crate::gpu::params::params;
use crate::gpu::{linear_workgroups, DType, GpuContext, Kernel, Plan, Tensor};
use crate::Result;

const CROP: Kernel = kernel!("crop.wgsl", "main");
const COMBINE: Kernel = kernel!("stats_combine.wgsl", "main");

params! {
    pub(crate) struct CropParams {
        in_h: u32,
        in_w: u32,
        out_h: u32,
        out_w: u32,
        channels: u32,
        y0: u32,
        x0: u32,
        _pad: u32,
    }
}

/// Appends a crop of `x` [C, H, W]: the `h` x `w` region whose top-left corner is (`y0`, `x0`).
pub fn crop(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    y0: usize,
    x0: usize,
    h: usize,
    w: usize,
) -> Result<Tensor> {
    let (c, ih, iw) = x.chw("crop")?;
    if y0 + h > ih || x0 + w > iw || h == 0 || w == 0 {
        return Err(shape_err(
            "crop",
            format!(
                "a {h}x{w} region at ({y0}, {x0}) is not inside '{}' [{c}, {ih}, {iw}]",
                x.label()
            ),
        ));
    }
    let y = plan.alloc(ctx, &format!("{}.crop", x.label()), &[c, h, w], DType::F32)?;
    let p = CropParams {
        in_h: ih as u32,
        in_w: iw as u32,
        out_h: h as u32,
        out_w: w as u32,
        channels: c as u32,
        y0: y0 as u32,
        x0: x0 as u32,
        _pad: 0,
    };
    plan.push(ctx.dispatch("crop", &CROP, &[], &p, &[x, &y], grid(w, h, c, [8, 8]))?);
    Ok(y)
}

params! {
    pub(crate) struct CombineParams {
        channels: u32,
        mode: u32,
        weight: f32,
        _pad: u32,
    }
}

/// Appends the combination of per-tile statistics (`parts`: ([C, 2] mean / variance, pixel
/// count) each, from [`super::instance_norm_stats`]) into the whole image's [C, 2] statistics.
pub fn combine_stats(
    ctx: &GpuContext,
    plan: &mut Plan,
    parts: &[(Tensor, usize)],
) -> Result<Tensor> {
    let Some((first, _)) = parts.first() else {
        return Err(shape_err("combine_stats", "no tiles".into()));
    };
    let c = first.numel() / 2;
    if parts.iter().any(|(t, _)| t.numel() != 2 * c) {
        return Err(shape_err(
            "combine_stats",
            "tiles differ in channels".into(),
        ));
    }
    let total: usize = parts.iter().map(|p| p.1).sum();
    let acc = plan.alloc(ctx, "stats.combined", &[c, 2], DType::F32)?;
    for sweep in [0u32, 2] {
        for (i, (t, n)) in parts.iter().enumerate() {
            let p = CombineParams {
                channels: c as u32,
                mode: sweep + u32::from(i > 0),
                weight: *n as f32 / total as f32,
                _pad: 0,
            };
            plan.push(ctx.dispatch(
                "combine_stats",
                &COMBINE,
                &[],
                &p,
                &[t, &acc],
                linear_workgroups(c, 64),
            )?);
        }
    }
    Ok(acc)
}
