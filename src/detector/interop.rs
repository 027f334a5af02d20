//! PyTorch interop: the original notebook's weights in, safetensors out.
//!
//! The notebook's network is an `nn.Sequential`:
//! `Linear(7, 64), ReLU, Dropout, Linear(64, 32), ReLU, Linear(32, 1), Sigmoid`, so its
//! `state_dict` keys are `0.*`, `3.*` and `5.*`. PyTorch stores a `Linear` weight as
//! `[out, in]`; burn as `[in, out]`. The mapping is spelled out in [`PYTORCH_KEYS`] and every
//! weight is transposed on the way in and out.

use std::collections::HashMap;
use std::path::Path;

use burn::prelude::*;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::features::{FEATURE_WIDTH, FeatureScaler, FeatureSet};
use crate::models::mlp::{ThreatDetector, ThreatDetectorConfig};

use super::metadata::{BURN_VERSION, DetectorMetadata};
use super::model::{Detector, DetectorModel};
pub use super::weights::{
    AUTOENCODER_KEYS, PYTORCH_KEYS, autoencoder_state_dict, from_state_dict, load_safetensors,
    members_state_dict, pytorch_state_dict, save_members_safetensors, save_safetensors,
};
use super::weights::{Loaded, artifact, assemble};

/// Loads a `torch.save(model.state_dict())` checkpoint of the notebook's network (burn-store's
/// PyTorch reader).
pub fn load_pytorch<B: Backend>(
    path: impl AsRef<Path>,
    device: &B::Device,
) -> Result<ThreatDetector<B>> {
    let path = path.as_ref();
    let reader = burn_store::pytorch::PytorchReader::new(path)
        .map_err(|e| artifact(path, format!("not a readable PyTorch checkpoint: {e}")))?;
    let mut tensors = HashMap::new();
    for (key, snapshot) in reader.into_tensors() {
        let data = snapshot
            .to_data()
            .map_err(|e| artifact(path, format!("key `{key}`: unreadable tensor: {e:?}")))?;
        let shape = data.shape.to_vec();
        let values = data
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| artifact(path, format!("key `{key}`: expected floats: {e:?}")))?;
        tensors.insert(key, Loaded { shape, values });
    }
    assemble(path, tensors, &ThreatDetectorConfig::new(), device)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SklearnScaler {
    features: Vec<String>,
    mean: Vec<f64>,
    std: Vec<f64>,
}

/// Reads scikit-learn `StandardScaler` statistics saved as
/// `{"features": [...], "mean": [...], "std": [...]}` (`mean_` and `scale_`). The feature names
/// must be the seven the network takes, in order: those of [`FeatureSet::Seed`] (the notebook)
/// or of [`FeatureSet::Paper`].
pub fn load_sklearn_scaler(path: impl AsRef<Path>) -> Result<FeatureScaler> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let s: SklearnScaler = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    if s.features.len() != FEATURE_WIDTH
        || s.mean.len() != FEATURE_WIDTH
        || s.std.len() != FEATURE_WIDTH
    {
        return Err(artifact(
            path,
            format!(
                "expected 7 features, 7 means and 7 standard deviations, found {}, {} and {}",
                s.features.len(),
                s.mean.len(),
                s.std.len()
            ),
        ));
    }
    let feature_set = [FeatureSet::Seed, FeatureSet::Paper]
        .into_iter()
        .find(|f| f.names().iter().zip(&s.features).all(|(a, b)| a == b))
        .ok_or_else(|| {
            let unknown: Vec<&String> = s
                .features
                .iter()
                .filter(|n| {
                    !FeatureSet::Seed.names().contains(&n.as_str())
                        && !FeatureSet::Paper.names().contains(&n.as_str())
                })
                .collect();
            artifact(
                path,
                format!(
                    "expected features {:?} in that order, found {:?}{}",
                    FeatureSet::Seed.names(),
                    s.features,
                    if unknown.is_empty() {
                        String::new()
                    } else {
                        format!(" (unknown: {unknown:?})")
                    }
                ),
            )
        })?;
    FeatureScaler::new(feature_set, &s.mean, &s.std).map_err(|e| artifact(path, e.to_string()))
}

/// A complete detector from an imported network and the scaler statistics it was trained with.
pub fn imported_detector<B: Backend>(
    model: ThreatDetector<B>,
    scaler: FeatureScaler,
    threshold: f64,
    source: &Path,
) -> Result<Detector<B>> {
    let metadata = DetectorMetadata {
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        burn_version: BURN_VERSION.to_string(),
        feature_set: scaler.feature_set(),
        label: crate::data::Label::Sus,
        kind: crate::models::DetectorKind::Mlp,
        model: ThreatDetectorConfig::new(),
        training: None,
        threshold_rule: crate::evaluation::ThresholdRule::Fixed(threshold),
        data_source: format!("imported from PyTorch: {}", source.display()),
        synthetic: false,
        train_rows: 0,
        train_positives: 0,
        validation_rows: 0,
        carved_validation: None,
        benign_alert_rate: None,
        calibration: None,
    };
    Detector::new(model, scaler, threshold, metadata)
}

/// Writes a detector's model where other tools read it: a network's weights as safetensors
/// (an `mlp`'s keys are the notebook's, see [`members_state_dict`]; an autoencoder's are
/// [`autoencoder_state_dict`]'s), a forest as the JSON of its trees. Written atomically.
/// Returns what was written (`"weights"` or `"forest"`).
pub fn export_model<B: Backend>(
    detector: &Detector<B>,
    path: impl AsRef<Path>,
) -> Result<&'static str> {
    let path = path.as_ref();
    let (bytes, what) = match detector.detector_model() {
        DetectorModel::Mlp(members) => (
            super::weights::members_safetensors_bytes(members, path)?,
            "weights",
        ),
        DetectorModel::Autoencoder { model, .. } => (
            super::weights::autoencoder_safetensors_bytes(model, path)?,
            "weights",
        ),
        DetectorModel::Iforest(forest) => (
            serde_json::to_vec_pretty(forest).map_err(|source| Error::Json {
                path: path.to_path_buf(),
                source,
            })?,
            "forest",
        ),
    };
    crate::atomic_files::write_file_atomically(path, |out| {
        std::io::Write::write_all(out, &bytes).map_err(|e| Error::io(path, e))
    })?;
    Ok(what)
}
