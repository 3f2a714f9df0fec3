//! Models: the project's model file format ([`weights`]), the transform nets built on the op
//! library ([`multistyle`], [`arbitrary`], [`johnson`]) and the loss net ([`vgg`]).
//!
//! The transform nets stand on three layers, each using only those below it:
//! - [`net`]: what a net is (the layer operations it is written against, the input check,
//!   [`OutputOptions`]), and [`direct`]: recording one on whole tensors, with norms and
//!   upsamplings folded into the ops that read them;
//! - the runners: [`whole`] (one submission per image), [`tiled`] (exact tiles for images too
//!   large for the device) and [`runner`] (picks one, then strength and colour preservation);
//! - the nets, and [`Styled`] (a net with its style, whichever net it is).

pub mod arbitrary;
pub(crate) mod direct;
pub mod johnson;
pub mod learned;
pub mod multistyle;
pub(crate) mod net;
pub(crate) mod runner;
pub mod styled;
pub mod tiled;
pub mod vgg;
pub mod weights;
pub(crate) mod whole;

pub use arbitrary::{ArbitraryNet, StyleVector};
pub use johnson::JohnsonNet;
pub use learned::LearnedStyle;
pub use multistyle::{MultiStyle26, StyleWeights};
pub use net::{OutputOptions, Progress};
pub use styled::Styled;
pub use vgg::{Vgg, VggArch};
pub use weights::ModelFile;
