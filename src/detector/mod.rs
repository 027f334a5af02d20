//! Detector: a fitted model with its features, threshold and provenance, and everything about
//! its files.
//!
//! A [`Detector`] is what `train` returns and what every scoring path takes: a fitted model of
//! any [`DetectorKind`](crate::models::DetectorKind), the [`FeatureScaler`](crate::features::FeatureScaler)
//! its features go through, the decision threshold and [`DetectorMetadata`]. Its directory
//! ([`Detector::save`], [`Detector::load`]) holds [`DETECTOR_FILE`] and the weights as
//! safetensors in PyTorch's layout ([`WEIGHTS_FILE`]), so the notebook's PyTorch network comes in and goes out as it is
//! ([`interop`]). A threshold can be re-fitted on a new host's normal traffic without touching
//! the model ([`calibration`]).
//!
//! ```
//! use beth_detect::backend::NdArray;
//! use beth_detect::detector::{Detector, evaluate};
//! use beth_detect::detector::interop::{imported_detector, load_pytorch, load_sklearn_scaler};
//! use beth_detect::data::BethDataset;
//!
//! // The notebook's PyTorch network and scaler (test fixtures), as a detector.
//! let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
//! let model = load_pytorch::<NdArray>(format!("{fixtures}/pytorch/model.pt"), &Default::default())?;
//! let scaler = load_sklearn_scaler(format!("{fixtures}/pytorch/scaler.json"))?;
//! let detector = imported_detector(model, scaler, 0.5, "model.pt".as_ref())?;
//!
//! // Saved and read back, it scores real BETH rows exactly as before.
//! let dir = std::env::temp_dir().join(format!("beth-detect-doc-{}", std::process::id()));
//! detector.save(&dir)?;
//! let loaded = Detector::<NdArray>::load(&dir, &Default::default())?;
//! let test = BethDataset::open(format!("{fixtures}/beth/njeriw_DataCamp/labelled_test_head7500.csv"))?;
//! assert_eq!(loaded.score_dataset(&test)?, detector.score_dataset(&test)?);
//! let report = evaluate(&loaded, &test)?;
//! assert_eq!((report.rows, report.positives), (7_500, 1_559));
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), beth_detect::Error>(())
//! ```

pub mod calibration;
mod files;
pub mod interop;
mod metadata;
mod model;
mod weights;

pub use metadata::{
    BURN_VERSION, BudgetMode, Calibration, DETECTOR_FILE, DetectorMetadata, FOREST_FILE,
    FORMAT_VERSION, MAX_MEMBERS, WEIGHTS_FILE,
};
pub use model::{Detector, DetectorModel, evaluate, evaluate_scores};
