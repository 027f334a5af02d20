//! Training on burn-train's `Learner` (`SupervisedTraining`): produces a [`Detector`].
//!
//! ```no_run
//! use beth_detect::data::synth::{SynthConfig, generate_splits};
//! use beth_detect::training::{Progress, TrainingConfig, train};
//! use burn::backend::{Autodiff, NdArray};
//!
//! let splits = generate_splits(&SynthConfig::new().with_scale(0.05))?;
//! let config = TrainingConfig::new().with_num_epochs(2);
//! let outcome = train::<Autodiff<NdArray>>(&config, &splits, "artifacts/run", Progress::Silent, &Default::default())?;
//! println!("{:?}", outcome.test_report);
//! # Ok::<(), beth_detect::Error>(())
//! ```

use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::data::dataloader::DataLoaderBuilder;
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::AutodiffBackend;
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::{
    Learner, MetricEarlyStoppingStrategy, StoppingCondition, SupervisedTraining, TrainingStrategy,
};

use crate::data::{BethDataset, BethSplits};
use crate::detector::{Detector, DetectorMetadata, DetectorModel, evaluate};
use crate::error::{Error, Result};
use crate::evaluation::{AlertRate, EvaluationReport, ThresholdRule};
use crate::features::FeatureScaler;
use crate::models::DetectorKind;
use crate::models::autoencoder::reference_error;
use crate::models::ensemble::ThreatEnsemble;
use crate::models::mlp::ThreatDetector;
use crate::training::batch::{RowBatcher, ScaledRows};

pub mod batch;
mod config;
mod host_step;
mod metrics;
mod optimizer;
mod progress;
mod step;
mod strategy;

pub use config::{AUTOENCODER_PATIENCE, ClassWeight, TrainingConfig};
pub use metrics::{BinaryMetric, BinaryMetricKind, EpochHistory};
use progress::{BoxedRenderer, ObservingRenderer};
pub use progress::{Progress, ProgressEvent};
pub use step::{BinaryOutput, BinaryOutputSync, TrainingNetwork};

/// Where the training data came from, for the detector's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataProvenance {
    /// A directory, or a description of the synthetic generator's settings.
    pub source: String,
    /// Whether the data is synthetic.
    pub synthetic: bool,
}

impl DataProvenance {
    /// Loads the splits in `path` (a directory, or one file whose validation rows are carved
    /// and which has no test split: [`BethSplits::open_file_with`]), or generates synthetic
    /// ones when there is no path, together with the provenance a detector records.
    /// Without a validation file in a directory, validation is carved out of the training file
    /// as `carve` says ([`BethSplits::open_dir_with`]). A directory `beth-detect synth` wrote
    /// is recognised by its marker and recorded as synthetic.
    pub fn load(
        path: Option<&Path>,
        synthetic: &crate::data::synth::SynthConfig,
        carve: &crate::data::CarveOptions,
    ) -> Result<(BethSplits, DataProvenance)> {
        Ok(match path {
            Some(file) if file.is_file() => (
                BethSplits::open_file_with(file, carve)?,
                DataProvenance {
                    source: file.display().to_string(),
                    synthetic: false,
                },
            ),
            Some(dir) => {
                let marker = crate::data::synth::synthetic_marker(dir);
                (
                    BethSplits::open_dir_with(dir, carve)?,
                    DataProvenance {
                        source: match &marker {
                            Some(settings) => format!("{} ({settings})", dir.display()),
                            None => dir.display().to_string(),
                        },
                        synthetic: marker.is_some(),
                    },
                )
            }
            None => (
                crate::data::synth::generate_splits(synthetic)?,
                DataProvenance {
                    source: format!(
                        "synthetic BETH, scale {}, seed {}",
                        synthetic.scale, synthetic.seed
                    ),
                    synthetic: true,
                },
            ),
        })
    }
}

/// Everything a run produces.
pub struct TrainingOutcome<B: Backend> {
    /// The detector (for networks, with the best validation-loss weights) and the chosen
    /// threshold.
    pub detector: Detector<B>,
    /// Exact per-epoch metrics (empty for the forest, which has no epochs; loss only for the
    /// autoencoder).
    pub history: EpochHistory,
    /// The validation split's report at the chosen threshold (`None` without labels).
    pub validation_report: Option<EvaluationReport>,
    /// The test split's report at the chosen threshold (`None` without a labelled test split).
    pub test_report: Option<EvaluationReport>,
    /// Validation rows that alert at the chosen threshold (what an alert budget controls; the
    /// only figure there is without labels).
    pub validation_alerts: usize,
}

/// Trains a detector on `splits`, keeping checkpoints and burn's logs under
/// `artifact_dir/training`: the networks with burn-train's `Learner` (the weights of the epoch
/// with the lowest validation loss are kept), the forest directly. The threshold is then chosen
/// on the validation split by `config.threshold`.
///
/// The supervised `mlp` needs labels. The label-free kinds fit on the training rows labelled
/// 0 (their scaler too) and watch the validation rows labelled 0; on data without labels, on
/// every row.
///
/// Generic over the backend: pass `Autodiff<NdArray>`, `Autodiff<Wgpu>`, …
pub fn train<B: AutodiffBackend>(
    config: &TrainingConfig,
    splits: &BethSplits,
    artifact_dir: impl AsRef<Path>,
    progress: Progress,
    device: &B::Device,
) -> Result<TrainingOutcome<B::InnerBackend>> {
    train_with_provenance::<B>(
        config,
        splits,
        artifact_dir,
        progress,
        device,
        &DataProvenance {
            source: splits.train.path().display().to_string(),
            synthetic: crate::data::synth::is_synthetic(&splits.train),
        },
    )
}

/// [`train`], recording where the data came from.
pub fn train_with_provenance<B: AutodiffBackend>(
    config: &TrainingConfig,
    splits: &BethSplits,
    artifact_dir: impl AsRef<Path>,
    progress: Progress,
    device: &B::Device,
    provenance: &DataProvenance,
) -> Result<TrainingOutcome<B::InnerBackend>> {
    config.validate()?;
    let kind = config.detector;
    let labelled = splits.train.has_label(config.label);
    if !labelled && !kind.is_label_free() {
        return Err(Error::Training(format!(
            "--detector mlp learns from labels, and {} has no `{}` column ({} events); train a label-free detector on it instead: --detector iforest or --detector autoencoder",
            splits.train.path().display(),
            config.label,
            splits.train.schema().name()
        )));
    }
    if let Some(rule) = config.threshold
        && !labelled
        && rule.needs_labels()
    {
        return Err(Error::Training(format!(
            "threshold `{rule}` needs labelled validation rows, and {} has no `{}` column; use a probability or an alert budget (`fpr:0.01`)",
            splits.train.path().display(),
            config.label
        )));
    }
    let splits = if labelled {
        splits.clone().with_label(config.label)?
    } else {
        splits.clone()
    };
    for split in [&splits.train, &splits.validation, &splits.test] {
        config
            .feature_set
            .check_schema(split.schema(), split.path())?;
    }
    let benign = |data: &BethDataset| -> BethDataset {
        if data.is_labelled() {
            let rows: Vec<usize> = (0..data.len())
                .filter(|&i| data.targets()[i] == 0)
                .collect();
            data.select(&rows)
        } else {
            data.clone()
        }
    };
    // What the model fits on: every training row for the supervised network, the benign ones
    // for the label-free kinds (the BETH paper's protocol).
    let (fit_train, fit_validation) = if kind.is_label_free() {
        (benign(&splits.train), benign(&splits.validation))
    } else {
        (splits.train.clone(), splits.validation.clone())
    };
    if fit_train.len() < 2 || fit_validation.is_empty() {
        return Err(Error::Training(format!(
            "a `{kind}` detector needs at least 2 training rows and 1 validation row to fit on, found {} and {}",
            fit_train.len(),
            fit_validation.len()
        )));
    }
    let scaler = FeatureScaler::fit(config.feature_set, &fit_train)?;
    let train_positives = if labelled {
        splits.train.positives()
    } else {
        0
    };

    let artifact_dir = artifact_dir.as_ref().join("training");
    std::fs::create_dir_all(&artifact_dir).map_err(|e| Error::io(&artifact_dir, e))?;
    let inner_device = device.clone();

    // Scaled once: the forest fits on these rows, the networks' data loader draws from them,
    // and the autoencoder's reference error is measured on them.
    let train_rows = ScaledRows::new(&scaler, &fit_train);
    let (model, history) = match kind {
        DetectorKind::Iforest => {
            let forest = config.forest().fit(train_rows.features())?;
            (DetectorModel::Iforest(forest), EpochHistory::default())
        }
        DetectorKind::Mlp | DetectorKind::Autoencoder => {
            let positive_weight = positive_weight(config, &splits.train, train_positives)?;
            let (network, history) = fit_network::<B>(
                config,
                train_rows.clone(),
                ScaledRows::new(&scaler, &fit_validation),
                positive_weight,
                &artifact_dir,
                progress,
                device,
            )?;
            let model = match network {
                TrainingNetwork::Autoencoder(model) => {
                    let errors = crate::models::host::scorer::autoencoder_errors(
                        &model,
                        train_rows.features().as_flattened(),
                    );
                    DetectorModel::Autoencoder {
                        model,
                        config: config.autoencoder.clone(),
                        reference_error: reference_error(&errors),
                    }
                }
                network => DetectorModel::Mlp(network.into_members(&config.model)),
            };
            (model, history)
        }
    };

    let metadata = DetectorMetadata {
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        burn_version: crate::detector::BURN_VERSION.to_string(),
        feature_set: config.feature_set,
        label: config.label,
        kind,
        model: config.model.clone(),
        training: Some(serde_json::to_value(config).expect("config serialises")),
        // Replaced below by the rule that chose the threshold.
        threshold_rule: ThresholdRule::default(),
        data_source: provenance.source.clone(),
        synthetic: provenance.synthetic,
        train_rows: fit_train.len() as u64,
        train_positives: if kind.is_label_free() {
            0
        } else {
            train_positives as u64
        },
        validation_rows: splits.validation.len() as u64,
        carved_validation: splits.carved.clone(),
        benign_alert_rate: None,
        calibration: None,
    };
    let provisional = Detector::from_model(model, &inner_device, scaler, 0.5, metadata)?;
    let validation_scores = provisional.score_dataset(&splits.validation)?;
    let targets = splits.validation.targets();
    let rule = threshold_rule(config, labelled, targets);
    let threshold = rule.choose(&validation_scores, targets);
    let detector = provisional.with_threshold_and_metadata(threshold, |m| {
        m.threshold_rule = rule;
        m.benign_alert_rate = Some(AlertRate::of(&validation_scores, targets, threshold));
    })?;
    let validation_report = if labelled {
        Some(EvaluationReport::compute(
            &validation_scores,
            splits.validation.targets(),
            threshold,
        )?)
    } else {
        None
    };
    let test_report = if splits.test.is_labelled() && !splits.test.is_empty() {
        Some(evaluate(&detector, &splits.test)?)
    } else {
        None
    };
    let validation_alerts = validation_scores
        .iter()
        .filter(|&&s| s as f64 >= threshold)
        .count();
    Ok(TrainingOutcome {
        detector,
        history,
        validation_report,
        test_report,
        validation_alerts,
    })
}

/// The rule the threshold is chosen by: the configured one, else the kind's default. A rule
/// that needs both classes on validation rows that hold only one (F1 and Youden's J would be
/// meaningless there) gives way to the default alert budget.
fn threshold_rule(config: &TrainingConfig, labelled: bool, targets: &[u8]) -> ThresholdRule {
    config
        .threshold
        .unwrap_or_else(|| ThresholdRule::default_for(config.detector.is_label_free(), labelled))
        .applicable(targets)
}

fn positive_weight(
    config: &TrainingConfig,
    train: &BethDataset,
    train_positives: usize,
) -> Result<f64> {
    Ok(match config.class_weight {
        ClassWeight::None => 1.0,
        ClassWeight::Positive(w) => w,
        ClassWeight::Balanced if config.detector.is_label_free() => 1.0,
        ClassWeight::Balanced => {
            if train_positives == 0 {
                return Err(Error::Training(format!(
                    "class weight `balanced` needs positives, and the training split has no `{}` events",
                    config.label
                )));
            }
            (train.len() - train_positives) as f64 / train_positives as f64
        }
    })
}

/// Trains the network `config.detector` names through the Learner on `train`, watching
/// `validation`; returns the network of the epoch with the lowest validation loss.
#[allow(clippy::too_many_arguments)]
fn fit_network<B: AutodiffBackend>(
    config: &TrainingConfig,
    train: ScaledRows,
    validation: ScaledRows,
    positive_weight: f64,
    artifact_dir: &Path,
    progress: Progress,
    device: &B::Device,
) -> Result<(TrainingNetwork<B::InnerBackend>, EpochHistory)> {
    let autoencoder = config.detector == DetectorKind::Autoencoder;
    let batcher = RowBatcher { positive_weight };
    let mut train_loader = DataLoaderBuilder::new(batcher.clone())
        .batch_size(config.batch_size)
        .shuffle(config.seed)
        .set_device(device.clone());
    let mut valid_loader = DataLoaderBuilder::new(batcher)
        .batch_size(config.validation_batch_size)
        .set_device(device.clone());
    if config.num_workers > 0 {
        train_loader = train_loader.num_workers(config.num_workers);
        valid_loader = valid_loader.num_workers(config.num_workers);
    }
    let train_loader = train_loader.build(train);
    let valid_loader = valid_loader.build(validation);

    let sinks: [Arc<Mutex<Vec<f64>>>; 7] = Default::default();
    use BinaryMetricKind as K;
    let valid_loss = BinaryMetric::recording(K::Loss, sinks[1].clone());
    let mut training = SupervisedTraining::new(artifact_dir, train_loader, valid_loader)
        .metric_train_numeric(BinaryMetric::recording(K::Loss, sinks[0].clone()))
        .metric_valid_numeric(valid_loss.clone());
    if !autoencoder {
        // The autoencoder hands over no probabilities: its only metric is its loss.
        training = training
            .metric_valid_numeric(BinaryMetric::recording(K::Accuracy, sinks[2].clone()))
            .metric_valid_numeric(BinaryMetric::recording(K::Precision, sinks[3].clone()))
            .metric_valid_numeric(BinaryMetric::recording(K::Recall, sinks[4].clone()))
            .metric_valid_numeric(BinaryMetric::recording(K::F1, sinks[5].clone()))
            .metric_valid_numeric(BinaryMetric::recording(K::Auroc, sinks[6].clone()));
    }
    let mut training = training
        .with_file_checkpointer(NamedMpkFileRecorder::<FullPrecisionSettings>::new())
        .with_checkpointing_strategy(KeepLastNCheckpoints::new(config.num_epochs))
        .with_application_logger(None)
        .num_epochs(config.num_epochs);
    training = training.with_training_strategy(TrainingStrategy::Custom(Arc::new(
        strategy::GroupedEventsStrategy::new(device.clone()),
    )));
    let patience = match config.early_stopping_patience {
        None if autoencoder => Some(AUTOENCODER_PATIENCE),
        patience => patience,
    };
    if let Some(patience) = patience {
        training = training.early_stopping(MetricEarlyStoppingStrategy::new(
            &valid_loss,
            Aggregate::Mean,
            Direction::Lowest,
            Split::Valid,
            StoppingCondition::NoImprovementSince { n_epochs: patience },
        ));
    }
    training = match progress {
        Progress::Default if std::io::stdout().is_terminal() => training,
        // burn's plain renderer writes a line per step into a log or a notebook: one per
        // epoch is what anyone reads there.
        Progress::Default => training.renderer(ObservingRenderer(progress::epoch_lines())),
        Progress::Silent => training.renderer(ObservingRenderer(Box::new(|_| {}))),
        Progress::Observe(callback) => training.renderer(ObservingRenderer(callback)),
        Progress::Custom(renderer) => training.renderer(BoxedRenderer(renderer)),
    };

    // NdArray's generator is global to the process: concurrent trainings in one process draw
    // from it in turn and are not reproducible; one at a time, a seed gives the same weights.
    B::seed(device, config.seed);
    // Members are drawn one after another from the seeded generator: member 0 starts from
    // exactly the weights the single network would.
    let network = if autoencoder {
        TrainingNetwork::Autoencoder(config.autoencoder.init::<B>(device).materialize())
    } else {
        // One network is a stack of one: the same arithmetic, the same bytes.
        let members: Vec<ThreatDetector<B>> = (0..config.ensemble)
            .map(|_| config.model.init::<B>(device).materialize())
            .collect();
        TrainingNetwork::Stacked(ThreatEnsemble::stack(&members, &config.model))
    };
    let result = training.launch(Learner::new(
        network,
        optimizer::FlushingAdam::init(config.adam_settings()),
        config.learning_rate,
    ));
    drop(result.renderer);

    let take = |i: usize| sinks[i].lock().expect("metric history lock").clone();
    let mut history = EpochHistory {
        train_loss: take(0),
        valid_loss: take(1),
        valid_accuracy: take(2),
        valid_precision: take(3),
        valid_recall: take(4),
        valid_f1: take(5),
        valid_auroc: take(6),
        best_epoch: 0,
    };
    let epochs_run = history.valid_loss.len();
    if epochs_run == 0 {
        return Err(Error::Training(
            "the learner finished without a single validation epoch".into(),
        ));
    }
    let best = history
        .valid_loss
        .iter()
        .enumerate()
        .fold(
            (0, f64::INFINITY),
            |best, (i, &l)| if l < best.1 { (i, l) } else { best },
        )
        .0;
    history.best_epoch = best + 1;
    let inner_device = result.model.devices()[0].clone();
    let mut model = result.model;
    if history.best_epoch != epochs_run {
        let checkpoint = artifact_dir
            .join("checkpoint")
            .join(format!("model-{}", history.best_epoch));
        let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
        model = model
            .load_file(&checkpoint, &recorder, &inner_device)
            .map_err(|e| Error::Artifact {
                path: checkpoint.with_extension("mpk"),
                message: format!("cannot reload the best epoch's checkpoint: {e}"),
            })?;
    }
    Ok((model, history))
}
