//! What a training run is told: sizes, steps, the optimiser's step, the loss and its layers.

use std::collections::BTreeMap;

use crate::loss::LossWeights;
use crate::models::multistyle::STYLES;
use crate::models::VggArch;
use crate::{Error, Result};

/// The smallest training size: VGG16 halves a crop three times before relu4_3, and the
/// 26-style net quarters it; below 32 px the deep features are a few pixels.
pub const MIN_SIZE: usize = 32;

/// Which net a run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrainNet {
    /// A new style for the 26-style net: one row of its norm parameters, its convs frozen.
    #[default]
    MultiStyle26,
    /// A whole Johnson transform net with `base` channels in its first layer (32 full width, 16
    /// half), every parameter trained.
    Johnson {
        /// Channels of the first layer.
        base: usize,
    },
}

impl TrainNet {
    /// The net's model family.
    pub fn family(self) -> &'static str {
        match self {
            TrainNet::MultiStyle26 => "multistyle26",
            TrainNet::Johnson { .. } => "johnson",
        }
    }
}

/// A training run's settings. Defaults follow Johnson et al.'s recipe for this input
/// convention (VGG's 0-255 BGR input, as jcjohnson/fast-neural-style): content 1 at relu3_3,
/// style 5 at relu1_2, relu2_2, relu3_3 and relu4_3, total variation 1e-6, 256 px crops,
/// batch 4, Adam.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// Side of the square training crops (a multiple of 4, at least [`MIN_SIZE`]).
    pub size: usize,
    /// Photos per step (their gradients averaged).
    pub batch: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// Adam's step size.
    pub learning_rate: f32,
    /// The painting is scaled so its longer side is this many pixels.
    pub style_size: usize,
    /// Loss weights and layers (content relu3_3; style relu1_2, relu2_2, relu3_3, relu4_3).
    pub loss: LossWeights,
    /// The loss network.
    pub loss_net: VggArch,
    /// Seeds the photo crops.
    pub seed: u64,
    /// Start from trained style K instead of the mean of the 26.
    pub init_style: Option<usize>,
    /// Losses are read back every this many steps (and at the last).
    pub report_every: usize,
    /// The net trained.
    pub net: TrainNet,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            size: 256,
            batch: 4,
            steps: 1000,
            learning_rate: 0.01,
            style_size: 256,
            loss: LossWeights {
                content: 1.0,
                style: 5.0,
                tv: 1e-6,
                content_layers: vec!["relu3_3".into()],
                style_layers: ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
                    .map(String::from)
                    .to_vec(),
                layer_weights: vec![1.0; 4],
            },
            loss_net: VggArch::Vgg16,
            seed: 0,
            init_style: None,
            report_every: 10,
            net: TrainNet::MultiStyle26,
        }
    }
}

impl TrainOptions {
    /// The defaults for a Johnson net of `base` channels (32 full width, 16 half): those of
    /// Johnson et al. and jcjohnson/fast-neural-style (Adam at 1e-3, 256 px, batch 4, content 1
    /// at relu3_3, style 5 at relu1_2..relu4_3, total variation 1e-6).
    pub fn johnson(base: usize) -> Self {
        Self {
            learning_rate: 1e-3,
            net: TrainNet::Johnson { base },
            ..Self::default()
        }
    }
}

impl TrainOptions {
    /// Checks every setting, naming the first that is wrong and what is accepted.
    pub fn validate(&self) -> Result<()> {
        let bad = |message: String| {
            Err(Error::InvalidArgument {
                op: "train",
                message,
            })
        };
        if self.size < MIN_SIZE || !self.size.is_multiple_of(4) {
            return bad(format!(
                "--size must be a multiple of 4 and at least {MIN_SIZE}, got {}",
                self.size
            ));
        }
        if self.style_size < MIN_SIZE {
            return bad(format!(
                "--style-size must be at least {MIN_SIZE}, got {}",
                self.style_size
            ));
        }
        if self.batch == 0 || self.steps == 0 || self.report_every == 0 {
            return bad(format!(
                "--batch, --steps and the report interval must be at least 1, got {}, {} and {}",
                self.batch, self.steps, self.report_every
            ));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(format!(
                "--learning-rate must be a positive number, got {}",
                self.learning_rate
            ));
        }
        if let TrainNet::Johnson { base } = self.net {
            if base < 4 || !base.is_multiple_of(4) {
                return bad(format!("a Johnson net's first layer has a multiple of 4 channels (32 is full width, 16 half), got {base}"));
            }
            if self.init_style.is_some() {
                return bad("--init-style picks one of the 26-style net's styles; a Johnson net starts from --init FILE or from scratch".into());
            }
        }
        if let Some(k) = self.init_style.filter(|&k| k >= STYLES) {
            return bad(format!("--init-style must be 0 to {}, got {k}", STYLES - 1));
        }
        self.loss.validate()?;
        if self.loss.style_layers.is_empty() {
            return bad("training needs at least one style layer".into());
        }
        self.loss_net.tap_indices(&self.loss.content_refs())?;
        self.loss_net.tap_indices(&self.loss.style_refs())?;
        Ok(())
    }
}

impl TrainOptions {
    /// The settings as metadata of a learned style or checkpoint (`train.*` keys).
    pub fn metadata(&self) -> BTreeMap<String, String> {
        let l = &self.loss;
        let list = |v: &[String]| v.join(",");
        let weights: Vec<String> = l.layer_weights.iter().map(f32::to_string).collect();
        [
            ("size", self.size.to_string()),
            ("batch", self.batch.to_string()),
            ("steps", self.steps.to_string()),
            ("learning_rate", self.learning_rate.to_string()),
            ("style_size", self.style_size.to_string()),
            ("loss_net", self.loss_net.family().to_string()),
            ("content_weight", l.content.to_string()),
            ("style_weight", l.style.to_string()),
            ("tv_weight", l.tv.to_string()),
            ("content_layers", list(&l.content_layers)),
            ("style_layers", list(&l.style_layers)),
            ("layer_weights", weights.join(",")),
            ("seed", self.seed.to_string()),
            (
                "init_style",
                self.init_style.map_or("mean".into(), |k| k.to_string()),
            ),
            ("net", self.net.family().to_string()),
        ]
        .into_iter()
        .chain(match self.net {
            TrainNet::Johnson { base } => Some(("width", (base as f32 / 32.0).to_string())),
            TrainNet::MultiStyle26 => None,
        })
        .map(|(k, v)| (format!("train.{k}"), v))
        .collect()
    }
}
