//! Detect suspicious kernel events in the [BETH dataset] (Tracee logs) with a small neural
//! network built on [burn].
//!
//! [BETH dataset]: https://www.kaggle.com/datasets/katehighnam/beth-dataset
//! [burn]: https://burn.dev
//!
//! Data flows one way, and each stage is one room of the crate:
//!
//! events ([`data`]) → features ([`features`]) → models ([`models`]) → training
//! ([`training`]) → detector ([`detector`]) → scoring ([`scoring`]) → reports
//! ([`evaluation`], [`report`], [`plots`], [`benchmark`]),
//!
//! with the HTTP server (`server`, cargo feature `serve`) and the `beth-detect` command on
//! top. [`backend`] names the burn backends; [`atomic_files`] writes files that appear whole
//! or not at all; [`Error`] is the one error type, carrying the file and line it came from.
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

pub mod atomic_files;
pub mod backend;
pub mod benchmark;
pub mod data;
pub mod detector;
mod error;
pub mod evaluation;
pub mod features;
#[cfg(feature = "nats")]
pub mod fleet;
pub mod models;
pub mod plots;
pub mod report;
pub mod scoring;
#[cfg(feature = "serve")]
pub mod server;
pub mod training;

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
