//! One training or validation step: the network (single or stacked members), its loss, and
//! what it hands to the metrics.

use burn::prelude::*;
use burn::tensor::Transaction;
use burn::tensor::backend::AutodiffBackend;
use burn::train::metric::Adaptor;
use burn::train::{InferenceStep, ItemLazy, TrainOutput, TrainStep};

use crate::models::autoencoder::Autoencoder;
use crate::models::ensemble::ThreatEnsemble;
use crate::models::mlp::{ThreatDetector, ThreatDetectorConfig, bce_with_logits};
use crate::training::batch::BethBatch;

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
// One per training run: boxing the larger variants would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum TrainingNetwork<B: Backend> {
    /// One network (`ensemble = 1`).
    Single(ThreatDetector<B>),
    /// Several networks trained side by side.
    Stacked(ThreatEnsemble<B>),
    /// The label-free autoencoder: its loss is the mean squared reconstruction error, and it
    /// hands no probabilities to the metrics.
    Autoencoder(Autoencoder<B>),
}

impl<B: Backend> TrainingNetwork<B> {
    /// The trained members as separate networks (none for the autoencoder).
    pub fn into_members(self, config: &ThreatDetectorConfig) -> Vec<ThreatDetector<B>> {
        match self {
            TrainingNetwork::Single(model) => vec![model],
            TrainingNetwork::Stacked(ensemble) => ensemble.into_members(config),
            TrainingNetwork::Autoencoder(_) => Vec::new(),
        }
    }

    fn step_output(&self, batch: BethBatch<B>, keep_scores: bool) -> BinaryOutput<B> {
        let rows = batch.features.dims()[0];
        let (loss, probabilities) = match self {
            TrainingNetwork::Autoencoder(model) => (model.loss(batch.features), None),
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
            TrainingNetwork::Single(_) | TrainingNetwork::Autoencoder(_) => 1,
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
