//! A detector directory on disk: `detector.json` (format version, threshold, scaler,
//! metadata) and the model file (safetensors weights, or the forest as JSON), written
//! atomically and checked piece by piece when read.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::metadata::{
    DETECTOR_FILE, DetectorMetadata, FOREST_FILE, FORMAT_NAME, FORMAT_VERSION, MAX_FOREST_BYTES,
    MAX_MEMBERS, WEIGHTS_FILE,
};
use super::model::{Detector, DetectorModel};
use super::weights;
use crate::atomic_files::{publish_dir, staging_dir, write_file_atomically};
use crate::error::{Error, Result};
use crate::features::FeatureScaler;
use crate::models::DetectorKind;
use crate::models::autoencoder::AutoencoderConfig;

#[derive(Serialize, Deserialize)]
struct DetectorFile {
    format: String,
    format_version: u32,
    /// CRC-32 of the model file (weights or forest), checked on load (absent in files from
    /// before it was added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weights_crc32: Option<u32>,
    /// The autoencoder's shape and score map (`autoencoder` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    autoencoder: Option<AutoencoderState>,
    /// Networks in the weights file; absent (1) for a single network, whose file is then
    /// byte-identical to the notebook's `state_dict`.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    members: usize,
    threshold: f64,
    scaler: FeatureScaler,
    metadata: DetectorMetadata,
}

/// What an autoencoder detector records beside its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AutoencoderState {
    config: AutoencoderConfig,
    reference_error: f32,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

impl<B: Backend> Detector<B> {
    /// Saves into `dir`, atomically: everything is written into a temporary sibling directory
    /// which then replaces `dir`, so a crash leaves the old detector (or none), never half of
    /// a new one.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        let staging = staging_dir(dir)?;
        let result = self
            .write_into(&staging)
            .and_then(|()| publish_dir(&staging, dir));
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        result
    }

    /// Writes the detector's two files (`detector.json` and the model file) into an existing
    /// directory (not atomic on its own).
    pub fn write_into(&self, dir: &Path) -> Result<()> {
        // safetensors rather than burn's record: the bytes depend only on the weights (burn's
        // records carry per-process random parameter ids), PyTorch reads it as it is, and its
        // parser is built for untrusted files.
        let model_path = dir.join(model_file(self.detector_model().kind()).0);
        let (serialized, autoencoder) = match self.detector_model() {
            DetectorModel::Mlp(members) => (
                weights::members_safetensors_bytes(members, &model_path)?,
                None,
            ),
            DetectorModel::Autoencoder {
                model,
                config,
                reference_error,
            } => (
                weights::autoencoder_safetensors_bytes(model, &model_path)?,
                Some(AutoencoderState {
                    config: config.clone(),
                    reference_error: *reference_error,
                }),
            ),
            DetectorModel::Iforest(forest) => (
                serde_json::to_vec(forest).map_err(|source| Error::Json {
                    path: model_path.clone(),
                    source,
                })?,
                None,
            ),
        };
        write_file_atomically(&model_path, |out| {
            out.write_all(&serialized)
                .map_err(|e| Error::io(&model_path, e))
        })?;
        let file = DetectorFile {
            format: FORMAT_NAME.to_string(),
            format_version: FORMAT_VERSION,
            weights_crc32: Some(crc32fast::hash(&serialized)),
            autoencoder,
            members: self.members().len().max(1),
            threshold: self.threshold(),
            scaler: self.scaler().clone(),
            metadata: self.metadata().clone(),
        };
        let path = dir.join(DETECTOR_FILE);
        let json = serde_json::to_vec_pretty(&file).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        write_file_atomically(&path, |out| {
            out.write_all(&json).map_err(|e| Error::io(&path, e))
        })
    }

    /// Loads a detector directory onto `device`, checking its format version, its metadata and
    /// the shapes of its weights.
    pub fn load(dir: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        let dir = dir.as_ref();
        let path = dir.join(DETECTOR_FILE);
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let probe: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|source| Error::Json {
                path: path.clone(),
                source,
            })?;
        if probe.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
            return Err(Error::Artifact {
                path,
                message: format!("expected a `{FORMAT_NAME}` file, found something else"),
            });
        }
        match probe.get("format_version").and_then(|v| v.as_u64()) {
            Some(2 | 3) => {}
            Some(1) => {
                return Err(Error::Artifact {
                    path,
                    message: "format version 1 (weights in burn's MessagePack record, written by development builds before the first release) is no longer read; run `train` or `import-torch` again".into(),
                });
            }
            Some(v) if v > FORMAT_VERSION as u64 => {
                return Err(Error::Artifact {
                    path,
                    message: format!(
                        "format version {v} was written by a newer beth-detect; this one reads versions 2 to {FORMAT_VERSION}"
                    ),
                });
            }
            other => {
                return Err(Error::Artifact {
                    path,
                    message: format!("expected format version {FORMAT_VERSION}, found {other:?}"),
                });
            }
        }
        let file: DetectorFile = serde_json::from_value(probe).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        let artifact = |message: String| Error::Artifact {
            path: path.clone(),
            message,
        };
        let kind = file.metadata.kind;
        let model_path = dir.join(model_file(kind).0);
        let bytes = read_model_file(&model_path, kind)?;
        if let Some(expected) = file.weights_crc32 {
            let found = crc32fast::hash(&bytes);
            if found != expected {
                return Err(Error::Artifact {
                    path: model_path,
                    message: format!(
                        "checksum mismatch: detector.json expects CRC-32 {expected:08x}, the file has {found:08x} (corrupted, or from another detector)"
                    ),
                });
            }
        }
        let model = match kind {
            DetectorKind::Mlp => {
                file.metadata
                    .model
                    .validate()
                    .map_err(|e| artifact(e.to_string()))?;
                if file.members == 0 || file.members > MAX_MEMBERS {
                    return Err(artifact(format!(
                        "expected between 1 and {MAX_MEMBERS} networks, found `members` {}",
                        file.members
                    )));
                }
                // A config claiming a huge network must come with weights at least that
                // large; checked before anything that size is allocated.
                let needed = (file.metadata.model.num_params() as u64)
                    .saturating_mul(4)
                    .saturating_mul(file.members as u64);
                check_weights_len(&model_path, bytes.len(), needed)?;
                DetectorModel::Mlp(weights::read_member_safetensors::<B>(
                    &model_path,
                    &bytes,
                    &file.metadata.model,
                    file.members,
                    device,
                )?)
            }
            DetectorKind::Autoencoder => {
                let state = file.autoencoder.ok_or_else(|| {
                    artifact(
                        "an `autoencoder` detector without its `autoencoder` shape and score map"
                            .into(),
                    )
                })?;
                state
                    .config
                    .validate()
                    .map_err(|e| artifact(e.to_string()))?;
                let needed = (state.config.num_params() as u64).saturating_mul(4);
                check_weights_len(&model_path, bytes.len(), needed)?;
                DetectorModel::Autoencoder {
                    model: weights::read_autoencoder_safetensors::<B>(
                        &model_path,
                        &bytes,
                        &state.config,
                        device,
                    )?,
                    config: state.config,
                    reference_error: state.reference_error,
                }
            }
            DetectorKind::Iforest => {
                DetectorModel::Iforest(serde_json::from_slice(&bytes).map_err(|source| {
                    Error::Json {
                        path: model_path.clone(),
                        source,
                    }
                })?)
            }
        };
        Detector::from_model(model, device, file.scaler, file.threshold, file.metadata)
            .map_err(|e| artifact(e.to_string()))
    }
}

/// The model file of a `kind` detector's directory, and what to call it in messages.
fn model_file(kind: DetectorKind) -> (&'static str, &'static str) {
    match kind {
        DetectorKind::Iforest => (FOREST_FILE, "forest"),
        DetectorKind::Mlp | DetectorKind::Autoencoder => (WEIGHTS_FILE, "weights"),
    }
}

/// Reads a detector's model file, refusing a missing one by name (and a forest file larger
/// than any forest this crate grows, before reading it).
fn read_model_file(path: &Path, kind: DetectorKind) -> Result<Vec<u8>> {
    let missing = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    if kind == DetectorKind::Iforest {
        match fs::metadata(path) {
            Ok(m) if m.len() > MAX_FOREST_BYTES => {
                return Err(Error::Artifact {
                    path: path.to_path_buf(),
                    message: format!(
                        "the forest file has {} bytes, more than the {MAX_FOREST_BYTES} any forest needs",
                        m.len()
                    ),
                });
            }
            Err(e) if !missing(&e) => return Err(Error::io(path, e)),
            _ => {}
        }
    }
    fs::read(path).map_err(|e| {
        if missing(&e) {
            Error::Artifact {
                path: path.to_path_buf(),
                message: format!("the {} file is missing", model_file(kind).1),
            }
        } else {
            Error::io(path, e)
        }
    })
}

fn check_weights_len(path: &Path, len: usize, needed: u64) -> Result<()> {
    if (len as u64) < needed {
        return Err(Error::Artifact {
            path: path.to_path_buf(),
            message: format!(
                "the weights file has {len} bytes, the model config needs at least {needed} (truncated, or not this model's weights)"
            ),
        });
    }
    Ok(())
}
