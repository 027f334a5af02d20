//! The model, the Learner-based training, and the saved detector.

mod common;

use std::path::Path;

use beth_detect::data::{BethDataset, BethEvent, BethItem, BethSplits, Schema};
use beth_detect::detector::Detector;
use beth_detect::evaluation::ThresholdRule;
use beth_detect::features::{FeatureScaler, FeatureSet};
use beth_detect::models::mlp::{ThreatDetectorConfig, bce_with_logits};
use beth_detect::training::batch::BethBatcher;
use beth_detect::training::{
    BinaryMetric, BinaryMetricKind, BinaryOutputSync, ClassWeight, Progress, TrainingConfig,
    TrainingOutcome, train,
};
use beth_detect::{Error, evaluate};
use burn::backend::{Autodiff, NdArray};
use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

type B = NdArray;
type AB = Autodiff<NdArray>;

#[test]
fn forward_shapes_probabilities_and_logits_path() {
    let _turn = TRAINING.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    let config = ThreatDetectorConfig::new();
    assert_eq!(config.num_params(), 2625);
    let model = config.init::<B>(&device);
    let x = Tensor::<B, 2>::random(
        [256, 7],
        burn::tensor::Distribution::Normal(0.0, 10.0),
        &device,
    );
    let p = model.forward(x.clone());
    assert_eq!(p.dims(), [256, 1]);
    let values = p.clone().into_data().into_vec::<f32>().unwrap();
    assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
    let via_logits = sigmoid(model.forward_logits(x))
        .into_data()
        .into_vec::<f32>()
        .unwrap();
    assert_eq!(values, via_logits);
    let shapes = model.weight_shapes();
    assert_eq!(shapes, [[7, 64], [64, 32], [32, 1]]);
}

#[test]
fn bce_with_logits_by_hand_and_stable() {
    let device = Default::default();
    let z = Tensor::<B, 2>::from_floats([[0.0], [2.0], [-3.0], [1000.0], [-1000.0]], &device);
    let y = Tensor::<B, 2>::from_floats([[1.0], [0.0], [1.0], [0.0], [1.0]], &device);
    let each = |z: f64, y: f64| {
        let p = 1.0 / (1.0 + (-z).exp());
        -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
    };
    // The last two rows would overflow a naive log(sigmoid): their loss is |z| = 1000.
    let expected = (each(0.0, 1.0) + each(2.0, 0.0) + each(-3.0, 1.0) + 1000.0 + 1000.0) / 5.0;
    let loss: f32 = bce_with_logits(z.clone(), y.clone(), 1.0).into_scalar();
    assert!(
        ((loss as f64) - expected).abs() < 1e-3,
        "{loss} vs {expected}"
    );
    // pos_weight 3 triples the positive rows' terms (PyTorch's BCEWithLogitsLoss).
    let weighted =
        (3.0 * each(0.0, 1.0) + each(2.0, 0.0) + 3.0 * each(-3.0, 1.0) + 1000.0 + 3000.0) / 5.0;
    let loss: f32 = bce_with_logits(z, y, 3.0).into_scalar();
    assert!(
        ((loss as f64) - weighted).abs() < 1e-3,
        "{loss} vs {weighted}"
    );
}

#[test]
fn binary_accuracy_thresholds_the_single_column() {
    // argmax over one column would call every row class 0 and score 1/3 here.
    let batch = BinaryOutputSync {
        loss: 0.5,
        rows: 3,
        probabilities: vec![0.9, 0.2, 0.7],
        targets: vec![1.0, 0.0, 0.0],
    };
    let mut accuracy = BinaryMetric::new(BinaryMetricKind::Accuracy);
    accuracy.add(&batch);
    assert_eq!(accuracy.epoch_value(), 2.0 / 3.0);
    let mut precision = BinaryMetric::new(BinaryMetricKind::Precision);
    precision.add(&batch);
    assert_eq!(precision.epoch_value(), 0.5);
    // Over two batches, exact epoch values (not means of batch values).
    let second = BinaryOutputSync {
        loss: 1.0,
        rows: 1,
        probabilities: vec![0.1],
        targets: vec![1.0],
    };
    accuracy.add(&second);
    assert_eq!(accuracy.epoch_value(), 0.5);
    let mut loss = BinaryMetric::new(BinaryMetricKind::Loss);
    loss.add(&batch);
    loss.add(&second);
    assert_eq!(loss.epoch_value(), (0.5 * 3.0 + 1.0) / 4.0);
    let mut auroc = BinaryMetric::new(BinaryMetricKind::Auroc);
    auroc.add(&batch);
    auroc.add(&second);
    // Positives 0.9, 0.1 against negatives 0.2, 0.7: 0.9 beats both, 0.1 neither → 2/4.
    assert_eq!(auroc.epoch_value(), 0.5);
}

#[test]
fn batcher_scales_into_one_contiguous_buffer() {
    let events = [
        BethEvent {
            process_id: 10,
            ..Default::default()
        },
        BethEvent {
            process_id: 20,
            sus: 1,
            ..Default::default()
        },
    ];
    let d = BethDataset::from_events("two", Schema::DataCamp, events);
    let scaler = FeatureScaler::fit(FeatureSet::Seed, &d).unwrap();
    let items: Vec<BethItem> = (0..2)
        .map(|i| burn::data::dataset::Dataset::get(&d, i).unwrap())
        .collect();
    let batch: beth_detect::training::batch::BethBatch<B> =
        BethBatcher::new(scaler).batch(items, &Default::default());
    assert_eq!(batch.features.dims(), [2, 7]);
    let x = batch.features.into_data().into_vec::<f32>().unwrap();
    // processId mean 15, std 5 → −1 and +1; every other column constant → 0.
    assert_eq!(
        x,
        vec![-1.0, 0., 0., 0., 0., 0., 0., 1.0, 0., 0., 0., 0., 0., 0.]
    );
    assert_eq!(
        batch.targets.into_data().into_vec::<f32>().unwrap(),
        vec![0.0, 1.0]
    );
}

/// A learnable problem: suspicious events are session users (uid ≥ 1000) outside the host's
/// system daemons, with 3% label noise.
fn learnable_split(name: &str, n: usize, seed: u64) -> BethDataset {
    let mut state = seed;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let events: Vec<BethEvent> = (0..n)
        .map(|_| {
            let sus = next() % 4 == 0;
            let noisy = next() % 100 < 3;
            let label = sus ^ noisy;
            BethEvent {
                process_id: if sus {
                    2000 + next() % 5000
                } else {
                    300 + next() % 200
                },
                thread_id: 0,
                parent_process_id: if sus { 1000 + next() % 3000 } else { 1 },
                user_id: if sus { 1000 } else { next() % 2 * 101 },
                mount_namespace: 4026531840,
                event_id: 0,
                args_num: next() % 5,
                return_value: next() as i64 % 20 - 5,
                sus: label as u8,
                evil: 0,
            }
        })
        .collect();
    BethDataset::from_events(name, Schema::DataCamp, events)
}

fn learnable_splits() -> BethSplits {
    BethSplits {
        train: learnable_split("train", 4000, 1),
        validation: learnable_split("validation", 1000, 2),
        test: learnable_split("test", 1000, 3),
        carved: None,
    }
}

/// NdArray's random generator is global to the process: two trainings running at once on the
/// test harness's threads would draw from it in turn. Trainings in this file take turns.
static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn quick_train(config: &TrainingConfig, splits: &BethSplits, dir: &Path) -> TrainingOutcome<B> {
    let _turn = TRAINING.lock().unwrap_or_else(|e| e.into_inner());
    train::<AB>(config, splits, dir, Progress::Silent, &Default::default()).unwrap()
}

#[test]
fn learns_a_learnable_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = TrainingConfig::new().with_num_epochs(4);
    let outcome = quick_train(&config, &learnable_splits(), dir.path());
    let h = &outcome.history;
    assert_eq!(h.train_loss.len(), 4);
    assert_eq!(h.valid_auroc.len(), 4);
    assert!(h.train_loss[3] < h.train_loss[0], "{:?}", h.train_loss);
    assert!(h.valid_loss[3] < h.valid_loss[0], "{:?}", h.valid_loss);
    let test = outcome.test_report.as_ref().unwrap();
    assert!(test.auroc.unwrap() >= 0.95, "{test:?}");
    assert_eq!(test.rows, 1000);
    // The kept epoch is the one with the lowest validation loss, and the saved detector
    // reproduces the validation loss the Learner measured for it.
    let best = h.best_epoch - 1;
    assert!(h.valid_loss.iter().all(|&l| l >= h.valid_loss[best]));
    assert!(dir.path().join("training/checkpoint").is_dir());
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let splits = learnable_splits();
    let weights = |seed: u64| {
        let dir = tempfile::tempdir().unwrap();
        let config = TrainingConfig::new().with_num_epochs(2).with_seed(seed);
        let model = quick_train(&config, &splits, dir.path())
            .detector
            .model()
            .unwrap()
            .clone();
        [
            model
                .fc1
                .weight
                .val()
                .into_data()
                .into_vec::<f32>()
                .unwrap(),
            model
                .fc2
                .weight
                .val()
                .into_data()
                .into_vec::<f32>()
                .unwrap(),
            model
                .fc3
                .bias
                .clone()
                .unwrap()
                .val()
                .into_data()
                .into_vec::<f32>()
                .unwrap(),
        ]
    };
    let bits = |w: [Vec<f32>; 3]| w.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>();
    let a = bits(weights(7));
    let b = bits(weights(7));
    let c = bits(weights(8));
    assert_eq!(a.len(), 7 * 64 + 64 * 32 + 1);
    let differing = |x: &[u32], y: &[u32]| x.iter().zip(y).filter(|(p, q)| p != q).count();
    assert_eq!(differing(&a, &b), 0, "same seed, different weights");
    assert!(differing(&a, &c) > 0, "another seed gave the same weights");
}

#[test]
fn saved_detector_loads_and_scores_identically() {
    let dir = tempfile::tempdir().unwrap();
    let splits = learnable_splits();
    let config = TrainingConfig::new()
        .with_num_epochs(1)
        .with_class_weight(ClassWeight::Balanced)
        .with_threshold(Some(ThresholdRule::MaxF1));
    let outcome = quick_train(&config, &splits, dir.path());
    let saved = dir.path().join("detector");
    outcome.detector.save(&saved).unwrap();
    let loaded = Detector::<B>::load(&saved, &Default::default()).unwrap();
    let a = outcome.detector.score_dataset(&splits.test).unwrap();
    let b = loaded.score_dataset(&splits.test).unwrap();
    assert_eq!(a, b);
    assert_eq!(loaded.threshold(), outcome.detector.threshold());
    assert_eq!(loaded.scaler(), outcome.detector.scaler());
    assert_eq!(loaded.metadata(), outcome.detector.metadata());
    assert_eq!(
        Some(evaluate(&loaded, &splits.test).unwrap()),
        outcome.test_report
    );
    // Saving again over it replaces it atomically and leaves no staging directory behind.
    loaded.save(&saved).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty());

    // Broken artifacts are errors that say what is wrong.
    let broken = |edit: &dyn Fn(&Path)| {
        let copy = tempfile::tempdir().unwrap();
        for f in ["detector.json", "model.safetensors"] {
            std::fs::copy(saved.join(f), copy.path().join(f)).unwrap();
        }
        edit(copy.path());
        Detector::<B>::load(copy.path(), &Default::default()).unwrap_err()
    };
    let json = std::fs::read_to_string(saved.join("detector.json")).unwrap();
    let e = broken(&|p| {
        std::fs::write(
            p.join("detector.json"),
            json.replace("\"format_version\": 3", "\"format_version\": 4"),
        )
        .unwrap()
    });
    assert!(e.to_string().contains("newer"), "{e}");
    let e = broken(&|p| {
        std::fs::write(
            p.join("detector.json"),
            json.replace("\"hidden1\": 64", "\"hidden1\": 16"),
        )
        .unwrap()
    });
    assert!(matches!(e, Error::Artifact { .. }), "{e}");
    let e = broken(&|p| {
        std::fs::write(
            p.join("detector.json"),
            json.replace("\"input_width\": 7", "\"input_width\": 8"),
        )
        .unwrap()
    });
    assert!(e.to_string().contains("input width"), "{e}");
    let e = broken(&|p| {
        std::fs::write(
            p.join("detector.json"),
            json.replace("\"feature_set\": \"seed\"", "\"feature_set\": \"paper\""),
        )
        .unwrap()
    });
    assert!(
        matches!(e, Error::Artifact { .. } | Error::Json { .. }),
        "{e}"
    );
    let e = broken(&|p| {
        let w = std::fs::read(p.join("model.safetensors")).unwrap();
        std::fs::write(p.join("model.safetensors"), &w[..w.len() / 2]).unwrap()
    });
    assert!(e.to_string().contains("model.safetensors"), "{e}");
    let e = broken(&|p| std::fs::write(p.join("detector.json"), b"").unwrap());
    assert!(e.to_string().contains("detector.json"), "{e}");
    let e = broken(&|p| std::fs::remove_file(p.join("model.safetensors")).unwrap());
    assert!(e.to_string().contains("missing"), "{e}");
}

#[test]
fn trains_end_to_end_on_the_real_datacamp_samples() {
    // Tiny (100 rows per split, and the training sample is all `sus`), but real.
    let splits = BethSplits::open_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/beth/datacamp_projection"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outcome = quick_train(
        &TrainingConfig::new().with_num_epochs(2),
        &splits,
        dir.path(),
    );
    assert_eq!(outcome.validation_report.as_ref().unwrap().rows, 100);
    assert_eq!(outcome.validation_report.as_ref().unwrap().positives, 4);
    assert_eq!(outcome.test_report.as_ref().unwrap().positives, 13);
    assert!(!outcome.detector.metadata().synthetic);
    assert_eq!(outcome.detector.metadata().train_rows, 100);
    // The paper's features need eventId, which DataCamp files lack.
    let e = train::<AB>(
        &TrainingConfig::new().with_feature_set(FeatureSet::Paper),
        &splits,
        dir.path(),
        Progress::Silent,
        &Default::default(),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("eventId"), "{e}");
}

#[test]
fn trains_on_synthetic_splits_with_the_paper_features() {
    use beth_detect::data::synth::{SynthConfig, generate_splits};
    let splits = generate_splits(&SynthConfig::new().with_scale(0.02)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = TrainingConfig::new()
        .with_num_epochs(2)
        .with_feature_set(FeatureSet::Paper)
        .with_class_weight(ClassWeight::Balanced);
    let outcome = quick_train(&config, &splits, dir.path());
    assert!(outcome.detector.metadata().synthetic);
    assert_eq!(outcome.test_report.as_ref().unwrap().rows, 3779);
    assert!(outcome.test_report.as_ref().unwrap().auroc.unwrap() > 0.5);
}

#[test]
fn bad_configs_are_rejected_before_training() {
    let splits = learnable_splits();
    let dir = tempfile::tempdir().unwrap();
    for config in [
        TrainingConfig::new().with_num_epochs(0),
        TrainingConfig::new().with_batch_size(0),
        TrainingConfig::new().with_learning_rate(-1.0),
        TrainingConfig::new().with_class_weight(ClassWeight::Positive(f64::NAN)),
        TrainingConfig::new().with_threshold(Some(ThresholdRule::Fixed(1.5))),
        TrainingConfig::new().with_model(ThreatDetectorConfig::new().with_dropout(1.0)),
    ] {
        let e = train::<AB>(
            &config,
            &splits,
            dir.path(),
            Progress::Silent,
            &Default::default(),
        )
        .err()
        .unwrap();
        assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
    }
}

fn flat<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec::<f32>().unwrap()
}

/// Stacking members changes nothing about how each is trained: with dropout off (no random
/// masks), member 0 of a 3-network ensemble starts from the single network's weights (it is
/// drawn first from the same seed), sees the same batches and ends where the single network
/// trained alone ends.
#[test]
fn a_stacked_member_trains_exactly_like_the_single_network() {
    let splits = learnable_splits();
    let config = TrainingConfig::new()
        .with_model(ThreatDetectorConfig::new().with_dropout(0.0))
        .with_num_epochs(1)
        .with_seed(5)
        .with_ensemble(1);
    let single_dir = tempfile::tempdir().unwrap();
    let single = quick_train(&config, &splits, single_dir.path()).detector;
    let stacked_dir = tempfile::tempdir().unwrap();
    let stacked = quick_train(
        &config.clone().with_ensemble(3),
        &splits,
        stacked_dir.path(),
    )
    .detector;
    assert_eq!((single.members().len(), stacked.members().len()), (1, 3));
    let (a, b) = (single.model().unwrap(), &stacked.members()[0]);
    for (x, y) in [
        (flat(a.fc1.weight.val()), flat(b.fc1.weight.val())),
        (flat(a.fc2.weight.val()), flat(b.fc2.weight.val())),
        (flat(a.fc3.weight.val()), flat(b.fc3.weight.val())),
    ] {
        let d = common::max_difference(&x, &y);
        assert!(d <= 1e-4, "{d}");
    }
    // The other members started elsewhere and ended elsewhere.
    let d = common::max_difference(
        &flat(stacked.members()[0].fc1.weight.val()),
        &flat(stacked.members()[1].fc1.weight.val()),
    );
    assert!(d > 1e-2, "{d}");
}

/// An ensemble detector scores the mean of its members' probabilities, saves and loads with
/// every member, exports an `nn.ModuleList`'s keys, and scores the same on the CPU path.
#[test]
fn an_ensemble_detector_averages_saves_loads_and_exports() {
    use beth_detect::detector::interop::members_state_dict;
    use burn::tensor::TensorData;

    let splits = learnable_splits();
    let dir = tempfile::tempdir().unwrap();
    let config = TrainingConfig::new().with_num_epochs(2).with_ensemble(3);
    let detector = quick_train(&config, &splits, dir.path()).detector;
    let events: Vec<BethEvent> = (0..200).map(|i| splits.test.event(i)).collect();
    let scores = detector.score_events(&events);
    // The mean, member by member, through each network's own forward pass.
    let mut rows = Vec::new();
    for e in &events {
        rows.extend(detector.scaler().transform(e));
    }
    let x = Tensor::<B, 2>::from_data(TensorData::new(rows.clone(), [200, 7]), &Default::default());
    let per_member: Vec<Vec<f32>> = detector
        .members()
        .iter()
        .map(|m| flat(m.forward(x.clone())))
        .collect();
    let mean: Vec<f32> = (0..200)
        .map(|i| per_member.iter().map(|p| p[i]).sum::<f32>() / 3.0)
        .collect();
    assert!(common::max_difference(&scores, &mean) <= 1e-6);
    assert!(common::max_difference(&per_member[0], &per_member[1]) > 1e-4);
    let cpu = detector.cpu_scorer().score(&rows);
    assert!(common::max_difference(&cpu, &mean) <= 1e-5);

    let saved = dir.path().join("detector");
    detector.save(&saved).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(saved.join("detector.json")).unwrap()).unwrap();
    assert_eq!(json["members"], 3);
    let loaded = Detector::<B>::load(&saved, &Default::default()).unwrap();
    assert_eq!(loaded.members().len(), 3);
    assert_eq!(loaded.score_events(&events), scores);

    let keys: Vec<String> = members_state_dict(detector.members())
        .into_iter()
        .map(|(k, _, _)| k)
        .collect();
    assert_eq!(keys.len(), 18);
    assert_eq!(&keys[..2], ["0.0.weight", "0.0.bias"]);
    assert_eq!(&keys[16..], ["2.5.weight", "2.5.bias"]);

    // A count the weights do not hold is refused by name.
    for (members, needle) in [(4, "weights file has"), (0, "networks")] {
        let mut broken = json.clone();
        broken["members"] = members.into();
        std::fs::write(
            saved.join("detector.json"),
            serde_json::to_vec(&broken).unwrap(),
        )
        .unwrap();
        let e = Detector::<B>::load(&saved, &Default::default()).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }
}

#[test]
fn ensemble_and_weight_decay_are_checked() {
    for (config, name) in [
        (TrainingConfig::new().with_ensemble(0), "ensemble size"),
        (TrainingConfig::new().with_ensemble(65), "ensemble size"),
        (
            TrainingConfig::new().with_weight_decay(-1.0),
            "weight decay",
        ),
        (
            TrainingConfig::new().with_weight_decay(f64::NAN),
            "weight decay",
        ),
    ] {
        let e = config.validate().unwrap_err();
        assert!(e.to_string().contains(name), "{e}");
    }
}
