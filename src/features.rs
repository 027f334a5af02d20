//! Events → feature vectors: the feature sets and the scaler fitted on training data.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

use crate::data::{BethDataset, BethEvent, Column, Schema};
use crate::error::{Error, Result};

/// Number of features every feature set produces (the network's input width).
pub const FEATURE_WIDTH: usize = 7;

/// How an event becomes the network's 7 inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureSet {
    /// The original notebook's 7 DataCamp columns, as they are: `processId`, `threadId`,
    /// `parentProcessId`, `userId`, `mountNamespace`, `argsNum`, `returnValue`.
    #[default]
    Seed,
    /// The BETH paper's encoding: `processId` and `parentProcessId` → 0 if in {0,1,2} else 1;
    /// `userId` → 0 if < 1000 else 1; `mountNamespace` → 0 if 4026531840 else 1; `eventId` and
    /// `argsNum` as they are; `returnValue` → 0 zero / 1 positive / 2 negative. Needs `eventId`,
    /// so raw or Tracee input.
    Paper,
}

const SEED_COLUMNS: [Column; FEATURE_WIDTH] = [
    Column::ProcessId,
    Column::ThreadId,
    Column::ParentProcessId,
    Column::UserId,
    Column::MountNamespace,
    Column::ArgsNum,
    Column::ReturnValue,
];
const PAPER_COLUMNS: [Column; FEATURE_WIDTH] = [
    Column::ProcessId,
    Column::ParentProcessId,
    Column::UserId,
    Column::MountNamespace,
    Column::EventId,
    Column::ArgsNum,
    Column::ReturnValue,
];

/// Re-exported from [`crate::data`], where the fact lives.
pub use crate::data::HOST_MOUNT_NAMESPACE;

impl FeatureSet {
    /// The feature set's name on the command line and in saved files.
    pub const fn name(self) -> &'static str {
        match self {
            FeatureSet::Seed => "seed",
            FeatureSet::Paper => "paper",
        }
    }

    /// The columns the features come from, in the order the network takes them.
    pub const fn columns(self) -> [Column; FEATURE_WIDTH] {
        match self {
            FeatureSet::Seed => SEED_COLUMNS,
            FeatureSet::Paper => PAPER_COLUMNS,
        }
    }

    /// The feature names, in order (the column names they come from).
    pub fn names(self) -> [&'static str; FEATURE_WIDTH] {
        self.columns().map(Column::name)
    }

    /// Checks that files of `schema` have every column this feature set needs.
    pub fn check_schema(self, schema: Schema, path: &Path) -> Result<()> {
        for column in self.columns() {
            if !schema.has(column) {
                return Err(Error::MissingColumn {
                    path: path.to_path_buf(),
                    what: format!("feature set `{}`", self.name()),
                    column: column.name(),
                    schema: schema.name(),
                });
            }
        }
        Ok(())
    }

    /// The unscaled features of one event.
    #[inline]
    pub fn encode(self, e: &BethEvent) -> [f64; FEATURE_WIDTH] {
        match self {
            FeatureSet::Seed => [
                e.process_id as f64,
                e.thread_id as f64,
                e.parent_process_id as f64,
                e.user_id as f64,
                e.mount_namespace as f64,
                e.args_num as f64,
                e.return_value as f64,
            ],
            FeatureSet::Paper => [
                if e.process_id <= 2 { 0.0 } else { 1.0 },
                if e.parent_process_id <= 2 { 0.0 } else { 1.0 },
                if e.user_id < 1000 { 0.0 } else { 1.0 },
                if e.mount_namespace == HOST_MOUNT_NAMESPACE {
                    0.0
                } else {
                    1.0
                },
                e.event_id as f64,
                e.args_num as f64,
                match e.return_value {
                    0 => 0.0,
                    v if v > 0 => 1.0,
                    _ => 2.0,
                },
            ],
        }
    }
}

impl fmt::Display for FeatureSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for FeatureSet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "seed" => Ok(FeatureSet::Seed),
            "paper" => Ok(FeatureSet::Paper),
            other => Err(Error::InvalidConfig {
                name: "feature set",
                expected: "`seed` or `paper`",
                found: other.to_string(),
            }),
        }
    }
}

/// Standardises features: `(x − mean) / std`, with the statistics of the training split.
///
/// Like scikit-learn's `StandardScaler`: population standard deviation, and a constant column
/// is scaled by 1, so it becomes 0 rather than NaN. The statistics are fitted once, on the
/// training split, and applied unchanged to validation, test and scoring.
///
/// Serialised as `{"feature_set": "seed", "features": [...], "mean": [...], "std": [...]}`;
/// deserialising checks that the names match the feature set and that every number is finite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ScalerFile", into = "ScalerFile")]
pub struct FeatureScaler {
    feature_set: FeatureSet,
    mean: [f64; FEATURE_WIDTH],
    /// The divisor: the standard deviation, or 1 where that is 0.
    scale: [f64; FEATURE_WIDTH],
}

#[derive(Serialize, Deserialize)]
struct ScalerFile {
    feature_set: FeatureSet,
    features: Vec<String>,
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl From<FeatureScaler> for ScalerFile {
    fn from(s: FeatureScaler) -> Self {
        ScalerFile {
            feature_set: s.feature_set,
            features: s
                .feature_set
                .names()
                .iter()
                .map(|n| n.to_string())
                .collect(),
            mean: s.mean.to_vec(),
            std: s.scale.to_vec(),
        }
    }
}

impl TryFrom<ScalerFile> for FeatureScaler {
    type Error = String;
    fn try_from(f: ScalerFile) -> std::result::Result<Self, String> {
        let names = f.feature_set.names();
        if f.features.len() != FEATURE_WIDTH || f.features.iter().zip(names).any(|(a, b)| a != b) {
            return Err(format!(
                "expected features {names:?} for feature set `{}`, found {:?}",
                f.feature_set, f.features
            ));
        }
        FeatureScaler::new(f.feature_set, &f.mean, &f.std).map_err(|e| e.to_string())
    }
}

impl FeatureScaler {
    /// A scaler with given statistics (e.g. scikit-learn's `mean_` and `scale_`).
    ///
    /// Every value must be finite and every `std` non-negative; an `std` below `10 × f64::EPSILON`
    /// is taken as 1 (scikit-learn's rule for constant columns).
    pub fn new(feature_set: FeatureSet, mean: &[f64], std: &[f64]) -> Result<Self> {
        if mean.len() != FEATURE_WIDTH || std.len() != FEATURE_WIDTH {
            return Err(Error::InvalidConfig {
                name: "scaler",
                expected: "7 means and 7 standard deviations",
                found: format!("{} means and {} standard deviations", mean.len(), std.len()),
            });
        }
        if mean.iter().chain(std).any(|v| !v.is_finite()) || std.iter().any(|&s| s < 0.0) {
            return Err(Error::InvalidConfig {
                name: "scaler",
                expected: "finite means and non-negative finite standard deviations",
                found: format!("mean {mean:?}, std {std:?}"),
            });
        }
        let mut m = [0.0; FEATURE_WIDTH];
        let mut s = [1.0; FEATURE_WIDTH];
        m.copy_from_slice(mean);
        // As scikit-learn: a deviation this close to 0 is a constant column, scaled by 1.
        for (d, &v) in s.iter_mut().zip(std) {
            *d = if v < 10.0 * f64::EPSILON { 1.0 } else { v };
        }
        Ok(FeatureScaler {
            feature_set,
            mean: m,
            scale: s,
        })
    }

    /// Fits the statistics on a (training) dataset, in f64 with two passes.
    pub fn fit(feature_set: FeatureSet, train: &BethDataset) -> Result<Self> {
        feature_set.check_schema(train.schema(), train.path())?;
        if train.is_empty() {
            return Err(Error::NoRecords {
                path: train.path().to_path_buf(),
                line: 2,
            });
        }
        let columns = train.columns();
        let n = train.len() as f64;
        let mut sum = [0.0f64; FEATURE_WIDTH];
        for i in 0..train.len() {
            let x = feature_set.encode(&columns.event(i));
            for (s, v) in sum.iter_mut().zip(x) {
                *s += v;
            }
        }
        let mean = sum.map(|s| s / n);
        let mut squares = [0.0f64; FEATURE_WIDTH];
        for i in 0..train.len() {
            let x = feature_set.encode(&columns.event(i));
            for ((q, v), m) in squares.iter_mut().zip(x).zip(mean) {
                *q += (v - m) * (v - m);
            }
        }
        let std = squares.map(|q| (q / n).sqrt());
        FeatureScaler::new(feature_set, &mean, &std)
    }

    /// The feature set the scaler was fitted for.
    pub fn feature_set(&self) -> FeatureSet {
        self.feature_set
    }

    /// The fitted means.
    pub fn mean(&self) -> &[f64; FEATURE_WIDTH] {
        &self.mean
    }

    /// The fitted divisors (standard deviations; 1 for constant columns).
    pub fn scale(&self) -> &[f64; FEATURE_WIDTH] {
        &self.scale
    }

    /// The scaled features of one event, written into `out` (7 values).
    ///
    /// Always finite: a value beyond `f32`'s range (only possible with statistics that do not
    /// come from BETH-like data) saturates at `±f32::MAX` instead of becoming infinite.
    #[inline]
    pub fn transform_into(&self, e: &BethEvent, out: &mut [f32]) {
        self.scale_into(&self.feature_set.encode(e), out);
    }

    /// Scales features already encoded by [`FeatureSet::encode`] (7 values into `out`), with the
    /// same saturation as [`FeatureScaler::transform_into`].
    #[inline]
    pub fn scale_into(&self, x: &[f64; FEATURE_WIDTH], out: &mut [f32]) {
        const LIMIT: f64 = f32::MAX as f64;
        for i in 0..FEATURE_WIDTH {
            out[i] = ((x[i] - self.mean[i]) / self.scale[i]).clamp(-LIMIT, LIMIT) as f32;
        }
    }

    /// The scaled features of one event.
    pub fn transform(&self, e: &BethEvent) -> [f32; FEATURE_WIDTH] {
        let mut out = [0.0; FEATURE_WIDTH];
        self.transform_into(e, &mut out);
        out
    }

    /// Reads a scaler saved as JSON.
    pub fn load_json(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_slice(&text).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })
    }
}
