//! Models: the project's model file format ([`weights`]) and the transform nets built on the
//! op library ([`multistyle`]).

pub mod multistyle;
pub mod weights;

pub use multistyle::{MultiStyle26, StyleWeights, StylizeOptions};
pub use weights::ModelFile;
