//! Peak memory of the command line on inputs that would be large in memory. A test binary of
//! its own: a child's peak RSS as wait4(2) reports it includes its parent's at the moment of
//! spawning, so the parent must stay small (no other test allocating beside it).
#![cfg(target_os = "linux")]

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

/// Waits for `child` and returns its exit code and peak resident memory in KiB.
fn wait_with_peak_rss(child: std::process::Child) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: rusage is plain data, and the pid is our own child, not yet reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

#[test]
fn a_100_mb_line_is_never_held_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(file, "timestamp,processId,threadId,parentProcessId,userId,mountNamespace,processName,hostName,eventId,eventName,stackAddresses,argsNum,returnValue,args,sus,evil").unwrap();
    writeln!(
        file,
        "1.5,1,1,0,0,4026531840,sh,host,257,openat,\"[1]\",1,0,\"[]\",0,0"
    )
    .unwrap();
    write!(
        file,
        "2.5,1,1,0,0,4026531840,sh,host,257,openat,\"[1]\",1,0,\""
    )
    .unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        file.write_all(&chunk).unwrap();
    }
    writeln!(file, "\",0,0").unwrap();
    drop(file);
    for command in ["inspect", "score"] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_beth-detect"));
        cmd.arg(command);
        if command == "score" {
            // Any detector will do: the schema check comes first, then the long line.
            let model = dir.path().join("detector");
            if !model.exists() {
                common::fixture_detector(env!("CARGO_BIN_EXE_beth-detect"), dir.path());
            }
            cmd.arg("--model")
                .arg(&model)
                .arg("--output")
                .arg(dir.path().join("out.csv"));
        }
        let child = cmd
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (status, peak_kib) = wait_with_peak_rss(child);
        assert_eq!(status, 1, "{command}");
        eprintln!("{command}: peak {peak_kib} KiB");
        assert!(
            peak_kib < 64 * 1024,
            "{command}: peak RSS {} MiB for a 100 MiB line",
            peak_kib / 1024
        );
    }
}
