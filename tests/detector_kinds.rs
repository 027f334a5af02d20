//! Every detector kind (`mlp`, `autoencoder`, `iforest`) through one `Detector`: trained,
//! saved, loaded and scored; broken artifacts refused by name; the label-free kinds trained on
//! data without labels (a CSV with its label columns removed, synthetic Tracee JSON); format-2
//! detectors written by the previous release still load.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use beth_detect::backend::{Flex, NdArray};
use beth_detect::data::synth::{SynthConfig, SynthRecords, SynthSplit};
use beth_detect::data::{BethSplits, CarveOptions, Label};
use beth_detect::detector::{DETECTOR_FILE, Detector, FOREST_FILE, WEIGHTS_FILE};
use beth_detect::evaluation::ThresholdRule;
use beth_detect::models::DetectorKind;
use beth_detect::training::{Progress, TrainingConfig, TrainingOutcome, train};
use beth_detect::{BethDataset, Error, evaluate};
use burn::backend::Autodiff;
use common::{assert_success, max_difference};

const BIN: &str = env!("CARGO_BIN_EXE_beth-detect");

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

fn real_splits() -> BethSplits {
    let carve = CarveOptions {
        fraction: 0.2,
        seed: 1,
        label: Label::Sus,
    };
    BethSplits::open_dir_with(fixture("beth/njeriw_DataCamp"), &carve).unwrap()
}

fn quick_config(kind: DetectorKind) -> TrainingConfig {
    TrainingConfig::new()
        .with_detector(kind)
        .with_num_epochs(3)
        .with_seed(1)
}

fn fit(kind: DetectorKind, splits: &BethSplits, dir: &Path) -> TrainingOutcome<Flex> {
    train::<Autodiff<Flex>>(
        &quick_config(kind),
        splits,
        dir,
        Progress::Silent,
        &Default::default(),
    )
    .unwrap()
}

#[test]
fn every_kind_trains_saves_loads_and_scores_the_same() {
    let splits = real_splits();
    for kind in DetectorKind::ALL {
        let dir = tempfile::tempdir().unwrap();
        let outcome = fit(kind, &splits, dir.path());
        let detector = &outcome.detector;
        assert_eq!(detector.kind(), kind.name());
        assert_eq!(detector.metadata().kind, kind);
        // Label-free kinds fit on the benign training rows only: 10,000 − 218 positives.
        let fitted_rows = if kind.is_label_free() { 9_782 } else { 10_000 };
        assert_eq!(detector.metadata().train_rows, fitted_rows, "{kind}");
        let test = outcome.test_report.as_ref().unwrap();
        assert_eq!((test.rows, test.positives), (7_500, 1_559));
        // Each kind ranks the real attack rows above chance (the forest barely: see the README).
        assert!(test.auroc.unwrap() > 0.55, "{kind}: {test:?}");

        let saved = dir.path().join("detector");
        detector.save(&saved).unwrap();
        let model_file = if kind == DetectorKind::Iforest {
            FOREST_FILE
        } else {
            WEIGHTS_FILE
        };
        assert!(saved.join(model_file).is_file(), "{kind}");
        let loaded = Detector::<NdArray>::load(&saved, &Default::default()).unwrap();
        assert_eq!(loaded.kind(), kind.name());
        assert_eq!(loaded.threshold(), detector.threshold());
        assert_eq!(loaded.metadata(), detector.metadata());
        let before = detector.score_dataset(&splits.test).unwrap();
        let after = loaded.score_dataset(&splits.test).unwrap();
        assert!(max_difference(&before, &after) <= 1e-6, "{kind}");
        assert_eq!(
            evaluate(&loaded, &splits.test).unwrap().confusion,
            test.confusion,
            "{kind}"
        );
        // The CPU scoring path `score` uses agrees with burn's forward pass.
        let rows: Vec<f32> = (0..splits.test.len())
            .flat_map(|i| loaded.scaler().transform(&splits.test.event(i)))
            .collect();
        let cpu = loaded.cpu_scorer().score(&rows);
        assert!(max_difference(&cpu, &after) <= 1e-5, "{kind}");
        // Scores are in [0, 1].
        assert!(after.iter().all(|s| (0.0..=1.0).contains(s)), "{kind}");
    }
}

#[test]
fn autoencoder_reconstruction_loss_falls() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = fit(DetectorKind::Autoencoder, &real_splits(), dir.path());
    let h = &outcome.history;
    assert!(h.train_loss.len() >= 2);
    assert!(
        h.train_loss.last() < h.train_loss.first(),
        "{:?}",
        h.train_loss
    );
    assert!(
        h.valid_loss.last() < h.valid_loss.first(),
        "{:?}",
        h.valid_loss
    );
    // Loss is its only metric: no probabilities to judge.
    assert!(h.valid_auroc.is_empty());
}

#[test]
fn broken_artifacts_of_every_kind_are_refused_by_name() {
    let splits = real_splits();
    let load = |dir: &Path| Detector::<NdArray>::load(dir, &Default::default());
    let message = |e: Error| e.to_string();

    // The forest: missing, corrupted (checksum), and a forest whose trees loop (checksum
    // removed, so the structure check is what refuses it).
    let dir = tempfile::tempdir().unwrap();
    let forest = dir.path().join("forest");
    fit(DetectorKind::Iforest, &splits, dir.path())
        .detector
        .save(&forest)
        .unwrap();
    let original = std::fs::read_to_string(forest.join(FOREST_FILE)).unwrap();
    std::fs::remove_file(forest.join(FOREST_FILE)).unwrap();
    let e = message(load(&forest).unwrap_err());
    assert!(e.contains(FOREST_FILE) && e.contains("missing"), "{e}");
    let looped = original.replacen("\"left\":1", "\"left\":0", 1);
    std::fs::write(forest.join(FOREST_FILE), &looped).unwrap();
    let e = message(load(&forest).unwrap_err());
    assert!(e.contains(FOREST_FILE) && e.contains("checksum"), "{e}");
    let meta_path = forest.join(DETECTOR_FILE);
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    meta.as_object_mut().unwrap().remove("weights_crc32");
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let e = message(load(&forest).unwrap_err());
    assert!(
        e.contains(FOREST_FILE) && e.contains("tree 0") && e.contains("child"),
        "{e}"
    );

    // The autoencoder: truncated weights, and its shape record gone.
    let auto = dir.path().join("autoencoder");
    fit(DetectorKind::Autoencoder, &splits, dir.path())
        .detector
        .save(&auto)
        .unwrap();
    let weights = std::fs::read(auto.join(WEIGHTS_FILE)).unwrap();
    std::fs::write(auto.join(WEIGHTS_FILE), &weights[..weights.len() / 2]).unwrap();
    let e = message(load(&auto).unwrap_err());
    assert!(e.contains(WEIGHTS_FILE), "{e}");
    std::fs::write(auto.join(WEIGHTS_FILE), &weights).unwrap();
    load(&auto).unwrap();
    let meta_path = auto.join(DETECTOR_FILE);
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    meta.as_object_mut().unwrap().remove("autoencoder");
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let e = message(load(&auto).unwrap_err());
    assert!(
        e.contains(DETECTOR_FILE) && e.contains("autoencoder"),
        "{e}"
    );

    // An mlp's weights in an autoencoder's directory: keys and shapes are checked.
    let mlp = dir.path().join("mlp");
    fit(DetectorKind::Mlp, &splits, dir.path())
        .detector
        .save(&mlp)
        .unwrap();
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mlp.join(DETECTOR_FILE)).unwrap()).unwrap();
    meta["metadata"]["kind"] = "autoencoder".into();
    meta["autoencoder"] = serde_json::json!({
        "config": {"input_width": 7, "hidden": 8, "bottleneck": 2},
        "reference_error": 1.0
    });
    meta.as_object_mut().unwrap().remove("weights_crc32");
    std::fs::write(mlp.join(DETECTOR_FILE), serde_json::to_vec(&meta).unwrap()).unwrap();
    let e = message(load(&mlp).unwrap_err());
    assert!(e.contains(WEIGHTS_FILE), "{e}");
}

/// The real training rows written again without their label column (and without pandas'
/// index column): what a user's own unlabelled CSV looks like.
fn unlabelled_csv(dir: &Path) -> PathBuf {
    let mut reader =
        csv::Reader::from_path(fixture("beth/njeriw_DataCamp/labelled_train_head12500.csv"))
            .unwrap();
    let headers = reader.headers().unwrap().clone();
    let keep: Vec<usize> = (0..headers.len())
        .filter(|&i| {
            let name = headers[i].trim_start_matches('\u{feff}');
            name != "index" && name != "sus_label"
        })
        .collect();
    let path = dir.join("my_hosts_train.csv");
    let mut writer = csv::Writer::from_path(&path).unwrap();
    writer
        .write_record(keep.iter().map(|&i| &headers[i]))
        .unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        writer
            .write_record(keep.iter().map(|&i| &record[i]))
            .unwrap();
    }
    writer.flush().unwrap();
    path
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn label_free_kinds_train_on_a_csv_without_labels_and_mlp_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = unlabelled_csv(dir.path());
    let data = data.to_str().unwrap();
    for kind in ["iforest", "autoencoder"] {
        let out = dir.path().join(kind);
        let trained = run(&[
            "train",
            "--detector",
            kind,
            "--data",
            data,
            "--epochs",
            "2",
            "--threshold",
            "fpr:0.02",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]);
        assert_success(&trained);
        let report: serde_json::Value = serde_json::from_slice(&trained.stdout).unwrap();
        assert_eq!(report["detector"], kind);
        assert!(report["test"].is_null() && report["validation"].is_null());
        // 2,500 of the 12,500 rows carved out as validation; at most 2% of them alert.
        assert_eq!(report["carved_validation"]["validation_rows"], 2_500);
        assert!(
            report["validation_alerts"].as_u64().unwrap() <= 50,
            "{report}"
        );
        let detector = Detector::<NdArray>::load(&out, &Default::default()).unwrap();
        assert_eq!(detector.metadata().train_rows, 10_000);
        // And it scores the unlabelled file.
        let scored = dir.path().join(format!("{kind}.csv"));
        assert_success(&run(&[
            "score",
            "--model",
            out.to_str().unwrap(),
            "--input",
            data,
            "--output",
            scored.to_str().unwrap(),
        ]));
        let lines = std::fs::read_to_string(&scored).unwrap().lines().count();
        assert_eq!(lines, 12_501);
    }
    let refused = run(&[
        "train",
        "--data",
        data,
        "--out",
        dir.path().join("mlp").to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--detector mlp learns from labels")
            && stderr.contains("my_hosts_train.csv")
            && stderr.contains("--detector iforest"),
        "{stderr}"
    );
    assert!(!dir.path().join("mlp").exists());
}

/// Synthetic events as Tracee's classic JSON lines (no labels), built from the crate's
/// generator.
fn synthetic_tracee_json(dir: &Path, rows: usize) -> PathBuf {
    let records = SynthRecords::new(
        SynthSplit::Training,
        &SynthConfig::new().with_scale(0.01).with_seed(3),
    )
    .unwrap();
    let mut text = String::new();
    for r in records.take(rows) {
        let e = &r.event;
        let line = serde_json::json!({
            "timestamp": (r.timestamp * 1e9) as u64,
            "processId": e.process_id,
            "threadId": e.thread_id,
            "parentProcessId": e.parent_process_id,
            "userId": e.user_id,
            "mountNamespace": e.mount_namespace,
            "processName": r.process_name,
            "hostName": r.host_name,
            "eventId": e.event_id.to_string(),
            "eventName": r.event_name,
            "argsNum": e.args_num,
            "returnValue": e.return_value,
            "args": [],
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    let path = dir.join("tracee_events.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn label_free_kinds_train_on_synthetic_tracee_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = synthetic_tracee_json(dir.path(), 3_000);
    let splits = BethSplits::open_file_with(
        &data,
        &CarveOptions {
            fraction: 0.25,
            seed: 2,
            label: Label::Sus,
        },
    )
    .unwrap();
    assert!(!splits.train.is_labelled());
    assert_eq!((splits.train.len(), splits.validation.len()), (2_250, 750));
    assert!(splits.test.is_empty());
    for kind in [DetectorKind::Iforest, DetectorKind::Autoencoder] {
        let config = quick_config(kind).with_threshold(Some(ThresholdRule::Fpr(0.04)));
        let outcome = train::<Autodiff<Flex>>(
            &config,
            &splits,
            dir.path(),
            Progress::Silent,
            &Default::default(),
        )
        .unwrap();
        assert!(outcome.validation_report.is_none() && outcome.test_report.is_none());
        // At most 4% of the 750 validation rows alert.
        assert!(outcome.validation_alerts <= 30, "{kind}");
        assert_eq!(outcome.detector.metadata().train_rows, 2_250);
        let scores = outcome
            .detector
            .score_dataset(&BethDataset::open(&data).unwrap())
            .unwrap();
        assert_eq!(scores.len(), 3_000);
    }
    let refused = train::<Autodiff<Flex>>(
        &quick_config(DetectorKind::Mlp),
        &splits,
        dir.path(),
        Progress::Silent,
        &Default::default(),
    );
    assert!(matches!(refused, Err(Error::Training(m)) if m.contains("tracee_events.jsonl")));
}

#[test]
fn format_two_detectors_written_by_the_previous_release_still_load() {
    // `import-torch` of the notebook's PyTorch fixture, written by beth-detect's format-2
    // build: it still predicts as PyTorch does.
    let imported =
        Detector::<NdArray>::load(fixture("detector_format2/imported"), &Default::default())
            .unwrap();
    assert_eq!(imported.kind(), "mlp");
    let (ours, theirs) = common::scores_beside_pytorch(&imported);
    assert!(max_difference(&ours, &theirs) <= 1e-5);

    // A two-network ensemble trained by that build, with the scores that build wrote.
    let ensemble =
        Detector::<NdArray>::load(fixture("detector_format2/ensemble2"), &Default::default())
            .unwrap();
    assert_eq!(ensemble.members().len(), 2);
    let test = BethDataset::open(fixture("beth/datacamp_projection/labelled_test.csv")).unwrap();
    let ours = ensemble.score_dataset(&test).unwrap();
    let mut reader = csv::Reader::from_path(fixture(
        "detector_format2/ensemble2_scores_labelled_test.csv",
    ))
    .unwrap();
    let theirs: Vec<f32> = reader
        .records()
        .map(|r| {
            // `score` is the last column but one (`prediction` follows it).
            let r = r.unwrap();
            r[r.len() - 2].parse::<f32>().unwrap()
        })
        .collect();
    assert!(max_difference(&ours, &theirs) <= 1e-6);
}
