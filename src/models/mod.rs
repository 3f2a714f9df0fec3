//! Models: the project's model file format ([`weights`]) and the transform nets built on the
//! op library ([`multistyle`], [`arbitrary`], [`johnson`], [`vgg`]).

pub mod arbitrary;
pub mod johnson;
pub mod multistyle;
pub mod tiled;
pub mod vgg;
pub mod weights;

pub use arbitrary::{ArbitraryNet, ArbitraryOptions, StyleVector};
pub use johnson::{JohnsonNet, JohnsonOptions};
pub use multistyle::{MultiStyle26, StyleWeights, StylizeOptions};
pub use vgg::Vgg19;
pub use weights::ModelFile;
