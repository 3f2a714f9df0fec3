//! The photos a style is trained on: each decoded once and scaled so its shorter side is the
//! training size, then for every use a seeded random square crop, flipped left to right half
//! the time. The crops of step `k` depend only on the seed and `k`, so a resumed run sees the
//! same photos as an uninterrupted one.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::image::Rgba8Image;
use crate::{Error, Result};

/// Training photos at one size.
#[derive(Debug, Clone)]
pub struct PhotoSet {
    photos: Vec<Rgba8Image>,
    size: usize,
}

impl PhotoSet {
    /// Scales each photo so its shorter side is `size` (an error if there are none).
    pub fn new(photos: Vec<Rgba8Image>, size: usize) -> Result<Self> {
        if photos.is_empty() {
            return Err(Error::InvalidArgument {
                op: "train",
                message: "no training photos; give a folder of JPEG or PNG photos".into(),
            });
        }
        let photos = photos
            .into_iter()
            .map(|p| scale_shorter_side(p, size))
            .collect();
        Ok(Self { photos, size })
    }

    /// How many photos there are.
    pub fn len(&self) -> usize {
        self.photos.len()
    }

    /// Whether there are none (never: [`PhotoSet::new`] refuses that).
    pub fn is_empty(&self) -> bool {
        self.photos.is_empty()
    }

    /// The side of every crop.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The `batch` crops of step `step` for `seed`: a photo drawn uniformly, a square crop
    /// at a uniform position, mirrored with probability 1/2.
    pub fn batch(&self, seed: u64, step: usize, batch: usize) -> Vec<Rgba8Image> {
        // One stream per step (SplitMix-style mixing of seed and step), so step k's crops
        // do not depend on how many steps ran before in this process.
        let mixed = seed
            ^ (step as u64)
                .wrapping_add(1)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = StdRng::seed_from_u64(mixed);
        (0..batch)
            .map(|_| {
                let p = &self.photos[rng.gen_range(0..self.photos.len())];
                let x = rng.gen_range(0..=p.width - self.size);
                let y = rng.gen_range(0..=p.height - self.size);
                let crop = p.region(x, y, self.size, self.size);
                if rng.gen_bool(0.5) {
                    crop.mirrored()
                } else {
                    crop
                }
            })
            .collect()
    }
}

/// The photo scaled (Lanczos) so its shorter side is `size`.
fn scale_shorter_side(p: Rgba8Image, size: usize) -> Rgba8Image {
    let s = size as f64 / p.width.min(p.height) as f64;
    let w = ((p.width as f64 * s).round() as usize).max(size);
    let h = ((p.height as f64 * s).round() as usize).max(size);
    if (w, h) == (p.width, p.height) {
        p
    } else {
        p.resized(w, h)
    }
}

/// A photo file that could not be used, and why.
#[cfg(not(target_arch = "wasm32"))]
pub type Skipped = (std::path::PathBuf, String);

/// Reads every *.jpg, *.jpeg and *.png under `dir` (recursively, in name order): the photos,
/// and the files that could not be read or decoded with the reason.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_dir(dir: &std::path::Path, max_pixels: u64) -> Result<(Vec<Rgba8Image>, Vec<Skipped>)> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut photos = Vec::new();
    let mut skipped = Vec::new();
    for f in files {
        let decoded = std::fs::read(&f)
            .map_err(|e| e.to_string())
            .and_then(|b| Rgba8Image::decode_within(&b, max_pixels).map_err(|e| e.to_string()));
        match decoded {
            Ok(p) => photos.push(p),
            Err(e) => skipped.push((f, e)),
        }
    }
    Ok((photos, skipped))
}

#[cfg(not(target_arch = "wasm32"))]
fn collect(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| crate::files::io_error(dir, e, "give a folder of JPEG or PNG photos"))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if is_photo(&path) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(not(target_arch = "wasm32"))]
fn is_photo(path: &std::path::Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize) -> Rgba8Image {
        let data = (0..w * h)
            .flat_map(|i| [(i % w) as u8, (i / w) as u8, 7, 255])
            .collect();
        Rgba8Image::new(w, h, data).unwrap()
    }

    #[test]
    fn crops_are_seeded_per_step_and_inside_the_photo() {
        let set = PhotoSet::new(vec![gradient(90, 60), gradient(40, 80)], 32).unwrap();
        assert_eq!((set.photos[0].width, set.photos[0].height), (48, 32));
        assert_eq!((set.photos[1].width, set.photos[1].height), (32, 64));
        let a = set.batch(7, 3, 4);
        assert_eq!(a, set.batch(7, 3, 4));
        assert_ne!(a, set.batch(7, 4, 4));
        assert_ne!(a, set.batch(8, 3, 4));
        assert!(a.iter().all(|c| (c.width, c.height) == (32, 32)));
        // Over many draws both photos, both flips and several positions come up.
        let crops: Vec<_> = (0..40).flat_map(|s| set.batch(1, s, 2)).collect();
        let distinct: std::collections::HashSet<_> = crops.iter().map(|c| c.data.clone()).collect();
        assert!(distinct.len() > 10, "{}", distinct.len());
        assert!(PhotoSet::new(vec![], 32).is_err());
    }

    #[test]
    fn mirrored_reverses_each_row() {
        let g = gradient(3, 2);
        let m = g.mirrored();
        assert_eq!(&m.data[..4], &g.data[8..12]);
        assert_eq!(m.mirrored(), g);
    }
}
