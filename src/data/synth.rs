//! Synthetic BETH: the embedded default for the examples and the full-size benchmarks.
//!
//! The real splits cannot be bundled (hundreds of MB, Kaggle's terms), so this generator writes
//! files that have their shape: the published split sizes and label mix (BETH paper, Tables 1,
//! 3 and 4), field values modelled on the real head samples (system daemons with their real
//! user ids and mount namespaces, real syscall `eventId`/`eventName` pairs with their
//! `argsNum`, errno-style negative return values, plausible `stackAddresses` and `args` text).
//! Suspicious events are drawn from shifted but overlapping distributions, so a good model does
//! well but not perfectly.
//!
//! **Anything measured on these files is a measurement on synthetic data**, not a statement
//! about real-world detection quality.
//!
//! Output is a pure function of `(scale, seed)`: the generator uses its own xoshiro256++
//! stream, not a library RNG whose sequence could change between versions.
//!
//! ```
//! use beth_detect::data::synth::{SynthConfig, SynthSplit, generate};
//!
//! let config = SynthConfig::new().with_scale(0.001);
//! let train = generate(SynthSplit::Training, &config)?;
//! assert_eq!(train.len(), 763); // 763,144 × 0.001, rounded
//! assert_eq!(train.positives(), 1); // 1,269 sus × 0.001, rounded
//! # Ok::<(), beth_detect::Error>(())
//! ```

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::dataset::BethDataset;
use super::reader::BethEvent;
use super::rng::Rng;
use super::schema::HOST_MOUNT_NAMESPACE;
use super::schema::Schema;
use super::splits::{BethSplits, DATACAMP_SPLIT_NAMES, KAGGLE_SPLIT_NAMES};
use crate::error::{Error, Result};

/// Knobs of the generator. Validated when used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SynthConfig {
    /// Fraction of the published split sizes (1.0 = 763,144 / 188,967 / 188,967 rows).
    pub scale: f64,
    /// Seed of the generator.
    pub seed: u64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            scale: 1.0,
            seed: 42,
        }
    }
}

impl SynthConfig {
    /// Full size, seed 42.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the scale.
    pub fn with_scale(mut self, scale: f64) -> Self {
        self.scale = scale;
        self
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    fn validate(&self) -> Result<()> {
        if !(self.scale.is_finite() && self.scale > 0.0 && self.scale <= 100.0) {
            return Err(Error::InvalidConfig {
                name: "synthetic scale",
                expected: "a number in (0, 100]",
                found: self.scale.to_string(),
            });
        }
        Ok(())
    }
}

/// One of the three BETH splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SynthSplit {
    /// `labelled_training_data.csv`.
    Training,
    /// `labelled_validation_data.csv`.
    Validation,
    /// `labelled_testing_data.csv`.
    Testing,
}

/// Published composition of a split (BETH paper, Tables 1, 3, 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedSplit {
    /// Rows.
    pub rows: usize,
    /// Rows with `sus = 1, evil = 0`.
    pub sus_only: usize,
    /// Rows with `sus = 1, evil = 1`.
    pub evil: usize,
}

impl SynthSplit {
    /// The three splits in order.
    pub const ALL: [SynthSplit; 3] = [
        SynthSplit::Training,
        SynthSplit::Validation,
        SynthSplit::Testing,
    ];

    /// The published composition of the real split.
    pub const fn published(self) -> PublishedSplit {
        match self {
            SynthSplit::Training => PublishedSplit {
                rows: 763_144,
                sus_only: 1_269,
                evil: 0,
            },
            SynthSplit::Validation => PublishedSplit {
                rows: 188_967,
                sus_only: 786,
                evil: 0,
            },
            SynthSplit::Testing => PublishedSplit {
                rows: 188_967,
                sus_only: 13_027,
                evil: 158_432,
            },
        }
    }

    fn index(self) -> usize {
        match self {
            SynthSplit::Training => 0,
            SynthSplit::Validation => 1,
            SynthSplit::Testing => 2,
        }
    }

    fn hosts(self) -> &'static [&'static str] {
        match self {
            SynthSplit::Training => &[
                "ip-10-100-1-120",
                "ip-10-100-1-173",
                "ip-10-100-1-28",
                "ip-10-100-1-34",
                "ip-10-100-1-55",
                "ip-10-100-1-57",
                "ip-10-100-1-79",
                "ip-10-100-1-92",
            ],
            SynthSplit::Validation => &[
                "ip-10-100-1-129",
                "ip-10-100-1-165",
                "ip-10-100-1-186",
                "ip-10-100-1-4",
            ],
            SynthSplit::Testing => &["ip-10-100-1-217"],
        }
    }

    /// Row and label counts at a scale: each published count × scale, rounded (at least one
    /// row).
    pub fn counts(self, scale: f64) -> PublishedSplit {
        let p = self.published();
        let r = |n: usize| (n as f64 * scale).round() as usize;
        let rows = r(p.rows).max(1);
        let evil = r(p.evil).min(rows);
        let sus_only = r(p.sus_only).min(rows - evil);
        PublishedSplit {
            rows,
            sus_only,
            evil,
        }
    }
}

/// A syscall or LSM event: `eventId`, `eventName`, its argument names and types.
struct Syscall {
    id: u32,
    name: &'static str,
    args: &'static [(&'static str, &'static str)],
    /// How the return value is drawn.
    returns: Returns,
}

#[derive(Clone, Copy)]
enum Returns {
    Zero,
    /// A file descriptor, or `-errno` with some probability.
    Fd,
    /// A byte count.
    Bytes,
    /// A child pid.
    Pid,
    /// 0, or `-errno`.
    ZeroOrErrno,
}

const FSTAT: Syscall = Syscall {
    id: 5,
    name: "fstat",
    args: &[("fd", "int"), ("statbuf", "struct stat*")],
    returns: Returns::Zero,
};
const CLOSE: Syscall = Syscall {
    id: 3,
    name: "close",
    args: &[("fd", "int")],
    returns: Returns::Zero,
};
const FILE_OPEN: Syscall = Syscall {
    id: 1005,
    name: "security_file_open",
    args: &[
        ("pathname", "const char*"),
        ("flags", "unsigned long"),
        ("dev", "dev_t"),
        ("inode", "unsigned long"),
    ],
    returns: Returns::Zero,
};
const OPENAT: Syscall = Syscall {
    id: 257,
    name: "openat",
    args: &[
        ("dirfd", "int"),
        ("pathname", "const char*"),
        ("flags", "int"),
        ("mode", "mode_t"),
    ],
    returns: Returns::Fd,
};
const STAT: Syscall = Syscall {
    id: 4,
    name: "stat",
    args: &[("pathname", "const char*"), ("statbuf", "struct stat*")],
    returns: Returns::ZeroOrErrno,
};
const CAP_CAPABLE: Syscall = Syscall {
    id: 1003,
    name: "cap_capable",
    args: &[("cap", "int")],
    returns: Returns::Zero,
};
const PROCESS_EXIT: Syscall = Syscall {
    id: 1010,
    name: "sched_process_exit",
    args: &[],
    returns: Returns::Zero,
};
const ACCESS: Syscall = Syscall {
    id: 21,
    name: "access",
    args: &[("pathname", "const char*"), ("mode", "int")],
    returns: Returns::ZeroOrErrno,
};
const PRCTL: Syscall = Syscall {
    id: 157,
    name: "prctl",
    args: &[
        ("option", "int"),
        ("arg2", "unsigned long"),
        ("arg3", "unsigned long"),
        ("arg4", "unsigned long"),
        ("arg5", "unsigned long"),
    ],
    returns: Returns::Zero,
};
const GETDENTS: Syscall = Syscall {
    id: 217,
    name: "getdents64",
    args: &[
        ("fd", "int"),
        ("dirp", "struct linux_dirent64*"),
        ("count", "unsigned int"),
    ],
    returns: Returns::Bytes,
};
const SOCKET: Syscall = Syscall {
    id: 41,
    name: "socket",
    args: &[("domain", "int"), ("type", "int"), ("protocol", "int")],
    returns: Returns::Fd,
};
const CONNECT: Syscall = Syscall {
    id: 42,
    name: "connect",
    args: &[
        ("sockfd", "int"),
        ("addr", "struct sockaddr*"),
        ("addrlen", "int"),
    ],
    returns: Returns::ZeroOrErrno,
};
const SETREUID: Syscall = Syscall {
    id: 113,
    name: "setreuid",
    args: &[("ruid", "uid_t"), ("euid", "uid_t")],
    returns: Returns::Zero,
};
const SETREGID: Syscall = Syscall {
    id: 114,
    name: "setregid",
    args: &[("rgid", "gid_t"), ("egid", "gid_t")],
    returns: Returns::Zero,
};
const CLONE: Syscall = Syscall {
    id: 56,
    name: "clone",
    args: &[
        ("flags", "unsigned long"),
        ("stack", "void*"),
        ("parent_tid", "int*"),
        ("child_tid", "int*"),
        ("tls", "unsigned long"),
    ],
    returns: Returns::Pid,
};
const EXECVE: Syscall = Syscall {
    id: 59,
    name: "execve",
    args: &[("pathname", "const char*"), ("argv", "const char*const*")],
    returns: Returns::Zero,
};
const BPRM_CHECK: Syscall = Syscall {
    id: 1004,
    name: "security_bprm_check",
    args: &[
        ("pathname", "const char*"),
        ("dev", "dev_t"),
        ("inode", "unsigned long"),
    ],
    returns: Returns::Zero,
};
const INODE_UNLINK: Syscall = Syscall {
    id: 1006,
    name: "security_inode_unlink",
    args: &[("pathname", "const char*")],
    returns: Returns::Zero,
};
const UNLINK: Syscall = Syscall {
    id: 87,
    name: "unlink",
    args: &[("pathname", "const char*")],
    returns: Returns::ZeroOrErrno,
};
const KILL: Syscall = Syscall {
    id: 62,
    name: "kill",
    args: &[("pid", "pid_t"), ("sig", "int")],
    returns: Returns::ZeroOrErrno,
};

/// Daemons' event mix: mostly file and socket housekeeping.
const BENIGN_EVENTS: &[(&Syscall, u32)] = &[
    (&FSTAT, 20),
    (&CLOSE, 22),
    (&FILE_OPEN, 18),
    (&OPENAT, 18),
    (&SOCKET, 8),
    (&STAT, 5),
    (&CAP_CAPABLE, 3),
    (&ACCESS, 2),
    (&GETDENTS, 2),
    (&PROCESS_EXIT, 1),
    (&CONNECT, 1),
];
/// Interactive sessions and scripts: process creation, probing, privilege changes.
const SUSPICIOUS_EVENTS: &[(&Syscall, u32)] = &[
    (&CLOSE, 14),
    (&FSTAT, 10),
    (&OPENAT, 12),
    (&FILE_OPEN, 10),
    (&STAT, 8),
    (&ACCESS, 7),
    (&PROCESS_EXIT, 6),
    (&PRCTL, 4),
    (&GETDENTS, 5),
    (&EXECVE, 5),
    (&CLONE, 5),
    (&BPRM_CHECK, 3),
    (&SETREUID, 3),
    (&SETREGID, 3),
    (&CAP_CAPABLE, 4),
    (&UNLINK, 2),
    (&INODE_UNLINK, 2),
    (&KILL, 1),
    (&CONNECT, 2),
];
/// The attack in the test split: reconnaissance, downloads, persistence, network.
const EVIL_EVENTS: &[(&Syscall, u32)] = &[
    (&OPENAT, 12),
    (&CLOSE, 10),
    (&FSTAT, 6),
    (&FILE_OPEN, 8),
    (&CONNECT, 9),
    (&SOCKET, 8),
    (&EXECVE, 7),
    (&CLONE, 7),
    (&STAT, 6),
    (&ACCESS, 6),
    (&GETDENTS, 5),
    (&KILL, 3),
    (&UNLINK, 3),
    (&PROCESS_EXIT, 4),
    (&SETREUID, 2),
];

/// A process model: who runs, in which namespace, under which parent.
struct Process {
    name: &'static str,
    /// `processId` range.
    pid: (u64, u64),
    /// `parentProcessId`: `None` = a parent drawn from the session range.
    ppid: Option<u32>,
    /// `userId` choices.
    uids: &'static [(u32, u32)],
    mount_namespace: u64,
    /// Probability that `threadId` differs from `processId` (a worker thread).
    threaded: f64,
}

const BENIGN_PROCESSES: &[(Process, u32)] = &[
    (
        Process {
            name: "systemd-resolve",
            pid: (370, 400),
            ppid: Some(1),
            uids: &[(101, 1)],
            mount_namespace: 4026532232,
            threaded: 0.0,
        },
        30,
    ),
    (
        Process {
            name: "systemd-network",
            pid: (360, 390),
            ppid: Some(1),
            uids: &[(100, 1)],
            mount_namespace: 4026532231,
            threaded: 0.0,
        },
        8,
    ),
    (
        Process {
            name: "systemd-journal",
            pid: (150, 260),
            ppid: Some(1),
            uids: &[(0, 1)],
            mount_namespace: 4026532198,
            threaded: 0.0,
        },
        14,
    ),
    (
        Process {
            name: "systemd",
            pid: (1, 1),
            ppid: Some(0),
            uids: &[(0, 1)],
            mount_namespace: HOST_MOUNT_NAMESPACE,
            threaded: 0.0,
        },
        12,
    ),
    (
        Process {
            name: "amazon-ssm-agen",
            pid: (500, 700),
            ppid: Some(1),
            uids: &[(0, 1)],
            mount_namespace: HOST_MOUNT_NAMESPACE,
            threaded: 0.8,
        },
        12,
    ),
    (
        Process {
            name: "systemd-logind",
            pid: (400, 700),
            ppid: Some(1),
            uids: &[(0, 1)],
            mount_namespace: 4026532233,
            threaded: 0.0,
        },
        6,
    ),
    (
        Process {
            name: "sshd",
            pid: (600, 900),
            ppid: Some(1),
            uids: &[(0, 1)],
            mount_namespace: HOST_MOUNT_NAMESPACE,
            threaded: 0.0,
        },
        5,
    ),
    (
        Process {
            name: "cron",
            pid: (500, 700),
            ppid: Some(1),
            uids: &[(0, 1)],
            mount_namespace: HOST_MOUNT_NAMESPACE,
            threaded: 0.0,
        },
        4,
    ),
    (
        Process {
            name: "ps",
            pid: (2000, 60000),
            ppid: None,
            uids: &[(0, 20), (1000, 1)],
            mount_namespace: HOST_MOUNT_NAMESPACE,
            threaded: 0.0,
        },
        3,
    ),
];

const SUSPICIOUS_PROCESSES: &[(Process, u32)] = &[
    (
        Process {
            name: "sh",
            pid: (1000, 60000),
            ppid: None,
            uids: &[(0, 6), (1000, 4)],
            mount_namespace: HOST_MOUNT_NAMESPACE,
            threaded: 0.0,
        },
        30,
    ),
    (
        Process {
            name: "run-parts",
            pid: (1000, 60000),
            ppid: None,
            uids: &[(0, 1)],
            mount_namespace: HOST_MOUNT_NAMESPACE,
            threaded: 0.0,
        },
        20,
    ),
    (
        Process {
            name: "sshd",
            pid: (1000, 60000),
            ppid: None,
            uids: &[(0, 3), (1000, 2)],
            mount_namespace: HOST_MOUNT_NAMESPACE,
            threaded: 0.0,
        },
        15,
    ),
    (
        Process {
            name: "bash",
            pid: (1000, 60000),
            ppid: None,
            uids: &[(1000, 3), (0, 1)],
            mount_namespace: HOST_MOUNT_NAMESPACE,
            threaded: 0.0,
        },
        15,
    ),
    (
        Process {
            name: "atd",
            pid: (700, 900),
            ppid: Some(1),
            uids: &[(0, 1)],
            mount_namespace: HOST_MOUNT_NAMESPACE,
            threaded: 0.0,
        },
        5,
    ),
];

const EVIL_PROCESSES: &[(Process, u32)] = &[
    (
        Process {
            name: "sshd",
            pid: (5000, 90000),
            ppid: None,
            uids: &[(0, 2), (1000, 1)],
            mount_namespace: HOST_MOUNT_NAMESPACE,
            threaded: 0.0,
        },
        20,
    ),
    (
        Process {
            name: "bash",
            pid: (5000, 90000),
            ppid: None,
            uids: &[(1000, 3), (0, 2)],
            mount_namespace: HOST_MOUNT_NAMESPACE,
            threaded: 0.0,
        },
        30,
    ),
    (
        Process {
            name: "wget",
            pid: (5000, 90000),
            ppid: None,
            uids: &[(1000, 1)],
            mount_namespace: HOST_MOUNT_NAMESPACE,
            threaded: 0.0,
        },
        10,
    ),
    (
        Process {
            name: "python3",
            pid: (5000, 90000),
            ppid: None,
            uids: &[(1000, 2), (0, 1)],
            mount_namespace: HOST_MOUNT_NAMESPACE,
            threaded: 0.3,
        },
        20,
    ),
    (
        Process {
            name: "systemd-resolve",
            pid: (370, 400),
            ppid: Some(1),
            uids: &[(101, 1)],
            mount_namespace: 4026532232,
            threaded: 0.0,
        },
        5,
    ),
];

const PATHS: &[&str] = &[
    "/etc/ld.so.cache",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/proc/self/stat",
    "/etc/passwd",
    "/run/systemd/resolve/stub-resolv.conf",
    "/var/log/journal",
    "/usr/bin/python3",
    "/tmp/.X11-unix",
    "/etc/shadow",
    "/home/ubuntu/.ssh/authorized_keys",
    "/proc/384/cgroup",
    "/usr/lib/locale/locale-archive",
];

/// One synthetic record with its text columns.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthRecord {
    /// Seconds since boot.
    pub timestamp: f64,
    /// The numeric fields and labels.
    pub event: BethEvent,
    /// `processName`.
    pub process_name: &'static str,
    /// `hostName`.
    pub host_name: &'static str,
    /// `eventName`.
    pub event_name: &'static str,
    /// `stackAddresses`, formatted as in BETH (`[1, 2, 3]`).
    pub stack_addresses: String,
    /// `args`, formatted as in BETH (a Python list of dicts).
    pub args: String,
}

/// The records of one split, in order; deterministic for a config.
pub struct SynthRecords {
    rng: Rng,
    remaining: usize,
    remaining_evil: usize,
    remaining_sus_only: usize,
    hosts: &'static [&'static str],
    clock: f64,
}

impl SynthRecords {
    /// The record stream of `split`.
    pub fn new(split: SynthSplit, config: &SynthConfig) -> Result<Self> {
        config.validate()?;
        let counts = split.counts(config.scale);
        Ok(SynthRecords {
            rng: Rng::new(config.seed ^ (0xB37E_0000 + split.index() as u64)),
            remaining: counts.rows,
            remaining_evil: counts.evil,
            remaining_sus_only: counts.sus_only,
            hosts: split.hosts(),
            clock: 120.0,
        })
    }
}

impl Iterator for SynthRecords {
    type Item = SynthRecord;

    fn next(&mut self) -> Option<SynthRecord> {
        if self.remaining == 0 {
            return None;
        }
        // Selection sampling: exact label counts, uniformly placed.
        let r = self.rng.range(0, self.remaining as u64 - 1) as usize;
        let (sus, evil) = if r < self.remaining_evil {
            self.remaining_evil -= 1;
            (1, 1)
        } else if r < self.remaining_evil + self.remaining_sus_only {
            self.remaining_sus_only -= 1;
            (1, 0)
        } else {
            (0, 0)
        };
        self.remaining -= 1;
        let rng = &mut self.rng;
        // Overlap: some suspicious events come from ordinary daemons' behaviour and some benign
        // ones look like sessions, so the classes are separable but not perfectly.
        let (processes, events) = match (sus, evil) {
            (_, 1) if rng.chance(0.9) => (EVIL_PROCESSES, EVIL_EVENTS),
            (1, _) if rng.chance(0.85) => (SUSPICIOUS_PROCESSES, SUSPICIOUS_EVENTS),
            (1, _) => (BENIGN_PROCESSES, SUSPICIOUS_EVENTS),
            _ if rng.chance(0.01) => (SUSPICIOUS_PROCESSES, BENIGN_EVENTS),
            _ => (BENIGN_PROCESSES, BENIGN_EVENTS),
        };
        let process = rng.pick(processes);
        let syscall = *rng.pick(events);
        let pid = rng.range(process.pid.0, process.pid.1) as u32;
        let ppid = process
            .ppid
            .unwrap_or_else(|| rng.range(600, pid.max(601) as u64) as u32);
        let thread_id = if rng.chance(process.threaded) {
            pid + rng.range(1, 40) as u32
        } else {
            pid
        };
        let user_id = *rng.pick(process.uids);
        let errno_rate = if sus == 1 { 0.3 } else { 0.05 };
        let return_value = match syscall.returns {
            Returns::Zero => 0,
            Returns::Fd if rng.chance(errno_rate) => -(*rng.pick(&[(2i64, 6), (13, 2), (24, 1)])),
            Returns::Fd => rng.range(3, 40) as i64,
            Returns::Bytes => rng.range(24, 4096) as i64,
            Returns::Pid => rng.range(1000, 90000) as i64,
            Returns::ZeroOrErrno if rng.chance(errno_rate) => {
                -(*rng.pick(&[(2i64, 6), (1, 2), (13, 2), (111, 1), (3, 1)]))
            }
            Returns::ZeroOrErrno => 0,
        };
        self.clock += rng.unit() * 0.002;
        let host_name = self.hosts[rng.range(0, self.hosts.len() as u64 - 1) as usize];
        let frames = rng.range(0, 4);
        let mut stack_addresses = String::from("[");
        for i in 0..frames {
            if i > 0 {
                stack_addresses.push_str(", ");
            }
            let base = if rng.chance(0.6) {
                139_800_000_000_000
            } else {
                93_900_000_000_000
            };
            stack_addresses.push_str(&(base + rng.range(0, 500_000_000_000)).to_string());
        }
        stack_addresses.push(']');
        let mut args = String::from("[");
        for (i, (name, kind)) in syscall.args.iter().enumerate() {
            if i > 0 {
                args.push_str(", ");
            }
            let value = if kind.contains("char*") {
                format!("'{}'", PATHS[rng.range(0, PATHS.len() as u64 - 1) as usize])
            } else if name.contains("flags") {
                "'O_RDONLY|O_CLOEXEC'".to_string()
            } else if *name == "dirfd" {
                "-100".to_string()
            } else {
                rng.range(0, 65535).to_string()
            };
            args.push_str(&format!(
                "{{'name': '{name}', 'type': '{kind}', 'value': {value}}}"
            ));
        }
        args.push(']');
        Some(SynthRecord {
            timestamp: self.clock,
            event: BethEvent {
                process_id: pid,
                thread_id,
                parent_process_id: ppid,
                user_id,
                mount_namespace: process.mount_namespace,
                event_id: syscall.id,
                args_num: syscall.args.len() as u32,
                return_value,
                sus,
                evil,
            },
            process_name: process.name,
            host_name,
            event_name: syscall.name,
            stack_addresses,
            args,
        })
    }
}

/// How the names of generated datasets start: what tells [`is_synthetic`] they are.
const SYNTHETIC_NAME_PREFIX: &str = "<synthetic";

/// The file [`write_splits`] leaves beside the splits it writes, so that whoever trains on the
/// directory later knows (and says) the data is synthetic.
pub const SYNTHETIC_MARKER: &str = "SYNTHETIC.json";

/// The generator's settings recorded in `dir`'s [`SYNTHETIC_MARKER`], if `dir` holds splits
/// written by [`write_splits`] (`"synthetic BETH, scale 0.1, seed 7"`).
pub fn synthetic_marker(dir: &Path) -> Option<String> {
    let bytes = std::fs::read(dir.join(SYNTHETIC_MARKER)).ok()?;
    let marker: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(format!(
        "synthetic BETH, scale {}, seed {}",
        marker.get("scale")?,
        marker.get("seed")?
    ))
}

/// Whether a dataset came from this generator (rather than from a file).
pub fn is_synthetic(dataset: &BethDataset) -> bool {
    dataset
        .path()
        .to_string_lossy()
        .starts_with(SYNTHETIC_NAME_PREFIX)
}

/// One split, in memory, raw schema (the dataset's name says it is synthetic).
pub fn generate(split: SynthSplit, config: &SynthConfig) -> Result<BethDataset> {
    let records = SynthRecords::new(split, config)?;
    let name = format!(
        "{SYNTHETIC_NAME_PREFIX} {} split, scale {}, seed {}>",
        split_name(split),
        config.scale,
        config.seed
    );
    Ok(BethDataset::from_events(
        name,
        Schema::Raw,
        records.map(|r| r.event),
    ))
}

fn split_name(split: SynthSplit) -> &'static str {
    match split {
        SynthSplit::Training => "training",
        SynthSplit::Validation => "validation",
        SynthSplit::Testing => "testing",
    }
}

/// All three splits, in memory.
pub fn generate_splits(config: &SynthConfig) -> Result<BethSplits> {
    Ok(BethSplits {
        train: generate(SynthSplit::Training, config)?,
        validation: generate(SynthSplit::Validation, config)?,
        test: generate(SynthSplit::Testing, config)?,
        carved: None,
    })
}

/// Writes the three split files into `dir` under the Kaggle names (raw schema) or the
/// DataCamp names; each file is written under a temporary name and renamed when complete.
/// Returns the paths written.
pub fn write_splits(dir: &Path, config: &SynthConfig, schema: Schema) -> Result<Vec<PathBuf>> {
    config.validate()?;
    let names = match schema {
        Schema::Raw => KAGGLE_SPLIT_NAMES,
        Schema::DataCamp => DATACAMP_SPLIT_NAMES,
        other => {
            return Err(Error::InvalidConfig {
                name: "synthetic schema",
                expected: "`raw` or `datacamp`",
                found: other.name().to_string(),
            });
        }
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let marker = dir.join(SYNTHETIC_MARKER);
    let settings = serde_json::json!({
        "generator": "beth-detect synth",
        "synthetic": true,
        "scale": config.scale,
        "seed": config.seed,
        "note": "These splits were generated; quality figures measured on them say nothing about real logs.",
    });
    crate::atomic_files::write_file_atomically(&marker, |out| {
        serde_json::to_writer_pretty(out, &settings).map_err(|source| Error::Json {
            path: marker.clone(),
            source,
        })
    })?;
    let mut written = Vec::new();
    for (split, name) in SynthSplit::ALL.into_iter().zip(names) {
        let path = dir.join(name);
        crate::atomic_files::write_file_atomically(&path, |out| {
            write_split(out, &path, split, config, schema)
        })?;
        written.push(path);
    }
    Ok(written)
}

fn write_split(
    out: impl Write,
    path: &Path,
    split: SynthSplit,
    config: &SynthConfig,
    schema: Schema,
) -> Result<()> {
    let io = |e: std::io::Error| Error::io(path, e);
    let csv_err = |e: csv::Error| Error::io(path, std::io::Error::other(e));
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    let header: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
    w.write_record(&header).map_err(csv_err)?;
    let int = |v: i64| v.to_string();
    for r in SynthRecords::new(split, config)? {
        let e = &r.event;
        if schema == Schema::Raw {
            let ts = format!("{:.6}", r.timestamp);
            w.write_field(&ts).map_err(csv_err)?;
        }
        w.write_field(int(e.process_id as i64)).map_err(csv_err)?;
        w.write_field(int(e.thread_id as i64)).map_err(csv_err)?;
        w.write_field(int(e.parent_process_id as i64))
            .map_err(csv_err)?;
        w.write_field(int(e.user_id as i64)).map_err(csv_err)?;
        w.write_field(int(e.mount_namespace as i64))
            .map_err(csv_err)?;
        if schema == Schema::Raw {
            w.write_field(r.process_name).map_err(csv_err)?;
            w.write_field(r.host_name).map_err(csv_err)?;
            w.write_field(int(e.event_id as i64)).map_err(csv_err)?;
            w.write_field(r.event_name).map_err(csv_err)?;
            w.write_field(&r.stack_addresses).map_err(csv_err)?;
        }
        w.write_field(int(e.args_num as i64)).map_err(csv_err)?;
        w.write_field(int(e.return_value)).map_err(csv_err)?;
        if schema == Schema::Raw {
            w.write_field(&r.args).map_err(csv_err)?;
        }
        w.write_field(int(e.sus as i64)).map_err(csv_err)?;
        if schema == Schema::Raw {
            w.write_field(int(e.evil as i64)).map_err(csv_err)?;
        }
        w.write_record(None::<&[u8]>).map_err(csv_err)?;
    }
    w.into_inner()
        .map_err(|e| io(e.into_error()))?
        .flush()
        .map_err(io)
}
