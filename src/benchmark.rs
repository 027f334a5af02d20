//! Several seeds trained and evaluated exactly as `train` and `eval` would, and summarised:
//! how much a detector's quality depends on the seed, on the user's own data.
//!
//! Each seed's run is [`train_with_provenance`] with the default [`TrainingConfig`], the
//! detector kind, the feature set asked for and that seed (validation carved with the same
//! seed when the data has no validation file), so the per-seed reports are those of
//! `train --detector D --seed S`.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::data::{CarveOptions, Label};
use crate::detector::evaluate_scores;
use crate::error::{Error, Result};
use crate::evaluation::{EvaluationReport, ThresholdRule, auroc, curve};
use crate::features::FeatureSet;
use crate::models::DetectorKind;
use crate::training::{DataProvenance, Progress, TrainingConfig, train_with_provenance};
use burn::tensor::backend::AutodiffBackend;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchmarkOptions {
    /// Detector kinds, in the order they are run and reported.
    pub detectors: Vec<DetectorKind>,
    /// Seeds 1..=seeds.
    pub seeds: u64,
    /// The feature set.
    pub features: FeatureSet,
    /// Share of the training file carved out as validation when there is no validation file.
    pub validation_fraction: f64,
}

/// A moment of a run, for progress lines.
#[derive(Debug, Clone, PartialEq)]
pub enum BenchmarkEvent {
    /// Training `detector` with `seed` begins.
    Fitting {
        /// The kind.
        detector: String,
        /// The seed.
        seed: u64,
    },
    /// It ended, with its test AUROC.
    Fitted {
        /// The kind.
        detector: String,
        /// The seed.
        seed: u64,
        /// Seconds spent training.
        fit_seconds: f64,
        /// Test AUROC (None with one class).
        test_auroc: Option<f64>,
    },
}

/// One split's figures over the seeds. Means and the population standard deviation (numpy's
/// default) over seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitSummary {
    /// Mean AUROC of the scores.
    pub auroc_mean: f64,
    /// Its standard deviation.
    pub auroc_std: f64,
    /// The worst seed's AUROC.
    pub auroc_min: f64,
    /// Mean AUROC of the 0/1 predictions at the threshold (the BETH paper's way: it equals
    /// the mean of the true-positive and true-negative rates).
    pub auroc_hard_mean: f64,
    /// Mean average precision.
    pub average_precision_mean: f64,
    /// Mean recall at the highest threshold whose false-positive rate is at most 1%.
    pub recall_at_1pct_fpr_mean: f64,
    /// Mean F1 at the threshold.
    pub f1_mean: f64,
}

/// One seed's run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// Seconds spent training (data loading excluded).
    pub fit_seconds: f64,
    /// The validation report at the detector's threshold.
    pub validation: EvaluationReport,
    /// The test report at the detector's threshold.
    pub test: EvaluationReport,
}

/// One detector kind over every seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectorBenchmark {
    /// The kind.
    pub detector: String,
    /// The rule that chose each seed's threshold.
    pub threshold_rule: ThresholdRule,
    /// Validation figures over the seeds.
    pub validation: SplitSummary,
    /// Test figures over the seeds.
    pub test: SplitSummary,
    /// Every seed's reports.
    pub per_seed: Vec<SeedRun>,
    /// Every seed's test scores (for plots), in seed order.
    #[serde(skip)]
    pub test_scores: Vec<Vec<f32>>,
    /// The test labels of each seed's run.
    #[serde(skip)]
    pub test_targets: Vec<Vec<u8>>,
}

/// Where the data came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchmarkData {
    /// The directory.
    pub source: String,
    /// Whether the training file is the crate's synthetic generator's.
    pub synthetic: bool,
    /// Training rows (after carving with seed 1).
    pub train_rows: usize,
    /// Validation rows (after carving with seed 1).
    pub validation_rows: usize,
    /// Test rows.
    pub test_rows: usize,
    /// Whether validation was carved out of the training file.
    pub carved_validation: bool,
    /// The feature set.
    pub features: FeatureSet,
}

/// Everything a benchmark produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchmarkReport {
    /// The data.
    pub data: BenchmarkData,
    /// One entry per detector kind.
    pub detectors: Vec<DetectorBenchmark>,
}

/// Runs every kind with every seed on the splits in `dir`, training on backend `B` (pass
/// `Autodiff<Flex>` for what `train` does by default).
pub fn run_benchmark<B: AutodiffBackend>(
    dir: &Path,
    options: &BenchmarkOptions,
    mut on_event: impl FnMut(BenchmarkEvent),
) -> Result<BenchmarkReport> {
    if options.seeds == 0 {
        return Err(Error::InvalidConfig {
            name: "seeds",
            expected: "at least 1",
            found: "0".into(),
        });
    }
    if options.detectors.is_empty() {
        return Err(Error::InvalidConfig {
            name: "detectors",
            expected: "at least one of `mlp`, `autoencoder`, `iforest`",
            found: "none".into(),
        });
    }
    let mut data = None;
    let mut detectors = Vec::new();
    for &kind in &options.detectors {
        let mut per_seed = Vec::new();
        let mut figures = Vec::new();
        let mut threshold_rule = ThresholdRule::default();
        let (mut test_scores, mut test_targets) = (Vec::new(), Vec::new());
        for seed in 1..=options.seeds {
            on_event(BenchmarkEvent::Fitting {
                detector: kind.to_string(),
                seed,
            });
            let carve = CarveOptions {
                fraction: options.validation_fraction,
                seed,
                label: Label::Sus,
            };
            let synthetic_settings = crate::data::synth::SynthConfig::new();
            let (splits, provenance) =
                DataProvenance::load(Some(dir), &synthetic_settings, &carve)?;
            if data.is_none() {
                data = Some(BenchmarkData {
                    source: provenance.source.clone(),
                    synthetic: provenance.synthetic,
                    train_rows: splits.train.len(),
                    validation_rows: splits.validation.len(),
                    test_rows: splits.test.len(),
                    carved_validation: splits.carved.is_some(),
                    features: options.features,
                });
            }
            let config = TrainingConfig::new()
                .with_detector(kind)
                .with_feature_set(options.features)
                .with_seed(seed);
            let scratch = std::env::temp_dir().join(format!(
                "beth-detect-benchmark-{}-{kind}-{seed}",
                std::process::id()
            ));
            let started = Instant::now();
            let outcome = train_with_provenance::<B>(
                &config,
                &splits,
                &scratch,
                Progress::Silent,
                &Default::default(),
                &provenance,
            );
            let fit_seconds = started.elapsed().as_secs_f64();
            let _ = std::fs::remove_dir_all(&scratch);
            let outcome = outcome?;
            let detector = &outcome.detector;
            threshold_rule = detector.metadata().threshold_rule;
            let splits = splits.with_label(Label::Sus)?;
            let (validation, validation_scores) = evaluate_scores(detector, &splits.validation)?;
            let (test, scores) = evaluate_scores(detector, &splits.test)?;
            let validation_targets = splits.validation.label_column(Label::Sus).to_vec();
            let targets = splits.test.label_column(Label::Sus).to_vec();
            figures.push((
                SeedFigures::of(&validation, &validation_scores, &validation_targets),
                SeedFigures::of(&test, &scores, &targets),
            ));
            on_event(BenchmarkEvent::Fitted {
                detector: kind.to_string(),
                seed,
                fit_seconds,
                test_auroc: test.auroc,
            });
            per_seed.push(SeedRun {
                seed,
                fit_seconds,
                validation,
                test,
            });
            test_scores.push(scores);
            test_targets.push(targets);
        }
        let validation: Vec<&SeedFigures> = figures.iter().map(|f| &f.0).collect();
        let test: Vec<&SeedFigures> = figures.iter().map(|f| &f.1).collect();
        detectors.push(DetectorBenchmark {
            detector: kind.to_string(),
            threshold_rule,
            validation: SplitSummary::of(&validation),
            test: SplitSummary::of(&test),
            per_seed,
            test_scores,
            test_targets,
        });
    }
    Ok(BenchmarkReport {
        data: data.expect("at least one seed ran"),
        detectors,
    })
}

/// One seed's figures on one split.
struct SeedFigures {
    auroc: f64,
    auroc_hard: f64,
    average_precision: f64,
    recall_at_1pct_fpr: f64,
    f1: f64,
}

impl SeedFigures {
    fn of(report: &EvaluationReport, scores: &[f32], targets: &[u8]) -> Self {
        let predictions: Vec<f32> = scores
            .iter()
            .map(|&s| {
                if s as f64 >= report.threshold {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        SeedFigures {
            auroc: report.auroc.unwrap_or(f64::NAN),
            auroc_hard: auroc(&predictions, targets).unwrap_or(f64::NAN),
            average_precision: report.average_precision.unwrap_or(f64::NAN),
            recall_at_1pct_fpr: recall_at_fpr(scores, targets, 0.01).unwrap_or(f64::NAN),
            f1: report.f1,
        }
    }
}

impl SplitSummary {
    fn of(seeds: &[&SeedFigures]) -> Self {
        let mean = |f: fn(&SeedFigures) -> f64| -> f64 {
            seeds.iter().map(|s| f(s)).sum::<f64>() / seeds.len() as f64
        };
        let auroc_mean = mean(|s| s.auroc);
        let variance = seeds
            .iter()
            .map(|s| (s.auroc - auroc_mean).powi(2))
            .sum::<f64>()
            / seeds.len() as f64;
        SplitSummary {
            auroc_mean,
            auroc_std: variance.sqrt(),
            auroc_min: seeds.iter().map(|s| s.auroc).fold(f64::INFINITY, f64::min),
            auroc_hard_mean: mean(|s| s.auroc_hard),
            average_precision_mean: mean(|s| s.average_precision),
            recall_at_1pct_fpr_mean: mean(|s| s.recall_at_1pct_fpr),
            f1_mean: mean(|s| s.f1),
        }
    }
}

/// The highest recall among thresholds whose false-positive rate is at most `fpr` (None
/// without both classes).
pub fn recall_at_fpr(scores: &[f32], targets: &[u8], fpr: f64) -> Option<f64> {
    let positives = targets.iter().filter(|&&t| t == 1).count() as f64;
    let negatives = targets.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    let best = curve(scores, targets)
        .iter()
        .filter(|p| p.confusion.fp as f64 / negatives <= fpr)
        .map(|p| p.confusion.tp as f64 / positives)
        .fold(0.0, f64::max);
    Some(best)
}
