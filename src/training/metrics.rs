//! The exact per-epoch metrics burn-train records, and the history a run returns.

use std::sync::{Arc, Mutex};

use burn::train::metric::{
    Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes, NumericEntry,
    SerializedEntry,
};
use serde::{Deserialize, Serialize};

use super::step::BinaryOutputSync;
use crate::evaluation::auroc;

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

    pub(super) fn recording(kind: BinaryMetricKind, sink: Arc<Mutex<Vec<f64>>>) -> Self {
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
