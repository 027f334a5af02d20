//! One training or validation step: the network (single or stacked members), its loss, and
//! what it hands to the metrics.

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{TensorData, Transaction};
use burn::train::metric::Adaptor;
use burn::train::{InferenceStep, ItemLazy, TrainOutput, TrainStep};

use crate::models::autoencoder::Autoencoder;
use crate::models::ensemble::ThreatEnsemble;
use crate::models::mlp::{ThreatDetector, ThreatDetectorConfig, bce_with_logits};
use crate::training::batch::BethBatch;
use crate::training::host_step;

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

/// The network the Learner trains: the supervised networks stacked (one, the notebook's, is
/// a stack of one), or the autoencoder.
#[derive(Module, Debug)]
// One per training run: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum TrainingNetwork<B: Backend> {
    /// The supervised networks trained side by side (`ensemble` of them).
    Stacked(ThreatEnsemble<B>),
    /// The label-free autoencoder: its loss is the mean squared reconstruction error, and it
    /// hands no probabilities to the metrics.
    Autoencoder(Autoencoder<B>),
}

impl<B: Backend> TrainingNetwork<B> {
    /// The trained members as separate networks (none for the autoencoder).
    pub fn into_members(self, config: &ThreatDetectorConfig) -> Vec<ThreatDetector<B>> {
        match self {
            TrainingNetwork::Stacked(ensemble) => ensemble.into_members(config),
            TrainingNetwork::Autoencoder(_) => Vec::new(),
        }
    }

    /// The step through burn's tensor operations: the loss, and with `keep_scores` the
    /// probabilities for the metrics.
    pub(crate) fn step_output(&self, batch: BethBatch<B>, keep_scores: bool) -> BinaryOutput<B> {
        let rows = batch.features.dims()[0];
        let (loss, probabilities) = match self {
            TrainingNetwork::Autoencoder(model) => (model.loss(batch.features), None),
            TrainingNetwork::Stacked(ensemble) if !keep_scores => (
                ensemble.mean_member_loss(
                    batch.features,
                    batch.targets.clone(),
                    batch.positive_weight,
                ),
                None,
            ),
            TrainingNetwork::Stacked(ensemble) if ensemble.members() == 1 => {
                // One network: its probability, its loss on the logits (the stable form).
                let logits = ensemble.forward_logits(batch.features);
                let rows = logits.dims()[1];
                let logits = logits.reshape([rows, 1]);
                let loss =
                    bce_with_logits(logits.clone(), batch.targets.clone(), batch.positive_weight);
                (loss, Some(burn::tensor::activation::sigmoid(logits)))
            }
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
            TrainingNetwork::Autoencoder(_) => 1,
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
        // On the CPU backends the loss and its gradients come from the host pass
        // (`host_step`); elsewhere from the tensor path.
        if host_step::engages::<B>()
            && let TrainingNetwork::Stacked(ensemble) = self
        {
            let (loss, grads) = host_step::step(ensemble, &batch);
            let loss = TensorData::new(vec![loss], [1]);
            return TrainOutput {
                grads,
                item: BinaryOutput {
                    loss: Tensor::from_data(loss, &batch.features.device()),
                    rows: batch.features.dims()[0],
                    scored: None,
                },
            };
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::dropout;
    use crate::models::host::loss_and_gradients;
    use crate::models::mlp::ThreatDetectorConfig;
    use crate::models::mlp::f32_values;
    use burn::backend::{Autodiff, NdArray};
    use burn::module::Param;
    use burn::optim::GradientsParams;
    use burn::tensor::{Distribution, ElementConversion};

    /// A batch of `rows` with features from `B`'s generator and a third of the rows positive.
    fn batch<B: AutodiffBackend>(rows: usize, positive_weight: f64) -> BethBatch<B> {
        let device = Default::default();
        let features = Tensor::<B, 2>::random([rows, 7], Distribution::Normal(0.0, 1.5), &device);
        let targets: Vec<f32> = (0..rows).map(|r| (r % 3 == 0) as u8 as f32).collect();
        BethBatch {
            features,
            targets: Tensor::from_data(TensorData::new(targets, [rows, 1]), &device),
            positive_weight,
        }
    }

    /// `members` freshly initialised networks with this dropout, as training builds them.
    fn network<B: AutodiffBackend>(members: usize, dropout: f64) -> TrainingNetwork<B> {
        let device = Default::default();
        let config = ThreatDetectorConfig::new().with_dropout(dropout);
        B::seed(&device, 41 + members as u64);
        let nets: Vec<_> = (0..members)
            .map(|_| config.init::<B>(&device).materialize())
            .collect();
        TrainingNetwork::Stacked(ThreatEnsemble::stack(&nets, &config))
    }

    /// Every parameter's gradient in `grads`, flattened, in `w1 … b3` order.
    fn by_parameter<B: AutodiffBackend>(
        network: &TrainingNetwork<B>,
        grads: &GradientsParams,
    ) -> Vec<Vec<f32>> {
        fn get<B: AutodiffBackend, const D: usize>(
            grads: &GradientsParams,
            p: &Param<Tensor<B, D>>,
        ) -> Vec<f32> {
            let g = grads.get::<B::InnerBackend, D>(p.id).expect("a gradient");
            g.into_data().convert::<f32>().into_vec::<f32>().unwrap()
        }
        match network {
            TrainingNetwork::Stacked(e) => e.parameters().map(|p| get(grads, p)).to_vec(),
            TrainingNetwork::Autoencoder(_) => unreachable!(),
        }
    }

    /// The training step against burn's autodiff through the tensor path, on the same
    /// parameters, batch and dropout masks (both draw them from the generator, seeded alike):
    /// the loss and every gradient agree to float rounding. Rows 1 (a loader's remainder), 50,
    /// and 600 (with 2 or 5 members, the members run on the cores side by side).
    fn the_step_matches_the_tensor_path<B: AutodiffBackend>() {
        let _generator = crate::backend::generator_lock();
        assert!(host_step::engages::<B>());
        let device = Default::default();
        for members in [1, 2, 5] {
            for dropout in [0.0, 0.3] {
                let network = network::<B>(members, dropout);
                for (rows, positive_weight) in [(1, 1.0), (50, 4.0), (600, 1.0), (600, 4.0)] {
                    let batch = batch::<B>(rows, positive_weight);
                    let case = format!("{members} members, dropout {dropout}, {rows} rows");
                    B::seed(&device, 7);
                    let tensor = network.step_output(batch.clone(), false).loss;
                    let expected_loss = tensor.clone().into_scalar().elem::<f32>();
                    let expected = GradientsParams::from_grads(
                        tensor.mul_scalar(members as f64).backward(),
                        &network,
                    );
                    B::seed(&device, 7);
                    let host = TrainStep::step(&network, batch.clone());
                    let loss = host.item.loss.into_scalar().elem::<f32>();
                    assert!(
                        (loss - expected_loss).abs() <= 1e-6 * expected_loss.abs().max(1.0),
                        "{case}: loss {loss} vs {expected_loss}"
                    );
                    let expected = by_parameter(&network, &expected);
                    let found = by_parameter(&network, &host.grads);
                    for (i, (e, f)) in expected.iter().zip(&found).enumerate() {
                        assert_eq!(e.len(), f.len());
                        // Float rounding relative to the parameter's largest gradient.
                        let scale = e.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
                        for (x, y) in e.iter().zip(f) {
                            assert!(
                                (x - y).abs() <= 2e-5 * scale,
                                "{case}, parameter {i}: {x} vs {y}"
                            );
                        }
                    }
                    if dropout > 0.0 && rows > 1 {
                        // The masks were live: other draws give another loss.
                        B::seed(&device, 8);
                        let other = TrainStep::step(&network, batch).item.loss;
                        let other = other.into_scalar().elem::<f32>();
                        assert!((other - loss).abs() > 1e-5, "{case}: {other} vs {loss}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_step_matches_the_tensor_path_on_ndarray() {
        the_step_matches_the_tensor_path::<Autodiff<NdArray>>();
    }

    #[cfg(feature = "flex")]
    #[test]
    fn the_step_matches_the_tensor_path_on_flex() {
        the_step_matches_the_tensor_path::<Autodiff<burn::backend::Flex>>();
    }

    /// The Learner's step on a CPU backend is the host pass, bit for bit: if it silently fell
    /// back to the tensor path (a backend no longer recognised, say), the float rounding of
    /// burn's products would show.
    fn the_step_is_the_host_pass<B: AutodiffBackend>() {
        let _generator = crate::backend::generator_lock();
        let device = Default::default();
        for members in [1, 3] {
            let network = network::<B>(members, 0.3);
            let batch = batch::<B>(64, 2.0);
            B::seed(&device, 5);
            let step = TrainStep::step(&network, batch.clone());
            let TrainingNetwork::Stacked(ensemble) = &network else {
                unreachable!("a supervised network")
            };
            let parameters = host_step::parameters_of(ensemble);
            B::seed(&device, 5);
            let rows = 64;
            let masks = dropout::mask::<B>(members * rows * 64, 0.3, &device);
            let direct = loss_and_gradients(
                parameters.shape,
                parameters.values.each_ref().map(Vec::as_slice),
                &f32_values(batch.features.clone().inner()),
                &f32_values(batch.targets.clone().inner()),
                2.0,
                Some(&masks),
            );
            assert_eq!(step.item.loss.into_scalar().elem::<f32>(), direct.loss);
            assert_eq!(
                by_parameter(&network, &step.grads),
                direct.gradients.to_vec(),
                "{members} members"
            );
            // The tensor path differs from it in the last bits: the check above can tell.
            B::seed(&device, 5);
            let tensor = network.step_output(batch, false).loss;
            let tensor =
                GradientsParams::from_grads(tensor.mul_scalar(members as f64).backward(), &network);
            assert_ne!(
                by_parameter(&network, &tensor),
                direct.gradients.to_vec(),
                "{members} members: the tensor path gave the host pass's bits"
            );
        }
    }

    #[test]
    fn the_step_on_ndarray_is_the_host_pass() {
        the_step_is_the_host_pass::<Autodiff<NdArray>>();
    }

    #[cfg(feature = "flex")]
    #[test]
    fn the_step_on_flex_is_the_host_pass() {
        assert!(host_step::engages::<Autodiff<burn::backend::Flex>>());
        the_step_is_the_host_pass::<Autodiff<burn::backend::Flex>>();
    }
}
