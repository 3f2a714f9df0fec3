//! Large images in tiles, exactly.
//!
//! The transform nets are written once against [`Builder`]: [`Direct`] records them on whole
//! tensors, [`Tiled`] on a grid of tiles. A tiled run keeps every tile in step, layer by layer:
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
//! device's largest storage binding through; the whole run is still one submission.

use super::multistyle::{check_strength, run_padded, Finish, PlanCache};
use crate::gpu::{DType, GpuContext, Plan, Tensor};
use crate::image::{compose, Rgba8Image};
use crate::ops::{self, Activation, Conv2d, PixelMap};
use crate::{Error, Result};

/// Context each tile carries beyond its core, in input pixels (a multiple of 4, at least the
/// nets' receptive radius).
pub const MARGIN: usize = 64;

/// Float activations per input pixel at the widest point of the nets (32 channels at full
/// resolution), for choosing a tile size automatically.
const BYTES_PER_PIXEL: u64 = 32 * 4;

/// The layer operations the transform nets are made of.
pub(crate) trait Builder {
    /// A whole tensor, or a set of tiles.
    type T: Clone;
    /// A convolution (with its fused bias and activation).
    fn conv(&mut self, conv: &Conv2d, x: &Self::T) -> Result<Self::T>;
    /// Instance norm with statistics over the whole image, then `act`.
    fn norm(
        &mut self,
        x: &Self::T,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f32,
        act: Activation,
    ) -> Result<Self::T>;
    /// `a + b`.
    fn add(&mut self, a: &Self::T, b: &Self::T) -> Result<Self::T>;
    /// Nearest upsampling x2.
    fn upsample2(&mut self, x: &Self::T) -> Result<Self::T>;
    /// `x` is no longer needed: later outputs may reuse its buffers.
    fn release(&mut self, x: Self::T);

    /// A convolution followed by instance norm (the conv's output released).
    fn conv_norm(
        &mut self,
        conv: &Conv2d,
        x: &Self::T,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f32,
        act: Activation,
    ) -> Result<Self::T> {
        let y = self.conv(conv, x)?;
        let out = self.norm(&y, gamma, beta, eps, act)?;
        self.release(y);
        Ok(out)
    }
}

/// A fully convolutional transform net, written once against [`Builder`].
pub(crate) trait Net {
    /// The layers from planar input to planar output.
    fn forward<B: Builder>(&self, b: &mut B, x: &B::T) -> Result<B::T>;
}

/// A net's recorded plans: whole images by padded size, tiled ones by size and tile.
#[derive(Default)]
pub(crate) struct Plans {
    pub(crate) whole: PlanCache,
    pub(crate) tiled: TiledCache,
}

/// Fails unless `x` is an RGB input the transform nets take (sides multiples of 4, at least 8).
pub(crate) fn check_input(x: &Tensor, op: &'static str) -> Result<()> {
    let (c, h, w) = x.chw(op)?;
    if c != 3 || h % 4 != 0 || w % 4 != 0 || h < 8 || w < 8 {
        return Err(Error::Shape {
            op,
            message: format!("the net takes an RGB image whose sides are multiples of 4 and at least 8; got [{c}, {h}, {w}]"),
        });
    }
    Ok(())
}

/// Stylizes a photo of any size with `net`: whole ([`run_padded`]) or, when the image is too
/// large for the device or `tile` asks for it, in tiles ([`run_tiled`]); `before_submit` writes
/// the style parameters.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn stylize_with<N: Net>(
    ctx: &GpuContext,
    net: &N,
    plans: &Plans,
    photo: &Rgba8Image,
    map: PixelMap,
    finish: Finish,
    tile: usize,
    before_submit: impl FnOnce() -> Result<()>,
) -> Result<Rgba8Image> {
    if let Some(t) = tile_for(ctx, photo, finish.max_size, tile)? {
        let forward = |b: &mut Tiled, x: &Tiles| net.forward(b, x);
        return run_tiled(
            ctx,
            &plans.tiled,
            photo,
            map,
            finish,
            t,
            forward,
            before_submit,
        )
        .await;
    }
    let forward = |plan: &mut Plan, x: &Tensor| net.forward(&mut Direct { ctx, plan }, x);
    run_padded(
        ctx,
        &plans.whole,
        photo,
        map,
        finish,
        forward,
        before_submit,
    )
    .await
}

/// Records on whole tensors.
pub(crate) struct Direct<'a> {
    pub(crate) ctx: &'a GpuContext,
    pub(crate) plan: &'a mut Plan,
}

impl Builder for Direct<'_> {
    type T = Tensor;

    fn conv(&mut self, conv: &Conv2d, x: &Tensor) -> Result<Tensor> {
        conv.record(self.ctx, self.plan, x)
    }

    fn norm(
        &mut self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f32,
        act: Activation,
    ) -> Result<Tensor> {
        ops::instance_norm(self.ctx, self.plan, x, gamma, beta, eps, act)
    }

    fn add(&mut self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        ops::add(self.ctx, self.plan, a, b)
    }

    fn upsample2(&mut self, x: &Tensor) -> Result<Tensor> {
        ops::upsample_nearest(self.ctx, self.plan, x, 2)
    }

    fn release(&mut self, x: Tensor) {
        self.plan.release(x);
    }
}

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

/// Tiled plans by (padded width, padded height, tile).
pub(crate) type TiledCache = crate::gpu::PlanCache<(usize, usize, usize), TiledPlan>;

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

/// The tile size for stylizing `photo` scaled to `max_size` ([`tile_size`] of its padded size).
pub(crate) fn tile_for(
    ctx: &GpuContext,
    photo: &Rgba8Image,
    max_size: usize,
    requested: usize,
) -> Result<Option<usize>> {
    let (w, h) = photo.fitted_size(max_size);
    let pad = |n: usize| n.max(16).next_multiple_of(4);
    tile_size(ctx, pad(w), pad(h), requested)
}

/// Stylizes a photo in tiles of `tile` px (see the module docs): scales it to `max_size`, pads
/// it by reflection to multiples of 4, records the tiled plan for that size once (`forward`
/// gets the planar tiles made with `map` and returns the output tiles), calls `before_submit`,
/// submits once, reads the tiles back, puts their cores together, crops to the photo and
/// applies strength and colour preservation.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_tiled(
    ctx: &GpuContext,
    cache: &TiledCache,
    photo: &Rgba8Image,
    map: PixelMap,
    finish: Finish,
    tile: usize,
    forward: impl FnOnce(&mut Tiled, &Tiles) -> Result<Tiles>,
    before_submit: impl FnOnce() -> Result<()>,
) -> Result<Rgba8Image> {
    check_strength(finish.strength)?;
    let photo = photo.clone().fit_within(finish.max_size);
    let padded = photo.reflect_pad_to(4, 16);
    let (pw, ph) = (padded.width, padded.height);
    let record_plan = || {
        let regions = regions(pw, ph, tile);
        let mut plan = Plan::new("transform net, tiled");
        let mut pixels = Vec::new();
        let mut parts = Vec::new();
        for (i, r) in regions.iter().enumerate() {
            let px = ctx.tensor(&format!("photo.tile{i}"), &[r.h, r.w], DType::Rgba8)?;
            parts.push(ops::rgba_to_planar(ctx, &mut plan, &px, &map)?);
            pixels.push(px);
        }
        let input = Tiles { parts, level: 0 };
        let mut b = Tiled {
            ctx,
            plan: &mut plan,
            regions: regions.clone(),
        };
        let out = forward(&mut b, &input)?;
        b.release(input);
        let bytes = plan.bytes();
        let tiled = TiledPlan {
            plan,
            regions,
            pixels,
            outputs: out.parts,
        };
        Ok((tiled, bytes))
    };
    let (outputs, regions) = cache.with(ctx, (pw, ph, tile), record_plan, |entry| {
        for (px, r) in entry.pixels.iter().zip(&entry.regions) {
            let mut data = Vec::with_capacity(r.w * r.h * 4);
            for y in r.y..r.y + r.h {
                data.extend_from_slice(&padded.data[(y * pw + r.x) * 4..][..r.w * 4]);
            }
            ctx.queue().write_buffer(px.buffer(), 0, &data);
        }
        before_submit()?;
        entry.plan.submit(ctx);
        Ok((entry.outputs.clone(), entry.regions.clone()))
    })?;
    let (w, h) = (photo.width, photo.height);
    let to_unit = 1.0 / (255.0 * map.scale[0]);
    let mut planes = vec![0.0f32; 3 * w * h];
    let tiles = ctx.read_many(&outputs.iter().collect::<Vec<_>>()).await?;
    for (vals, r) in tiles.iter().zip(&regions) {
        for c in 0..3 {
            for yy in 0..r.core_h {
                let y = r.y + r.core_y + yy;
                if y >= h {
                    break;
                }
                let x0 = r.x + r.core_x;
                if x0 >= w {
                    continue;
                }
                let n = r.core_w.min(w - x0);
                let src = &vals[(c * r.h + r.core_y + yy) * r.w + r.core_x..][..n];
                for (d, v) in planes[(c * h + y) * w + x0..][..n].iter_mut().zip(src) {
                    *d = v * to_unit;
                }
            }
        }
    }
    Ok(compose(
        &planes,
        &photo,
        finish.strength,
        finish.preserve_colors,
    ))
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
