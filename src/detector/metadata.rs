//! What a detector file says about itself: the format version, the file names of a detector
//! directory, where the detector came from ([`DetectorMetadata`]) and where its threshold was
//! last re-fitted ([`Calibration`]).

use serde::{Deserialize, Serialize};

use crate::data::Label;
use crate::evaluation::{AlertRate, ThresholdRule};
use crate::features::FeatureSet;
use crate::models::DetectorKind;
use crate::models::mlp::ThreatDetectorConfig;

/// The on-disk format this build writes and the newest it reads. Version 3 added the
/// label-free kinds; version 2 files (supervised networks) still load.
pub const FORMAT_VERSION: u32 = 3;
pub(super) const FORMAT_NAME: &str = "beth-detect detector";
/// The metadata and scaler file of a detector directory.
pub const DETECTOR_FILE: &str = "detector.json";
/// The weights file of a network detector's directory (`mlp`, `autoencoder`): safetensors.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The forest file of an `iforest` detector's directory (JSON, see [`IsolationForest`](crate::models::iforest::IsolationForest)).
pub const FOREST_FILE: &str = "forest.json";
/// The largest forest file read (a default forest is ~2 MB).
pub(super) const MAX_FOREST_BYTES: u64 = 256 << 20;
/// The burn release the crate is built on.
pub const BURN_VERSION: &str = "0.21";

/// The most networks a detector file may hold (a corrupted count is refused before anything
/// is allocated).
pub const MAX_MEMBERS: usize = 64;
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
    /// [calibrated](super::calibration) on. `score` and `eval` compare a file's alert rate
    /// with it (absent in files from before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benign_alert_rate: Option<AlertRate>,
    /// Where and when the threshold was last re-fitted on a host's own traffic
    /// ([`calibrate`](super::calibration::calibrate)); `None` for a threshold chosen at training time.
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
    /// How the budget was applied; `None` in detectors calibrated before there was a choice
    /// (they took the budget's quantile, lower or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<BudgetMode>,
    /// The threshold already met the budget and was kept.
    #[serde(default)]
    pub threshold_kept: bool,
}

/// How [`calibrate`](super::calibration::calibrate) applies an alert budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BudgetMode {
    /// The budget is a ceiling: the threshold becomes the higher of the current one and the
    /// budget's quantile on the host's traffic, so calibrating never makes that traffic alert
    /// more than before.
    #[default]
    Ceiling,
    /// The threshold becomes the budget's quantile even when that is lower (more sensitive):
    /// for a detector moved to a quieter host.
    AllowLower,
}

impl std::fmt::Display for BudgetMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BudgetMode::Ceiling => "budget as a ceiling",
            BudgetMode::AllowLower => "budget's quantile, lower allowed",
        })
    }
}
