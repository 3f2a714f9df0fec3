//! The crate's one error type.
//!
//! Every failure a caller can cause or meet (no adapter, a shape that does not fit an op, a
//! tensor larger than the device allows, a GPU validation error) is an [`Error`] whose message
//! names the thing at fault and says what to do about it. Nothing on user input panics.

use thiserror::Error as ThisError;

/// Everything that can go wrong in the engine.
#[derive(Debug, ThisError)]
pub enum Error {
    /// No GPU adapter could be found.
    #[error(
        "no GPU adapter found ({detail}). Natively, install a Vulkan, Metal or DX12 driver \
         (on Debian: `apt-get install mesa-vulkan-drivers libvulkan1` gives the lavapipe CPU \
         emulation); in a browser, use one with WebGPU enabled (Chrome/Edge 113+, Safari 26+, \
         Firefox 141+ on Windows, or Chromium with --enable-unsafe-webgpu)"
    )]
    NoAdapter {
        /// What the platform said.
        detail: String,
    },

    /// The adapter was found but refused to open a device.
    #[error("the GPU adapter '{adapter}' refused to open a device: {detail}")]
    RequestDevice {
        /// Adapter name.
        adapter: String,
        /// What the platform said.
        detail: String,
    },

    /// Inputs whose shapes do not fit the op.
    #[error("{op}: {message}")]
    Shape {
        /// The op that rejected its inputs.
        op: &'static str,
        /// Which shapes, and what was expected.
        message: String,
    },

    /// An invalid argument (a parameter out of range, an unknown option).
    #[error("{op}: {message}")]
    InvalidArgument {
        /// Where the argument was given.
        op: &'static str,
        /// What was wrong and what is accepted.
        message: String,
    },

    /// An optimisation produced a loss that is not a finite number.
    #[error(
        "the {what} loss became {value} at iteration {iteration}{stage}; lower the learning \
         rate or the style weight, or start from the content image (--init content)"
    )]
    Diverged {
        /// Which term ("total", "style", ...).
        what: &'static str,
        /// The value (NaN or infinite).
        value: f32,
        /// The iteration at which it was read.
        iteration: usize,
        /// " (stage k of n)" for multi-scale runs, else empty.
        stage: String,
    },

    /// A training run produced a loss that is not a finite number.
    #[error(
        "the {what} loss became {value} at step {step}; lower the learning rate or the style \
         weight (the last checkpoint, if any, is kept)"
    )]
    TrainingDiverged {
        /// Which term ("total", "style", ...).
        what: &'static str,
        /// The value (NaN or infinite).
        value: f32,
        /// The step at which it was read.
        step: usize,
    },

    /// A buffer or dispatch that exceeds what the device allows.
    #[error(
        "{op}: {what} needs {needed} but this device allows at most {limit} ({limit_name}); \
         {hint}"
    )]
    TooLarge {
        /// The op or object that would exceed the limit.
        op: String,
        /// What is too large.
        what: String,
        /// The amount needed, formatted with its unit.
        needed: String,
        /// The device's limit, formatted with its unit.
        limit: String,
        /// The wgpu / WebGPU name of the limit.
        limit_name: &'static str,
        /// What to do about it.
        hint: String,
    },

    /// A GPU error reported by wgpu (validation, out of memory, internal).
    #[error("GPU error in {op}: {message}")]
    Gpu {
        /// The op or step during which the device reported the error.
        op: String,
        /// The device's message.
        message: String,
    },

    /// Reading results back from the GPU failed.
    #[error("reading '{label}' back from the GPU failed: {message}")]
    Readback {
        /// Label of the tensor or buffer being read.
        label: String,
        /// What went wrong.
        message: String,
    },

    /// A model file that is not what it should be (not our format, another family, corrupt).
    #[error("model file: {0}")]
    Model(String),

    /// A tensor of a model file that is missing or has the wrong shape or type.
    #[error("model file: tensor '{tensor}': expected {expected}, found {found}; convert the model again with tools/convert_models.py")]
    Weights {
        /// Tensor name in the file.
        tensor: String,
        /// What the engine needs.
        expected: String,
        /// What the file holds.
        found: String,
    },

    /// An image could not be decoded, encoded or converted.
    #[error("image: {0}")]
    Image(String),

    /// A file could not be read or written (a missing directory, no permission, a full disk).
    #[error("{path}: {message}")]
    Io {
        /// The file or directory.
        path: String,
        /// What the system said, and what to do.
        message: String,
    },
}

impl From<image::ImageError> for Error {
    fn from(e: image::ImageError) -> Self {
        Error::Image(e.to_string())
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Formats a byte count for messages (`"1.50 GiB"`, `"128.0 MiB"`, `"512 B"`).
pub fn fmt_bytes(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KIB * KIB * KIB {
        format!("{:.2} GiB", b / (KIB * KIB * KIB))
    } else if b >= KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else if b >= KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{bytes} B")
    }
}
