//! Conversions between packed RGBA8 images and planar f32 tensors, with a per-channel
//! order, scale and bias (each net's input convention is one [`PixelMap`]).

use super::{grid, kernel, shape_err};
use crate::gpu::params::params;
use crate::gpu::{DType, GpuContext, Kernel, Plan, Tensor};
use crate::Result;

const UNPACK: Kernel = kernel!("pixels.wgsl", "unpack");
const PACK: Kernel = kernel!("pixels_pack.wgsl", "main");

/// How bytes become planes: `plane[c] = byte[order[c]] * scale[c] + bias[c]` for c < channels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelMap {
    /// Planes produced (3, or 4 to keep alpha).
    pub channels: usize,
    /// Which byte (0 R, 1 G, 2 B, 3 A) each plane comes from.
    pub order: [u32; 4],
    /// Per-plane scale.
    pub scale: [f32; 4],
    /// Per-plane bias.
    pub bias: [f32; 4],
}

impl PixelMap {
    /// RGB in [0, 1] (the 26-style and arbitrary-style nets).
    pub fn rgb_unit() -> Self {
        Self {
            channels: 3,
            order: [0, 1, 2, 3],
            scale: [1.0 / 255.0; 4],
            bias: [0.0; 4],
        }
    }

    /// RGB in [0, 255] (Johnson's nets).
    pub fn rgb_255() -> Self {
        Self {
            channels: 3,
            order: [0, 1, 2, 3],
            scale: [1.0; 4],
            bias: [0.0; 4],
        }
    }

    /// VGG's input: BGR in [0, 255] minus the ImageNet mean [103.939, 116.779, 123.68].
    pub fn vgg_bgr() -> Self {
        Self {
            channels: 3,
            order: [2, 1, 0, 3],
            scale: [1.0; 4],
            bias: [-103.939, -116.779, -123.68, 0.0],
        }
    }

    /// The mapping back: for byte i, the plane it came from and the inverse scale and bias.
    pub fn inverse(&self) -> Self {
        let mut inv = Self {
            channels: self.channels,
            order: [0, 1, 2, 3],
            scale: [1.0; 4],
            bias: [0.0; 4],
        };
        for c in 0..self.channels {
            let byte = self.order[c] as usize;
            inv.order[byte] = c as u32;
            // In f64, so that 1 / (1 / 255) is 255 exactly in f32.
            inv.scale[byte] = (1.0 / self.scale[c] as f64) as f32;
            inv.bias[byte] = (-self.bias[c] as f64 / self.scale[c] as f64) as f32;
        }
        inv
    }

    fn validate(&self, op: &'static str) -> Result<()> {
        let ok = (1..=4).contains(&self.channels)
            && self.order[..self.channels].iter().all(|&o| o < 4)
            && self.scale[..self.channels]
                .iter()
                .all(|s| s.is_finite() && *s != 0.0);
        if ok {
            Ok(())
        } else {
            Err(crate::Error::InvalidArgument { op, message: format!("{self:?} is not a valid pixel map: 1-4 channels, byte indices 0-3, finite non-zero scales") })
        }
    }
}

params! {
    pub(crate) struct Params {
        width: u32,
        height: u32,
        channels: u32,
        _pad: u32,
        order: [u32; 4],
        scale: [f32; 4],
        bias: [f32; 4],
    }
}

impl Params {
    fn new(w: usize, h: usize, m: &PixelMap) -> Self {
        Self {
            width: w as u32,
            height: h as u32,
            channels: m.channels as u32,
            _pad: 0,
            order: m.order,
            scale: m.scale,
            bias: m.bias,
        }
    }
}

/// Appends the conversion of an RGBA8 image `[H, W]` to planar f32 `[channels, H, W]`.
pub fn rgba_to_planar(
    ctx: &GpuContext,
    plan: &mut Plan,
    img: &Tensor,
    map: &PixelMap,
) -> Result<Tensor> {
    map.validate("rgba_to_planar")?;
    let &[h, w] = img.shape() else {
        return Err(shape_err(
            "rgba_to_planar",
            format!(
                "'{}' must be an RGBA8 [H, W] image, got {:?}",
                img.label(),
                img.shape()
            ),
        ));
    };
    if img.dtype() != DType::Rgba8 {
        return Err(shape_err(
            "rgba_to_planar",
            format!(
                "'{}' must be an RGBA8 image, got {:?}",
                img.label(),
                img.dtype()
            ),
        ));
    }
    let y = plan.alloc(
        ctx,
        &format!("{}.planar", img.label()),
        &[map.channels, h, w],
        DType::F32,
    )?;
    plan.push(ctx.dispatch(
        "rgba_to_planar",
        &UNPACK,
        &[],
        &Params::new(w, h, map),
        &[img, &y],
        grid(w, h, 1, [8, 8]),
    )?);
    Ok(y)
}

/// Appends the conversion of planar `[C, H, W]` (C = 3 or 4) back to RGBA8 `[H, W]`, inverting
/// `map` (the mapping the planes were made with); values are rounded and clamped to 0-255,
/// alpha is 255 unless the planes carry it.
pub fn planar_to_rgba(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    map: &PixelMap,
) -> Result<Tensor> {
    map.validate("planar_to_rgba")?;
    let (c, h, w) = x.chw("planar_to_rgba")?;
    if c != map.channels {
        return Err(shape_err(
            "planar_to_rgba",
            format!(
                "'{}' has {c} planes but the pixel map has {}",
                x.label(),
                map.channels
            ),
        ));
    }
    let y = plan.alloc(ctx, &format!("{}.rgba", x.label()), &[h, w], DType::Rgba8)?;
    plan.push(ctx.dispatch(
        "planar_to_rgba",
        &PACK,
        &[],
        &Params::new(w, h, &map.inverse()),
        &[x, &y],
        grid(w, h, 1, [8, 8]),
    )?);
    Ok(y)
}
