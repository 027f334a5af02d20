//! The Learner's loop on one device, with the metrics told about training steps in groups.
//!
//! burn-train's own single-device loop sends every training step's output to its metrics
//! thread through a channel of capacity one and waits for room, so each step of this small
//! network paid for a thread hand-off and a metric-log line: more than the step itself at
//! batch 64 (about 75–134 µs on top of a ~53 µs step, measured on burn-train 0.21). This
//! strategy is that loop with one change: a training epoch hands the metrics one event per
//! [`STEPS_PER_EVENT`] steps, whose loss is the row-weighted mean of the steps it covers, so
//! the epoch's training loss is the same mean over the same rows. Everything else is the
//! Learner's: the learning-rate schedule, the optimizer step, validation after every epoch
//! (one event per batch, as before), checkpoints, early stopping, the renderer and the
//! interrupter, and gradient accumulation (`grads_accumulation`) as burn's loop does it. The
//! groups are fixed step counts, never timings, so a seed still gives the same bytes.

use burn::data::dataloader::Progress;
use burn::module::AutodiffModule;
use burn::optim::GradientsAccumulator;
use burn::prelude::*;
use burn::tensor::{Device, TensorData};
use burn::train::{
    EventProcessorTraining, InferenceStep, Interrupter, Learner, LearnerEvent,
    LearningComponentsTypes, SupervisedLearningStrategy, SupervisedTrainingEventProcessor,
    TrainLoader, TrainStep, TrainingComponents, TrainingItem, TrainingModel, ValidLoader,
};

use super::step::BinaryOutput;

/// Training steps per event handed to the metrics (and the renderer): at batch 64, one event
/// per 4,096 rows, against a step that takes tens of microseconds.
pub const STEPS_PER_EVENT: usize = 64;

/// Step outputs that can be handed over as one.
pub trait Coalesce: Sized {
    /// One output standing for all of `outputs` (never empty).
    fn coalesce(outputs: Vec<Self>) -> Self;
}

impl<B: Backend> Coalesce for BinaryOutput<B> {
    fn coalesce(outputs: Vec<Self>) -> Self {
        let rows: usize = outputs.iter().map(|o| o.rows).sum();
        let device = outputs[0].loss.device();
        let weights: Vec<f32> = outputs
            .iter()
            .map(|o| o.rows as f32 / rows as f32)
            .collect();
        let weights = Tensor::<B, 1>::from_data(TensorData::new(weights, [outputs.len()]), &device);
        let losses = Tensor::cat(outputs.into_iter().map(|o| o.loss).collect(), 0);
        BinaryOutput {
            loss: losses.mul(weights).sum(),
            rows,
            scored: None,
        }
    }
}

/// burn-train's single-device strategy with training events grouped ([`STEPS_PER_EVENT`]).
pub struct GroupedEventsStrategy<LC: LearningComponentsTypes> {
    device: Device<LC::Backend>,
}

impl<LC: LearningComponentsTypes> GroupedEventsStrategy<LC> {
    /// The strategy, training on `device`.
    pub fn new(device: Device<LC::Backend>) -> Self {
        GroupedEventsStrategy { device }
    }
}

impl<LC> SupervisedLearningStrategy<LC> for GroupedEventsStrategy<LC>
where
    LC: LearningComponentsTypes,
    <LC::TrainingModel as TrainStep>::Output: Coalesce,
{
    fn fit(
        &self,
        components: TrainingComponents<LC>,
        mut learner: Learner<LC>,
        dataloader_train: TrainLoader<LC>,
        dataloader_valid: ValidLoader<LC>,
        starting_epoch: usize,
    ) -> (TrainingModel<LC>, SupervisedTrainingEventProcessor<LC>) {
        let dataloader_train = dataloader_train.to_device(&self.device);
        learner.fork(&self.device);
        let mut processor = components.event_processor;
        let mut checkpointer = components.checkpointer;
        let mut early_stopping = components.early_stopping;
        let interrupter = components.interrupter;
        for epoch in starting_epoch..=components.num_epochs {
            let global = Progress {
                items_processed: epoch,
                items_total: components.num_epochs,
            };
            train_epoch(
                &mut learner,
                &dataloader_train,
                &global,
                &mut processor,
                &interrupter,
                components.grad_accumulation,
            );
            if interrupter.should_stop() {
                break;
            }
            valid_epoch(
                &learner,
                &dataloader_valid,
                &global,
                &mut processor,
                &interrupter,
            );
            if let Some(checkpointer) = &mut checkpointer {
                checkpointer.checkpoint(&learner, epoch, &components.event_store);
            }
            if let Some(early_stopping) = &mut early_stopping
                && early_stopping.should_stop(epoch, &components.event_store)
            {
                break;
            }
        }
        (learner.model(), processor)
    }
}

/// One training epoch. With `accumulation` (burn's `grads_accumulation`), the gradients of
/// that many steps are summed before each optimizer step, as burn's single-device loop does
/// (steps left over at the end of an epoch are dropped there too).
fn train_epoch<LC>(
    learner: &mut Learner<LC>,
    dataloader: &TrainLoader<LC>,
    global: &Progress,
    processor: &mut SupervisedTrainingEventProcessor<LC>,
    interrupter: &Interrupter,
    accumulation: Option<usize>,
) where
    LC: LearningComponentsTypes,
    <LC::TrainingModel as TrainStep>::Output: Coalesce,
{
    let mut iterator = dataloader.iter();
    let mut iteration = 0;
    let mut pending = Vec::with_capacity(STEPS_PER_EVENT);
    let mut accumulator = GradientsAccumulator::new();
    let mut accumulated = 0;
    loop {
        let finished = match iterator.next() {
            Some(batch) => {
                iteration += 1;
                learner.lr_step();
                let output = learner.train_step(batch);
                match accumulation {
                    Some(steps) => {
                        accumulator.accumulate(&learner.model(), output.grads);
                        accumulated += 1;
                        if accumulated >= steps {
                            learner.optimizer_step(accumulator.grads());
                            accumulated = 0;
                        }
                    }
                    None => learner.optimizer_step(output.grads),
                }
                pending.push(output.item);
                interrupter.should_stop()
            }
            None => true,
        };
        if pending.len() == STEPS_PER_EVENT || finished {
            hand_over(
                processor,
                &mut pending,
                iterator.progress(),
                global,
                iteration,
                learner,
            );
        }
        if finished {
            break;
        }
    }
    processor.process_train(LearnerEvent::EndEpoch(global.items_processed));
}

/// Hands the steps in `pending` (if any) to the metrics as one event.
fn hand_over<LC>(
    processor: &mut SupervisedTrainingEventProcessor<LC>,
    pending: &mut Vec<<LC::TrainingModel as TrainStep>::Output>,
    progress: Progress,
    global: &Progress,
    iteration: usize,
    learner: &Learner<LC>,
) where
    LC: LearningComponentsTypes,
    <LC::TrainingModel as TrainStep>::Output: Coalesce,
{
    if pending.is_empty() {
        return;
    }
    let item = Coalesce::coalesce(std::mem::take(pending));
    processor.process_train(LearnerEvent::ProcessedItem(TrainingItem::new(
        item,
        progress,
        global.clone(),
        Some(iteration),
        Some(learner.lr_current()),
    )));
}

fn valid_epoch<LC: LearningComponentsTypes>(
    learner: &Learner<LC>,
    dataloader: &ValidLoader<LC>,
    global: &Progress,
    processor: &mut SupervisedTrainingEventProcessor<LC>,
    interrupter: &Interrupter,
) {
    let model = learner.model().valid();
    let mut iterator = dataloader.iter();
    let mut iteration = 0;
    while let Some(batch) = iterator.next() {
        iteration += 1;
        let item = InferenceStep::step(&model, batch);
        processor.process_valid(LearnerEvent::ProcessedItem(TrainingItem::new(
            item,
            iterator.progress(),
            global.clone(),
            Some(iteration),
            None,
        )));
        if interrupter.should_stop() {
            break;
        }
    }
    processor.process_valid(LearnerEvent::EndEpoch(global.items_processed));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use burn::backend::{Autodiff, NdArray};
    use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
    use burn::module::{AutodiffModule, Module};
    use burn::optim::{GradientsParams, SgdConfig};
    use burn::prelude::*;
    use burn::train::{Learner, SupervisedTraining, TrainingStrategy};

    use super::GroupedEventsStrategy;
    use crate::data::BethDataset;
    use crate::features::{FeatureScaler, FeatureSet};
    use crate::models::ensemble::ThreatEnsemble;
    use crate::models::mlp::ThreatDetectorConfig;
    use crate::training::batch::{BethBatch, RowBatcher, ScaledRows};
    use crate::training::progress::ObservingRenderer;
    use crate::training::step::TrainingNetwork;

    type Train = Autodiff<NdArray>;

    /// Every parameter's values, in the module's order.
    fn values<M: Module<NdArray>>(module: &M) -> Vec<f32> {
        let mut out = Vec::new();
        struct Collect<'a>(&'a mut Vec<f32>);
        impl burn::module::ModuleVisitor<NdArray> for Collect<'_> {
            fn visit_float<const D: usize>(
                &mut self,
                param: &burn::module::Param<Tensor<NdArray, D>>,
            ) {
                self.0
                    .extend(param.val().into_data().convert::<f32>().iter::<f32>());
            }
        }
        module.visit(&mut Collect(&mut out));
        out
    }

    /// With `grads_accumulation(2)` over an epoch of two batches, the Learner takes one SGD
    /// step with the sum of both batches' gradients at the starting weights: `p − lr·(g₁ +
    /// g₂)`, computed here through burn's autodiff on each batch.
    #[test]
    fn gradient_accumulation_sums_the_steps_before_one_optimizer_step() {
        let _generator = crate::backend::generator_lock();
        let data = BethDataset::open(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/beth/Jotishyadav29_BethSecure/labelled_testing_data.csv"
        ))
        .unwrap();
        let scaler = FeatureScaler::fit(FeatureSet::Paper, &data).unwrap();
        let rows = ScaledRows::new(&scaler, &data);
        assert_eq!(data.len(), 100);
        let device = Default::default();
        fn loader<B: Backend>(rows: ScaledRows) -> Arc<dyn DataLoader<B, BethBatch<B>>> {
            DataLoaderBuilder::new(RowBatcher {
                positive_weight: 1.0,
            })
            .batch_size(50)
            .set_device(Default::default())
            .build(rows)
        }
        let config = ThreatDetectorConfig::new().with_dropout(0.0);
        Train::seed(&device, 3);
        let network = config.init::<Train>(&device).materialize();
        let start = TrainingNetwork::Stacked(ThreatEnsemble::stack(&[network], &config));

        let lr = 0.1;
        let mut expected_gradient: Option<Vec<f32>> = None;
        for batch in loader::<Train>(rows.clone()).iter() {
            let loss = start.step_output(batch, false).loss;
            let grads = GradientsParams::from_grads(loss.backward(), &start);
            let g = gradient_values(&start, &grads);
            expected_gradient = Some(match expected_gradient {
                None => g,
                Some(sum) => sum.iter().zip(&g).map(|(a, b)| a + b).collect(),
            });
        }
        let expected: Vec<f32> = values(&start.valid())
            .iter()
            .zip(expected_gradient.unwrap())
            .map(|(p, g)| p - lr as f32 * g)
            .collect();

        let dir = tempfile::tempdir().unwrap();
        let training = SupervisedTraining::new(dir.path(), loader(rows.clone()), loader(rows))
            .with_training_strategy(TrainingStrategy::Custom(Arc::new(
                GroupedEventsStrategy::new(device),
            )))
            .grads_accumulation(2)
            .with_application_logger(None)
            .renderer(ObservingRenderer(Box::new(|_| {})))
            .num_epochs(1);
        let result = training.launch(Learner::new(start, SgdConfig::new().init(), lr));
        let found = values(&result.model);
        assert_eq!(found.len(), expected.len());
        for (f, e) in found.iter().zip(&expected) {
            assert!((f - e).abs() <= 1e-6 * e.abs().max(1.0), "{f} vs {e}");
        }
    }

    /// The gradients in `grads` of every parameter of `network`, in the module's order.
    fn gradient_values(network: &TrainingNetwork<Train>, grads: &GradientsParams) -> Vec<f32> {
        struct Collect<'a>(&'a GradientsParams, Vec<f32>);
        impl burn::module::ModuleVisitor<Train> for Collect<'_> {
            fn visit_float<const D: usize>(
                &mut self,
                param: &burn::module::Param<Tensor<Train, D>>,
            ) {
                let g = self.0.get::<NdArray, D>(param.id).expect("a gradient");
                self.1.extend(g.into_data().convert::<f32>().iter::<f32>());
            }
        }
        let mut collect = Collect(grads, Vec::new());
        network.visit(&mut collect);
        collect.1
    }
}
