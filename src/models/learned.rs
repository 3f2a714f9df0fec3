//! A style learned for the 26-style net by `style-transfer train`: one gamma/beta row per
//! conditional instance norm (Dumoulin et al. 2017 add a painting to a trained N-style net by
//! learning only these, with the convolutions frozen). Saved as a model file of family
//! `multistyle26-style`: each norm's `NAME.gamma` and `NAME.beta` ([C] f32) and metadata that
//! says how it was made (painting, loss net, layers, weights, steps, the base net's weights sha256).
//! It runs wherever the 26-style net runs, alone or blended with the trained styles
//! ([`super::StyleWeights::mix`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::multistyle::{norm_names, row_layout, ROW_LEN};
use super::weights::{ModelFile, FORMAT};
use crate::{Error, Result};

/// The model-file family of a learned style.
pub const FAMILY: &str = "multistyle26-style";

/// The metadata key of the base net's [`ModelFile::weights_sha256`]: the 26-style net whose
/// convolutions the row was fitted to.
pub const BASE_WEIGHTS_KEY: &str = "base_weights_sha256";

/// A learned row of norm parameters with the metadata it was saved with.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnedStyle {
    row: Arc<[f32]>,
    metadata: BTreeMap<String, String>,
}

impl LearnedStyle {
    /// A style from a row laid out as [`super::multistyle::row_layout`] says, with metadata
    /// (`format` and `family` are set here).
    pub fn new(row: Vec<f32>, metadata: BTreeMap<String, String>) -> Result<Self> {
        if row.len() != ROW_LEN {
            return Err(Error::Model(format!(
                "a learned style has {ROW_LEN} values, not {}",
                row.len()
            )));
        }
        if let Some(i) = row.iter().position(|v| !v.is_finite()) {
            return Err(Error::Model(format!(
                "value {i} of the learned style is {}; a style must be finite",
                row[i]
            )));
        }
        let mut metadata = metadata;
        metadata.insert("format".into(), FORMAT.into());
        metadata.insert("family".into(), FAMILY.into());
        Ok(Self {
            row: row.into(),
            metadata,
        })
    }

    /// Reads a learned style from a parsed model file.
    pub fn from_file(file: &ModelFile) -> Result<Self> {
        file.expect_family(FAMILY)?;
        let mut row = vec![0.0; ROW_LEN];
        for (name, (offset, c)) in norm_names().zip(row_layout()) {
            row[offset..offset + c].copy_from_slice(file.tensor(&format!("{name}.gamma"), &[c])?);
            row[offset + c..offset + 2 * c]
                .copy_from_slice(file.tensor(&format!("{name}.beta"), &[c])?);
        }
        let metadata = file.metadata().clone().into_iter().collect();
        Self::new(row, metadata)
    }

    /// The row of norm parameters.
    pub fn row(&self) -> &[f32] {
        &self.row
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// The style's name (its metadata `name`, else "unnamed").
    pub fn name(&self) -> &str {
        self.meta("name").unwrap_or("unnamed")
    }

    /// All metadata.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The style with one more metadata entry.
    pub fn with_meta(mut self, key: &str, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The model file's bytes (safetensors with the metadata).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.to_bytes_with(&[])
    }

    /// The model file's bytes with more f32 tensors beside the style's (a checkpoint's
    /// optimiser state), each `(name, values)` stored as a vector.
    pub fn to_bytes_with(&self, extra: &[(String, &[f32])]) -> Result<Vec<u8>> {
        let mut tensors: Vec<(String, Vec<usize>, &[f32])> = Vec::new();
        for (name, (offset, c)) in norm_names().zip(row_layout()) {
            tensors.push((
                format!("{name}.gamma"),
                vec![c],
                &self.row[offset..offset + c],
            ));
            tensors.push((
                format!("{name}.beta"),
                vec![c],
                &self.row[offset + c..offset + 2 * c],
            ));
        }
        for (name, values) in extra {
            tensors.push((name.clone(), vec![values.len()], values));
        }
        super::weights::write_f32(&tensors, self.metadata.clone())
    }
}
