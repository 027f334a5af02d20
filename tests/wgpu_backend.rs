//! The GPU backend (`--features wgpu`), proven on Mesa's lavapipe software Vulkan driver in CI:
//! the same weights give the same probabilities as on NdArray, and training on Wgpu learns.
#![cfg(feature = "wgpu")]

mod common;
use common::max_difference;

use beth_detect::data::synth::{SynthConfig, SynthSplit, generate};
use beth_detect::data::{BethDataset, BethSplits, Schema};
use beth_detect::detector::Detector;
use beth_detect::models::DetectorKind;
use beth_detect::training::{Progress, TrainingConfig, TrainingOutcome, train};
use burn::backend::{Autodiff, NdArray, Wgpu};

fn fixture(rel: &str) -> String {
    format!("{}/tests/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// Scores computed by burn on the GPU (every other path runs the CPU scorer).
fn on_device(detector: &Detector<Wgpu>, data: &BethDataset) -> Vec<f32> {
    let mut rows = vec![0.0f32; data.len() * beth_detect::features::FEATURE_WIDTH];
    for (i, row) in rows
        .chunks_exact_mut(beth_detect::features::FEATURE_WIDTH)
        .enumerate()
    {
        detector.scaler().transform_into(&data.event(i), row);
    }
    detector.score_feature_rows_on_device(&rows)
}

/// A detector trained on NdArray (CPU), saved, and loaded on both backends.
fn detectors() -> (Detector<NdArray>, Detector<Wgpu>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let splits = BethSplits::open_dir(fixture("beth/Jotishyadav29_BethSecure")).unwrap();
    let outcome = train::<Autodiff<NdArray>>(
        &TrainingConfig::new().with_num_epochs(2),
        &splits,
        dir.path(),
        Progress::Silent,
        &Default::default(),
    )
    .unwrap();
    let saved = dir.path().join("detector");
    outcome.detector.save(&saved).unwrap();
    let cpu = Detector::<NdArray>::load(&saved, &Default::default()).unwrap();
    let gpu = Detector::<Wgpu>::load(&saved, &Default::default()).unwrap();
    (cpu, gpu, dir)
}

#[test]
fn same_weights_same_probabilities_on_ndarray_and_wgpu() {
    let (cpu, gpu, _dir) = detectors();
    // Every real raw sample.
    for split in ["training", "validation", "testing"] {
        let d = BethDataset::open(fixture(&format!(
            "beth/Jotishyadav29_BethSecure/labelled_{split}_data.csv"
        )))
        .unwrap();
        let a = cpu.score_dataset(&d).unwrap();
        let b = on_device(&gpu, &d);
        assert!(
            max_difference(&a, &b) <= 1e-5,
            "{split}: {}",
            max_difference(&a, &b)
        );
    }
    // 10,000 synthetic rows.
    let synthetic = generate(SynthSplit::Testing, &SynthConfig::new().with_scale(0.053)).unwrap();
    let rows = BethDataset::from_events(
        "synthetic",
        Schema::Raw,
        (0..10_000).map(|i| synthetic.event(i)),
    );
    let a = cpu.score_dataset(&rows).unwrap();
    let b = on_device(&gpu, &rows);
    assert_eq!(a.len(), 10_000);
    assert!(
        max_difference(&a, &b) <= 1e-5,
        "synthetic: {}",
        max_difference(&a, &b)
    );
}

/// A `kind` detector trained on the GPU for 3 epochs on a small synthetic set: the splits, the
/// directory it was trained in and the outcome.
fn train_three_epochs_on_wgpu(
    kind: DetectorKind,
) -> (BethSplits, tempfile::TempDir, TrainingOutcome<Wgpu>) {
    let config = SynthConfig::new().with_scale(0.004);
    let splits = BethSplits {
        train: generate(SynthSplit::Training, &config).unwrap(),
        validation: generate(SynthSplit::Validation, &config).unwrap(),
        test: generate(SynthSplit::Testing, &config).unwrap(),
        carved: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let outcome = train::<Autodiff<Wgpu>>(
        &TrainingConfig::new()
            .with_detector(kind)
            .with_num_epochs(3)
            .with_batch_size(256)
            .with_validation_batch_size(1024),
        &splits,
        dir.path(),
        Progress::Silent,
        &Default::default(),
    )
    .unwrap();
    (splits, dir, outcome)
}

#[test]
fn training_on_wgpu_lowers_the_loss() {
    let (splits, dir, outcome) = train_three_epochs_on_wgpu(DetectorKind::Mlp);
    let h = &outcome.history;
    assert_eq!(h.train_loss.len(), 3);
    assert!(h.train_loss[2] < h.train_loss[0], "{:?}", h.train_loss);
    assert!(h.valid_loss[2] < h.valid_loss[0], "{:?}", h.valid_loss);
    // A detector trained on the GPU loads and scores on the CPU.
    let saved = dir.path().join("detector");
    outcome.detector.save(&saved).unwrap();
    let cpu = Detector::<NdArray>::load(&saved, &Default::default()).unwrap();
    let a = cpu.score_dataset(&splits.test).unwrap();
    let b = on_device(&outcome.detector, &splits.test);
    assert!(max_difference(&a, &b) <= 1e-5);
    // Scoring goes through the CPU scorer on either backend: the same bits.
    assert_eq!(a, outcome.detector.score_dataset(&splits.test).unwrap());
}

#[test]
fn the_autoencoder_trains_on_wgpu_and_scores_alike_on_the_cpu() {
    let (splits, dir, outcome) = train_three_epochs_on_wgpu(DetectorKind::Autoencoder);
    let h = &outcome.history;
    assert!(
        h.train_loss.last() < h.train_loss.first(),
        "{:?}",
        h.train_loss
    );
    let saved = dir.path().join("detector");
    outcome.detector.save(&saved).unwrap();
    let cpu = Detector::<NdArray>::load(&saved, &Default::default()).unwrap();
    assert_eq!(cpu.kind(), "autoencoder");
    let a = cpu.score_dataset(&splits.test).unwrap();
    let b = on_device(&outcome.detector, &splits.test);
    assert!(max_difference(&a, &b) <= 1e-4);
}
