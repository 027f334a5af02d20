//! One training step at batch 64 (forward, backward, Adam with the default weight decay) for
//! the single network against stacked ensembles of 3 and 5 members, per CPU backend — the
//! arithmetic and per-operation cost an ensemble adds, without the Learner's own overhead.
//! Rows are SYNTHETIC (already scaled features drawn at random).

use beth_detect::models::ensemble::ThreatEnsemble;
use beth_detect::models::mlp::{ThreatDetector, ThreatDetectorConfig, bce_with_logits};
use beth_detect::training::TrainingConfig;
use burn::backend::Autodiff;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const BATCH: usize = 64;

fn steps<B: Backend>(c: &mut Criterion, name: &str) {
    type AB<B> = Autodiff<B>;
    let device = B::Device::default();
    let config = ThreatDetectorConfig::new();
    let x = Tensor::<AB<B>, 2>::random([BATCH, 7], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<AB<B>, 2>::random([BATCH, 1], Distribution::Bernoulli(0.3), &device);
    let mut group = c.benchmark_group(format!("train_step/{name}"));
    group.bench_function(BenchmarkId::from_parameter("members=1"), |b| {
        let mut model: ThreatDetector<AB<B>> = config.init(&device);
        let mut optim = TrainingConfig::new().optimizer().init();
        b.iter(|| {
            let loss = bce_with_logits(model.forward_logits(x.clone()), y.clone(), 1.0);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-3, model.clone(), grads);
        })
    });
    for members in [3usize, 5] {
        group.bench_function(
            BenchmarkId::from_parameter(format!("members={members}")),
            |b| {
                let nets: Vec<ThreatDetector<AB<B>>> =
                    (0..members).map(|_| config.init(&device)).collect();
                let mut model = ThreatEnsemble::stack(&nets, &config);
                let mut optim = TrainingConfig::new().optimizer().init();
                b.iter(|| {
                    let loss = model
                        .mean_member_loss(x.clone(), y.clone(), 1.0)
                        .mul_scalar(members as f64);
                    let grads = GradientsParams::from_grads(loss.backward(), &model);
                    model = optim.step(1e-3, model.clone(), grads);
                })
            },
        );
    }
    group.finish();
}

fn all(c: &mut Criterion) {
    steps::<burn::backend::NdArray>(c, "ndarray");
    #[cfg(feature = "flex")]
    steps::<burn::backend::Flex>(c, "flex");
}

criterion_group!(benches, all);
criterion_main!(benches);
