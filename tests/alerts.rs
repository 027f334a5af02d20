//! Alerts an analyst can act on: `score --explain` against an occlusion oracle run through
//! `score` itself on modified rows, and `--output-format falco` against Falco's alert shape.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use beth_detect::scoring::falco::Priority;
use common::{assert_success, fixture_detector, fixture_detector_with_threshold};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_beth-detect");

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// The real DataCamp test rows (pandas-saved: index column, BOM, quotes, CRLF).
fn real_test_rows() -> PathBuf {
    fixture("beth/njeriw_DataCamp/labelled_test_head7500.csv")
}

fn score(args: &[&str]) -> String {
    let out = Command::new(BIN).arg("score").args(args).output().unwrap();
    assert_success(&out);
    String::from_utf8(out.stdout).unwrap()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The columns and fields of a quoted, BOM-prefixed CSV as plain strings.
fn read_plain_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines().map(|l| {
        l.trim_end_matches('\r')
            .split(',')
            .map(|f| f.trim_matches('"').to_string())
            .collect::<Vec<_>>()
    });
    let header = lines.next().unwrap();
    (header, lines.collect())
}

/// The detector's training means, read from its file and rounded: the documented baselines.
fn rounded_means(detector: &Path) -> Vec<(String, i64)> {
    let file: Value =
        serde_json::from_slice(&std::fs::read(detector.join("detector.json")).unwrap()).unwrap();
    let scaler = &file["scaler"];
    scaler["features"]
        .as_array()
        .unwrap()
        .iter()
        .zip(scaler["mean"].as_array().unwrap())
        .map(|(f, m)| {
            (
                f.as_str().unwrap().to_string(),
                m.as_f64().unwrap().round() as i64,
            )
        })
        .collect()
}

#[test]
fn reasons_agree_with_an_occlusion_oracle_run_through_score() {
    let dir = tempfile::tempdir().unwrap();
    let detector = fixture_detector(BIN, dir.path());
    let rows = real_test_rows();
    let explained = json_lines(&score(&[
        "--model",
        detector.to_str().unwrap(),
        "--explain",
        "--output-format",
        "jsonl",
        rows.to_str().unwrap(),
    ]));
    assert_eq!(explained.len(), 7500);
    let (header, fields) = read_plain_csv(&rows);
    let baselines = rounded_means(&detector);

    // Distinct alerting rows (many rows repeat), up to 12 of them.
    let mut seen = BTreeSet::new();
    let mut chosen = Vec::new();
    for (i, e) in explained.iter().enumerate() {
        let key = fields[i][1..].join(",");
        if e["prediction"] == 1 && seen.insert(key) {
            chosen.push(i);
        }
        if e["prediction"] == 0 {
            assert_eq!(e["reasons"], Value::Array(vec![]), "row {i}");
        }
    }
    assert!(chosen.len() >= 5, "only {} distinct alerts", chosen.len());
    chosen.truncate(12);

    // The oracle: every chosen row once per feature, that column set to its baseline, scored
    // by `score` as a plain CSV file.
    let mut modified = header.join(",") + "\n";
    for &i in &chosen {
        for (feature, baseline) in &baselines {
            let column = header.iter().position(|h| h == feature).unwrap();
            let mut row = fields[i].clone();
            row[column] = baseline.to_string();
            modified += &(row.join(",") + "\n");
        }
    }
    let oracle_file = dir.path().join("occluded.csv");
    std::fs::write(&oracle_file, modified).unwrap();
    let occluded: Vec<f32> = score(&[
        "--model",
        detector.to_str().unwrap(),
        oracle_file.to_str().unwrap(),
    ])
    .lines()
    .skip(1)
    .map(|l| l.split(',').rev().nth(1).unwrap().parse().unwrap())
    .collect();
    assert_eq!(occluded.len(), chosen.len() * baselines.len());

    for (k, &i) in chosen.iter().enumerate() {
        let score = explained[i]["score"].as_f64().unwrap() as f32;
        let mut oracle: Vec<(String, f32)> = baselines
            .iter()
            .zip(&occluded[k * baselines.len()..(k + 1) * baselines.len()])
            .map(|((f, _), &s)| (f.clone(), score - s))
            .filter(|(_, c)| *c > 0.0)
            .collect();
        oracle.sort_by(|a, b| b.1.total_cmp(&a.1));
        oracle.truncate(3);
        let reasons = explained[i]["reasons"].as_array().unwrap();
        assert_eq!(
            reasons.len(),
            oracle.len(),
            "row {i}: {reasons:?} vs {oracle:?}"
        );
        for (r, (feature, contribution)) in reasons.iter().zip(&oracle) {
            assert_eq!(r["feature"], feature.as_str(), "row {i}");
            let got = r["contribution"].as_f64().unwrap() as f32;
            assert!(
                (got - contribution).abs() < 1e-5,
                "row {i} {feature}: {got} vs oracle {contribution}"
            );
            let column = header.iter().position(|h| h == feature).unwrap();
            assert_eq!(r["value"].to_string(), fields[i][column], "row {i}");
            let baseline = baselines.iter().find(|(f, _)| f == feature).unwrap().1;
            assert_eq!(r["baseline"], baseline, "row {i}");
        }
    }
}

#[test]
fn csv_reasons_column_carries_the_same_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let detector = fixture_detector(BIN, dir.path());
    let rows = real_test_rows();
    let model = detector.to_str().unwrap();
    let csv = score(&[
        "--model",
        model,
        "--explain",
        "--only-alerts",
        rows.to_str().unwrap(),
    ]);
    let json = json_lines(&score(&[
        "--model",
        model,
        "--explain",
        "--only-alerts",
        "--output-format",
        "jsonl",
        rows.to_str().unwrap(),
    ]));
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().ends_with(",score,prediction,reasons"));
    let csv_rows: Vec<&str> = lines.collect();
    assert_eq!(csv_rows.len(), json.len());
    assert!(!json.is_empty());
    for (row, object) in csv_rows.iter().zip(&json) {
        let expected: Vec<String> = object["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{}={} ({:+.3})",
                    r["feature"].as_str().unwrap(),
                    r["value"],
                    r["contribution"].as_f64().unwrap()
                )
            })
            .collect();
        let column = row.rsplit(',').next().unwrap();
        assert_eq!(column, expected.join("; "), "{row}");
    }
}

#[test]
fn priorities_follow_the_documented_map() {
    use Priority::*;
    // q = (score − threshold) / (1 − threshold): ≥ 0.9 Critical, ≥ 0.5 Error, ≥ 0.2 Warning.
    let cases = [
        (0.5, 0.96, Critical),
        (0.5, 0.94, Error),
        (0.5, 0.76, Error),
        (0.5, 0.74, Warning),
        (0.5, 0.61, Warning),
        (0.5, 0.59, Notice),
        (0.5, 0.5, Notice),
        (0.5, 0.49, Informational),
        (0.9, 0.995, Critical),
        (0.9, 0.96, Error),
        (0.9, 0.925, Warning),
        (0.9, 0.91, Notice),
        (0.0, 0.0, Notice),
        (0.0, 0.3, Warning),
        (1.0, 1.0, Critical),
    ];
    for (threshold, score, expected) in cases {
        assert_eq!(
            Priority::of(score, threshold),
            expected,
            "score {score} threshold {threshold}"
        );
    }
}

const FALCO_PRIORITIES: [&str; 8] = [
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
];

#[test]
fn falco_lines_have_falcos_keys_one_per_alert() {
    let dir = tempfile::tempdir().unwrap();
    // Threshold 0: every one of the six real Tracee events is an alert.
    let detector = fixture_detector_with_threshold(BIN, dir.path(), "0");
    let events = dir.path().join("events.jsonl");
    let mut text = std::fs::read_to_string(fixture("tracee/classic-json-example.jsonl")).unwrap();
    text += &std::fs::read_to_string(fixture("tracee/classic-json-docs-v0.24.1.jsonl")).unwrap();
    std::fs::write(&events, &text).unwrap();
    let originals = json_lines(&text);
    let falco = json_lines(&score(&[
        "--model",
        detector.to_str().unwrap(),
        "--output-format",
        "falco",
        events.to_str().unwrap(),
    ]));
    assert_eq!(falco.len(), 6);
    let keys: BTreeSet<&str> = [
        "time",
        "rule",
        "priority",
        "output",
        "output_fields",
        "source",
        "tags",
        "hostname",
    ]
    .into();
    for (alert, event) in falco.iter().zip(&originals) {
        let object = alert.as_object().unwrap();
        assert_eq!(
            object.keys().map(String::as_str).collect::<BTreeSet<_>>(),
            keys
        );
        assert!(FALCO_PRIORITIES.contains(&alert["priority"].as_str().unwrap()));
        assert_eq!(alert["source"], "beth-detect");
        assert_eq!(alert["hostname"], event["hostName"]);
        let fields = &alert["output_fields"];
        assert_eq!(fields["processId"], event["processId"]);
        assert_eq!(fields["eventName"], event["eventName"]);
        assert!(fields["beth_detect.score"].as_f64().unwrap() >= 0.0);
        // Tracee's args become args.<name> fields.
        for arg in event["args"].as_array().unwrap() {
            let name = arg["name"].as_str().unwrap();
            assert_eq!(fields[format!("args.{name}")], arg["value"], "{name}");
        }
        let output = alert["output"].as_str().unwrap();
        assert!(
            output.contains(event["eventName"].as_str().unwrap()),
            "{output}"
        );
        assert!(
            output.contains(event["processName"].as_str().unwrap()),
            "{output}"
        );
        assert!(!output.contains('\n'));
    }
    // Tracee's timestamp (ns since the epoch) is the alert's time: 1657291777566819000 ns is
    // 2022-07-08 14:49:37.566819 UTC (worked out by hand from 1657291777 s).
    assert_eq!(falco[0]["time"], "2022-07-08T14:49:37.566819000Z");
}

#[test]
fn falco_writes_exactly_the_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let detector = fixture_detector_with_threshold(BIN, dir.path(), "0.3");
    let rows = real_test_rows();
    let model = detector.to_str().unwrap();
    let all = json_lines(&score(&[
        "--model",
        model,
        "--output-format",
        "jsonl",
        rows.to_str().unwrap(),
    ]));
    let alerts: Vec<&Value> = all.iter().filter(|e| e["prediction"] == 1).collect();
    assert!(!alerts.is_empty() && alerts.len() < all.len());
    let falco = json_lines(&score(&[
        "--model",
        model,
        "--output-format",
        "falco",
        rows.to_str().unwrap(),
    ]));
    assert_eq!(falco.len(), alerts.len());
    for (f, a) in falco.iter().zip(&alerts) {
        assert_eq!(f["output_fields"]["index"], a["index"]);
        assert_eq!(f["output_fields"]["beth_detect.score"], a["score"]);
        let expected = Priority::of(a["score"].as_f64().unwrap() as f32, 0.3);
        assert_eq!(f["priority"], expected.name());
        // CSV rows carry no wall-clock time: stamped when scored, in RFC 3339 UTC.
        let time = f["time"].as_str().unwrap();
        assert!(
            time.len() >= 20 && time.ends_with('Z') && &time[10..11] == "T",
            "{time}"
        );
    }
}
