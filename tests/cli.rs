//! The command line, run as a user runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_beth-detect"))
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

#[test]
fn inspect_json_reports_schema_rows_and_labels() {
    let out = bin()
        .arg("inspect")
        .arg("--json")
        .arg(fixture(
            "beth/Jotishyadav29_BethSecure/labelled_testing_data.csv",
        ))
        .arg(fixture("beth/datacamp_projection/labelled_validation.csv"))
        .arg(fixture("tracee/classic-json-example.jsonl"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    // MANIFEST.md: 100 rows, 13 sus, 4 evil.
    assert_eq!(lines[0]["schema"], "raw");
    assert_eq!(lines[0]["rows"], 100);
    assert_eq!(lines[0]["sus"], 13);
    assert_eq!(lines[0]["evil"], 4);
    assert_eq!(lines[1]["schema"], "datacamp");
    assert_eq!(lines[1]["sus"], 4);
    assert!(lines[1]["evil"].is_null());
    assert_eq!(lines[2]["schema"], "tracee");
    assert!(lines[2]["sus"].is_null());
    assert_eq!(lines[2]["rows"], 1);
}

#[test]
fn inspect_bad_input_exits_1_with_the_error_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(
        &path,
        "processId,threadId,parentProcessId,userId,mountNamespace,argsNum,returnValue,sus_label\n1,2,x,4,5,6,7,0\n",
    )
    .unwrap();
    let out = bin().arg("inspect").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("bad.csv: line 2") && err.contains("parentProcessId"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn synth_writes_the_kaggle_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["synth", "--scale", "0.001", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SYNTHETIC"));
    for name in [
        "labelled_training_data.csv",
        "labelled_validation_data.csv",
        "labelled_testing_data.csv",
    ] {
        assert!(dir.path().join(name).is_file(), "{name}");
    }
    let bad = bin()
        .args(["synth", "--scale", "0", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
}
