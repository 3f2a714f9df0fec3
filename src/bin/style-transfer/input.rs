//! What the commands read: model files (found by name or given) and images (decoded within a
//! pixel limit, so a small file that claims a huge image is refused before it is decoded).

use std::path::{Path, PathBuf};

use webgpu_style_transfer::files::io_error;
use webgpu_style_transfer::image::Rgba8Image;
use webgpu_style_transfer::models::ModelFile;
use webgpu_style_transfer::{Error, Result};

/// The model file: `--model`, else `$STYLE_TRANSFER_MODELS/NAME`, else `models/NAME` in the
/// current directory or in the source tree the binary was built from.
fn find_model(explicit: Option<PathBuf>, name: &str) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::Model(format!("{}: no such file", p.display())))
        };
    }
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("STYLE_TRANSFER_MODELS") {
        candidates.push(PathBuf::from(dir).join(name));
    }
    candidates.push(PathBuf::from("models").join(name));
    candidates.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(name),
    );
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        Error::Model(format!("{name} not found in $STYLE_TRANSFER_MODELS, ./models or the source tree; run `npm run setup` (or tools/convert_models.py), or pass --model"))
    })
}

/// Reads and parses a model file (`--model`, or the default `name`).
pub fn load_model(explicit: Option<PathBuf>, name: &str) -> Result<ModelFile> {
    let path = find_model(explicit, name)?;
    let bytes =
        std::fs::read(&path).map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
    ModelFile::parse(&bytes).map_err(|e| match e {
        Error::Model(m) => Error::Model(format!("{}: {m}", path.display())),
        other => other,
    })
}

/// Reads and decodes an image, refusing one of more than `max_megapixels` before decoding it.
pub fn read_image(path: &Path, max_megapixels: f64) -> Result<Rgba8Image> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, e, "check the file name"))?;
    let max_pixels = (max_megapixels * 1e6) as u64;
    Rgba8Image::decode_within(&bytes, max_pixels).map_err(|e| match e {
        Error::Image(m) => Error::Image(format!("{}: {m}", path.display())),
        other => other,
    })
}
