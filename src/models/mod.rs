//! Detector kinds, one file each: the notebook's supervised network ([`mlp`], and [`ensemble`] for
//! several trained as one), and the label-free [`autoencoder`] and [`iforest`]: each a config validated
//! once, a fit, and a fitted model that scores rows of scaled features. A saved
//! [`Detector`](crate::Detector) holds one of them ([`DetectorKind`]).

pub mod autoencoder;
pub mod dropout;
pub mod ensemble;
pub mod host;
pub mod iforest;
pub mod mlp;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What a detector is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectorKind {
    /// The notebook's supervised network, or an ensemble of them: learns from `sus` labels.
    #[default]
    Mlp,
    /// An autoencoder trained on benign (or unlabelled) events: no labels needed.
    Autoencoder,
    /// An isolation forest grown on benign (or unlabelled) events: no labels needed.
    Iforest,
}

impl DetectorKind {
    /// Every kind, in the order benchmarks list them.
    pub const ALL: [DetectorKind; 3] = [
        DetectorKind::Mlp,
        DetectorKind::Autoencoder,
        DetectorKind::Iforest,
    ];

    /// Its name on the command line and in files.
    pub const fn name(self) -> &'static str {
        match self {
            DetectorKind::Mlp => "mlp",
            DetectorKind::Autoencoder => "autoencoder",
            DetectorKind::Iforest => "iforest",
        }
    }

    /// Whether it learns without labels (then it fits on the benign training rows, or on all
    /// of them when the data has no labels).
    pub const fn is_label_free(self) -> bool {
        !matches!(self, DetectorKind::Mlp)
    }

    /// Whether it is a burn network (trained through the Learner, on a backend).
    pub const fn is_network(self) -> bool {
        !matches!(self, DetectorKind::Iforest)
    }
}

impl std::fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DetectorKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        DetectorKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| Error::InvalidConfig {
                name: "detector",
                expected: "`mlp`, `autoencoder` or `iforest`",
                found: s.to_string(),
            })
    }
}
