//! Training: a new style for the 26-style net, learned on the GPU ([`StyleTrainer`]), from
//! training photos ([`PhotoSet`]) and a painting, with the perceptual loss of [`crate::loss`]
//! through a VGG loss net.
//!
//! The transform net's forward pass is recorded on a [`tape::Tape`] (a `Builder` that keeps
//! every activation), whose backward pass gives the gradient of the loss with respect to
//! every norm's gamma and beta; the nets' own `forward`, written once, is what is
//! differentiated.

mod checkpoint;
mod options;
mod photos;
pub(crate) mod tape;
mod trainer;

pub use checkpoint::Checkpoint;
pub use options::{TrainOptions, MIN_SIZE};
pub use photos::PhotoSet;
#[cfg(not(target_arch = "wasm32"))]
pub use photos::{read_dir, Skipped};
pub use trainer::{check_fits, estimate_memory, StyleTrainer, TrainMemory, TrainState};
