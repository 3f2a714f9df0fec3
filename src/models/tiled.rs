//! Large images in tiles, exactly.
//!
//! The transform nets are written once against [`Builder`]: [`super::direct::Direct`] records
//! them on whole tensors, [`Tiled`] here on a grid of tiles. A tiled run keeps every tile in step, layer by layer:
//! each tile is its core (a `tile` x `tile` cell of the image) plus a margin of [`MARGIN`]
//! pixels of its neighbours (clipped at the image's edges, where the convs' own reflection
//! padding is the image's). The margin is wider than the nets' receptive radius (62 px for the
//! 26-style net, 54 for the others), so every core pixel sees exactly the inputs it sees in an
//! untiled run. Instance norm takes its statistics over the whole image: each tile's core is
//! cropped, its statistics computed, and the tiles' statistics combined on the GPU before any
//! tile is normalised. The output is the tiles' cores put side by side: no seams to blend, and
//! the result equals the untiled run up to float rounding (tested at 256x256 with 64 px tiles).
//!
//! No tensor is larger than one tile's region, which is what lets images bigger than the
//! device's largest storage binding through. The plan is submitted in parts, with progress
//! reported between them: a large image takes minutes on a slow device.

use std::sync::Arc;

use super::net::{Builder, Net, Progress};
use crate::gpu::{DType, GpuContext, Plan, Tensor};
use crate::image::Rgba8Image;
use crate::ops::{self, Activation, Conv2d};
use crate::{Error, Result};

/// Context each tile carries beyond its core, in input pixels (a multiple of 4, at least the
/// nets' receptive radius).
pub const MARGIN: usize = 64;

/// Float activations per input pixel at the widest point of the nets (32 channels at full
/// resolution), for choosing a tile size automatically.
const BYTES_PER_PIXEL: u64 = 32 * 4;

/// One tile: its region of the (padded) image and its core inside that region, in input
/// pixels; all multiples of 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Region {
    x: usize,
    y: usize,
    w: usize,
    h: usize,
    core_x: usize,
    core_y: usize,
    core_w: usize,
    core_h: usize,
}

/// The regions covering a `width` x `height` image (multiples of 4) with `tile` px cores.
fn regions(width: usize, height: usize, tile: usize) -> Vec<Region> {
    let mut out = Vec::new();
    for y0 in (0..height).step_by(tile) {
        for x0 in (0..width).step_by(tile) {
            let (x1, y1) = ((x0 + tile).min(width), (y0 + tile).min(height));
            let (rx, ry) = (x0.saturating_sub(MARGIN), y0.saturating_sub(MARGIN));
            let (rx1, ry1) = ((x1 + MARGIN).min(width), (y1 + MARGIN).min(height));
            out.push(Region {
                x: rx,
                y: ry,
                w: rx1 - rx,
                h: ry1 - ry,
                core_x: x0 - rx,
                core_y: y0 - ry,
                core_w: x1 - x0,
                core_h: y1 - y0,
            });
        }
    }
    out
}

/// Tiles of one activation; `level` is how many times it has been halved.
#[derive(Clone)]
pub(crate) struct Tiles {
    parts: Vec<Tensor>,
    level: u32,
}

/// Records on tiles.
pub(crate) struct Tiled<'a> {
    ctx: &'a GpuContext,
    plan: &'a mut Plan,
    regions: Vec<Region>,
}

impl Tiled<'_> {
    fn each(
        &mut self,
        x: &Tiles,
        mut f: impl FnMut(&GpuContext, &mut Plan, &Tensor) -> Result<Tensor>,
    ) -> Result<Vec<Tensor>> {
        x.parts.iter().map(|t| f(self.ctx, self.plan, t)).collect()
    }
}

impl Builder for Tiled<'_> {
    type T = Tiles;

    fn conv(&mut self, conv: &Conv2d, x: &Tiles) -> Result<Tiles> {
        let parts = self.each(x, |ctx, plan, t| conv.record(ctx, plan, t))?;
        let (in_h, out_h) = (x.parts[0].shape()[1], parts[0].shape()[1]);
        let level = x.level + (in_h / out_h.max(1)).trailing_zeros();
        Ok(Tiles { parts, level })
    }

    fn norm(
        &mut self,
        x: &Tiles,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f32,
        act: Activation,
    ) -> Result<Tiles> {
        let s = x.level;
        let mut stats = Vec::with_capacity(x.parts.len());
        for (t, r) in x.parts.iter().zip(&self.regions) {
            let core = ops::crop(
                self.ctx,
                self.plan,
                t,
                r.core_y >> s,
                r.core_x >> s,
                r.core_h >> s,
                r.core_w >> s,
            )?;
            let st = ops::instance_norm_stats(self.ctx, self.plan, &core)?;
            self.plan.release(core);
            stats.push((st, (r.core_h >> s) * (r.core_w >> s)));
        }
        let whole = ops::combine_stats(self.ctx, self.plan, &stats)?;
        for (st, _) in stats {
            self.plan.release(st);
        }
        let parts = self.each(x, |ctx, plan, t| {
            ops::instance_norm_apply(ctx, plan, t, &whole, gamma, beta, eps, act)
        })?;
        self.plan.release(whole);
        Ok(Tiles {
            parts,
            level: x.level,
        })
    }

    fn add(&mut self, a: &Tiles, b: &Tiles) -> Result<Tiles> {
        let parts = a
            .parts
            .iter()
            .zip(&b.parts)
            .map(|(p, q)| ops::add(self.ctx, self.plan, p, q))
            .collect::<Result<_>>()?;
        Ok(Tiles {
            parts,
            level: a.level,
        })
    }

    fn upsample2(&mut self, x: &Tiles) -> Result<Tiles> {
        let parts = self.each(x, |ctx, plan, t| ops::upsample_nearest(ctx, plan, t, 2))?;
        Ok(Tiles {
            parts,
            level: x.level.saturating_sub(1),
        })
    }

    fn release(&mut self, x: Tiles) {
        for t in x.parts {
            self.plan.release(t);
        }
    }
}

/// One recorded tiled plan: a pixel buffer and an output per tile.
pub(crate) struct TiledPlan {
    plan: Plan,
    regions: Vec<Region>,
    pixels: Vec<Tensor>,
    outputs: Vec<Tensor>,
}

/// Tiled plans by (padded width, padded height, tile). Shared (`Arc`) so that a run can hold
/// its plan across the waits between its parts without keeping the cache locked.
pub(crate) type TiledCache = crate::gpu::PlanCache<(usize, usize, usize), Arc<TiledPlan>>;

/// Parts a tiled run is submitted in (progress is reported after each).
const PARTS: usize = 32;

/// The tile size a run uses: `requested` (rounded up to a multiple of 4, at least 16), or with
/// 0 the largest multiple of 64 whose tile (margins included) fits the device's largest storage
/// binding; `None` when the image needs no tiling.
pub(crate) fn tile_size(
    ctx: &GpuContext,
    width: usize,
    height: usize,
    requested: usize,
) -> Result<Option<usize>> {
    let l = ctx.limits();
    choose_tile(
        width,
        height,
        requested,
        l.max_storage_buffer_binding_size.min(l.max_buffer_size),
    )
}

/// [`tile_size`] for a device whose largest buffer binding is `limit` bytes.
fn choose_tile(width: usize, height: usize, requested: usize, limit: u64) -> Result<Option<usize>> {
    if requested > 0 {
        let t = requested.max(16).next_multiple_of(4);
        return Ok((t < width.max(height)).then_some(t));
    }
    if (width * height) as u64 * BYTES_PER_PIXEL <= limit {
        return Ok(None);
    }
    let fits_bytes = |t: usize| ((t + 2 * MARGIN) as u64).pow(2) * BYTES_PER_PIXEL;
    let fits = |t: usize| fits_bytes(t) <= limit;
    let mut t = 64;
    if !fits(t) {
        return Err(Error::TooLarge {
            op: "stylize".into(),
            what: "a 64 px tile with its margins".into(),
            needed: format!("{} MB", fits_bytes(64) >> 20),
            limit: format!("{} MB", limit >> 20),
            limit_name: "maxStorageBufferBindingSize",
            hint: "use a device with larger buffers".into(),
        });
    }
    while fits(t + 64) {
        t += 64;
    }
    Ok(Some(t))
}

/// The tile size for stylizing a (scaled) photo of `width` x `height` ([`tile_size`] of its
/// padded size).
pub(crate) fn tile_for(
    ctx: &GpuContext,
    (width, height): (usize, usize),
    requested: usize,
) -> Result<Option<usize>> {
    let pad = |n: usize| n.max(16).next_multiple_of(4);
    tile_size(ctx, pad(width), pad(height), requested)
}

/// Records `net` on the tiles of a `pw` x `ph` image with `tile` px cores.
fn record_plan<N: Net>(
    ctx: &GpuContext,
    net: &N,
    (pw, ph): (usize, usize),
    tile: usize,
) -> Result<(Arc<TiledPlan>, u64)> {
    let regions = regions(pw, ph, tile);
    let mut plan = Plan::new("transform net, tiled");
    let mut pixels = Vec::new();
    let mut parts = Vec::new();
    for (i, r) in regions.iter().enumerate() {
        let px = ctx.tensor(&format!("photo.tile{i}"), &[r.h, r.w], DType::Rgba8)?;
        parts.push(ops::rgba_to_planar(ctx, &mut plan, &px, &net.pixel_map())?);
        pixels.push(px);
    }
    let input = Tiles { parts, level: 0 };
    let mut b = Tiled {
        ctx,
        plan: &mut plan,
        regions: regions.clone(),
    };
    let out = net.forward(&mut b, &input)?;
    b.release(input);
    let bytes = plan.bytes();
    let tiled = TiledPlan {
        plan,
        regions,
        pixels,
        outputs: out.parts,
    };
    Ok((Arc::new(tiled), bytes))
}

/// Runs `net` on a photo (already scaled) in tiles of `tile` px (see the module docs): pads it
/// by reflection to multiples of 4, records the tiled plan for that size once, writes the
/// tiles, calls `set_style`, submits the plan in [`PARTS`] parts (reporting `progress` after
/// each), reads the tiles back and puts their cores together: planes [3, h, w] in [0, 1].
///
/// The caller keeps other runs of the net (and style changes) out until this returns: they
/// would write the same buffers between the parts.
pub(crate) async fn run<N: Net>(
    ctx: &GpuContext,
    net: &N,
    cache: &TiledCache,
    photo: &Rgba8Image,
    tile: usize,
    set_style: impl FnOnce() -> Result<()>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<f32>> {
    let padded = photo.reflect_pad_to(4, 16);
    let size = (padded.width, padded.height);
    let make = || record_plan(ctx, net, size, tile);
    let entry = cache.with(ctx, (size.0, size.1, tile), make, |e| Ok(e.clone()))?;
    for (px, r) in entry.pixels.iter().zip(&entry.regions) {
        ctx.queue()
            .write_buffer(px.buffer(), 0, &region_pixels(&padded, r));
    }
    set_style()?;
    let total = entry.plan.dispatches().len();
    let step = total.div_ceil(PARTS).max(1);
    for start in (0..total).step_by(step) {
        let end = (start + step).min(total);
        entry.plan.submit_range(ctx, start..end);
        ctx.finish().await?;
        progress(Progress {
            done: end,
            total,
            tiles: entry.regions.len(),
            tile,
        });
    }
    let tiles = ctx
        .read_many(&entry.outputs.iter().collect::<Vec<_>>())
        .await?;
    let scale = 1.0 / (255.0 * net.pixel_map().scale[0]);
    Ok(assemble(&tiles, &entry.regions, photo, scale))
}

/// The RGBA bytes of one tile's region of the padded image.
fn region_pixels(padded: &Rgba8Image, r: &Region) -> Vec<u8> {
    let mut data = Vec::with_capacity(r.w * r.h * 4);
    for y in r.y..r.y + r.h {
        data.extend_from_slice(&padded.data[(y * padded.width + r.x) * 4..][..r.w * 4]);
    }
    data
}

/// Puts the tiles' cores side by side, cropped to the photo and scaled by `scale`.
fn assemble(tiles: &[Vec<f32>], regions: &[Region], photo: &Rgba8Image, scale: f32) -> Vec<f32> {
    let (w, h) = (photo.width, photo.height);
    let mut planes = vec![0.0f32; 3 * w * h];
    for (vals, r) in tiles.iter().zip(regions) {
        let x0 = r.x + r.core_x;
        if x0 >= w {
            continue;
        }
        let n = r.core_w.min(w - x0);
        for c in 0..3 {
            for yy in 0..r.core_h {
                let y = r.y + r.core_y + yy;
                if y >= h {
                    break;
                }
                let src = &vals[(c * r.h + r.core_y + yy) * r.w + r.core_x..][..n];
                for (d, v) in planes[(c * h + y) * w + x0..][..n].iter_mut().zip(src) {
                    *d = v * scale;
                }
            }
        }
    }
    planes
}

#[cfg(test)]
mod tests {
    use super::{choose_tile, regions, MARGIN};

    #[test]
    fn tiles_are_chosen_from_the_device_limit() {
        let mb = 1u64 << 20;
        // 1024x1024 needs 128 MiB of activations: fits 256 MiB, not 128 MiB - 1.
        assert_eq!(choose_tile(1024, 1024, 0, 256 * mb).unwrap(), None);
        let t = choose_tile(1024, 1024, 0, 128 * mb - 1).unwrap().unwrap();
        // The largest multiple of 64 whose region fits: (832 + 128)^2 * 128 B = 112.5 MiB;
        // 896 would need exactly 128 MiB.
        assert_eq!(t, 832);
        // A user's tile is rounded up to a multiple of 4 (at least 16); none if it covers all.
        assert_eq!(choose_tile(256, 256, 30, 1 << 40).unwrap(), Some(32));
        assert_eq!(choose_tile(256, 256, 256, 1 << 40).unwrap(), None);
        // Too small for even one tile: a named error.
        let e = choose_tile(4096, 4096, 0, mb).unwrap_err().to_string();
        assert!(e.contains("maxStorageBufferBindingSize"), "{e}");
    }

    #[test]
    fn regions_cover_the_image_once() {
        let rs = regions(200, 124, 64);
        assert_eq!(rs.len(), 4 * 2);
        let mut covered = vec![0u8; 200 * 124];
        for r in &rs {
            assert!(r.x + r.w <= 200 && r.y + r.h <= 124);
            assert!(r.core_x + r.core_w <= r.w && r.core_y + r.core_h <= r.h);
            for y in r.y + r.core_y..r.y + r.core_y + r.core_h {
                for x in r.x + r.core_x..r.x + r.core_x + r.core_w {
                    covered[y * 200 + x] += 1;
                }
            }
            // The margin is MARGIN wherever the image allows.
            assert_eq!(r.core_x, MARGIN.min(r.x + r.core_x));
        }
        assert!(covered.iter().all(|&c| c == 1));
    }
}
