//! One training epoch over the full-size synthetic training split (763,144 rows, SYNTHETIC),
//! batch 64 and 1024, through the data loader the Learner uses (`DataLoaderBuilder` with
//! `BethBatcher`, shuffled), per CPU backend.

use std::sync::Arc;

use beth_detect::data::synth::{SynthConfig, SynthSplit, generate};
use beth_detect::features::{FeatureScaler, FeatureSet};
use beth_detect::models::mlp::{ThreatDetectorConfig, bce_with_logits};
use beth_detect::training::TrainingConfig;
use beth_detect::training::batch::BethBatcher;
use burn::backend::Autodiff;
use burn::data::dataloader::DataLoaderBuilder;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn epoch<B: Backend>(c: &mut Criterion, name: &str) {
    let train = generate(SynthSplit::Training, &SynthConfig::new()).expect("synthetic split");
    let rows = train.len();
    let scaler = FeatureScaler::fit(FeatureSet::Seed, &train).expect("scaler");
    let train = Arc::new(train);
    let device = B::Device::default();
    let mut group = c.benchmark_group(format!("epoch/{name}"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(rows as u64));
    for batch_size in [64usize, 1024] {
        let loader = DataLoaderBuilder::new(BethBatcher::new(scaler.clone()))
            .batch_size(batch_size)
            .shuffle(42)
            .set_device(device.clone())
            .build(train.clone());
        group.bench_with_input(
            BenchmarkId::from_parameter(batch_size),
            &batch_size,
            |b, _| {
                b.iter(|| {
                    let mut model = ThreatDetectorConfig::new().init::<Autodiff<B>>(&device);
                    let mut optim = TrainingConfig::new().optimizer().init();
                    for batch in loader.iter() {
                        let loss = bce_with_logits(
                            model.forward_logits(batch.features),
                            batch.targets,
                            batch.positive_weight,
                        );
                        let grads = GradientsParams::from_grads(loss.backward(), &model);
                        model = optim.step(1e-3, model, grads);
                    }
                    model.fc3.bias.map(|b| b.val().into_data())
                })
            },
        );
    }
    group.finish();
}

fn epochs(c: &mut Criterion) {
    epoch::<burn::backend::NdArray>(c, "ndarray");
    #[cfg(feature = "flex")]
    epoch::<burn::backend::Flex>(c, "flex");
}

criterion_group!(benches, epochs);
criterion_main!(benches);
