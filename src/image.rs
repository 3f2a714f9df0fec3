//! Images in and out of the engine: decoding any PNG/JPEG colour type to RGBA8, encoding by
//! file extension, resizing to a maximum side, reflection padding, and the colour transforms
//! applied after a net (strength blend, colour preservation).

use crate::{Error, Result};

/// An 8-bit RGBA image, row-major (the layout of the browser's `ImageData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgba8Image {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 4` bytes.
    pub data: Vec<u8>,
}

impl Rgba8Image {
    /// Wraps pixels, checking their length.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Result<Self> {
        if data.len() != width * height * 4 || width == 0 || height == 0 {
            return Err(Error::Image(format!(
                "{width}x{height} RGBA pixels need {} bytes, got {}",
                width * height * 4,
                data.len()
            )));
        }
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// Decodes PNG or JPEG bytes of any colour type (grey, RGB, RGBA, 16-bit) to RGBA8.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let img = image::load_from_memory(bytes)
            .map_err(|e| {
                Error::Image(format!(
                    "cannot decode the image ({e}); use a PNG or JPEG file"
                ))
            })?
            .to_rgba8();
        let (w, h) = img.dimensions();
        Self::new(w as usize, h as usize, img.into_raw())
    }

    /// Resizes to exactly `width` x `height` (Lanczos), or returns the image if it already is.
    pub fn resized(self, width: usize, height: usize) -> Self {
        if (width, height) == (self.width, self.height) {
            return self;
        }
        let src = image::RgbaImage::from_raw(self.width as u32, self.height as u32, self.data)
            .expect("length checked on construction");
        let out = image::imageops::resize(
            &src,
            width.max(1) as u32,
            height.max(1) as u32,
            image::imageops::FilterType::Lanczos3,
        );
        Self {
            width: width.max(1),
            height: height.max(1),
            data: out.into_raw(),
        }
    }

    /// The size with the longer side scaled to `side`, keeping the aspect ratio.
    pub fn size_with_long_side(&self, side: usize) -> (usize, usize) {
        let long = self.width.max(self.height) as f64;
        let s = side as f64 / long;
        (
            ((self.width as f64 * s).round() as usize).max(1),
            ((self.height as f64 * s).round() as usize).max(1),
        )
    }

    /// The size [`Rgba8Image::fit_within`] gives: the longer side scaled down to `max_side`
    /// (0 = unchanged), keeping the aspect ratio.
    pub fn fitted_size(&self, max_side: usize) -> (usize, usize) {
        let long = self.width.max(self.height);
        if max_side == 0 || long <= max_side {
            return (self.width, self.height);
        }
        let scale = max_side as f64 / long as f64;
        (
            ((self.width as f64 * scale).round() as usize).max(1),
            ((self.height as f64 * scale).round() as usize).max(1),
        )
    }

    /// Scales the image down (Lanczos) so that its longer side is at most `max_side`.
    pub fn fit_within(self, max_side: usize) -> Self {
        if self.fitted_size(max_side) == (self.width, self.height) {
            return self;
        }
        let (w, h) = self.fitted_size(max_side);
        let (w, h) = (w as u32, h as u32);
        let src = image::RgbaImage::from_raw(self.width as u32, self.height as u32, self.data)
            .expect("length checked on construction");
        let out = image::imageops::resize(&src, w, h, image::imageops::FilterType::Lanczos3);
        Self {
            width: w as usize,
            height: h as usize,
            data: out.into_raw(),
        }
    }

    /// Pads right and bottom by reflection so both sides are multiples of `multiple` (and at
    /// least `min`); returns the padded image. Crop back with [`Rgba8Image::crop`].
    pub fn reflect_pad_to(&self, multiple: usize, min: usize) -> Self {
        let target = |n: usize| n.max(min).next_multiple_of(multiple);
        let (w, h) = (target(self.width), target(self.height));
        if (w, h) == (self.width, self.height) {
            return self.clone();
        }
        let reflect = |i: usize, n: usize| {
            // Mirror without repeating the edge; for pads larger than the image, bounce again.
            let period = 2 * (n - 1).max(1);
            let j = i % period;
            if n == 1 {
                0
            } else if j < n {
                j
            } else {
                period - j
            }
        };
        let mut data = vec![0u8; w * h * 4];
        for y in 0..h {
            let sy = reflect(y, self.height);
            for x in 0..w {
                let sx = reflect(x, self.width);
                let s = (sy * self.width + sx) * 4;
                data[(y * w + x) * 4..][..4].copy_from_slice(&self.data[s..s + 4]);
            }
        }
        Self {
            width: w,
            height: h,
            data,
        }
    }

    /// Scales the image (Lanczos) so it covers `width` x `height` and crops the middle: the
    /// largest centred region of that aspect ratio, undistorted.
    pub fn cover(self, width: usize, height: usize) -> Self {
        let s = (width as f64 / self.width as f64).max(height as f64 / self.height as f64);
        let (w, h) = (
            ((self.width as f64 * s).round() as usize).max(width),
            ((self.height as f64 * s).round() as usize).max(height),
        );
        let scaled = self.resized(w, h);
        let (x0, y0) = ((w - width) / 2, (h - height) / 2);
        let mut data = Vec::with_capacity(width * height * 4);
        for y in y0..y0 + height {
            data.extend_from_slice(&scaled.data[(y * w + x0) * 4..][..width * 4]);
        }
        Self {
            width,
            height,
            data,
        }
    }

    /// The top-left `width` x `height` region.
    pub fn crop(&self, width: usize, height: usize) -> Self {
        let mut data = Vec::with_capacity(width * height * 4);
        for y in 0..height {
            data.extend_from_slice(&self.data[y * self.width * 4..][..width * 4]);
        }
        Self {
            width,
            height,
            data,
        }
    }

    /// Encodes to PNG or JPEG (quality 92), chosen by `path`'s extension.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let rgba =
            image::RgbaImage::from_raw(self.width as u32, self.height as u32, self.data.clone())
                .expect("length checked");
        let file = std::fs::File::create(path)
            .map_err(|e| Error::Image(format!("{}: {e}", path.display())))?;
        let mut w = std::io::BufWriter::new(file);
        match ext.as_str() {
            "png" => rgba.write_to(&mut w, image::ImageFormat::Png)?,
            "jpg" | "jpeg" => {
                let rgb = image::DynamicImage::ImageRgba8(rgba).to_rgb8();
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut w, 92)
                    .encode_image(&rgb)?;
            }
            _ => {
                return Err(Error::Image(format!(
                    "{}: unknown output format; use a .png, .jpg or .jpeg file name",
                    path.display()
                )))
            }
        }
        Ok(())
    }
}

/// BT.601 luma and chroma of an RGB triple in [0, 1].
fn ycbcr(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    (y, (b - y) * 0.564, (r - y) * 0.713)
}

fn rgb(y: f32, cb: f32, cr: f32) -> (f32, f32, f32) {
    let r = y + cr / 0.713;
    let b = y + cb / 0.564;
    let g = (y - 0.299 * r - 0.114 * b) / 0.587;
    (r, g, b)
}

/// Turns a net's planar RGB output in [0, 1] ([3, H, W]) into an RGBA8 image, optionally
/// blending with the photo (`strength` 1 = all style, 0 = the photo) and keeping the photo's
/// colours (the stylized luminance with the photo's chroma). Alpha comes from the photo.
pub fn compose(
    planes: &[f32],
    photo: &Rgba8Image,
    strength: f32,
    preserve_colors: bool,
) -> Rgba8Image {
    let n = photo.width * photo.height;
    let mut out = vec![0u8; n * 4];
    for i in 0..n {
        let p = &photo.data[i * 4..i * 4 + 4];
        let (pr, pg, pb) = (
            p[0] as f32 / 255.0,
            p[1] as f32 / 255.0,
            p[2] as f32 / 255.0,
        );
        let (mut r, mut g, mut b) = (planes[i], planes[n + i], planes[2 * n + i]);
        if preserve_colors {
            let (y, _, _) = ycbcr(r, g, b);
            let (_, cb, cr) = ycbcr(pr, pg, pb);
            (r, g, b) = rgb(y, cb, cr);
        }
        let mix = |s: f32, o: f32| {
            ((strength * s + (1.0 - strength) * o) * 255.0)
                .round()
                .clamp(0.0, 255.0) as u8
        };
        out[i * 4] = mix(r, pr);
        out[i * 4 + 1] = mix(g, pg);
        out[i * 4 + 2] = mix(b, pb);
        out[i * 4 + 3] = p[3];
    }
    Rgba8Image {
        width: photo.width,
        height: photo.height,
        data: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_pad_and_crop_round_trip() {
        let data: Vec<u8> = (0..5 * 3 * 4).map(|i| i as u8).collect();
        let img = Rgba8Image::new(5, 3, data).unwrap();
        let p = img.reflect_pad_to(4, 8);
        assert_eq!((p.width, p.height), (8, 8));
        // Column 5 mirrors column 3, row 3 mirrors row 1.
        assert_eq!(p.data[5 * 4..5 * 4 + 4], img.data[3 * 4..3 * 4 + 4]);
        assert_eq!(
            p.data[(3 * 8) * 4..(3 * 8) * 4 + 4],
            img.data[(5) * 4..(5) * 4 + 4]
        );
        assert_eq!(p.crop(5, 3), img);
    }

    #[test]
    fn compose_strength_and_colors() {
        let photo = Rgba8Image::new(1, 1, vec![200, 40, 40, 128]).unwrap();
        let planes = [0.2, 0.6, 0.9];
        assert_eq!(
            compose(&planes, &photo, 0.0, false).data,
            vec![200, 40, 40, 128]
        );
        assert_eq!(
            compose(&planes, &photo, 1.0, false).data,
            vec![51, 153, 230, 128]
        );
        // Preserving colours keeps the stylized luminance and the photo's hue (red stays red).
        let kept = compose(&planes, &photo, 1.0, true).data;
        let y = |r: f32, g: f32, b: f32| 0.299 * r + 0.587 * g + 0.114 * b;
        assert!(
            (y(kept[0] as f32, kept[1] as f32, kept[2] as f32) - y(51.0, 153.0, 230.0)).abs() < 2.0
        );
        assert!(kept[0] > kept[1] && kept[0] > kept[2], "{kept:?}");
    }
}
