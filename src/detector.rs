//! The saved, reusable detector: a fitted model of any [`DetectorKind`] + fitted features +
//! threshold + metadata.

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::TensorData;
use serde::{Deserialize, Serialize};

use crate::cpu_scorer::CpuScorer;
use crate::data::{BethDataset, BethEvent, Label, Schema};
use crate::error::{Error, Result};
use crate::evaluation::{AlertRate, EvaluationReport, ThresholdRule};
use crate::features::{FEATURE_WIDTH, FeatureScaler, FeatureSet};
use crate::models::DetectorKind;
use crate::models::autoencoder::{Autoencoder, AutoencoderConfig};
use crate::models::iforest::IsolationForest;
use crate::models::mlp::{ThreatDetector, ThreatDetectorConfig};

/// The on-disk format this build writes and the newest it reads. Version 3 added the
/// label-free kinds; version 2 files (supervised networks) still load.
pub const FORMAT_VERSION: u32 = 3;
const FORMAT_NAME: &str = "beth-detect detector";
/// The metadata and scaler file of a detector directory.
pub const DETECTOR_FILE: &str = "detector.json";
/// The weights file of a network detector's directory (`mlp`, `autoencoder`): safetensors.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The forest file of an `iforest` detector's directory (JSON, see [`IsolationForest`]).
pub const FOREST_FILE: &str = "forest.json";
/// The largest forest file read (a default forest is ~2 MB).
const MAX_FOREST_BYTES: u64 = 256 << 20;
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
    /// What the detector is (absent in format-2 files: `mlp`).
    #[serde(default)]
    pub kind: DetectorKind,
    /// The network's shape (`mlp`; other kinds keep the default and record their own shape in
    /// the detector file).
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
    /// How often benign events alerted at the threshold where it was set: the benign
    /// validation rows (every validation row without labels), or the traffic it was
    /// [calibrated](crate::calibration) on. `score` and `eval` compare a file's alert rate
    /// with it (absent in files from before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benign_alert_rate: Option<AlertRate>,
    /// Where and when the threshold was last re-fitted on a host's own traffic
    /// ([`crate::calibration`]); `None` for a threshold chosen at training time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// A threshold re-fitted on a host's own normal traffic (`beth-detect calibrate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The file(s) the benign rows came from.
    pub data_source: String,
    /// When it was calibrated (RFC 3339, UTC).
    pub calibrated_at: String,
    /// The rule applied to those rows.
    pub rule: ThresholdRule,
    /// The threshold before.
    pub previous_threshold: f64,
    /// The rule that chose the threshold before.
    pub previous_rule: ThresholdRule,
    /// Rows of the data that were read past because they are labelled suspicious.
    pub skipped_suspicious: u64,
}

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

/// The fitted model inside a [`Detector`].
// One per detector: boxing the larger variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum DetectorModel<B: Backend> {
    /// The notebook's network, or several whose probabilities are averaged.
    Mlp(Vec<ThreatDetector<B>>),
    /// An autoencoder and its score map's reference error
    /// ([`error_to_score`](crate::models::autoencoder::error_to_score)).
    Autoencoder {
        /// The network.
        model: Autoencoder<B>,
        /// Its shape.
        config: AutoencoderConfig,
        /// `e_ref` of the score map.
        reference_error: f32,
    },
    /// An isolation forest (scored on the CPU whatever the backend).
    Iforest(IsolationForest),
}

impl<B: Backend> DetectorModel<B> {
    /// Its kind.
    pub fn kind(&self) -> DetectorKind {
        match self {
            DetectorModel::Mlp(_) => DetectorKind::Mlp,
            DetectorModel::Autoencoder { .. } => DetectorKind::Autoencoder,
            DetectorModel::Iforest(_) => DetectorKind::Iforest,
        }
    }
}

/// A trained detector, ready to score events: a model of any [`DetectorKind`], the scaler
/// its features go through, the threshold and where it came from.
#[derive(Debug, Clone)]
pub struct Detector<B: Backend> {
    model: DetectorModel<B>,
    /// The one scorer every path goes through on the CPU (a copy of the model's weights), so
    /// that `train`, `eval`, `score`, `serve`, `benchmark` and explanations agree bit for bit.
    scorer: Arc<CpuScorer>,
    device: B::Device,
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
        // No members: from_model refuses it, whatever the device.
        let device = members
            .first()
            .map(|m| m.devices()[0].clone())
            .unwrap_or_default();
        Detector::from_model(
            DetectorModel::Mlp(members),
            &device,
            scaler,
            threshold,
            metadata,
        )
    }

    /// Puts together a detector of any kind; `device` is where its tensors (if any) live and
    /// where scores are computed for burn's forward pass. The metadata's kind must be the
    /// model's.
    pub fn from_model(
        model: DetectorModel<B>,
        device: &B::Device,
        scaler: FeatureScaler,
        threshold: f64,
        metadata: DetectorMetadata,
    ) -> Result<Self> {
        check_parts(&model, &scaler, threshold, &metadata)?;
        Ok(Detector {
            scorer: Arc::new(cpu_scorer_of(&model)),
            model,
            device: device.clone(),
            scaler,
            threshold,
            metadata,
        })
    }

    /// The fitted model.
    pub fn detector_model(&self) -> &DetectorModel<B> {
        &self.model
    }

    /// The supervised network: the only one, or the first member of an ensemble (`None` for
    /// the label-free kinds).
    pub fn model(&self) -> Option<&ThreatDetector<B>> {
        self.members().first()
    }

    /// Every supervised network; the score is the mean of their probabilities (empty for the
    /// label-free kinds).
    pub fn members(&self) -> &[ThreatDetector<B>] {
        match &self.model {
            DetectorModel::Mlp(members) => members,
            _ => &[],
        }
    }

    /// The same detector with another threshold (a probability).
    pub fn with_threshold(self, threshold: f64) -> Result<Self> {
        self.with_threshold_and_metadata(threshold, |_| {})
    }

    /// The same model and scaler with another threshold and metadata edited by `edit` (the
    /// model's kind and feature set must stay what they are).
    pub fn with_threshold_and_metadata(
        self,
        threshold: f64,
        edit: impl FnOnce(&mut DetectorMetadata),
    ) -> Result<Self> {
        let mut metadata = self.metadata;
        edit(&mut metadata);
        check_parts(&self.model, &self.scaler, threshold, &metadata)?;
        Ok(Detector {
            model: self.model,
            scorer: self.scorer,
            device: self.device,
            scaler: self.scaler,
            threshold,
            metadata,
        })
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
        self.device.clone()
    }

    /// The detector kind's name: `mlp` (the notebook's network, or an ensemble of them),
    /// `autoencoder` or `iforest`.
    pub fn kind(&self) -> &'static str {
        self.model.kind().name()
    }

    /// Checks that inputs of `schema` have the columns this detector's features need.
    pub fn check_schema(&self, schema: Schema, path: &Path) -> Result<()> {
        self.scaler.feature_set().check_schema(schema, path)
    }

    /// Scores for a feature tensor `[N, 7]` (already scaled), `[N, 1]`, computed by burn on
    /// the detector's device (the GPU, say): probabilities for `mlp`, mapped reconstruction
    /// errors for `autoencoder`, anomaly scores for `iforest`. They equal
    /// [`score_feature_rows`](Self::score_feature_rows)' within float rounding (1e-6), not bit
    /// for bit: every other scoring path goes through the CPU scorer.
    pub fn score_features(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.model {
            DetectorModel::Mlp(members) => {
                let sum = members
                    .iter()
                    .map(|m| m.forward(features.clone()))
                    .reduce(|a, b| a + b)
                    .expect("a detector has a network");
                if members.len() == 1 {
                    sum
                } else {
                    sum.div_scalar(members.len() as f64)
                }
            }
            DetectorModel::Autoencoder {
                model,
                reference_error,
                ..
            } => {
                // error_to_score on the device: e / (e + e_ref), an overflowing error scoring 1.
                let e = model
                    .reconstruction_error(features)
                    .clamp_max(f32::MAX)
                    .unsqueeze_dim::<2>(1);
                e.clone().div(e.add_scalar(*reference_error as f64))
            }
            DetectorModel::Iforest(forest) => {
                let n = features.dims()[0];
                let rows = features
                    .into_data()
                    .convert::<f32>()
                    .into_vec::<f32>()
                    .expect("f32 features");
                let mut out = vec![0.0; n];
                forest.score_flat(&rows, &mut out);
                Tensor::from_data(TensorData::new(out, [n, 1]), &self.device)
            }
        }
    }

    /// Scores for rows of already-scaled features (row-major, 7 per row), on the CPU with the
    /// detector's one [`CpuScorer`]: a row's score does not depend on the rows scored with it,
    /// nor on which command or function asked.
    pub fn score_feature_rows(&self, features: &[f32]) -> Vec<f32> {
        self.scorer.score(features)
    }

    /// [`score_feature_rows`](Self::score_feature_rows) computed by burn on the detector's
    /// device instead (a GPU, say): equal within float rounding, not bit for bit.
    pub fn score_feature_rows_on_device(&self, features: &[f32]) -> Vec<f32> {
        let n = features.len() / FEATURE_WIDTH;
        if n == 0 {
            return Vec::new();
        }
        let x = Tensor::<B, 2>::from_data(
            TensorData::new(features[..n * FEATURE_WIDTH].to_vec(), [n, FEATURE_WIDTH]),
            &self.device,
        );
        self.score_features(x)
            .into_data()
            .convert::<f32>()
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

    /// The scorer every scoring path uses: the model's weights copied to the CPU, scored
    /// with plain matrix products (much faster than a burn forward pass on a CPU backend;
    /// equal to it within 1e-6).
    pub fn cpu_scorer(&self) -> &CpuScorer {
        &self.scorer
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

    /// Writes the detector's two files (`detector.json` and the model file) into an existing
    /// directory (not atomic on its own).
    pub fn write_into(&self, dir: &Path) -> Result<()> {
        // safetensors rather than burn's record: the bytes depend only on the weights (burn's
        // records carry per-process random parameter ids), PyTorch reads it as it is, and its
        // parser is built for untrusted files.
        let model_path = dir.join(model_file(self.model.kind()).0);
        let (serialized, autoencoder) = match &self.model {
            DetectorModel::Mlp(members) => (
                crate::weights::members_safetensors_bytes(members, &model_path)?,
                None,
            ),
            DetectorModel::Autoencoder {
                model,
                config,
                reference_error,
            } => (
                crate::weights::autoencoder_safetensors_bytes(model, &model_path)?,
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
        crate::artifact::write_file_atomically(&model_path, |out| {
            out.write_all(&serialized)
                .map_err(|e| Error::io(&model_path, e))
        })?;
        let file = DetectorFile {
            format: FORMAT_NAME.to_string(),
            format_version: FORMAT_VERSION,
            weights_crc32: Some(crc32fast::hash(&serialized)),
            autoencoder,
            members: self.members().len().max(1),
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
                DetectorModel::Mlp(crate::weights::read_member_safetensors::<B>(
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
                    model: crate::weights::read_autoencoder_safetensors::<B>(
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

/// Checks that a detector's parts fit together: a probability as threshold, the scaler's
/// feature set the metadata's, the model's kind the metadata's and its weights the shapes its
/// config describes.
fn check_parts<B: Backend>(
    model: &DetectorModel<B>,
    scaler: &FeatureScaler,
    threshold: f64,
    metadata: &DetectorMetadata,
) -> Result<()> {
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
    if metadata.kind != model.kind() {
        return Err(Error::InvalidConfig {
            name: "detector kind",
            expected: "the metadata's kind",
            found: format!(
                "a `{}` model for `{}` metadata",
                model.kind(),
                metadata.kind
            ),
        });
    }
    let shapes = |found: String| Error::InvalidConfig {
        name: "model weights",
        expected: "the shapes the model config describes",
        found,
    };
    match model {
        DetectorModel::Mlp(members) => {
            if members.is_empty() {
                return Err(Error::InvalidConfig {
                    name: "ensemble",
                    expected: "at least one network",
                    found: "none".into(),
                });
            }
            metadata.model.validate()?;
            for m in members {
                check_shapes(m, &metadata.model).map_err(shapes)?;
            }
        }
        DetectorModel::Autoencoder {
            model,
            config,
            reference_error,
        } => {
            config.validate()?;
            if model.weight_shapes() != config.layer_shapes() {
                return Err(shapes(format!(
                    "layer weight shapes {:?}, expected {:?}",
                    model.weight_shapes(),
                    config.layer_shapes()
                )));
            }
            if !(reference_error.is_finite() && *reference_error > 0.0) {
                return Err(Error::InvalidConfig {
                    name: "autoencoder reference error",
                    expected: "a positive number",
                    found: reference_error.to_string(),
                });
            }
        }
        DetectorModel::Iforest(_) => {}
    }
    Ok(())
}

/// A CPU copy of any detector model's weights (the forest is shared as it is).
fn cpu_scorer_of<B: Backend>(model: &DetectorModel<B>) -> CpuScorer {
    match model {
        DetectorModel::Mlp(members) => CpuScorer::from_members(members),
        DetectorModel::Autoencoder {
            model,
            reference_error,
            ..
        } => CpuScorer::from_autoencoder(model, *reference_error),
        DetectorModel::Iforest(forest) => CpuScorer::from_forest(Arc::new(forest.clone())),
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
