//! A transform net on the whole image in one submission: the photo scaled to `max_size` and
//! padded by reflection to sides that are multiples of 4 (at least 16), the net's plan
//! recorded once per padded size and reused.

use super::net::Net;
use crate::gpu::{DType, GpuContext, Plan, Tensor};
use crate::image::Rgba8Image;
use crate::ops;
use crate::Result;

/// One recorded plan per padded input size: pixels in, planes out.
pub(crate) type WholeCache = crate::gpu::PlanCache<(usize, usize), WholePlan>;

pub(crate) struct WholePlan {
    plan: Plan,
    pixels: Tensor,
    output: Tensor,
}

/// A whole-image run on the GPU, not yet read back: the (scaled) photo's size, the padded
/// pixel buffer the plan read, and its output planes ([3, padded h, padded w], in the net's
/// range; times `to_unit` they are in [0, 1]).
pub(crate) struct Submitted {
    pub(crate) size: (usize, usize),
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) pixels: Tensor,
    pub(crate) output: Tensor,
    pub(crate) padded: (usize, usize),
    pub(crate) to_unit: f32,
}

fn record_plan<N: Net>(ctx: &GpuContext, net: &N, padded: &Rgba8Image) -> Result<(WholePlan, u64)> {
    let mut plan = Plan::new("transform net");
    let pixels = ctx.tensor("photo", &[padded.height, padded.width], DType::Rgba8)?;
    let x = ops::rgba_to_planar(ctx, &mut plan, &pixels, &net.pixel_map())?;
    let output = super::direct::forward(net, ctx, &mut plan, &x)?;
    let bytes = plan.bytes();
    Ok((
        WholePlan {
            plan,
            pixels,
            output,
        },
        bytes,
    ))
}

/// Pads the (scaled) photo, writes it into the plan for its size (recorded on first use),
/// calls `set_style` and submits, without reading back.
pub(crate) fn submit<N: Net>(
    ctx: &GpuContext,
    net: &N,
    cache: &WholeCache,
    photo: &Rgba8Image,
    set_style: impl FnOnce() -> Result<()>,
) -> Result<Submitted> {
    let padded = photo.reflect_pad_to(4, 16);
    let key = (padded.width, padded.height);
    let make = || record_plan(ctx, net, &padded);
    let (pixels, output) = cache.with(ctx, key, make, |entry| {
        ctx.queue()
            .write_buffer(entry.pixels.buffer(), 0, &padded.data);
        set_style()?;
        entry.plan.submit(ctx);
        Ok((entry.pixels.clone(), entry.output.clone()))
    })?;
    Ok(Submitted {
        size: (photo.width, photo.height),
        pixels,
        output,
        padded: key,
        to_unit: 1.0 / (255.0 * net.pixel_map().scale[0]),
    })
}

/// Reads a submitted run's output back: planes [3, h, w] of the (scaled) photo, in [0, 1].
pub(crate) async fn read(ctx: &GpuContext, run: &Submitted) -> Result<Vec<f32>> {
    let planes = ctx.read(&run.output).await?;
    let (pw, ph) = run.padded;
    let (w, h) = run.size;
    let to_unit = run.to_unit;
    let mut cropped = Vec::with_capacity(3 * w * h);
    for c in 0..3 {
        for y in 0..h {
            cropped.extend(planes[(c * ph + y) * pw..][..w].iter().map(|v| v * to_unit));
        }
    }
    Ok(cropped)
}
