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

use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::data::dataloader::DataLoaderBuilder;
use burn::optim::AdamConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::Transaction;
use burn::tensor::backend::AutodiffBackend;
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::metric::{
    Adaptor, Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes,
    NumericEntry, SerializedEntry,
};
use burn::train::renderer::MetricsRenderer;
use burn::train::{
    InferenceStep, ItemLazy, Learner, MetricEarlyStoppingStrategy, StoppingCondition,
    SupervisedTraining, TrainOutput, TrainStep,
};
use serde::{Deserialize, Serialize};

use crate::batch::{BethBatch, BethBatcher};
use crate::data::{BethSplits, Label};
use crate::detector::{Detector, DetectorMetadata, evaluate};
use crate::ensemble::ThreatEnsemble;
use crate::error::{Error, Result};
use crate::evaluation::{EvaluationReport, ThresholdRule, auroc};
use crate::features::{FeatureScaler, FeatureSet};
use crate::model::{ThreatDetector, ThreatDetectorConfig, bce_with_logits};

/// How the rare positive class is weighted in the loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClassWeight {
    /// Every event counts the same (the original notebook).
    #[default]
    None,
    /// Positives weigh `negatives / positives` of the training split (PyTorch's usual
    /// `pos_weight`), so both classes contribute equally.
    Balanced,
    /// Positives weigh this much.
    Positive(f64),
}

impl std::str::FromStr for ClassWeight {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(ClassWeight::None),
            "balanced" => Ok(ClassWeight::Balanced),
            other => match other.parse::<f64>() {
                Ok(w) if w.is_finite() && w > 0.0 => Ok(ClassWeight::Positive(w)),
                _ => Err(Error::InvalidConfig {
                    name: "class weight",
                    expected: "`none`, `balanced` or a positive number",
                    found: other.to_string(),
                }),
            },
        }
    }
}

/// Every knob of a training run. Defaults are the original notebook's.
#[derive(Config, Debug)]
pub struct TrainingConfig {
    /// The network's shape.
    #[config(default = "ThreatDetectorConfig::new()")]
    pub model: ThreatDetectorConfig,
    /// Which features the network sees.
    #[config(default = "FeatureSet::Seed")]
    pub feature_set: FeatureSet,
    /// Which label it learns.
    #[config(default = "Label::Sus")]
    pub label: Label,
    /// Adam's learning rate (Adam's other settings are PyTorch's defaults: β = (0.9, 0.999),
    /// ε = 1e-8).
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Adam's weight decay: an L2 penalty whose gradient `weight_decay · w` is added to every
    /// parameter's gradient (weights and biases) before Adam's moments — exactly PyTorch's
    /// `Adam(weight_decay=…)`, not AdamW's decoupled decay. 0 is the notebook's recipe. The
    /// default, 1e-2, was chosen on real BETH rows (see the README): without it, whether the
    /// network catches the attack depends on the random seed.
    #[config(default = 1e-2)]
    pub weight_decay: f64,
    /// Networks of the notebook's shape trained side by side (stacked, one batch for all)
    /// from seed-derived initialisations and dropout masks; their probabilities are averaged
    /// into one score. 1 is the single network. The default, 2, was chosen on real BETH rows
    /// (see the README): a second network evens out the ranking of the events one network
    /// alone sometimes ranks below benign ones, at twice the arithmetic.
    #[config(default = 2)]
    pub ensemble: usize,
    /// Passes over the training split.
    #[config(default = 20)]
    pub num_epochs: usize,
    /// Training batch size.
    #[config(default = 64)]
    pub batch_size: usize,
    /// Validation batch size (does not change any result, only speed).
    #[config(default = 4096)]
    pub validation_batch_size: usize,
    /// Seed of weight initialisation, dropout and shuffling.
    #[config(default = 42)]
    pub seed: u64,
    /// Weighting of the positive class in the loss.
    #[config(default = "ClassWeight::None")]
    pub class_weight: ClassWeight,
    /// Stop when the validation loss has not improved for this many epochs.
    pub early_stopping_patience: Option<usize>,
    /// Data-loader worker threads; 0 builds batches on the training thread. More than 0 may
    /// reorder batches and breaks bit-for-bit reproducibility.
    #[config(default = 0)]
    pub num_workers: usize,
    /// How the decision threshold is chosen (on the validation split).
    #[config(default = "ThresholdRule::Fixed(0.5)")]
    pub threshold: ThresholdRule,
}

impl TrainingConfig {
    /// Checks every knob once, before anything runs.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let positive = |name: &'static str, v: usize| {
            if v == 0 {
                Err(Error::InvalidConfig {
                    name,
                    expected: "at least 1",
                    found: "0".into(),
                })
            } else {
                Ok(())
            }
        };
        positive("epochs", self.num_epochs)?;
        positive("batch size", self.batch_size)?;
        positive("validation batch size", self.validation_batch_size)?;
        positive("ensemble size", self.ensemble)?;
        if self.ensemble > crate::detector::MAX_MEMBERS {
            return Err(Error::InvalidConfig {
                name: "ensemble size",
                expected: "at most 64 networks",
                found: self.ensemble.to_string(),
            });
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::InvalidConfig {
                name: "weight decay",
                expected: "a non-negative number",
                found: self.weight_decay.to_string(),
            });
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::InvalidConfig {
                name: "learning rate",
                expected: "a positive number",
                found: self.learning_rate.to_string(),
            });
        }
        if let ClassWeight::Positive(w) = self.class_weight
            && !(w.is_finite() && w > 0.0)
        {
            return Err(Error::InvalidConfig {
                name: "class weight",
                expected: "a positive number",
                found: w.to_string(),
            });
        }
        if let ThresholdRule::Fixed(t) = self.threshold
            && !(0.0..=1.0).contains(&t)
        {
            return Err(Error::InvalidConfig {
                name: "threshold",
                expected: "a probability in [0, 1]",
                found: t.to_string(),
            });
        }
        if self.early_stopping_patience == Some(0) {
            return Err(Error::InvalidConfig {
                name: "early-stopping patience",
                expected: "at least 1 epoch",
                found: "0".into(),
            });
        }
        Ok(())
    }

    /// The optimiser: burn's Adam set to PyTorch's defaults (burn's own ε default is 1e-5),
    /// with [`weight_decay`](Self::weight_decay). burn's `WeightDecay` adds `penalty · w` to
    /// the gradient, as PyTorch's Adam does (checked step for step in
    /// `tests/pytorch_parity.rs`).
    pub fn optimizer(&self) -> AdamConfig {
        AdamConfig::new()
            .with_beta_1(0.9)
            .with_beta_2(0.999)
            .with_epsilon(1e-8)
            .with_weight_decay(
                (self.weight_decay > 0.0).then(|| WeightDecayConfig::new(self.weight_decay as f32)),
            )
    }
}

/// What one step hands to the metrics.
#[derive(Debug)]
pub struct BinaryOutput<B: Backend> {
    /// Mean loss of the batch per network, `[1]`.
    pub loss: Tensor<B, 1>,
    /// Rows in the batch.
    pub rows: usize,
    /// Probabilities `[N, 1]` and labels `[N, 1]`; validation only (training reports its loss
    /// alone, so a training step reads back one number, not three tensors).
    pub scored: Option<(Tensor<B, 2>, Tensor<B, 2>)>,
}

/// [`BinaryOutput`] read back to the host, for the metrics.
#[derive(Debug, Clone, Default)]
pub struct BinaryOutputSync {
    /// Mean loss of the batch.
    pub loss: f64,
    /// Rows in the batch.
    pub rows: usize,
    /// Probabilities (empty for training steps).
    pub probabilities: Vec<f32>,
    /// Labels 0/1 (empty for training steps).
    pub targets: Vec<f32>,
}

impl<B: Backend> ItemLazy for BinaryOutput<B> {
    type ItemSync = BinaryOutputSync;

    fn sync(self) -> BinaryOutputSync {
        let to_vec =
            |d: burn::tensor::TensorData| d.convert::<f32>().into_vec::<f32>().expect("f32 data");
        match self.scored {
            None => BinaryOutputSync {
                loss: to_vec(self.loss.into_data())[0] as f64,
                rows: self.rows,
                probabilities: Vec::new(),
                targets: Vec::new(),
            },
            Some((probabilities, targets)) => {
                // One transaction: a single device round trip for all three tensors.
                let [loss, probabilities, targets] = Transaction::default()
                    .register(self.loss)
                    .register(probabilities)
                    .register(targets)
                    .execute()
                    .try_into()
                    .expect("three tensors were registered");
                BinaryOutputSync {
                    loss: to_vec(loss)[0] as f64,
                    rows: self.rows,
                    probabilities: to_vec(probabilities),
                    targets: to_vec(targets),
                }
            }
        }
    }
}

impl Adaptor<BinaryOutputSync> for BinaryOutputSync {
    fn adapt(&self) -> BinaryOutputSync {
        self.clone()
    }
}

/// The network the Learner trains: the single network, or several stacked.
#[derive(Module, Debug)]
pub enum TrainingNetwork<B: Backend> {
    /// One network (`ensemble = 1`).
    Single(ThreatDetector<B>),
    /// Several networks trained side by side.
    Stacked(ThreatEnsemble<B>),
}

impl<B: Backend> TrainingNetwork<B> {
    /// The trained members as separate networks.
    pub fn into_members(self, config: &ThreatDetectorConfig) -> Vec<ThreatDetector<B>> {
        match self {
            TrainingNetwork::Single(model) => vec![model],
            TrainingNetwork::Stacked(ensemble) => ensemble.into_members(config),
        }
    }

    fn step_output(&self, batch: BethBatch<B>, keep_scores: bool) -> BinaryOutput<B> {
        let rows = batch.features.dims()[0];
        let (loss, probabilities) = match self {
            TrainingNetwork::Single(model) => {
                let logits = model.forward_logits(batch.features);
                let loss =
                    bce_with_logits(logits.clone(), batch.targets.clone(), batch.positive_weight);
                (
                    loss,
                    keep_scores.then(|| burn::tensor::activation::sigmoid(logits)),
                )
            }
            TrainingNetwork::Stacked(ensemble) if !keep_scores => (
                ensemble.mean_member_loss(
                    batch.features,
                    batch.targets.clone(),
                    batch.positive_weight,
                ),
                None,
            ),
            TrainingNetwork::Stacked(ensemble) => {
                // Validation judges what the detector will output: the averaged probability.
                let p = ensemble.forward(batch.features);
                let loss =
                    bce_on_probabilities(p.clone(), batch.targets.clone(), batch.positive_weight);
                (loss, Some(p))
            }
        };
        BinaryOutput {
            loss,
            rows,
            scored: probabilities.map(|p| (p, batch.targets)),
        }
    }

    /// Networks trained side by side.
    fn networks(&self) -> usize {
        match self {
            TrainingNetwork::Single(_) => 1,
            TrainingNetwork::Stacked(ensemble) => ensemble.members(),
        }
    }
}

/// BCE on probabilities, with `p` kept 1e-7 away from 0 and 1 (as Keras does) so that a
/// confident mistake costs a large but finite loss.
fn bce_on_probabilities<B: Backend>(
    probabilities: Tensor<B, 2>,
    targets: Tensor<B, 2>,
    positive_weight: f64,
) -> Tensor<B, 1> {
    let p = probabilities.clamp(1e-7, 1.0 - 1e-7);
    let positive = targets
        .clone()
        .mul(p.clone().log())
        .mul_scalar(positive_weight);
    let negative = targets
        .neg()
        .add_scalar(1.0)
        .mul(p.neg().add_scalar(1.0).log());
    (positive + negative).neg().mean()
}

impl<B: AutodiffBackend> TrainStep for TrainingNetwork<B> {
    type Input = BethBatch<B>;
    type Output = BinaryOutput<B>;

    fn step(&self, batch: BethBatch<B>) -> TrainOutput<BinaryOutput<B>> {
        let output = self.step_output(batch, false);
        // The sum of the members' mean losses: each member's gradient is its own loss's.
        let grads = match self.networks() {
            1 => output.loss.backward(),
            n => output.loss.clone().mul_scalar(n as f64).backward(),
        };
        TrainOutput::new(self, grads, output)
    }
}

impl<B: Backend> InferenceStep for TrainingNetwork<B> {
    type Input = BethBatch<B>;
    type Output = BinaryOutput<B>;

    fn step(&self, batch: BethBatch<B>) -> BinaryOutput<B> {
        self.step_output(batch, true)
    }
}

/// The metrics computed each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryMetricKind {
    /// Mean loss per row.
    Loss,
    /// Share of rows whose `probability >= 0.5` prediction equals the label.
    Accuracy,
    /// Precision at 0.5.
    Precision,
    /// Recall at 0.5.
    Recall,
    /// F1 at 0.5.
    F1,
    /// Area under the ROC curve (exact at the end of the epoch).
    Auroc,
}

impl BinaryMetricKind {
    fn name(self) -> &'static str {
        match self {
            BinaryMetricKind::Loss => "Loss",
            BinaryMetricKind::Accuracy => "Accuracy",
            BinaryMetricKind::Precision => "Precision",
            BinaryMetricKind::Recall => "Recall",
            BinaryMetricKind::F1 => "F1",
            BinaryMetricKind::Auroc => "AUROC",
        }
    }
}

/// A metric for one sigmoid output column, exact over the whole epoch.
///
/// burn's `AccuracyMetric` takes an argmax over output columns, which for a single sigmoid
/// column always picks column 0 and so reports the share of negatives; and its AUROC and
/// precision are per-batch averages. This metric thresholds the probability at 0.5, keeps
/// counts (and, for AUROC, every score) over the epoch, and when the epoch ends records the
/// exact epoch value in a shared [`EpochHistory`].
#[derive(Clone)]
pub struct BinaryMetric {
    kind: BinaryMetricKind,
    name: MetricName,
    rows: u64,
    loss_sum: f64,
    confusion: crate::evaluation::Confusion,
    scores: Vec<f32>,
    targets: Vec<u8>,
    last_batch: f64,
    sink: Option<Arc<Mutex<Vec<f64>>>>,
}

impl BinaryMetric {
    /// A metric whose epoch values go nowhere but the renderer.
    pub fn new(kind: BinaryMetricKind) -> Self {
        BinaryMetric {
            kind,
            name: Arc::new(kind.name().to_string()),
            rows: 0,
            loss_sum: 0.0,
            confusion: Default::default(),
            scores: Vec::new(),
            targets: Vec::new(),
            last_batch: f64::NAN,
            sink: None,
        }
    }

    fn recording(kind: BinaryMetricKind, sink: Arc<Mutex<Vec<f64>>>) -> Self {
        BinaryMetric {
            sink: Some(sink),
            ..BinaryMetric::new(kind)
        }
    }

    /// The exact value over everything seen since the last epoch ended.
    pub fn epoch_value(&self) -> f64 {
        let c = &self.confusion;
        match self.kind {
            BinaryMetricKind::Loss => self.loss_sum / self.rows.max(1) as f64,
            BinaryMetricKind::Accuracy => c.accuracy(),
            BinaryMetricKind::Precision => c.precision(),
            BinaryMetricKind::Recall => c.recall(),
            BinaryMetricKind::F1 => c.f1(),
            BinaryMetricKind::Auroc => auroc(&self.scores, &self.targets).unwrap_or(f64::NAN),
        }
    }

    /// Adds one batch.
    pub fn add(&mut self, item: &BinaryOutputSync) -> f64 {
        let n = item.rows as u64;
        self.rows += n;
        self.loss_sum += item.loss * n as f64;
        let mut batch = crate::evaluation::Confusion::default();
        for (&p, &t) in item.probabilities.iter().zip(&item.targets) {
            batch.record(p >= 0.5, t >= 0.5);
        }
        self.confusion.merge(&batch);
        if self.kind == BinaryMetricKind::Auroc {
            self.scores.extend_from_slice(&item.probabilities);
            self.targets
                .extend(item.targets.iter().map(|&t| (t >= 0.5) as u8));
        }
        self.last_batch = match self.kind {
            BinaryMetricKind::Loss => item.loss,
            BinaryMetricKind::Accuracy => batch.accuracy(),
            BinaryMetricKind::Precision => batch.precision(),
            BinaryMetricKind::Recall => batch.recall(),
            BinaryMetricKind::F1 => batch.f1(),
            BinaryMetricKind::Auroc => f64::NAN,
        };
        self.last_batch
    }
}

impl Metric for BinaryMetric {
    type Input = BinaryOutputSync;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: None,
            higher_is_better: self.kind != BinaryMetricKind::Loss,
        }
        .into()
    }

    fn update(&mut self, item: &BinaryOutputSync, _: &MetricMetadata) -> SerializedEntry {
        let batch = self.add(item);
        let n = item.rows;
        // AUROC is exact only over the whole epoch: sorting every score after every batch would
        // be quadratic, so the running display shows the last exact value instead.
        let (shown, logged) = match self.kind {
            BinaryMetricKind::Auroc => ("(at epoch end)".to_string(), f64::NAN),
            _ => (
                format!("epoch {:.4} - batch {:.4}", self.epoch_value(), batch),
                batch,
            ),
        };
        SerializedEntry::new(
            shown,
            NumericEntry::Aggregated {
                aggregated_value: logged,
                count: n,
            }
            .serialize(),
        )
    }

    fn clear(&mut self) {
        if self.rows > 0
            && let Some(sink) = &self.sink
        {
            sink.lock()
                .expect("metric history lock")
                .push(self.epoch_value());
        }
        let kind = self.kind;
        let sink = self.sink.take();
        *self = BinaryMetric::new(kind);
        self.sink = sink;
    }
}

impl Numeric for BinaryMetric {
    fn value(&self) -> NumericEntry {
        NumericEntry::Value(self.last_batch)
    }

    fn running_value(&self) -> NumericEntry {
        NumericEntry::Aggregated {
            aggregated_value: self.epoch_value(),
            count: self.rows as usize,
        }
    }
}

/// Exact per-epoch metrics of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochHistory {
    /// Mean training loss per epoch.
    pub train_loss: Vec<f64>,
    /// Mean validation loss per epoch.
    pub valid_loss: Vec<f64>,
    /// Validation accuracy at 0.5.
    pub valid_accuracy: Vec<f64>,
    /// Validation precision at 0.5.
    pub valid_precision: Vec<f64>,
    /// Validation recall at 0.5.
    pub valid_recall: Vec<f64>,
    /// Validation F1 at 0.5.
    pub valid_f1: Vec<f64>,
    /// Validation AUROC (NaN when the split has one class only).
    pub valid_auroc: Vec<f64>,
    /// The 1-based epoch whose weights were kept (lowest validation loss).
    pub best_epoch: usize,
}

/// A moment in a run that a [`Progress::Observe`] callback hears about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressEvent {
    /// A training step of `epoch` (1-based) out of `epochs` was rendered.
    Training {
        /// The current epoch.
        epoch: usize,
        /// Epochs planned.
        epochs: usize,
    },
    /// A validation step was rendered.
    Validation,
}

/// How training shows its progress.
pub enum Progress {
    /// burn's default: its terminal UI when stdout is a terminal, plain lines otherwise.
    Default,
    /// Nothing at all.
    Silent,
    /// Nothing on screen; every rendered step is handed to the callback (to print one line
    /// per epoch, time epochs, …).
    Observe(Box<dyn FnMut(ProgressEvent) + Send + Sync>),
    /// A renderer of the caller's.
    Custom(Box<dyn MetricsRenderer>),
}

/// Renders nothing; tells a callback what happened.
struct ObservingRenderer(Box<dyn FnMut(ProgressEvent) + Send + Sync>);

impl burn::train::renderer::MetricsRendererTraining for ObservingRenderer {
    fn update_train(&mut self, _: burn::train::renderer::MetricState) {}
    fn update_valid(&mut self, _: burn::train::renderer::MetricState) {}
    fn render_train(
        &mut self,
        item: burn::train::renderer::TrainingProgress,
        _: Vec<burn::train::renderer::ProgressType>,
    ) {
        (self.0)(ProgressEvent::Training {
            epoch: item.global_progress.items_processed,
            epochs: item.global_progress.items_total,
        })
    }
    fn render_valid(
        &mut self,
        _: burn::train::renderer::TrainingProgress,
        _: Vec<burn::train::renderer::ProgressType>,
    ) {
        (self.0)(ProgressEvent::Validation)
    }
}

impl burn::train::renderer::MetricsRendererEvaluation for ObservingRenderer {
    fn update_test(
        &mut self,
        _: burn::train::renderer::EvaluationName,
        _: burn::train::renderer::MetricState,
    ) {
    }
    fn render_test(
        &mut self,
        _: burn::train::renderer::EvaluationProgress,
        _: Vec<burn::train::renderer::ProgressType>,
    ) {
    }
}

impl MetricsRenderer for ObservingRenderer {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, _: burn::train::metric::MetricDefinition) {}
}

/// Where the training data came from, for the detector's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataProvenance {
    /// A directory, or a description of the synthetic generator's settings.
    pub source: String,
    /// Whether the data is synthetic.
    pub synthetic: bool,
}

impl DataProvenance {
    /// Loads the splits in `dir`, or generates synthetic ones when there is no directory,
    /// together with the provenance a detector records.
    /// Without a validation file in `dir`, validation is carved out of the training file as
    /// `carve` says ([`BethSplits::open_dir_with`]).
    pub fn load(
        dir: Option<&Path>,
        synthetic: &crate::data::synth::SynthConfig,
        carve: &crate::data::CarveOptions,
    ) -> Result<(BethSplits, DataProvenance)> {
        Ok(match dir {
            Some(dir) => (
                BethSplits::open_dir_with(dir, carve)?,
                DataProvenance {
                    source: dir.display().to_string(),
                    synthetic: false,
                },
            ),
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
    /// The detector with the best validation-loss weights and the chosen threshold.
    pub detector: Detector<B>,
    /// Exact per-epoch metrics.
    pub history: EpochHistory,
    /// The validation split's report at the chosen threshold.
    pub validation_report: EvaluationReport,
    /// The test split's report at the chosen threshold.
    pub test_report: EvaluationReport,
}

/// Trains a detector on `splits` with burn-train's `Learner`, keeping checkpoints and burn's
/// logs under `artifact_dir/training`. The weights of the epoch with the lowest validation loss
/// are kept; the threshold is then chosen on the validation split by `config.threshold`.
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
    let splits = splits.clone().with_label(config.label)?;
    for split in [&splits.train, &splits.validation, &splits.test] {
        config
            .feature_set
            .check_schema(split.schema(), split.path())?;
    }
    let scaler = FeatureScaler::fit(config.feature_set, &splits.train)?;
    let train_positives = splits.train.positives();
    let positive_weight = match config.class_weight {
        ClassWeight::None => 1.0,
        ClassWeight::Positive(w) => w,
        ClassWeight::Balanced => {
            if train_positives == 0 {
                return Err(Error::Training(format!(
                    "class weight `balanced` needs positives, and the training split has no `{}` events",
                    config.label
                )));
            }
            (splits.train.len() - train_positives) as f64 / train_positives as f64
        }
    };

    let artifact_dir = artifact_dir.as_ref().join("training");
    std::fs::create_dir_all(&artifact_dir).map_err(|e| Error::io(&artifact_dir, e))?;

    let batcher = BethBatcher::new(scaler.clone()).with_positive_weight(positive_weight);
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
    let train_loader = train_loader.build(Arc::new(splits.train.clone()));
    let valid_loader = valid_loader.build(Arc::new(splits.validation.clone()));

    let sinks: [Arc<Mutex<Vec<f64>>>; 7] = Default::default();
    use BinaryMetricKind as K;
    let valid_loss = BinaryMetric::recording(K::Loss, sinks[1].clone());
    let mut training = SupervisedTraining::new(&artifact_dir, train_loader, valid_loader)
        .metric_train_numeric(BinaryMetric::recording(K::Loss, sinks[0].clone()))
        .metric_valid_numeric(valid_loss.clone())
        .metric_valid_numeric(BinaryMetric::recording(K::Accuracy, sinks[2].clone()))
        .metric_valid_numeric(BinaryMetric::recording(K::Precision, sinks[3].clone()))
        .metric_valid_numeric(BinaryMetric::recording(K::Recall, sinks[4].clone()))
        .metric_valid_numeric(BinaryMetric::recording(K::F1, sinks[5].clone()))
        .metric_valid_numeric(BinaryMetric::recording(K::Auroc, sinks[6].clone()))
        .with_file_checkpointer(NamedMpkFileRecorder::<FullPrecisionSettings>::new())
        .with_checkpointing_strategy(KeepLastNCheckpoints::new(config.num_epochs))
        .with_application_logger(None)
        .num_epochs(config.num_epochs);
    if let Some(patience) = config.early_stopping_patience {
        training = training.early_stopping(MetricEarlyStoppingStrategy::new(
            &valid_loss,
            Aggregate::Mean,
            Direction::Lowest,
            Split::Valid,
            StoppingCondition::NoImprovementSince { n_epochs: patience },
        ));
    }
    training = match progress {
        Progress::Default => training,
        Progress::Silent => training.renderer(ObservingRenderer(Box::new(|_| {}))),
        Progress::Observe(callback) => training.renderer(ObservingRenderer(callback)),
        Progress::Custom(renderer) => training.renderer(BoxedRenderer(renderer)),
    };

    // NdArray's generator is global to the process: concurrent trainings in one process draw
    // from it in turn and are not reproducible; one at a time, a seed gives the same weights.
    B::seed(device, config.seed);
    // Members are drawn one after another from the seeded generator: member 0 starts from
    // exactly the weights the single network would.
    let network = if config.ensemble == 1 {
        TrainingNetwork::Single(config.model.init::<B>(device).materialize())
    } else {
        let members: Vec<ThreatDetector<B>> = (0..config.ensemble)
            .map(|_| config.model.init::<B>(device).materialize())
            .collect();
        TrainingNetwork::Stacked(ThreatEnsemble::stack(&members, &config.model))
    };
    let result = training.launch(Learner::new(
        network,
        config.optimizer().init(),
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

    let metadata = DetectorMetadata {
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        burn_version: crate::detector::BURN_VERSION.to_string(),
        feature_set: config.feature_set,
        label: config.label,
        model: config.model.clone(),
        training: Some(serde_json::to_value(config).expect("config serialises")),
        threshold_rule: config.threshold,
        data_source: provenance.source.clone(),
        synthetic: provenance.synthetic,
        train_rows: splits.train.len() as u64,
        train_positives: train_positives as u64,
        validation_rows: splits.validation.len() as u64,
        carved_validation: splits.carved.clone(),
    };
    let members = model.into_members(&config.model);
    let provisional = Detector::ensemble(members, scaler, 0.5, metadata)?;
    let validation_scores = provisional.score_dataset(&splits.validation)?;
    let threshold = config
        .threshold
        .choose(&validation_scores, splits.validation.targets());
    let detector = provisional.with_threshold(threshold)?;
    let validation_report =
        EvaluationReport::compute(&validation_scores, splits.validation.targets(), threshold)?;
    let test_report = evaluate(&detector, &splits.test)?;
    Ok(TrainingOutcome {
        detector,
        history,
        validation_report,
        test_report,
    })
}

/// Lets a boxed renderer be handed to burn, which wants a concrete type.
struct BoxedRenderer(Box<dyn MetricsRenderer>);

impl burn::train::renderer::MetricsRendererTraining for BoxedRenderer {
    fn update_train(&mut self, s: burn::train::renderer::MetricState) {
        self.0.update_train(s)
    }
    fn update_valid(&mut self, s: burn::train::renderer::MetricState) {
        self.0.update_valid(s)
    }
    fn render_train(
        &mut self,
        i: burn::train::renderer::TrainingProgress,
        p: Vec<burn::train::renderer::ProgressType>,
    ) {
        self.0.render_train(i, p)
    }
    fn render_valid(
        &mut self,
        i: burn::train::renderer::TrainingProgress,
        p: Vec<burn::train::renderer::ProgressType>,
    ) {
        self.0.render_valid(i, p)
    }
}

impl burn::train::renderer::MetricsRendererEvaluation for BoxedRenderer {
    fn update_test(
        &mut self,
        n: burn::train::renderer::EvaluationName,
        s: burn::train::renderer::MetricState,
    ) {
        self.0.update_test(n, s)
    }
    fn render_test(
        &mut self,
        i: burn::train::renderer::EvaluationProgress,
        p: Vec<burn::train::renderer::ProgressType>,
    ) {
        self.0.render_test(i, p)
    }
}

impl MetricsRenderer for BoxedRenderer {
    fn manual_close(&mut self) {
        self.0.manual_close()
    }
    fn register_metric(&mut self, d: burn::train::metric::MetricDefinition) {
        self.0.register_metric(d)
    }
}
