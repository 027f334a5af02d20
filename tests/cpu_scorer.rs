//! The CPU scoring path computes what burn's forward pass computes.

mod common;
use common::max_difference;

use beth_detect::data::BethDataset;
use beth_detect::features::{FeatureScaler, FeatureSet};
use beth_detect::models::mlp::ThreatDetectorConfig;
use beth_detect::scoring::cpu::CpuScorer;
use burn::backend::NdArray;
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};

type B = NdArray;

fn burn_forward(model: &beth_detect::ThreatDetector<B>, x: &[f32]) -> Vec<f32> {
    let n = x.len() / 7;
    let t = Tensor::<B, 2>::from_data(TensorData::new(x.to_vec(), [n, 7]), &Default::default());
    model.forward(t).into_data().into_vec::<f32>().unwrap()
}

#[test]
fn matches_burn_forward_on_random_inputs_of_every_size() {
    let device = Default::default();
    let model = ThreatDetectorConfig::new().init::<B>(&device);
    let scorer = CpuScorer::from_model(&model);
    // Odd sizes: partial tiles, one row, and more than the threading threshold.
    for n in [1usize, 7, 511, 513, 4099, 20_001] {
        let x = Tensor::<B, 2>::random([n, 7], Distribution::Normal(0.0, 3.0), &device)
            .into_data()
            .into_vec::<f32>()
            .unwrap();
        let ours = scorer.score(&x);
        let theirs = burn_forward(&model, &x);
        assert!(
            max_difference(&ours, &theirs) <= 1e-6,
            "n = {n}: {}",
            max_difference(&ours, &theirs)
        );
        let single = scorer.clone().with_threads(1).score(&x);
        assert_eq!(single, ours, "threads change nothing");
    }
}

#[test]
fn matches_burn_forward_on_the_real_samples() {
    let d = BethDataset::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/beth/Jotishyadav29_BethSecure/labelled_testing_data.csv"
    ))
    .unwrap();
    let scaler = FeatureScaler::fit(FeatureSet::Paper, &d).unwrap();
    let x: Vec<f32> = (0..d.len())
        .flat_map(|i| scaler.transform(&d.event(i)))
        .collect();
    let model = ThreatDetectorConfig::new().init::<B>(&Default::default());
    let ours = CpuScorer::from_model(&model).score(&x);
    assert_eq!(ours.len(), 100);
    assert!(max_difference(&ours, &burn_forward(&model, &x)) <= 1e-6);
}
