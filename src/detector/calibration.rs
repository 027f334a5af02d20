//! Detector → detector: re-fit only the threshold on a new host's own normal traffic.
//!
//! A threshold chosen on the training hosts' validation rows does not carry to another host:
//! its normal events can score well above the training hosts' (on the bundled real rows, the
//! test host's benign events score 0.01–0.1 where the training host's score below 0.01), so an
//! alert budget set there floods elsewhere. [`calibrate`] scores a sample of the new host's
//! traffic — unlabelled, or labelled, in which case only its benign rows count — and sets the
//! threshold by an alert budget ([`ThresholdRule::Fpr`] or [`ThresholdRule::PerMillion`]) on
//! those scores. The model, scaler and everything else stay exactly as they were; the
//! detector records where and when it was calibrated ([`Calibration`]).
//!
//! A budget is a ceiling ([`BudgetMode::Ceiling`], the default): the new threshold is the
//! higher of the current one and the budget's quantile, so a host that is already quieter than
//! the budget keeps its threshold — chosen on labelled validation rows — and never alerts more
//! after calibrating. [`BudgetMode::AllowLower`] sets the quantile even when it is lower, for a
//! label-free detector moved to a quieter host where more sensitivity is wanted.
//!
//! ```
//! use beth_detect::backend::NdArray;
//! use beth_detect::detector::calibration::{
//!     BudgetMode, calibrate, calibrate_with, open_calibration_data,
//! };
//! use beth_detect::evaluation::ThresholdRule;
//! use beth_detect::detector::interop::{imported_detector, load_pytorch, load_sklearn_scaler};
//!
//! // A detector (here the notebook's PyTorch model, a test fixture) ...
//! let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
//! let model = load_pytorch::<NdArray>(format!("{fixtures}/pytorch/model.pt"), &Default::default())?;
//! let scaler = load_sklearn_scaler(format!("{fixtures}/pytorch/scaler.json"))?;
//! let detector = imported_detector(model, scaler, 0.5, "model.pt".as_ref())?;
//!
//! // ... calibrated on a host's traffic (real BETH rows of the test host; their `sus` rows
//! // are read past): at most 1 in 1,000 of its normal events may alert.
//! let data = open_calibration_data(format!(
//!     "{fixtures}/beth/njeriw_DataCamp/labelled_test_head7500.csv"
//! ))?;
//! let (calibrated, outcome) = calibrate(detector, &data, ThresholdRule::Fpr(0.001))?;
//! assert_eq!(outcome.skipped_suspicious, 1_559);
//! assert_eq!(outcome.after.events, 5_941);
//! assert!(outcome.after.alerts <= 5); // ⌊0.001 · 5,941⌋
//! let record = calibrated.metadata().calibration.as_ref().unwrap();
//! assert_eq!(record.rule, ThresholdRule::Fpr(0.001));
//! // calibrated.save("detector-host-217")?;
//!
//! // A budget this host already meets keeps the threshold (the default, a ceiling) ...
//! let (kept, outcome) = calibrate(calibrated.clone(), &data, ThresholdRule::Fpr(0.01))?;
//! assert!(outcome.threshold_kept);
//! assert_eq!(kept.threshold(), calibrated.threshold());
//! // ... unless lower thresholds are allowed.
//! let (lowered, outcome) =
//!     calibrate_with(calibrated.clone(), &data, ThresholdRule::Fpr(0.01), BudgetMode::AllowLower)?;
//! assert!(lowered.threshold() < calibrated.threshold());
//! assert!(outcome.after.alerts > outcome.before.alerts);
//! # Ok::<(), beth_detect::Error>(())
//! ```

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use burn::prelude::Backend;

pub use super::metadata::BudgetMode;
use super::metadata::Calibration;
use super::model::Detector;
use crate::data::BethDataset;
use crate::error::{Error, Result};
use crate::evaluation::{AlertRate, ThresholdRule};

/// What [`calibrate`] saw and did.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationOutcome {
    /// The threshold before.
    pub previous_threshold: f64,
    /// The rule that chose it.
    pub previous_rule: ThresholdRule,
    /// The threshold now.
    pub threshold: f64,
    /// The host's normal events alerting at the previous threshold.
    pub before: AlertRate,
    /// The same events alerting at the new threshold.
    pub after: AlertRate,
    /// Rows read past because they are labelled suspicious.
    pub skipped_suspicious: u64,
    /// How the budget was applied.
    pub mode: BudgetMode,
    /// The budget's quantile on the host's normal events.
    pub budget_threshold: f64,
    /// The threshold already met the budget (as a ceiling) and was kept.
    pub threshold_kept: bool,
}

/// Re-fits `detector`'s threshold by `rule`, an alert budget, on the normal events of `data`:
/// the rows labelled benign of a labelled file, every row of an unlabelled one. The budget is
/// a ceiling ([`BudgetMode::Ceiling`]): the threshold only ever rises. The detector records
/// the calibration (data, time, rule, previous threshold) and the benign alert rate measured;
/// its model and scaler are untouched.
pub fn calibrate<B: Backend>(
    detector: Detector<B>,
    data: &[BethDataset],
    rule: ThresholdRule,
) -> Result<(Detector<B>, CalibrationOutcome)> {
    calibrate_with(detector, data, rule, BudgetMode::Ceiling)
}

/// [`calibrate`] with the budget applied as `mode` says.
pub fn calibrate_with<B: Backend>(
    detector: Detector<B>,
    data: &[BethDataset],
    rule: ThresholdRule,
    mode: BudgetMode,
) -> Result<(Detector<B>, CalibrationOutcome)> {
    if !rule.is_alert_budget() {
        return Err(Error::InvalidConfig {
            name: "calibration rule",
            expected: "an alert budget, `fpr:X` or `per-million:N` (calibration sees only normal traffic)",
            found: rule.to_string(),
        });
    }
    let label = detector.metadata().label;
    let mut benign = Vec::new();
    let mut skipped_suspicious = 0u64;
    for dataset in data {
        let scores = detector.score_dataset(dataset)?;
        if dataset.has_label(label) {
            let targets = dataset.label_column(label);
            for (&s, &t) in scores.iter().zip(targets) {
                if t == 0 {
                    benign.push(s);
                } else {
                    skipped_suspicious += 1;
                }
            }
        } else {
            benign.extend(scores);
        }
    }
    let sources: Vec<String> = data
        .iter()
        .map(|d| d.path().display().to_string())
        .collect();
    if benign.is_empty() {
        return Err(Error::Training(format!(
            "nothing to calibrate on: {} has no events labelled benign (or unlabelled)",
            sources.join(", ")
        )));
    }
    let previous_threshold = detector.threshold();
    let previous_rule = detector.metadata().threshold_rule;
    let budget_threshold = rule.choose(&benign, &[]);
    let threshold_kept = mode == BudgetMode::Ceiling && previous_threshold >= budget_threshold;
    let threshold = if threshold_kept {
        previous_threshold
    } else {
        budget_threshold
    };
    let before = AlertRate::of(&benign, &[], previous_threshold);
    let after = AlertRate::of(&benign, &[], threshold);
    let record = Calibration {
        data_source: sources.join(", "),
        calibrated_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        rule,
        previous_threshold,
        previous_rule,
        skipped_suspicious,
        mode: Some(mode),
        threshold_kept,
    };
    let calibrated = detector.with_threshold_and_metadata(threshold, |m| {
        // A kept threshold is still the one the previous rule chose.
        if !threshold_kept {
            m.threshold_rule = rule;
        }
        m.benign_alert_rate = Some(after);
        m.calibration = Some(record);
    })?;
    Ok((
        calibrated,
        CalibrationOutcome {
            previous_threshold,
            previous_rule,
            threshold,
            before,
            after,
            skipped_suspicious,
            mode,
            budget_threshold,
            threshold_kept,
        },
    ))
}

/// A host's traffic to calibrate on: one file (CSV of any BETH schema, or Tracee JSON lines),
/// or every `.csv`, `.jsonl` and `.json` file of a directory, in name order.
pub fn open_calibration_data(path: impl AsRef<Path>) -> Result<Vec<BethDataset>> {
    let path = path.as_ref();
    if !path.is_dir() {
        return Ok(vec![BethDataset::open(path)?]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::io(path, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e, "csv" | "jsonl" | "json"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Training(format!(
            "{}: no .csv, .jsonl or .json file to calibrate on",
            path.display()
        )));
    }
    files.iter().map(BethDataset::open).collect()
}
