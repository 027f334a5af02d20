//! Artifacts that cannot lie and runs that cannot differ: a save killed at any moment leaves
//! the old detector or the new one; broken or foreign artifacts are refused by name; the same
//! training run in two processes writes the same bytes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use beth_detect::Error;
use beth_detect::backend::NdArray;
use beth_detect::detector::Detector;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_beth-detect"))
}

fn pytorch_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pytorch")
        .join(name)
}

/// `import-torch` of the fixture model with `threshold`, into `out` (a save, in its own process).
fn import_command(threshold: f64, out: &Path) -> Command {
    let mut command = bin();
    command
        .arg("import-torch")
        .arg(pytorch_fixture("model.pt"))
        .arg("--scaler")
        .arg(pytorch_fixture("scaler.json"))
        .arg("--threshold")
        .arg(threshold.to_string())
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

fn load(dir: &Path) -> Result<Detector<NdArray>, Error> {
    Detector::<NdArray>::load(dir, &Default::default())
}

#[test]
fn a_save_killed_at_any_moment_leaves_the_old_or_the_new_detector() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("detector");
    assert!(import_command(0.5, &dest).status().unwrap().success());
    // Kill saves of two other detectors (thresholds 0.25 and 0.75) after delays that sweep the
    // whole life of the process (about 10–20 ms here), until enough kills have landed while a
    // save was under way (a staging directory is left behind).
    let mut mid_save = 0;
    let mut attempts = 0;
    while mid_save < 5 && attempts < 400 {
        let threshold = if attempts % 2 == 0 { 0.25 } else { 0.75 };
        let delay = Duration::from_micros(250 * (attempts % 80) as u64);
        attempts += 1;
        let mut child = import_command(threshold, &dest).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        let detector = load(&dest).unwrap_or_else(|e| {
            panic!("after a kill at {delay:?}, the detector does not load: {e}")
        });
        assert!(
            [0.5, 0.25, 0.75].contains(&detector.threshold()),
            "{}",
            detector.threshold()
        );
        // What a killed save leaves is only its staging directory, never in `dest`'s place.
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name != "detector" {
                assert!(name.starts_with(".detector.partial-"), "{name}");
                std::fs::remove_dir_all(dir.path().join(&name)).unwrap();
                mid_save += 1;
            }
        }
    }
    assert!(
        mid_save >= 5,
        "only {mid_save} of {attempts} kills landed during a save"
    );
}

/// A copy of a freshly saved detector, with `edit` applied, loaded.
fn load_edited(edit: impl FnOnce(&Path)) -> Error {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("detector");
    assert!(import_command(0.5, &dest).status().unwrap().success());
    load(&dest).expect("the unedited detector loads");
    edit(&dest);
    load(&dest).expect_err("the edited detector must not load")
}

#[test]
fn corrupted_weights_are_caught_by_their_checksum() {
    let e = load_edited(|d| {
        let path = d.join("model.safetensors");
        let mut bytes = std::fs::read(&path).unwrap();
        // One bit of one float: still a valid file, silently different weights without the
        // checksum.
        let at = bytes.len() - 100;
        bytes[at] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
    });
    let message = e.to_string();
    assert!(
        message.contains("model.safetensors") && message.contains("checksum mismatch"),
        "{message}"
    );
}

/// A change made to a saved weights file.
type WeightsEdit = fn(&Path);

#[test]
fn truncated_empty_and_foreign_weights_are_refused() {
    let cases: [(&str, WeightsEdit); 3] = [
        ("truncated", |p| {
            let bytes = std::fs::read(p).unwrap();
            std::fs::write(p, &bytes[..bytes.len() * 2 / 3]).unwrap();
        }),
        ("empty", |p| std::fs::write(p, b"").unwrap()),
        // A random file of the same size renamed into place.
        ("foreign", |p| {
            let len = std::fs::metadata(p).unwrap().len() as usize;
            let noise: Vec<u8> = (0..len).map(|i| (i * 2654435761 % 251) as u8).collect();
            std::fs::write(p, noise).unwrap();
        }),
    ];
    for (case, edit) in cases {
        let e = load_edited(|d| edit(&d.join("model.safetensors")));
        assert!(matches!(e, Error::Artifact { .. }), "{case}: {e}");
        assert!(e.to_string().contains("model.safetensors"), "{case}: {e}");
    }
}

#[test]
fn foreign_empty_newer_and_wrong_width_descriptions_are_refused() {
    let edit_json = |f: fn(serde_json::Value) -> serde_json::Value| {
        move |d: &Path| {
            let path = d.join("detector.json");
            let value: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            std::fs::write(path, serde_json::to_vec(&f(value)).unwrap()).unwrap();
        }
    };
    let e = load_edited(|d| std::fs::write(d.join("detector.json"), b"").unwrap());
    assert!(e.to_string().contains("detector.json"), "{e}");
    // A PNG renamed into place.
    let e = load_edited(|d| {
        std::fs::write(d.join("detector.json"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap()
    });
    assert!(e.to_string().contains("detector.json"), "{e}");
    // Some other program's JSON.
    let e = load_edited(|d| std::fs::write(d.join("detector.json"), br#"{"a": 1}"#).unwrap());
    assert!(e.to_string().contains("found something else"), "{e}");
    let e = load_edited(edit_json(|mut v| {
        v["format_version"] = 4.into();
        v
    }));
    assert!(e.to_string().contains("newer beth-detect"), "{e}");
    let e = load_edited(edit_json(|mut v| {
        v["metadata"]["model"]["hidden1"] = 16.into();
        v
    }));
    assert!(e.to_string().contains("model.safetensors"), "{e}");
    // A width that would need gigabytes is refused before anything that size is allocated.
    let e = load_edited(edit_json(|mut v| {
        v["metadata"]["model"]["hidden1"] = 4_000_000_000u64.into();
        v["metadata"]["model"]["hidden2"] = 4_000_000_000u64.into();
        v
    }));
    assert!(e.to_string().contains("needs at least"), "{e}");
    // A missing directory names itself.
    let e = load(Path::new("/nonexistent/detector")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/detector"), "{e}");
}

#[test]
fn the_same_training_run_in_two_processes_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: u64| -> PathBuf {
        let out = dir.path().join(name);
        let status = bin()
            .args([
                "train",
                "--synthetic",
                "--scale",
                "0.01",
                "--epochs",
                "2",
                "--seed",
            ])
            .arg(seed.to_string())
            .arg("--out")
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        out
    };
    let (a, b) = (run("a", 11), run("b", 11));
    for file in [
        "model.safetensors",
        "detector.json",
        "history.json",
        "validation_report.json",
        "test_report.json",
    ] {
        let (x, y) = (
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
        );
        assert!(x == y, "{file} differs between two identical runs");
    }
    // And the scores they give, written by two more processes.
    let input = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/beth/Jotishyadav29_BethSecure/labelled_testing_data.csv");
    let score = |model: &Path| {
        let out = bin()
            .arg("score")
            .arg("--model")
            .arg(model)
            .arg(&input)
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    };
    assert_eq!(score(&a), score(&b));
    // A different seed is a different run: the comparison above can fail.
    let c = run("c", 12);
    assert_ne!(
        std::fs::read(a.join("model.safetensors")).unwrap(),
        std::fs::read(c.join("model.safetensors")).unwrap()
    );
}

#[test]
fn a_version_1_detector_is_refused_with_what_to_do() {
    let e = load_edited(|d| {
        let path = d.join("detector.json");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("\"format_version\": 3", "\"format_version\": 1"),
        )
        .unwrap();
    });
    assert!(e.to_string().contains("no longer read"), "{e}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_later_save_removes_what_killed_saves_left_but_not_a_running_one() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("detector");
    // Pids above Linux's maximum (2^22) never run; this test's own pid does.
    let abandoned = dir.path().join(".detector.partial-999999999");
    let abandoned_old = dir.path().join(".detector.partial-999999998.old");
    let running = dir
        .path()
        .join(format!(".detector.partial-{}", std::process::id()));
    for d in [&abandoned, &abandoned_old, &running] {
        std::fs::create_dir(d).unwrap();
        std::fs::write(d.join("detector.json"), b"{").unwrap();
    }
    assert!(import_command(0.5, &dest).status().unwrap().success());
    assert!(load(&dest).is_ok());
    assert!(!abandoned.exists() && !abandoned_old.exists());
    assert!(running.exists());
}
