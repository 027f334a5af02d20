//! Detect suspicious kernel events in the [BETH dataset] (Tracee logs) with a small neural
//! network built on [burn].
//!
//! [BETH dataset]: https://www.kaggle.com/datasets/katehighnam/beth-dataset
//! [burn]: https://burn.dev
//!
//! Data flows one way: events ([`data`]) → features ([`features`]) → batches ([`batch`]) →
//! model → scores → report ([`evaluation`], [`plots`]).
//!
//! ```
//! use beth_detect::data::{BethDataset, Label};
//! use beth_detect::features::{FeatureScaler, FeatureSet};
//!
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/beth/datacamp_projection");
//! let train = BethDataset::open(format!("{dir}/labelled_train.csv"))?;
//! let scaler = FeatureScaler::fit(FeatureSet::Seed, &train)?;
//! let features = scaler.transform(&train.event(0));
//! assert_eq!(features.len(), 7);
//! # Ok::<(), beth_detect::Error>(())
//! ```
#![deny(missing_docs)]

pub mod artifact;
pub mod backend;
pub mod batch;
pub mod benchmark;
pub mod calibration;
pub mod cpu_scorer;
pub mod data;
pub mod detector;
mod error;
pub mod evaluation;
pub mod explain;
pub mod falco;
pub mod features;
pub mod interop;
pub mod models;
pub mod plots;
pub mod report;
pub mod scoring;
#[cfg(feature = "serve")]
pub mod server;
pub mod training;
mod weights;

pub use data::{BethDataset, BethSplits};
pub use detector::{Detector, evaluate};
pub use evaluation::EvaluationReport;
pub use models::mlp::{ThreatDetector, ThreatDetectorConfig};
pub use training::{TrainingConfig, train};

pub use error::{Error, Position, Result};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
