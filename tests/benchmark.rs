//! `beth-detect benchmark` against `train --seed S` on the real DataCamp rows, and its summary
//! against figures worked out from the per-seed confusion counts.

mod common;

use std::path::Path;
use std::process::Command;

use beth_detect::benchmark::recall_at_fpr;
use common::assert_success;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_beth-detect");

fn real_rows() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/beth/njeriw_DataCamp")
        .display()
        .to_string()
}

fn json_of(args: &[&str]) -> Value {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert_success(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn benchmark_seed_two_is_train_seed_two_and_the_summary_adds_up() {
    let data = real_rows();
    // Every kind by default, in this order.
    let bench = json_of(&["benchmark", "--data", &data, "--seeds", "2", "--json"]);
    assert_eq!(bench["data"]["synthetic"], false);
    assert_eq!(bench["data"]["carved_validation"], true);
    let kinds: Vec<&str> = bench["detectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["detector"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["mlp", "autoencoder", "iforest"]);
    for (i, kind) in kinds.iter().enumerate() {
        check_kind(&data, kind, &bench["detectors"][i]);
    }
}

/// One kind's seed-2 reports are `train --detector KIND --seed 2` + `eval`'s, and its summary
/// adds up.
fn check_kind(data: &str, kind: &str, mlp: &Value) {
    let runs = mlp["per_seed"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["seed"], 2);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("detector");
    let trained = json_of(&[
        "train",
        "--data",
        data,
        "--detector",
        kind,
        "--seed",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    // Bit for bit: the same reports, every count and every figure.
    assert_eq!(runs[1]["test"], trained["test"]);
    assert_eq!(runs[1]["validation"], trained["validation"]);
    let evaluated = json_of(&[
        "eval",
        "--model",
        out.to_str().unwrap(),
        "--data",
        data,
        "--json",
    ]);
    assert_eq!(runs[1]["test"], evaluated["test"]);

    // The summary from the per-seed reports, worked out here.
    let test = &mlp["test"];
    let aurocs: Vec<f64> = runs
        .iter()
        .map(|r| r["test"]["auroc"].as_f64().unwrap())
        .collect();
    let mean = (aurocs[0] + aurocs[1]) / 2.0;
    let std = ((aurocs[0] - mean).powi(2) + (aurocs[1] - mean).powi(2)) / 2.0;
    assert!((test["auroc_mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!((test["auroc_std"].as_f64().unwrap() - std.sqrt()).abs() < 1e-12);
    assert_eq!(
        test["auroc_min"].as_f64().unwrap(),
        aurocs[0].min(aurocs[1])
    );
    // The AUROC of 0/1 predictions is the mean of the true-positive and true-negative rates.
    let hard: f64 = runs
        .iter()
        .map(|r| {
            let c = &r["test"]["confusion"];
            let f = |k: &str| c[k].as_f64().unwrap();
            (f("tp") / (f("tp") + f("fn")) + f("tn") / (f("tn") + f("fp"))) / 2.0
        })
        .sum::<f64>()
        / 2.0;
    assert!((test["auroc_hard_mean"].as_f64().unwrap() - hard).abs() < 1e-9);
    let f1 = runs
        .iter()
        .map(|r| r["test"]["f1"].as_f64().unwrap())
        .sum::<f64>()
        / 2.0;
    assert!((test["f1_mean"].as_f64().unwrap() - f1).abs() < 1e-12);
    for key in ["average_precision_mean", "recall_at_1pct_fpr_mean"] {
        let v = test[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{key} {v}");
    }
}

#[test]
fn recall_at_one_percent_fpr_by_hand() {
    // 200 benign scores 0.000 … 0.199 and four positives. At most 1% of 200 = 2 benign
    // alerts: the lowest such threshold is 0.198, which catches the positives at 0.5, 0.3 and
    // 0.1985 but not the one at 0.05: recall 3/4.
    let mut scores: Vec<f32> = (0..200).map(|i| i as f32 / 1000.0).collect();
    let mut targets = vec![0u8; 200];
    scores.extend([0.5, 0.3, 0.1985, 0.05]);
    targets.extend([1, 1, 1, 1]);
    assert_eq!(recall_at_fpr(&scores, &targets, 0.01), Some(0.75));
    // No false positive allowed: only the positives above every benign score, 0.5 and 0.3.
    assert_eq!(recall_at_fpr(&scores, &targets, 0.0), Some(0.5));
    assert_eq!(recall_at_fpr(&scores[..200], &targets[..200], 0.01), None);
}
