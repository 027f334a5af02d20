//! Forward (inference) and one training step (forward + backward + Adam) of the network, per
//! backend and batch size. Each timed iteration reads its result back from the device, so GPU
//! figures include the work actually finishing.
//!
//! `cargo bench --bench backends` (CPU backends); `cargo bench --features wgpu --bench backends`
//! adds Wgpu.

use beth_detect::models::mlp::{ThreatDetectorConfig, bce_with_logits};
use beth_detect::training::TrainingConfig;
use burn::backend::Autodiff;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const BATCH_SIZES: [usize; 3] = [64, 1024, 8192];

fn forward<B: Backend>(c: &mut Criterion, name: &str) {
    let device = B::Device::default();
    let model = ThreatDetectorConfig::new().init::<B>(&device);
    let mut group = c.benchmark_group(format!("forward/{name}"));
    for n in BATCH_SIZES {
        let x = Tensor::<B, 2>::random([n, 7], Distribution::Normal(0.0, 1.0), &device);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| model.forward(x.clone()).into_data())
        });
    }
    group.finish();
}

fn train_step<B: Backend>(c: &mut Criterion, name: &str) {
    let device = B::Device::default();
    let mut model = ThreatDetectorConfig::new().init::<Autodiff<B>>(&device);
    let mut optim = TrainingConfig::new().optimizer().init();
    let mut group = c.benchmark_group(format!("train_step/{name}"));
    for n in BATCH_SIZES {
        let x = Tensor::<Autodiff<B>, 2>::random([n, 7], Distribution::Normal(0.0, 1.0), &device);
        let y = Tensor::<Autodiff<B>, 2>::random([n, 1], Distribution::Bernoulli(0.1), &device);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let loss = bce_with_logits(model.forward_logits(x.clone()), y.clone(), 1.0);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(1e-3, model.clone(), grads);
                // Reading a weight back waits for the step to finish on any device.
                model.fc3.bias.as_ref().map(|b| b.val().into_data())
            })
        });
    }
    group.finish();
}

fn backends(c: &mut Criterion) {
    forward::<burn::backend::NdArray>(c, "ndarray");
    train_step::<burn::backend::NdArray>(c, "ndarray");
    #[cfg(feature = "flex")]
    {
        forward::<burn::backend::Flex>(c, "flex");
        train_step::<burn::backend::Flex>(c, "flex");
    }
    #[cfg(feature = "wgpu")]
    {
        forward::<burn::backend::Wgpu>(c, "wgpu");
        train_step::<burn::backend::Wgpu>(c, "wgpu");
    }
}

criterion_group!(benches, backends);
criterion_main!(benches);
