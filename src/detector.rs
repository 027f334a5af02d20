//! The saved, reusable detector: trained network + fitted features + threshold + metadata.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use burn::prelude::*;
use burn::tensor::TensorData;
use serde::{Deserialize, Serialize};

use crate::data::{BethDataset, BethEvent, Label, Schema};
use crate::error::{Error, Result};
use crate::evaluation::{EvaluationReport, ThresholdRule};
use crate::features::{FEATURE_WIDTH, FeatureScaler, FeatureSet};
use crate::model::{ThreatDetector, ThreatDetectorConfig};

/// The on-disk format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 2;
const FORMAT_NAME: &str = "beth-detect detector";
/// The metadata and scaler file of a detector directory.
pub const DETECTOR_FILE: &str = "detector.json";
/// The weights file of a detector directory (burn's named MessagePack, full precision).
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The burn release the crate is built on.
pub const BURN_VERSION: &str = "0.21";

/// The most networks a detector file may hold (a corrupted count is refused before anything
/// is allocated).
pub const MAX_MEMBERS: usize = 64;

/// Rows scored per forward pass when scoring many events.
const SCORING_BATCH: usize = 8192;

/// Where a detector came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorMetadata {
    /// `beth-detect` version that wrote it.
    pub crate_version: String,
    /// burn version it was trained with.
    pub burn_version: String,
    /// The feature set (also recorded in the scaler).
    pub feature_set: FeatureSet,
    /// The label it was trained to predict.
    pub label: Label,
    /// The network's shape.
    pub model: ThreatDetectorConfig,
    /// The full training configuration, if it was trained by this crate.
    pub training: Option<serde_json::Value>,
    /// How the threshold was chosen.
    pub threshold_rule: ThresholdRule,
    /// Where the training data came from (a directory, or the synthetic generator's settings).
    pub data_source: String,
    /// Whether it was trained on synthetic data: its quality figures then say nothing about real
    /// logs.
    pub synthetic: bool,
    /// Rows in the training split.
    pub train_rows: u64,
    /// Positives in the training split.
    pub train_positives: u64,
    /// Rows in the validation split.
    pub validation_rows: u64,
    /// How the validation split was carved out of the training file, when the data had no
    /// validation file (`eval` carves the same rows again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carved_validation: Option<crate::data::CarvedValidation>,
}

#[derive(Serialize, Deserialize)]
struct DetectorFile {
    format: String,
    format_version: u32,
    /// CRC-32 of the weights file, checked on load (absent in files from before it was added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weights_crc32: Option<u32>,
    /// Networks in the weights file; absent (1) for a single network, whose file is then
    /// byte-identical to the notebook's `state_dict`.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    members: usize,
    threshold: f64,
    scaler: FeatureScaler,
    metadata: DetectorMetadata,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// A trained detector, ready to score events: one network, or several whose probabilities are
/// averaged (an ensemble).
#[derive(Debug, Clone)]
pub struct Detector<B: Backend> {
    members: Vec<ThreatDetector<B>>,
    scaler: FeatureScaler,
    threshold: f64,
    metadata: DetectorMetadata,
}

impl<B: Backend> Detector<B> {
    /// Puts the parts together; the scaler's feature set must match the metadata's and the
    /// threshold must be a probability.
    pub fn new(
        model: ThreatDetector<B>,
        scaler: FeatureScaler,
        threshold: f64,
        metadata: DetectorMetadata,
    ) -> Result<Self> {
        Detector::ensemble(vec![model], scaler, threshold, metadata)
    }

    /// [`Detector::new`] for an ensemble: the score is the mean of the members' probabilities.
    pub fn ensemble(
        members: Vec<ThreatDetector<B>>,
        scaler: FeatureScaler,
        threshold: f64,
        metadata: DetectorMetadata,
    ) -> Result<Self> {
        if members.is_empty() {
            return Err(Error::InvalidConfig {
                name: "ensemble",
                expected: "at least one network",
                found: "none".into(),
            });
        }
        if !(0.0..=1.0).contains(&threshold) {
            return Err(Error::InvalidConfig {
                name: "threshold",
                expected: "a probability in [0, 1]",
                found: threshold.to_string(),
            });
        }
        if scaler.feature_set() != metadata.feature_set {
            return Err(Error::InvalidConfig {
                name: "scaler",
                expected: "a scaler for the detector's feature set",
                found: format!(
                    "feature set `{}` for a `{}` detector",
                    scaler.feature_set(),
                    metadata.feature_set
                ),
            });
        }
        metadata.model.validate()?;
        for model in &members {
            check_shapes(model, &metadata.model).map_err(|found| Error::InvalidConfig {
                name: "model weights",
                expected: "the shapes the model config describes",
                found,
            })?;
        }
        Ok(Detector {
            members,
            scaler,
            threshold,
            metadata,
        })
    }

    /// The network: the only one, or the first member of an ensemble.
    pub fn model(&self) -> &ThreatDetector<B> {
        &self.members[0]
    }

    /// Every network; the score is the mean of their probabilities.
    pub fn members(&self) -> &[ThreatDetector<B>] {
        &self.members
    }

    /// The same detector with another threshold (a probability).
    pub fn with_threshold(self, threshold: f64) -> Result<Self> {
        Detector::ensemble(self.members, self.scaler, threshold, self.metadata)
    }

    /// The fitted scaler (and with it, the feature set).
    pub fn scaler(&self) -> &FeatureScaler {
        &self.scaler
    }

    /// The decision threshold: `score >= threshold` is an alert.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Where it came from.
    pub fn metadata(&self) -> &DetectorMetadata {
        &self.metadata
    }

    /// The device its weights live on.
    pub fn device(&self) -> B::Device {
        self.members[0].devices()[0].clone()
    }

    /// The detector kind's name: `mlp` (the notebook's network, or an ensemble of them).
    pub fn kind(&self) -> &'static str {
        "mlp"
    }

    /// Checks that inputs of `schema` have the columns this detector's features need.
    pub fn check_schema(&self, schema: Schema, path: &Path) -> Result<()> {
        self.scaler.feature_set().check_schema(schema, path)
    }

    /// Probabilities for a feature tensor `[N, 7]` (already scaled).
    pub fn score_features(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        let sum = self
            .members
            .iter()
            .map(|m| m.forward(features.clone()))
            .reduce(|a, b| a + b)
            .expect("a detector has a network");
        if self.members.len() == 1 {
            sum
        } else {
            sum.div_scalar(self.members.len() as f64)
        }
    }

    /// Probabilities for rows of already-scaled features (row-major, 7 per row).
    pub fn score_feature_rows(&self, features: &[f32]) -> Vec<f32> {
        let n = features.len() / FEATURE_WIDTH;
        if n == 0 {
            return Vec::new();
        }
        let device = self.device();
        let x = Tensor::<B, 2>::from_data(
            TensorData::new(features[..n * FEATURE_WIDTH].to_vec(), [n, FEATURE_WIDTH]),
            &device,
        );
        self.score_features(x)
            .into_data()
            .into_vec::<f32>()
            .expect("the model outputs f32")
    }

    /// Probabilities for events (scaled with the detector's own scaler).
    pub fn score_events(&self, events: &[BethEvent]) -> Vec<f32> {
        let mut out = Vec::with_capacity(events.len());
        let mut buf = Vec::with_capacity(SCORING_BATCH.min(events.len()) * FEATURE_WIDTH);
        for chunk in events.chunks(SCORING_BATCH) {
            buf.clear();
            buf.resize(chunk.len() * FEATURE_WIDTH, 0.0);
            for (e, row) in chunk.iter().zip(buf.chunks_exact_mut(FEATURE_WIDTH)) {
                self.scaler.transform_into(e, row);
            }
            out.extend(self.score_feature_rows(&buf));
        }
        out
    }

    /// Probabilities for every event of a dataset.
    pub fn score_dataset(&self, dataset: &BethDataset) -> Result<Vec<f32>> {
        self.check_schema(dataset.schema(), dataset.path())?;
        let mut out = Vec::with_capacity(dataset.len());
        let mut events = Vec::with_capacity(SCORING_BATCH);
        for start in (0..dataset.len()).step_by(SCORING_BATCH) {
            events.clear();
            events.extend(
                (start..(start + SCORING_BATCH).min(dataset.len())).map(|i| dataset.event(i)),
            );
            out.extend(self.score_events(&events));
        }
        Ok(out)
    }

    /// A copy of the weights that scores on the CPU with plain matrix products: much faster
    /// than a burn forward pass on a CPU backend for large inputs (same results within 1e-6).
    pub fn cpu_scorer(&self) -> crate::cpu_scorer::CpuScorer {
        crate::cpu_scorer::CpuScorer::from_members(&self.members)
    }

    /// Applies the threshold.
    pub fn predict(&self, scores: &[f32]) -> Vec<bool> {
        scores.iter().map(|&s| s as f64 >= self.threshold).collect()
    }

    /// Saves into `dir`, atomically: everything is written into a temporary sibling directory
    /// which then replaces `dir`, so a crash leaves the old detector (or none), never half of
    /// a new one.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        let staging = crate::artifact::staging_dir(dir)?;
        let result = self
            .write_into(&staging)
            .and_then(|()| crate::artifact::publish_dir(&staging, dir));
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        result
    }

    /// Writes the detector's two files into an existing directory (not atomic on its own).
    pub fn write_into(&self, dir: &Path) -> Result<()> {
        // safetensors rather than burn's record: the bytes depend only on the weights (burn's
        // records carry per-process random parameter ids), PyTorch reads it as it is, and its
        // parser is built for untrusted files.
        let weights = dir.join(WEIGHTS_FILE);
        let serialized = crate::weights::members_safetensors_bytes(&self.members, &weights)?;
        crate::artifact::write_file_atomically(&weights, |out| {
            out.write_all(&serialized)
                .map_err(|e| Error::io(&weights, e))
        })?;
        let file = DetectorFile {
            format: FORMAT_NAME.to_string(),
            format_version: FORMAT_VERSION,
            weights_crc32: Some(crc32fast::hash(&serialized)),
            members: self.members.len(),
            threshold: self.threshold,
            scaler: self.scaler.clone(),
            metadata: self.metadata.clone(),
        };
        let path = dir.join(DETECTOR_FILE);
        let json = serde_json::to_vec_pretty(&file).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        crate::artifact::write_file_atomically(&path, |out| {
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
            Some(v) if v == FORMAT_VERSION as u64 => {}
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
                        "format version {v} was written by a newer beth-detect; this one reads version {FORMAT_VERSION}"
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
        file.metadata
            .model
            .validate()
            .map_err(|e| Error::Artifact {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let weights = dir.join(WEIGHTS_FILE);
        let bytes = match fs::read(&weights) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Artifact {
                    path: weights,
                    message: "the weights file is missing".into(),
                });
            }
            Err(e) => return Err(Error::io(&weights, e)),
        };
        // A config claiming a huge network must come with weights at least that large; checked
        // before anything that size is allocated.
        let weights_len = bytes.len() as u64;
        if file.members == 0 || file.members > MAX_MEMBERS {
            return Err(Error::Artifact {
                path,
                message: format!(
                    "expected between 1 and {MAX_MEMBERS} networks, found `members` {}",
                    file.members
                ),
            });
        }
        let needed = (file.metadata.model.num_params() as u64)
            .saturating_mul(4)
            .saturating_mul(file.members as u64);
        if weights_len < needed {
            return Err(Error::Artifact {
                path: weights,
                message: format!(
                    "the weights file has {weights_len} bytes, the model config needs at least {needed} (truncated, or not this model's weights)"
                ),
            });
        }
        if let Some(expected) = file.weights_crc32 {
            let found = crc32fast::hash(&bytes);
            if found != expected {
                return Err(Error::Artifact {
                    path: weights,
                    message: format!(
                        "checksum mismatch: detector.json expects CRC-32 {expected:08x}, the file has {found:08x} (corrupted, or from another detector)"
                    ),
                });
            }
        }
        let members = crate::weights::read_member_safetensors::<B>(
            &weights,
            &bytes,
            &file.metadata.model,
            file.members,
            device,
        )?;
        Detector::ensemble(members, file.scaler, file.threshold, file.metadata).map_err(|e| {
            Error::Artifact {
                path,
                message: e.to_string(),
            }
        })
    }
}

fn check_shapes<B: Backend>(
    model: &ThreatDetector<B>,
    config: &ThreatDetectorConfig,
) -> std::result::Result<(), String> {
    let expected = [
        [config.input_width, config.hidden1],
        [config.hidden1, config.hidden2],
        [config.hidden2, 1],
    ];
    let found = model.weight_shapes();
    if found != expected {
        return Err(format!(
            "layer weight shapes {found:?}, expected {expected:?}"
        ));
    }
    Ok(())
}

/// Scores a labelled dataset and reports on it at the detector's threshold.
pub fn evaluate<B: Backend>(
    detector: &Detector<B>,
    dataset: &BethDataset,
) -> Result<EvaluationReport> {
    evaluate_scores(detector, dataset).map(|(report, _)| report)
}

/// [`evaluate`], also returning every event's score (for plots, or further analysis).
pub fn evaluate_scores<B: Backend>(
    detector: &Detector<B>,
    dataset: &BethDataset,
) -> Result<(EvaluationReport, Vec<f32>)> {
    if !dataset.is_labelled() {
        return Err(Error::MissingColumn {
            path: dataset.path().to_path_buf(),
            what: "evaluation".into(),
            column: dataset.label().name(),
            schema: dataset.schema().name(),
        });
    }
    let scores = detector.score_dataset(dataset)?;
    let report = EvaluationReport::compute(&scores, dataset.targets(), detector.threshold())?;
    Ok((report, scores))
}
