//! The detector itself: a fitted model of any [`DetectorKind`], the scaler its features go
//! through, the threshold and where it came from; scoring events with it and evaluating it.

use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::TensorData;

use super::metadata::DetectorMetadata;
use crate::data::{BethDataset, BethEvent, Schema};
use crate::error::{Error, Result};
use crate::evaluation::EvaluationReport;
use crate::features::{FEATURE_WIDTH, FeatureScaler};
use crate::models::DetectorKind;
use crate::models::autoencoder::{Autoencoder, AutoencoderConfig};
use crate::models::host::CpuScorer;
use crate::models::iforest::IsolationForest;
use crate::models::mlp::{ThreatDetector, ThreatDetectorConfig};

/// Rows scored per forward pass when scoring many events.
const SCORING_BATCH: usize = 8192;
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
