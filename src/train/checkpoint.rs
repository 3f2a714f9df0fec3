//! Checkpoints: the file the run makes (a learned style or a Johnson net, usable as it is) that
//! also holds the optimiser's state (`optimizer.0`, `optimizer.1`, ... as f32 vectors) and the
//! step reached (`train.step`), so a run can stop and later continue where it was.

use std::collections::BTreeMap;

use super::{TrainNet, TrainOptions, TrainState};
use crate::models::learned::FAMILY as STYLE_FAMILY;
use crate::models::{johnson, LearnedStyle, ModelFile};
use crate::{Error, Result};

/// A run's saved state.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The net trained.
    pub net: TrainNet,
    /// The run's settings and the metadata of its output.
    pub metadata: BTreeMap<String, String>,
    /// The step, parameters and optimiser state.
    pub state: TrainState,
}

impl Checkpoint {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let extra: Vec<(String, &[f32])> = self
            .state
            .optimizer
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("optimizer.{i}"), v.as_slice()))
            .collect();
        let mut meta = self.metadata.clone();
        meta.insert("train.step".into(), self.state.step.to_string());
        self.file_bytes(meta, &extra)
    }

    /// The run's output file as it stands (the parameters and the metadata, no optimiser).
    pub fn model_bytes(&self) -> Result<Vec<u8>> {
        self.file_bytes(self.metadata.clone(), &[])
    }

    fn file_bytes(
        &self,
        meta: BTreeMap<String, String>,
        extra: &[(String, &[f32])],
    ) -> Result<Vec<u8>> {
        match self.net {
            TrainNet::MultiStyle26 => {
                LearnedStyle::new(self.state.params.clone(), meta)?.to_bytes_with(extra)
            }
            TrainNet::Johnson { base } => {
                johnson::file_bytes(base, &self.state.params, &meta, extra)
            }
        }
    }

    /// Reads a checkpoint file.
    pub fn from_file(file: &ModelFile) -> Result<Self> {
        let bad = || {
            Error::Model("this file is not a checkpoint (it has no training state); start a new run without --resume".into())
        };
        let (net, params) = match file.family() {
            STYLE_FAMILY => (TrainNet::MultiStyle26, LearnedStyle::from_file(file)?.row().to_vec()),
            "johnson" => {
                let (base, values) = johnson::file_values(file)?;
                (TrainNet::Johnson { base }, values)
            }
            other => {
                return Err(Error::Model(format!(
                    "a '{other}' model is not a checkpoint of a training run; start a new run without --resume"
                )))
            }
        };
        let step = file
            .meta("train.step")
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        let mut optimizer = Vec::new();
        while let Some(shape) = file.shape(&format!("optimizer.{}", optimizer.len())) {
            let shape = shape.to_vec();
            optimizer.push(
                file.tensor(&format!("optimizer.{}", optimizer.len()), &shape)?
                    .to_vec(),
            );
        }
        if optimizer.is_empty() {
            return Err(bad());
        }
        let metadata = file.metadata().clone().into_iter().collect();
        Ok(Self {
            net,
            metadata,
            state: TrainState {
                step,
                params,
                optimizer,
            },
        })
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// Fails unless the checkpoint was made with `opts` (all but the number of steps, which a
    /// resumed run may extend), naming the first setting that differs.
    pub fn check_options(&self, opts: &TrainOptions) -> Result<()> {
        for (key, want) in opts.metadata() {
            if key == "train.steps" {
                continue;
            }
            // Checkpoints from before Johnson nets were trained are of the 26-style net.
            let default = (key == "train.net").then_some("multistyle26");
            let had = self.meta(&key).or(default).unwrap_or("(none)");
            if had != want {
                return Err(Error::InvalidArgument {
                    op: "train",
                    message: format!(
                        "the checkpoint was made with {} = {had}, this run has {want}; resume with the same settings or start over with --force",
                        key.trim_start_matches("train.")
                    ),
                });
            }
        }
        if self.state.step >= opts.steps {
            return Err(Error::InvalidArgument {
                op: "train",
                message: format!(
                    "the checkpoint is at step {} already; give --steps above it to continue",
                    self.state.step
                ),
            });
        }
        Ok(())
    }
}
