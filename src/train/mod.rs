//! Training on the GPU ([`Trainer`]): a new style for the 26-style net, or a whole Johnson
//! transform net, learned from training photos ([`PhotoSet`]) and a painting, with the
//! perceptual loss of [`crate::loss`] through a VGG loss net.
//!
//! The transform net's forward pass is recorded on a [`tape::Tape`] (a `Builder` that keeps
//! every activation), whose backward pass gives the gradient of the loss with respect to every
//! trained parameter ([`model::Model`]: the 26-style net's norm row in `style_row`, a Johnson
//! net's every tensor in `johnson`); the nets' own `forward`, written once, is what is
//! differentiated.

mod checkpoint;
mod johnson;
mod model;
mod options;
mod photos;
mod style_row;
pub(crate) mod tape;
mod trainer;

pub use checkpoint::Checkpoint;
pub use options::{TrainNet, TrainOptions, MIN_SIZE};
pub use photos::PhotoSet;
#[cfg(not(target_arch = "wasm32"))]
pub use photos::{read_dir, Skipped};
pub use trainer::{check_fits, estimate_memory, TrainMemory, TrainState, Trainer};
