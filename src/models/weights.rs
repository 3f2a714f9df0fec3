//! The model file format: safetensors tensors plus string metadata, written by
//! `tools/convert_models.py`. The metadata names the format (`webgpu-style-transfer/1`), the
//! net family, the input convention, the source (package, version, sha256) and the licence, so
//! a wrong or foreign file is rejected with a message that says what it is.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};
use sha2::Digest;

use crate::{Error, Result};

/// The format tag every converted file carries.
pub const FORMAT: &str = "webgpu-style-transfer/1";

/// A parsed model file: its metadata and its tensors (f32, or uint8 codebook indices).
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// SHA-256 of the tensors (see [`ModelFile::weights_sha256`]), lower-case hex.
    weights_sha256: String,
    metadata: HashMap<String, String>,
    tensors: HashMap<String, (Vec<usize>, Values)>,
}

#[derive(Debug, Clone)]
enum Values {
    F32(Vec<f32>),
    U8(Vec<u8>),
    I8(Vec<i8>),
}

impl ModelFile {
    /// Parses a model file's bytes, checking the format tag. Tensors stored as f32 or f16 are
    /// expanded to f32.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| Error::Model(format!("not a safetensors model, or damaged or truncated ({e}); pass a model converted by tools/convert_models.py")))?;
        let metadata = meta.metadata().clone().unwrap_or_default();
        match metadata.get("format") {
            Some(f) if f == FORMAT => {}
            Some(f) => return Err(Error::Model(format!("format '{f}' is not '{FORMAT}'; convert the model again with tools/convert_models.py"))),
            None => return Err(Error::Model("a safetensors file without this project's metadata; convert the model with tools/convert_models.py".into())),
        }
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::Model(format!("the file is damaged or truncated: {e}")))?;
        let mut tensors = HashMap::new();
        let mut views = st.tensors();
        // Sorted by name, so the digest does not depend on the order of the file's header.
        views.sort_by(|a, b| a.0.cmp(&b.0));
        let mut digest = sha2::Sha256::new();
        for (name, view) in views {
            let data = view.data();
            digest_tensor(&mut digest, &name, &view);
            let values = match view.dtype() {
                Dtype::F32 => Values::F32(
                    data.chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect(),
                ),
                Dtype::F16 => Values::F32(
                    data.chunks_exact(2)
                        .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                        .collect(),
                ),
                Dtype::U8 => Values::U8(data.to_vec()),
                Dtype::I8 => Values::I8(data.iter().map(|&b| b as i8).collect()),
                other => {
                    return Err(Error::Weights {
                        tensor: name,
                        expected: "f32, f16, u8 or i8 values".into(),
                        found: format!("{other:?}"),
                    })
                }
            };
            if let Values::F32(v) = &values {
                check_finite(&name, v)?;
            }
            tensors.insert(name, (view.shape().to_vec(), values));
        }
        Ok(Self {
            weights_sha256: hex(&digest.finalize()),
            metadata,
            tensors,
        })
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// SHA-256 of the tensors alone (lower-case hex): each tensor's name, dtype, shape and
    /// stored bytes, in name order. It names the weights, not the file: the metadata and the
    /// header's layout (which the safetensors writer does not keep in a fixed order, so two
    /// conversions of the same weights can differ byte for byte) do not enter it. A learned
    /// style records it of the net it was trained for.
    pub fn weights_sha256(&self) -> &str {
        &self.weights_sha256
    }

    /// All metadata.
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// The net family (`multistyle26`, ...).
    pub fn family(&self) -> &str {
        self.meta("family").unwrap_or("")
    }

    /// Fails unless the file is of `family`.
    pub fn expect_family(&self, family: &str) -> Result<()> {
        if self.family() == family {
            Ok(())
        } else {
            Err(Error::Model(format!(
                "this is a '{}' model, not a '{family}' one; load it with the matching net",
                self.family()
            )))
        }
    }

    fn get(&self, name: &str, shape: &[usize]) -> Result<&Values> {
        let Some((found, values)) = self.tensors.get(name) else {
            return Err(Error::Weights {
                tensor: name.into(),
                expected: format!("shape {shape:?}"),
                found: "no such tensor".into(),
            });
        };
        if found != shape {
            return Err(Error::Weights {
                tensor: name.into(),
                expected: format!("shape {shape:?}"),
                found: format!("shape {found:?}"),
            });
        }
        Ok(values)
    }

    /// The values of f32 (or f16) tensor `name`, which must have exactly `shape`.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<&[f32]> {
        match self.get(name, shape)? {
            Values::F32(v) => Ok(v),
            Values::U8(_) | Values::I8(_) => Err(Error::Weights {
                tensor: name.into(),
                expected: "f32 values".into(),
                found: "8-bit integers".into(),
            }),
        }
    }

    /// A weight stored in the 8-bit codebook form: `{prefix}.weight_q` (uint8 indices of
    /// `shape`) into `{prefix}.weight_table` (256 f32 centroids), expanded to f32.
    pub fn codebook(&self, prefix: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let q_name = format!("{prefix}.weight_q");
        let Values::U8(q) = self.get(&q_name, shape)? else {
            return Err(Error::Weights {
                tensor: q_name,
                expected: "u8 codebook indices".into(),
                found: "other values".into(),
            });
        };
        let table = self.tensor(&format!("{prefix}.weight_table"), &[256])?;
        Ok(q.iter().map(|&i| table[i as usize]).collect())
    }

    /// A weight stored as int8 with one scale per output channel (the first axis), as
    /// quantised ONNX graphs carry them: `{prefix}.weight_i8` of `shape` and
    /// `{prefix}.weight_scale` [shape[0]]; expanded to f32 (`q * scale`).
    pub fn per_channel_i8(&self, prefix: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let q_name = format!("{prefix}.weight_i8");
        let Values::I8(q) = self.get(&q_name, shape)? else {
            return Err(Error::Weights {
                tensor: q_name,
                expected: "i8 values".into(),
                found: "other values".into(),
            });
        };
        let scale = self.tensor(&format!("{prefix}.weight_scale"), &shape[..1])?;
        let per = q.len() / shape[0].max(1);
        Ok(q.iter()
            .enumerate()
            .map(|(i, &v)| v as f32 * scale[i / per])
            .collect())
    }

    /// A conv weight `{prefix}.weight` (f32 or f16) or, where the file has it in an 8-bit form,
    /// `{prefix}.weight_q` + `{prefix}.weight_table` (codebook) or `{prefix}.weight_i8` +
    /// `{prefix}.weight_scale` (per-channel int8).
    pub fn weight(&self, prefix: &str, shape: &[usize]) -> Result<Vec<f32>> {
        if self.shape(&format!("{prefix}.weight_q")).is_some() {
            self.codebook(prefix, shape)
        } else if self.shape(&format!("{prefix}.weight_i8")).is_some() {
            self.per_channel_i8(prefix, shape)
        } else {
            Ok(self.tensor(&format!("{prefix}.weight"), shape)?.to_vec())
        }
    }

    /// The shape of a tensor, if the file has it.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|(s, _)| s.as_slice())
    }
}

/// Fails on a NaN or infinite value: a damaged or badly converted file would otherwise run
/// and give a black or flat picture.
fn check_finite(name: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::Weights {
            tensor: name.into(),
            expected: "finite numbers".into(),
            found: format!(
                "{} at index {i} ({} of {} values are not finite)",
                values[i],
                values.iter().filter(|v| !v.is_finite()).count(),
                values.len()
            ),
        }),
    }
}

/// IEEE 754 half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: normalise.
            let shift = f.leading_zeros() - 21;
            sign | ((127 - 15 + 1 - shift) << 23) | ((f << shift) & 0x3ff) << 13
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// A safetensors file of f32 tensors `(name, shape, values)` with `metadata` (the format tag
/// is added).
pub fn write_f32(
    tensors: &[(String, Vec<usize>, &[f32])],
    metadata: std::collections::BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let blobs: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::new();
    for ((name, shape, _), data) in tensors.iter().zip(&blobs) {
        let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data)
            .map_err(|e| Error::Model(format!("cannot store {name}: {e}")))?;
        views.push((name.clone(), view));
    }
    let mut meta: HashMap<String, String> = metadata.into_iter().collect();
    meta.insert("format".into(), FORMAT.into());
    safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::Model(format!("cannot write the model file: {e}")))
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha2::Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds one tensor into the weights digest, each field length-prefixed so that no two
/// different tensors feed the same bytes.
fn digest_tensor(digest: &mut sha2::Sha256, name: &str, view: &safetensors::tensor::TensorView) {
    let dtype = format!("{:?}", view.dtype());
    for field in [name.as_bytes(), dtype.as_bytes()] {
        digest.update((field.len() as u64).to_le_bytes());
        digest.update(field);
    }
    digest.update((view.shape().len() as u64).to_le_bytes());
    for &d in view.shape() {
        digest.update((d as u64).to_le_bytes());
    }
    digest.update((view.data().len() as u64).to_le_bytes());
    digest.update(view.data());
}

#[cfg(test)]
mod tests {
    use super::{f16_to_f32, ModelFile, FORMAT};
    use safetensors::tensor::TensorView;
    use safetensors::Dtype;
    use std::collections::HashMap;

    /// A model file with one f32 tensor `w` holding `values`.
    fn file_with(values: &[f32]) -> Vec<u8> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = TensorView::new(Dtype::F32, vec![values.len()], &bytes).unwrap();
        let meta = HashMap::from([("format".to_string(), FORMAT.to_string())]);
        safetensors::serialize([("w", view)], Some(meta)).unwrap()
    }

    #[test]
    fn finite_tensors_load() {
        let f = ModelFile::parse(&file_with(&[1.0, -2.0, 3e38])).unwrap();
        assert_eq!(f.tensor("w", &[3]).unwrap(), &[1.0, -2.0, 3e38]);
    }

    #[test]
    fn non_finite_tensors_are_rejected_on_load() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let e = ModelFile::parse(&file_with(&[1.0, bad, 2.0, bad]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("tensor 'w'"), "{e}");
            assert!(e.contains("finite numbers"), "{e}");
            assert!(e.contains("at index 1 (2 of 4 values"), "{e}");
        }
    }

    /// A safetensors file written by hand: `header` lists (name, values) in the order the
    /// header names them, with the data stored in that order, plus `meta`.
    fn hand_written(header: &[(&str, &[f32])], meta: &[(&str, &str)]) -> Vec<u8> {
        let mut fields: Vec<String> = meta
            .iter()
            .map(|(k, v)| format!("\"{k}\":\"{v}\""))
            .collect();
        let meta = format!("\"__metadata__\":{{{}}}", fields.join(","));
        fields.clear();
        let (mut data, mut offset) = (Vec::new(), 0);
        for (name, values) in header {
            let end = offset + 4 * values.len();
            fields.push(format!(
                "\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
                values.len()
            ));
            data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
            offset = end;
        }
        let json = format!("{{{meta},{}}}", fields.join(","));
        let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
        bytes.extend(json.as_bytes());
        bytes.extend(data);
        bytes
    }

    #[test]
    fn the_weights_digest_names_the_tensors_not_the_file() {
        let (a, b): (&[f32], &[f32]) = (&[1.0, 2.0], &[3.0]);
        let format = ("format", FORMAT);
        let one = hand_written(&[("a", a), ("b", b)], &[format, ("x", "1"), ("y", "2")]);
        // The same tensors, the header in another order, other metadata: another file...
        let other = hand_written(&[("b", b), ("a", a)], &[("y", "3"), format]);
        assert_ne!(super::sha256_hex(&one), super::sha256_hex(&other));
        // ...with the same weights.
        let digest = |bytes: &[u8]| {
            ModelFile::parse(bytes)
                .unwrap()
                .weights_sha256()
                .to_string()
        };
        assert_eq!(digest(&one), digest(&other));
        // A changed value, a renamed tensor, or values moved between tensors change it.
        for changed in [
            hand_written(&[("a", &[1.0, 2.5]), ("b", b)], &[format]),
            hand_written(&[("a", a), ("c", b)], &[format]),
            hand_written(&[("a", &[1.0]), ("b", &[2.0, 3.0])], &[format]),
        ] {
            assert_ne!(digest(&one), digest(&changed));
        }
    }

    #[test]
    fn half_floats() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x0200), 2f32.powi(-15));
        assert!(f16_to_f32(0x7c00).is_infinite());
    }
}
