//! Real BETH rows as a pandas user saved them (tests/fixtures/beth/njeriw_DataCamp: index
//! column, BOM, every field quoted, CRLF): reading them, carving validation out of the
//! training rows, and the quality the default recipe must reach on them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use beth_detect::backend::BackendChoice;
use beth_detect::data::{BethDataset, BethEvent, BethSplits, CarveOptions, EventReader, Label};
use beth_detect::training::{Progress, TrainingConfig, train};
use burn::backend::Autodiff;
use burn::prelude::Backend;

fn real_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/beth/njeriw_DataCamp")
}

fn train_file() -> PathBuf {
    real_dir().join("labelled_train_head12500.csv")
}

fn test_file() -> PathBuf {
    real_dir().join("labelled_test_head7500.csv")
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_beth-detect"))
}

/// Counts from the source repository's README (see tests/fixtures/README.md): 12,500 rows with
/// 273 `sus_label` = 1, and 7,500 rows with 1,559.
#[test]
fn the_real_files_read_with_their_published_counts() {
    for (path, rows, sus) in [(train_file(), 12_500, 273), (test_file(), 7_500, 1_559)] {
        let d = BethDataset::open(&path).unwrap();
        assert_eq!((d.len(), d.positives()), (rows, sus), "{}", path.display());
        assert_eq!(d.extra_columns(), ["index"]);
        assert_eq!(d.schema().name(), "datacamp");
        // The streaming reader agrees with the parallel loader, row for row.
        let streamed: Vec<BethEvent> = EventReader::open(&path)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        assert_eq!(streamed.len(), rows);
        assert!(streamed.iter().enumerate().all(|(i, e)| *e == d.event(i)));
    }
    // Quoted numbers are numbers: the first data row, read off the file's bytes by hand:
    // "0","381","7337","1","100","4026532231","5","0","1"
    let first = BethDataset::open(train_file()).unwrap().event(0);
    assert_eq!(
        (
            first.process_id,
            first.thread_id,
            first.parent_process_id,
            first.user_id,
            first.mount_namespace,
            first.args_num,
            first.return_value,
            first.sus
        ),
        (381, 7337, 1, 100, 4_026_532_231, 5, 0, 1)
    );
}

#[test]
fn inspect_lists_the_extra_column() {
    let out = bin()
        .args(["inspect", "--json"])
        .arg(train_file())
        .output()
        .unwrap();
    common::assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows"], 12_500);
    assert_eq!(report["sus"], 273);
    assert_eq!(report["extra_columns"], serde_json::json!(["index"]));
}

#[test]
fn validation_is_carved_stratified_and_seeded() {
    let carve = |seed| CarveOptions {
        fraction: 0.2,
        seed,
        label: Label::Sus,
    };
    let a = BethSplits::open_dir_with(real_dir(), &carve(1)).unwrap();
    let carved = a.carved.as_ref().unwrap();
    assert_eq!(carved.from, train_file());
    // 20% of each class: round(0.2 × 273) = 55 positives, round(0.2 × 12,227) = 2,445 negatives.
    assert_eq!((a.validation.len(), a.validation.positives()), (2_500, 55));
    assert_eq!((a.train.len(), a.train.positives()), (10_000, 218));
    assert_eq!(
        (carved.validation_rows, carved.validation_positives),
        (2_500, 55)
    );
    assert_eq!(a.test.path(), test_file());
    // The two parts are the file's rows, each once (the index column is dropped, so compare
    // whole events as multisets).
    let whole = BethDataset::open(train_file()).unwrap();
    let mut all: Vec<BethEvent> = (0..whole.len()).map(|i| whole.event(i)).collect();
    let mut parts: Vec<BethEvent> = (0..a.train.len())
        .map(|i| a.train.event(i))
        .chain((0..a.validation.len()).map(|i| a.validation.event(i)))
        .collect();
    let key = |e: &BethEvent| format!("{e:?}");
    all.sort_by_key(key);
    parts.sort_by_key(key);
    assert_eq!(all, parts);
    // Same seed, same rows; another seed, other rows.
    let again = BethSplits::open_dir_with(real_dir(), &carve(1)).unwrap();
    let other = BethSplits::open_dir_with(real_dir(), &carve(2)).unwrap();
    let rows = |s: &BethSplits| {
        (0..s.validation.len())
            .map(|i| s.validation.event(i))
            .collect::<Vec<_>>()
    };
    assert_eq!(rows(&a), rows(&again));
    assert_ne!(rows(&a), rows(&other));
    // A fraction outside (0, 1) is refused by name.
    let e = BethSplits::open_dir_with(
        real_dir(),
        &CarveOptions {
            fraction: 1.0,
            ..carve(1)
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("validation fraction"), "{e}");
}

/// The quality bar of the default recipe on real rows (issues 11 and 19): for seeds 1, 2 and
/// 3, AUROC ≥ 0.975 on the 7,500 test rows, and at the default threshold (max-F1 on the carved
/// validation rows) recall ≥ 0.9198 (what 0.5 caught) with precision ≥ 0.99. With the notebook's recipe (no weight
/// decay) seed 2 reaches only 0.82.
#[test]
fn default_training_on_real_rows_catches_the_attack_for_every_seed() {
    beth_detect::with_backend!(BackendChoice::DEFAULT, |B| default_training_on::<B>()).unwrap()
}

/// Trains `config` on the real directory, validation carved with its seed.
fn train_on_real<B: Backend>(
    config: &TrainingConfig,
) -> beth_detect::Result<beth_detect::training::TrainingOutcome<B>> {
    let carve = CarveOptions {
        seed: config.seed,
        ..CarveOptions::default()
    };
    let splits = BethSplits::open_dir_with(real_dir(), &carve)?;
    let dir = tempfile::tempdir().unwrap();
    train::<Autodiff<B>>(
        config,
        &splits,
        dir.path(),
        Progress::Silent,
        &Default::default(),
    )
}

fn default_training_on<B: Backend>() -> beth_detect::Result<()> {
    for seed in [1, 2, 3] {
        let outcome = train_on_real::<B>(&TrainingConfig::new().with_seed(seed))?;
        let t = outcome.test_report.as_ref().unwrap();
        eprintln!(
            "seed {seed}: test AUROC {:.4}, recall {:.4}, precision {:.4}",
            t.auroc.unwrap(),
            t.recall,
            t.precision
        );
        assert_eq!((t.rows, t.positives), (7_500, 1_559));
        assert!(t.auroc.unwrap() >= 0.975, "seed {seed}: {t:?}");
        // 1,434 of 1,559 (recall 0.9198, "0.920"): what the fixed 0.5 caught, kept.
        assert!(t.confusion.tp >= 1_434, "seed {seed}: {t:?}");
        assert!(t.precision >= 0.99, "seed {seed}: {t:?}");
        assert_eq!(
            outcome.detector.metadata().threshold_rule,
            beth_detect::evaluation::ThresholdRule::MaxF1
        );
        let carved = outcome.detector.metadata().carved_validation.as_ref();
        assert_eq!(carved.map(|c| c.options.seed), Some(seed));
    }
    Ok(())
}

/// `train` on the directory says it carved validation and records it; `eval` on the same
/// directory carves the same rows again and reports what `train` reported; `score` keeps the
/// index column.
#[test]
fn cli_train_eval_score_on_the_real_directory() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("detector");
    let out = bin()
        .args(["train", "--epochs", "3", "--seed", "7", "--json", "--data"])
        .arg(real_dir())
        .arg("--out")
        .arg(&model)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("2500 of 12500 rows (55 `sus` positives) carved out of"),
        "{stderr}"
    );
    let trained: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(trained["carved_validation"]["options"]["seed"], 7);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("detector.json")).unwrap()).unwrap();
    assert_eq!(
        saved["metadata"]["carved_validation"]["validation_rows"],
        2_500
    );

    let out = bin()
        .args(["eval", "--json", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(real_dir())
        .output()
        .unwrap();
    common::assert_success(&out);
    let evaluated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(evaluated["validation"], trained["validation"]);
    assert_eq!(evaluated["test"], trained["test"]);

    let scored = dir.path().join("scored.csv");
    let out = bin()
        .args(["score", "--model"])
        .arg(&model)
        .arg(test_file())
        .arg("--output")
        .arg(&scored)
        .output()
        .unwrap();
    common::assert_success(&out);
    let text = std::fs::read_to_string(&scored).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("\"index\",\"processId\""), "{header}");
    assert!(header.ends_with(",score,prediction"), "{header}");
    let first = lines.next().unwrap();
    assert!(first.starts_with("\"0\",\"382\",\"382\""), "{first}");
    assert_eq!(text.lines().count(), 7_501);
    // One scorer: eval's AUROC and confusion matrix are those of score's output, exactly.
    let labels = BethDataset::open(test_file()).unwrap().targets().to_vec();
    let mut scores = Vec::new();
    let mut confusion = beth_detect::evaluation::Confusion::default();
    for (line, &label) in text.lines().skip(1).zip(&labels) {
        let mut fields = line.rsplit(',');
        confusion.record(fields.next() == Some("1"), label == 1);
        scores.push(fields.next().unwrap().parse::<f32>().unwrap());
    }
    assert_eq!(
        evaluated["test"]["auroc"].as_f64(),
        beth_detect::evaluation::auroc(&scores, &labels)
    );
    assert_eq!(
        evaluated["test"]["confusion"],
        serde_json::to_value(confusion).unwrap()
    );
    // Every row once, in the input's order (the index column counts 0..7499).
    for (i, line) in text.lines().skip(1).enumerate() {
        assert!(line.starts_with(&format!("\"{i}\",")), "row {i}: {line}");
    }

    // Reading runs a batch ahead of scoring: batch boundaries must not change what is written.
    for batch in ["1", "7", "1000"] {
        let out = bin()
            .args(["score", "--batch-size", batch, "--model"])
            .arg(&model)
            .arg(test_file())
            .output()
            .unwrap();
        common::assert_success(&out);
        assert!(
            out.stdout == text.as_bytes(),
            "--batch-size {batch} wrote other output"
        );
    }
}

/// The label-free kinds' default threshold, an alert budget on the benign validation rows
/// (issue 19): the forest flagged 44% of the test host's benign events at the old fixed 0.5 and
/// must stay at or below 5%; the autoencoder keeps recall ≥ 0.9.
#[test]
fn label_free_defaults_on_real_rows() {
    beth_detect::with_backend!(BackendChoice::DEFAULT, |B| label_free_defaults_on::<B>()).unwrap()
}

fn label_free_defaults_on<B: Backend>() -> beth_detect::Result<()> {
    use beth_detect::evaluation::DEFAULT_ALERT_BUDGET;
    use beth_detect::models::DetectorKind;
    for (kind, seeds) in [
        (DetectorKind::Iforest, &[1u64, 2, 3][..]),
        (DetectorKind::Autoencoder, &[1, 2][..]),
    ] {
        for &seed in seeds {
            let config = TrainingConfig::new().with_detector(kind).with_seed(seed);
            let outcome = train_on_real::<B>(&config)?;
            assert_eq!(
                outcome.detector.metadata().threshold_rule,
                DEFAULT_ALERT_BUDGET
            );
            let t = outcome.test_report.as_ref().unwrap();
            let c = &t.confusion;
            let fpr = c.fp as f64 / (c.fp + c.tn) as f64;
            eprintln!(
                "{kind} seed {seed}: test recall {:.4}, benign FPR {fpr:.4}",
                t.recall
            );
            match kind {
                DetectorKind::Iforest => assert!(fpr <= 0.05, "seed {seed}: {t:?}"),
                _ => assert!(t.recall >= 0.9, "seed {seed}: {t:?}"),
            }
        }
    }
    Ok(())
}
