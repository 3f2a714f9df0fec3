//! Checkpoints: a learned style file (usable as a style as it is) that also holds the
//! optimiser's state (`optimizer.0`, `optimizer.1`, ... as f32 vectors) and the step reached
//! (`train.step`), so a run can stop and later continue where it was.

use super::{TrainOptions, TrainState};
use crate::models::{LearnedStyle, ModelFile};
use crate::{Error, Result};

/// A run's saved state with the style it had reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The style so far, with the run's metadata.
    pub style: LearnedStyle,
    /// The step, row and optimiser state.
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
        let style = self
            .style
            .clone()
            .with_meta("train.step", self.state.step.to_string());
        style.to_bytes_with(&extra)
    }

    /// Reads a checkpoint file.
    pub fn from_file(file: &ModelFile) -> Result<Self> {
        let style = LearnedStyle::from_file(file)?;
        let bad = || {
            Error::Model("this style file is not a checkpoint (it has no training state); start a new run without --resume".into())
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
        let row = style.row().to_vec();
        Ok(Self {
            style,
            state: TrainState {
                step,
                row,
                optimizer,
            },
        })
    }

    /// Fails unless the checkpoint was made with `opts` (all but the number of steps, which a
    /// resumed run may extend), naming the first setting that differs.
    pub fn check_options(&self, opts: &TrainOptions) -> Result<()> {
        for (key, want) in opts.metadata() {
            if key == "train.steps" {
                continue;
            }
            let had = self.style.meta(&key).unwrap_or("(none)");
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
