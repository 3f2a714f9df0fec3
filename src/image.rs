//! Images in and out of the engine: decoding any PNG/JPEG colour type to RGBA8, encoding by
//! file extension, resizing to a maximum side, reflection padding, and the colour transforms
//! applied after a net (strength blend, colour preservation).

use crate::{Error, Result};

/// The most pixels [`Rgba8Image::decode`] accepts: 100 megapixels (400 MB as RGBA8; a
/// 12000x8000 photo). Larger images are refused before decoding; see
/// [`Rgba8Image::decode_within`] for another limit.
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

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

    /// Decodes PNG or JPEG bytes of any colour type (grey, RGB, RGBA, 16-bit) to RGBA8, within
    /// [`DEFAULT_MAX_PIXELS`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::decode_within(bytes, DEFAULT_MAX_PIXELS)
    }

    /// [`Rgba8Image::decode`] with a limit on the number of pixels: the size is read from the
    /// header first, so an image over the limit is refused before any pixel is decoded. A
    /// damaged or truncated file is an error, never a picture with made-up rows.
    pub fn decode_within(bytes: &[u8], max_pixels: u64) -> Result<Self> {
        let cannot = |e: &dyn std::fmt::Display| {
            Error::Image(format!(
                "cannot decode the image ({e}); use a PNG or JPEG file"
            ))
        };
        let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| cannot(&e))?;
        let format = reader.format();
        let (w, h) = reader.into_dimensions().map_err(|e| cannot(&e))?;
        let pixels = w as u64 * h as u64;
        if pixels > max_pixels {
            return Err(Error::Image(format!(
                "the image is {w}x{h} ({:.1} megapixels), more than the {:.1} megapixels this \
                 decoder accepts; scale it down first, or raise the limit (--max-megapixels)",
                pixels as f64 / 1e6,
                max_pixels as f64 / 1e6
            )));
        }
        if format == Some(image::ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
            return Err(Error::Image(
                "the JPEG is truncated (its data ends before the end-of-image marker), so part \
                 of the picture is missing; use the complete file"
                    .into(),
            ));
        }
        let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| cannot(&e))?;
        let mut limits = image::Limits::default();
        // Room for the file's own pixel format (up to 16-bit RGBA) and the RGBA8 copy.
        limits.max_alloc = Some(pixels * 8 + (1 << 20));
        reader.limits(limits);
        let img = reader.decode().map_err(|e| cannot(&e))?.to_rgba8();
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
        self.region(0, 0, width, height)
    }

    /// The `width` x `height` region whose top-left pixel is (`x0`, `y0`) (it must lie inside).
    pub fn region(&self, x0: usize, y0: usize, width: usize, height: usize) -> Self {
        assert!(x0 + width <= self.width && y0 + height <= self.height);
        let mut data = Vec::with_capacity(width * height * 4);
        for y in y0..y0 + height {
            data.extend_from_slice(&self.data[(y * self.width + x0) * 4..][..width * 4]);
        }
        Self {
            width,
            height,
            data,
        }
    }

    /// The image mirrored left to right.
    pub fn mirrored(&self) -> Self {
        let mut data = Vec::with_capacity(self.data.len());
        for row in self.data.chunks_exact(self.width * 4) {
            data.extend(row.chunks_exact(4).rev().flatten());
        }
        Self {
            width: self.width,
            height: self.height,
            data,
        }
    }

    /// Encodes to PNG or JPEG (quality 92).
    pub fn encode(&self, format: OutputFormat) -> Result<Vec<u8>> {
        let rgba =
            image::RgbaImage::from_raw(self.width as u32, self.height as u32, self.data.clone())
                .expect("length checked on construction");
        let mut bytes = Vec::new();
        match format {
            OutputFormat::Png => rgba.write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )?,
            OutputFormat::Jpeg => {
                let rgb = image::DynamicImage::ImageRgba8(rgba).to_rgb8();
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 92)
                    .encode_image(&rgb)?;
            }
        }
        Ok(bytes)
    }

    /// Writes the image to `path` as PNG or JPEG (by its extension), atomically: encoded
    /// first, then written to a temporary file renamed into place, so a failure leaves
    /// nothing half written. An existing file is replaced only if `replace`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn save_as(&self, path: &std::path::Path, replace: bool) -> Result<()> {
        let bytes = self.encode(OutputFormat::from_path(path)?)?;
        crate::files::write_atomic(path, &bytes, replace)
    }

    /// [`Rgba8Image::save_as`], replacing an existing file.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        self.save_as(path, true)
    }
}

/// The formats images are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// PNG, lossless.
    Png,
    /// JPEG at quality 92.
    Jpeg,
}

impl OutputFormat {
    /// The format a file name asks for (`.png`, `.jpg`, `.jpeg`, any case); any other name is
    /// an error that says what to use, so a run can be refused before it starts.
    pub fn from_path(path: &std::path::Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("png") => Ok(Self::Png),
            Some("jpg" | "jpeg") => Ok(Self::Jpeg),
            _ => Err(Error::Image(format!(
                "{}: unknown output format; use a .png, .jpg or .jpeg file name",
                path.display()
            ))),
        }
    }
}

/// Whether a JPEG's main image ends with its end-of-image marker. A truncated file does not,
/// and decoders fill its missing rows with grey without a word, so this is checked first.
/// The marker segments are walked from the start (an EXIF thumbnail has its own end marker,
/// inside a segment that is skipped); after the first start-of-scan, scan data never holds
/// `FF D9` (a data byte 0xFF is stuffed as `FF 00`), so any `FF D9` there is the real end.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut i = 2; // after SOI
    while i + 1 < bytes.len() {
        if bytes[i] != 0xFF {
            return false;
        }
        let marker = bytes[i + 1];
        match marker {
            0xFF => i += 1, // fill byte
            0xDA => return bytes[i..].windows(2).any(|w| w == [0xFF, 0xD9]),
            0xD9 => return true,
            0x01 | 0xD0..=0xD7 => i += 2,
            _ => {
                let Some(len) = bytes.get(i + 2..i + 4) else {
                    return false;
                };
                i += 2 + u16::from_be_bytes([len[0], len[1]]) as usize;
            }
        }
    }
    false
}

/// BT.601 luma and chroma/// BT.601 luma and chroma of an RGB triple in [0, 1].
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

    /// A `w` x `h` gradient encoded as `format`.
    fn encoded(w: usize, h: usize, format: OutputFormat) -> Vec<u8> {
        let data = (0..w * h * 4).map(|i| (i * 7 % 251) as u8).collect();
        Rgba8Image::new(w, h, data).unwrap().encode(format).unwrap()
    }

    /// CRC-32 (IEEE), as PNG chunks carry it.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn encoded_images_decode_to_their_size() {
        for format in [OutputFormat::Png, OutputFormat::Jpeg] {
            let img = Rgba8Image::decode(&encoded(37, 21, format)).unwrap();
            assert_eq!((img.width, img.height), (37, 21));
        }
    }

    #[test]
    fn truncated_images_are_errors_not_grey_rows() {
        // A PNG cut in its image data, and JPEGs cut anywhere in their scan, down to losing
        // only the end-of-image marker (which decoders would accept, filling in grey).
        let png = encoded(64, 64, OutputFormat::Png);
        let jpeg = encoded(64, 64, OutputFormat::Jpeg);
        let cuts = [
            &png[..png.len() / 2],
            &jpeg[..jpeg.len() / 2],
            &jpeg[..jpeg.len() - 2],
        ];
        for (i, bytes) in cuts.into_iter().enumerate() {
            match Rgba8Image::decode(bytes) {
                Ok(_) => panic!("cut {i} decoded"),
                Err(e) => assert!(e.to_string().starts_with("image: "), "cut {i}: {e}"),
            }
        }
        let e = Rgba8Image::decode(&jpeg[..jpeg.len() - 2])
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
    }

    #[test]
    fn images_over_the_pixel_limit_are_refused_before_decoding() {
        let bytes = encoded(40, 30, OutputFormat::Png);
        assert!(Rgba8Image::decode_within(&bytes, 1200).is_ok());
        let e = Rgba8Image::decode_within(&bytes, 1199)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("40x30") && e.contains("--max-megapixels"), "{e}");
        // A header that claims 16000 x 16000 pixels (a few hundred bytes of file) is refused
        // by the default limit without allocating the 1 GB it would decode to.
        let mut png = encoded(1, 1, OutputFormat::Png);
        png[16..20].copy_from_slice(&16000u32.to_be_bytes());
        png[20..24].copy_from_slice(&16000u32.to_be_bytes());
        let crc = crc32(&png[12..29]); // the IHDR chunk's type and data
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let e = Rgba8Image::decode(&png)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("16000x16000 (256.0 megapixels)"), "{e}");
    }

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
