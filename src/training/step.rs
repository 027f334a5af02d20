//! One training or validation step: the network (single or stacked members), its loss, and
//! what it hands to the metrics.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::Transaction;
use burn::tensor::backend::AutodiffBackend;
use burn::train::metric::Adaptor;
use burn::train::{InferenceStep, ItemLazy, TrainOutput, TrainStep};

use crate::models::autoencoder::Autoencoder;
use crate::models::ensemble::ThreatEnsemble;
use crate::models::mlp::{ThreatDetector, ThreatDetectorConfig, bce_with_logits};
use crate::training::batch::BethBatch;
use crate::training::host_step::{self, HostParameters, NetworkShape};

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

    /// The parameters in the host step's layout (none for the autoencoder).
    fn host_parameters(&self) -> Option<HostParameters<B>> {
        let tensor = |p: &Param<Tensor<B, 2>>| p.val().into_primitive().tensor();
        match self {
            TrainingNetwork::Single(model) => {
                let [inputs, hidden1] = model.fc1.weight.dims();
                let bias = |linear: &Linear<B>| {
                    let bias = linear
                        .bias
                        .as_ref()
                        .expect("the network's layers have biases");
                    bias.val().into_primitive().tensor()
                };
                Some(HostParameters {
                    shape: NetworkShape {
                        members: 1,
                        inputs,
                        hidden1,
                        hidden2: model.fc2.weight.dims()[1],
                    },
                    dropout: model.dropout.prob,
                    tensors: [
                        tensor(&model.fc1.weight),
                        bias(&model.fc1),
                        tensor(&model.fc2.weight),
                        bias(&model.fc2),
                        tensor(&model.fc3.weight),
                        bias(&model.fc3),
                    ],
                })
            }
            TrainingNetwork::Stacked(ensemble) => {
                let [members, inputs, hidden1] = ensemble.w1.dims();
                let layers = [
                    &ensemble.w1,
                    &ensemble.b1,
                    &ensemble.w2,
                    &ensemble.b2,
                    &ensemble.w3,
                    &ensemble.b3,
                ];
                Some(HostParameters {
                    shape: NetworkShape {
                        members,
                        inputs,
                        hidden1,
                        hidden2: ensemble.w2.dims()[2],
                    },
                    dropout: ensemble.dropout_probability(),
                    tensors: layers.map(|p| p.val().into_primitive().tensor()),
                })
            }
            TrainingNetwork::Autoencoder(_) => None,
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
        // On the CPU backends the loss and its gradients come from one host operation
        // (`host_step`); elsewhere from the tensor path.
        let host = self
            .host_parameters()
            .and_then(|parameters| host_step::training_loss(parameters, &batch));
        let output = match host {
            Some(loss) => BinaryOutput {
                loss,
                rows: batch.features.dims()[0],
                scored: None,
            },
            None => self.step_output(batch, false),
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::mlp::ThreatDetectorConfig;
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::{Distribution, TensorData};

    type Train = Autodiff<NdArray>;

    /// Features, targets (a third positive) and a batch of `rows`.
    fn batch(rows: usize, positive_weight: f64) -> BethBatch<Train> {
        let device = Default::default();
        let features =
            Tensor::<Train, 2>::random([rows, 7], Distribution::Normal(0.0, 1.5), &device);
        let targets: Vec<f32> = (0..rows).map(|r| (r % 3 == 0) as u8 as f32).collect();
        BethBatch {
            features,
            targets: Tensor::from_data(TensorData::new(targets, [rows, 1]), &device),
            positive_weight,
        }
    }

    /// Every parameter's gradient after `loss.backward()`, flattened, in `w1 … b3` order.
    fn gradients(network: &TrainingNetwork<Train>, loss: Tensor<Train, 1>) -> Vec<Vec<f32>> {
        let grads = loss.backward();
        let flat = |t: Tensor<NdArray, 2>| t.into_data().into_vec::<f32>().unwrap();
        match network {
            TrainingNetwork::Single(m) => {
                let bias = |l: &Linear<Train>| {
                    let g = l.bias.as_ref().unwrap().grad(&grads).unwrap();
                    g.into_data().into_vec::<f32>().unwrap()
                };
                vec![
                    flat(m.fc1.weight.grad(&grads).unwrap()),
                    bias(&m.fc1),
                    flat(m.fc2.weight.grad(&grads).unwrap()),
                    bias(&m.fc2),
                    flat(m.fc3.weight.grad(&grads).unwrap()),
                    bias(&m.fc3),
                ]
            }
            TrainingNetwork::Stacked(e) => [&e.w1, &e.b1, &e.w2, &e.b2, &e.w3, &e.b3]
                .map(|p| {
                    p.grad(&grads)
                        .unwrap()
                        .into_data()
                        .into_vec::<f32>()
                        .unwrap()
                })
                .to_vec(),
            TrainingNetwork::Autoencoder(_) => unreachable!(),
        }
    }

    /// The host operation against burn's autodiff through the tensor path, on the same
    /// parameters, batch and dropout masks (both draw them from the generator, seeded alike):
    /// the loss and every gradient agree to float rounding.
    #[test]
    fn the_host_step_gives_the_tensor_paths_loss_and_gradients() {
        let device = Default::default();
        let config = ThreatDetectorConfig::new();
        for members in [1, 3] {
            Train::seed(&device, 41);
            let nets: Vec<_> = (0..members)
                .map(|_| config.init::<Train>(&device).materialize())
                .collect();
            let network = if members == 1 {
                TrainingNetwork::Single(nets[0].clone())
            } else {
                TrainingNetwork::Stacked(ThreatEnsemble::stack(&nets, &config))
            };
            for positive_weight in [1.0, 4.0] {
                let batch = batch(50, positive_weight);
                Train::seed(&device, 7);
                let tensor_loss = network.step_output(batch.clone(), false).loss;
                Train::seed(&device, 7);
                let parameters = network.host_parameters().unwrap();
                let host_loss = host_step::training_loss(parameters, &batch).unwrap();
                let value = |t: &Tensor<Train, 1>| t.clone().into_scalar();
                let (a, b) = (value(&tensor_loss), value(&host_loss));
                assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0), "loss {a} vs {b}");
                let expected = gradients(&network, tensor_loss);
                let found = gradients(&network, host_loss);
                for (e, f) in expected.iter().zip(&found) {
                    assert_eq!(e.len(), f.len());
                    let scale = e.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
                    for (x, y) in e.iter().zip(f) {
                        assert!(
                            (x - y).abs() <= 1e-5 * scale,
                            "{members} members: {x} vs {y}"
                        );
                    }
                }
                // The masks were live: other draws give another loss.
                Train::seed(&device, 8);
                let parameters = network.host_parameters().unwrap();
                let other = host_step::training_loss(parameters, &batch).unwrap();
                assert!((value(&other) - b).abs() > 1e-4, "{} vs {b}", value(&other));
            }
        }
    }
}
