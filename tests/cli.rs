//! The command line, run as a user runs it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::assert_success;

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
    assert_success(&out);
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

/// Trains a small detector once for the tests below that need one.
fn trained_detector() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = bin()
            .args([
                "train",
                "--synthetic",
                "--scale",
                "0.01",
                "--epochs",
                "2",
                "--json",
                "--out",
            ])
            .arg(dir.path().join("model"))
            .output()
            .unwrap();
        assert_success(&out);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["synthetic"], true);
        // 188,967 × 0.01 rows in validation and test (published sizes).
        assert_eq!(report["validation"]["rows"], 1890);
        assert_eq!(report["test"]["rows"], 1890);
        assert!(String::from_utf8_lossy(&out.stderr).contains("SYNTHETIC"));
        dir
    })
    .path()
}

#[test]
fn train_writes_a_complete_detector_directory() {
    let model = trained_detector().join("model");
    for file in [
        "detector.json",
        "model.safetensors",
        "validation_report.json",
        "test_report.json",
        "history.json",
        "training_curves.png",
    ] {
        assert!(model.join(file).is_file(), "{file}");
    }
    assert!(model.join("training/checkpoint").is_dir());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("test_report.json")).unwrap()).unwrap();
    assert_eq!(
        report["confusion"]["tp"].as_u64().unwrap() + report["confusion"]["fn"].as_u64().unwrap(),
        report["positives"].as_u64().unwrap()
    );
}

#[test]
fn eval_reports_on_a_real_file() {
    let out = bin()
        .args(["eval", "--json", "--model"])
        .arg(trained_detector().join("model"))
        .arg("--data")
        .arg(fixture(
            "beth/Jotishyadav29_BethSecure/labelled_testing_data.csv",
        ))
        .output()
        .unwrap();
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // MANIFEST.md: 100 rows, 13 sus.
    assert_eq!(report["rows"], 100);
    assert_eq!(report["positives"], 13);
    assert!(String::from_utf8_lossy(&out.stderr).contains("SYNTHETIC"));
}

#[test]
fn eval_plots_writes_three_pngs_per_split() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["eval", "--model"])
        .arg(trained_detector().join("model"))
        .arg("--data")
        .arg(fixture("beth/datacamp_projection"))
        .arg("--plots")
        .arg(dir.path().join("plots"))
        .output()
        .unwrap();
    assert_success(&out);
    for split in ["validation", "test"] {
        for name in ["roc.png", "precision_recall.png", "score_histogram.png"] {
            let png = std::fs::read(dir.path().join("plots").join(split).join(name)).unwrap();
            assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{split}/{name}");
        }
    }
}

#[test]
fn score_appends_score_and_prediction_to_every_row() {
    let input = fixture("beth/Jotishyadav29_BethSecure/labelled_testing_data.csv");
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("scored.csv");
    let out = bin()
        .args(["score", "--model"])
        .arg(trained_detector().join("model"))
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .output()
        .unwrap();
    assert_success(&out);
    let original = std::fs::read_to_string(&input).unwrap();
    let scored = std::fs::read_to_string(&output).unwrap();
    let original: Vec<&str> = original.lines().collect();
    let scored: Vec<&str> = scored.lines().collect();
    assert_eq!(scored.len(), 101);
    assert_eq!(
        scored[0],
        format!("{},score,prediction", original[0].trim_end_matches('\r'))
    );
    for (o, s) in original[1..].iter().zip(&scored[1..]) {
        let o = o.trim_end_matches('\r');
        assert!(s.starts_with(o), "{s}");
        let tail: Vec<&str> = s[o.len() + 1..].split(',').collect();
        let score: f64 = tail[0].parse().unwrap();
        assert!((0.0..=1.0).contains(&score));
        assert!(tail[1] == "0" || tail[1] == "1");
    }
}

#[test]
fn score_stops_at_a_bad_line_and_leaves_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.csv");
    let real =
        std::fs::read_to_string(fixture("beth/datacamp_projection/labelled_test.csv")).unwrap();
    let mut lines: Vec<String> = real.lines().map(str::to_string).collect();
    lines[50] = "1,2,3,4,5,6,not-a-number,0".into();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let output = dir.path().join("scored.csv");
    let out = bin()
        .args(["score", "--model"])
        .arg(trained_detector().join("model"))
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("events.csv: line 51") && err.contains("returnValue"),
        "{err}"
    );
    assert!(!output.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
}

#[test]
fn training_on_a_label_the_files_lack_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["train", "--label", "evil", "--epochs", "1", "--data"])
        .arg(fixture("beth/datacamp_projection"))
        .arg("--out")
        .arg(dir.path().join("m"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`evil`") && err.contains("datacamp"), "{err}");
    assert!(!dir.path().join("m").exists());
    let usage = bin().args(["train", "--out", "x"]).output().unwrap();
    assert_eq!(
        usage.status.code(),
        Some(2),
        "missing --data/--synthetic is a usage error"
    );
}

/// `score` with the test detector, reading standard input, every stream piped.
fn score_stdin(extra: &[&str]) -> Command {
    let mut command = bin();
    command
        .arg("score")
        .arg("--model")
        .arg(trained_detector().join("model"))
        .args(extra)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

#[test]
fn score_reads_standard_input_and_writes_only_alerts() {
    use std::io::Write as _;
    let input = std::fs::read(fixture(
        "beth/Jotishyadav29_BethSecure/labelled_testing_data.csv",
    ))
    .unwrap();
    let run = |extra: &[&str]| {
        let mut child = score_stdin(extra).spawn().unwrap();
        child.stdin.take().unwrap().write_all(&input).unwrap();
        child.wait_with_output().unwrap()
    };
    let all = run(&[]);
    assert_success(&all);
    let all_rows: Vec<String> = String::from_utf8(all.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(String::from)
        .collect();
    assert_eq!(all_rows.len(), 100);
    let stderr = String::from_utf8_lossy(&all.stderr);
    assert!(
        stderr.contains("100 events") && stderr.contains("0 bad lines skipped"),
        "{stderr}"
    );
    let alerts = run(&["--only-alerts"]);
    let alert_rows: Vec<String> = String::from_utf8(alerts.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(String::from)
        .collect();
    let expected: Vec<&String> = all_rows.iter().filter(|r| r.ends_with(",1")).collect();
    assert_eq!(alert_rows.iter().collect::<Vec<_>>(), expected);
}

#[test]
fn score_skip_bad_counts_and_reports_the_lines() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.csv");
    let real =
        std::fs::read_to_string(fixture("beth/datacamp_projection/labelled_test.csv")).unwrap();
    let mut lines: Vec<String> = real.lines().map(str::to_string).collect();
    lines[10] = "1,2,3,4,5,6,x,0".into(); // line 11
    lines[20] = "1,2,3".into(); // line 21
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = bin()
        .args(["score", "--skip-bad", "--model"])
        .arg(trained_detector().join("model"))
        .arg(&input)
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().lines().count(),
        1 + 98
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("98 events") && err.contains("2 bad lines skipped"),
        "{err}"
    );
    assert!(
        err.contains("skipped line 11") && err.contains("skipped line 21"),
        "{err}"
    );
    let wrong = bin()
        .args(["score", "--format", "tracee-json", "--model"])
        .arg(trained_detector().join("model"))
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
}

/// Starts `score` reading a pipe and returns the child, its stdin, and a channel of its output
/// lines (read on a thread, so the test can wait for a line with a deadline).
fn live_scorer(
    extra: &[&str],
) -> (
    std::process::Child,
    std::process::ChildStdin,
    std::sync::mpsc::Receiver<String>,
) {
    use std::io::BufRead as _;
    let mut child = score_stdin(extra).spawn().unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    (child, stdin, rx)
}

const LIVE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

#[test]
fn score_writes_each_event_of_a_slow_pipe_before_the_pipe_closes() {
    use std::io::Write as _;
    let sample = std::fs::read_to_string(fixture(
        "beth/Jotishyadav29_BethSecure/labelled_testing_data.csv",
    ))
    .unwrap();
    let lines: Vec<&str> = sample.lines().collect();
    // The default batch is 8,192 events: without the flush on a pause, nothing below would be
    // written until the pipe closed.
    let (mut child, mut stdin, output) = live_scorer(&[]);
    writeln!(stdin, "{}", lines[0]).unwrap();
    for row in &lines[1..4] {
        writeln!(stdin, "{row}").unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let header = output.recv_timeout(LIVE_DEADLINE).expect("header written");
    assert_eq!(header, format!("{},score,prediction", lines[0]));
    for row in &lines[1..4] {
        let scored = output
            .recv_timeout(LIVE_DEADLINE)
            .expect("a scored row before the pipe closes");
        assert!(scored.starts_with(row), "{scored}");
        let mut tail = scored.rsplitn(3, ',');
        let prediction = tail.next().unwrap();
        let score: f32 = tail.next().unwrap().parse().unwrap();
        assert!(
            (0.0..=1.0).contains(&score) && ["0", "1"].contains(&prediction),
            "{scored}"
        );
    }
    // Still open: the process is alive and waiting for more.
    assert!(child.try_wait().unwrap().is_none());
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success());
}

#[test]
fn score_writes_live_tracee_events_as_they_arrive() {
    let event = std::fs::read_to_string(fixture("tracee/classic-json-example.jsonl")).unwrap();
    let event = event.trim_end();
    // Named, and detected from the first line on a pipe.
    for extra in [&["--format", "tracee-json"][..], &[]] {
        live_tracee(event, extra);
    }
}

fn live_tracee(event: &str, extra: &[&str]) {
    use std::io::Write as _;
    let (mut child, mut stdin, output) = live_scorer(extra);
    for _ in 0..2 {
        writeln!(stdin, "{event}").unwrap();
        stdin.flush().unwrap();
        let scored = output
            .recv_timeout(LIVE_DEADLINE)
            .expect("a scored event before the pipe closes");
        let scored: serde_json::Value = serde_json::from_str(&scored).unwrap();
        let original: serde_json::Value = serde_json::from_str(event).unwrap();
        // The original object, every field kept, plus score and prediction.
        for (key, value) in original.as_object().unwrap() {
            assert_eq!(&scored[key], value, "{key}");
        }
        assert!((0.0..=1.0).contains(&scored["score"].as_f64().unwrap()));
        assert!(scored["prediction"] == 0 || scored["prediction"] == 1);
        assert!(child.try_wait().unwrap().is_none());
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

/// Runs `score` on `input` with extra arguments; returns (exit code, stdout, stderr).
fn score_file(input: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = bin()
        .arg("score")
        .arg("--model")
        .arg(trained_detector().join("model"))
        .args(extra)
        .arg(input)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn score_reads_every_input_format_real_and_synthetic() {
    let synthetic = tempfile::tempdir().unwrap();
    for schema in ["raw", "datacamp"] {
        let out = bin()
            .args(["synth", "--scale", "0.0005", "--schema", schema, "--out"])
            .arg(synthetic.path().join(schema))
            .output()
            .unwrap();
        assert_success(&out);
    }
    // (file, --format, data rows: MANIFEST.md for the real samples, the published validation
    // size × 0.0005 rounded for the synthetic ones).
    let cases = [
        (
            fixture("beth/Jotishyadav29_BethSecure/labelled_testing_data.csv"),
            "raw",
            100,
        ),
        (
            fixture("beth/Fabio4651_BETH/labelled_training_data.csv"),
            "raw",
            19,
        ),
        (
            fixture("beth/datacamp_projection/labelled_test.csv"),
            "datacamp",
            100,
        ),
        (
            fixture("tracee/classic-json-example.jsonl"),
            "tracee-json",
            1,
        ),
        (
            synthetic.path().join("raw/labelled_validation_data.csv"),
            "raw",
            94,
        ),
        (
            synthetic.path().join("datacamp/labelled_validation.csv"),
            "datacamp",
            94,
        ),
    ];
    for (input, format, rows) in &cases {
        let name = input.display();
        let (code, auto, err) = score_file(input, &[]);
        assert_eq!(code, Some(0), "{name}: {err}");
        let (code, named, _) = score_file(input, &["--format", format]);
        assert_eq!(code, Some(0), "{name}");
        assert_eq!(auto, named, "{name}: auto-detection reads it as {format}");
        let (code, jsonl, _) = score_file(input, &["--output-format", "jsonl"]);
        assert_eq!(code, Some(0), "{name}");
        let objects: Vec<serde_json::Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(objects.len(), *rows, "{name}");
        if *format != "tracee-json" {
            // CSV: a header, then one row per event, whose score matches the JSON object's.
            let csv_rows: Vec<&str> = auto.lines().skip(1).collect();
            assert_eq!(csv_rows.len(), *rows, "{name}");
            for (row, object) in csv_rows.iter().zip(&objects) {
                let score: f64 = row.rsplit(',').nth(1).unwrap().parse().unwrap();
                assert_eq!(object["score"].as_f64().unwrap(), score, "{name}");
            }
        }
        // Any other format is refused, naming what the file is.
        let other = if *format == "raw" { "datacamp" } else { "raw" };
        let (code, out, err) = score_file(input, &["--format", other]);
        assert_eq!(code, Some(1), "{name}");
        assert!(
            out.is_empty() && err.contains(&format!("not {other}")),
            "{err}"
        );
    }
    // Host files lack columns every feature set needs: a clear error, not a guess.
    let host = fixture("beth/Jotishyadav29_BethSecure/labelled_2021may-ubuntu.csv");
    let (code, out, err) = score_file(&host, &["--format", "host"]);
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
    assert!(err.contains("needs column `threadId`"), "{err}");
}

#[test]
fn score_json_summary_counts_events_and_alerts() {
    let input = fixture("beth/Jotishyadav29_BethSecure/labelled_testing_data.csv");
    let (code, out, err) = score_file(&input, &["--json"]);
    assert_eq!(code, Some(0), "{err}");
    let summary: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    let alerts = out.lines().skip(1).filter(|r| r.ends_with(",1")).count();
    assert_eq!(summary["events"], 100);
    assert_eq!(summary["alerts"], alerts);
    assert_eq!(summary["skipped"], 0);
}

#[test]
fn completions_are_generated_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef beth-detect"),
        ("fish", "complete -c beth-detect"),
    ] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert_success(&out);
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}");
        for command in ["score", "train", "eval", "inspect", "only-alerts"] {
            assert!(script.contains(command), "{shell}: {command}");
        }
    }
    let usage = bin().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn every_command_help_shows_an_example() {
    for command in [
        "inspect",
        "train",
        "eval",
        "score",
        "import-torch",
        "export",
        "synth",
        "completions",
    ] {
        let out = bin().args([command, "--help"]).output().unwrap();
        assert_success(&out);
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(
            help.contains(&format!("Example: beth-detect {command}")),
            "{command}"
        );
    }
}

#[cfg(unix)]
#[test]
fn score_output_to_a_device_writes_through_it_instead_of_replacing_it() {
    use std::os::unix::fs::FileTypeExt as _;
    let input = fixture("beth/Fabio4651_BETH/labelled_training_data.csv");
    let (code, _, err) = score_file(&input, &["--output", "/dev/null"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("19 events"), "{err}");
    let null = std::fs::metadata("/dev/null").unwrap();
    assert!(null.file_type().is_char_device());
}

/// `script` (util-linux) runs the command on a pseudo-terminal: the progress bar must show
/// there, and only there.
#[cfg(target_os = "linux")]
#[test]
fn score_draws_a_progress_bar_only_on_a_terminal() {
    let input = fixture("beth/Jotishyadav29_BethSecure/labelled_testing_data.csv");
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("scored.csv");
    let command = format!(
        "{} score --model {} {} --output {}",
        env!("CARGO_BIN_EXE_beth-detect"),
        trained_detector().join("model").display(),
        input.display(),
        output.display()
    );
    let on_terminal = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("util-linux `script` runs the command on a pseudo-terminal");
    assert_success(&on_terminal);
    let screen = String::from_utf8_lossy(&on_terminal.stdout);
    // The bar counts the file's bytes: 25,133 (MANIFEST.md) = 24.54 KiB.
    assert!(screen.contains("24.54 KiB/24.54 KiB"), "{screen}");
    assert!(screen.contains("100 events"), "{screen}");

    let (code, _, err) = score_file(&input, &["--output", output.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert!(!err.contains("KiB"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn score_into_a_pipe_closed_early_ends_quietly() {
    use std::io::BufRead as _;
    let data = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["synth", "--scale", "0.03", "--out"])
        .arg(data.path())
        .output()
        .unwrap();
    assert_success(&out);
    // ~23,000 rows, ~6 MB of output: far more than a pipe holds, so the writer meets the
    // closed pipe.
    let mut child = bin()
        .arg("score")
        .arg("--model")
        .arg(trained_detector().join("model"))
        .arg(data.path().join("labelled_training_data.csv"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut header = String::new();
    stdout.read_line(&mut header).unwrap();
    assert!(header.ends_with(",score,prediction\n"));
    drop(stdout); // what `| head -1` does
    let out = child.wait_with_output().unwrap();
    assert_success(&out);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Tracee event in the nested structure of Tracee's main branch (hand-built, see
/// tests/data.rs) is refused by `score` with one line naming what it lacks, also when the
/// format is detected.
#[test]
fn score_refuses_tracee_nested_events_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::fixture_detector(env!("CARGO_BIN_EXE_beth-detect"), dir.path());
    let input = dir.path().join("nested.jsonl");
    std::fs::write(
        &input,
        r#"{"timestamp":"2025-12-01T10:00:00Z","id":257,"name":"openat","workload":{"process":{"pid":1,"thread":{"tid":1},"real_user":{"id":0}}},"data":[{"name":"returnValue","int64":3}]}
"#,
    )
    .unwrap();
    for format in ["auto", "tracee-json"] {
        let out = bin()
            .args(["score", "--format", format, "--model"])
            .arg(&model)
            .arg(&input)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("`mountNamespace`") && stderr.contains("`argsNum`"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}
