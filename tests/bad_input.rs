//! Bad input, case by case, for every reader (raw, DataCamp, host CSV and Tracee JSON lines),
//! through both library readers (streaming and parallel) and through the command line.
//!
//! Each case either ends in a typed error naming the file and `line N` — the same from both
//! readers; `inspect` exits 1 with that one message; `score --output` exits 1 and leaves no
//! file behind — or, where the input is legal CSV/JSON, is read with the right values.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use beth_detect::Error;
use beth_detect::data::{BethDataset, BethEvent, EventReader, MAX_RECORD_BYTES};

// ---------------------------------------------------------------------------------------------
// Building files of each schema, column by column

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Raw,
    DataCamp,
    Host,
}

const CSV_KINDS: [Kind; 3] = [Kind::Raw, Kind::DataCamp, Kind::Host];

impl Kind {
    /// The columns, in order, as the real files have them (MANIFEST.md).
    fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::Raw => &[
                "timestamp",
                "processId",
                "threadId",
                "parentProcessId",
                "userId",
                "mountNamespace",
                "processName",
                "hostName",
                "eventId",
                "eventName",
                "stackAddresses",
                "argsNum",
                "returnValue",
                "args",
                "sus",
                "evil",
            ],
            Kind::DataCamp => &[
                "processId",
                "threadId",
                "parentProcessId",
                "userId",
                "mountNamespace",
                "argsNum",
                "returnValue",
                "sus_label",
            ],
            Kind::Host => &[
                "timestamp",
                "processId",
                "parentProcessId",
                "userId",
                "processName",
                "hostName",
                "eventId",
                "eventName",
                "argsNum",
                "returnValue",
                "args",
                "sus",
                "evil",
            ],
        }
    }

    fn has(self, column: &str) -> bool {
        self.columns().contains(&column)
    }

    fn header(self) -> String {
        self.columns().join(",")
    }

    /// One record: every column's ordinary value, but for `changes`.
    fn row(self, changes: &[(&str, &str)]) -> String {
        self.columns()
            .iter()
            .map(|c| {
                changes
                    .iter()
                    .find(|(name, _)| name == c)
                    .map_or_else(|| ordinary(c), |(_, v)| v.to_string())
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Header and two ordinary records, then `last` as line 4, each line ended by `\n`.
    fn with_last_row(self, last: &str) -> String {
        format!(
            "{}\n{}\n{}\n{last}\n",
            self.header(),
            self.row(&[]),
            self.row(&[])
        )
    }
}

fn ordinary(column: &str) -> String {
    match column {
        "timestamp" => "125.5",
        "processId" | "threadId" => "191",
        "parentProcessId" => "1",
        "userId" => "0",
        "mountNamespace" => "4026531840",
        "processName" => "systemd-udevd",
        "hostName" => "ubuntu",
        "eventId" => "62",
        "eventName" => "kill",
        "stackAddresses" => "\"[140159195621643, 94656731598592]\"",
        "argsNum" => "2",
        "returnValue" => "-2",
        "args" => "\"[{'name': 'pid', 'type': 'pid_t', 'value': 7280}]\"",
        "sus" | "evil" | "sus_label" => "0",
        other => panic!("no ordinary value for {other}"),
    }
    .to_string()
}

fn tracee_event() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tracee/classic-json-example.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .trim_end()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Running a case through every reader

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_beth-detect"))
}

/// A detector made from the committed PyTorch fixture (no training needed).
fn detector() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = common::fixture_detector(env!("CARGO_BIN_EXE_beth-detect"), dir.path());
        (dir, path)
    });
    path
}

/// `score --model <fixture detector> INPUT --output OUTPUT`.
fn score_to(input: &Path, output: &Path) -> std::process::Output {
    bin()
        .arg("score")
        .arg("--model")
        .arg(detector())
        .arg(input)
        .arg("--output")
        .arg(output)
        .output()
        .unwrap()
}

struct Written {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn write(name: &str, bytes: &[u8]) -> Written {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    Written { _dir: dir, path }
}

fn file_name(kind: Option<Kind>) -> &'static str {
    match kind {
        Some(Kind::Raw) => "raw.csv",
        Some(Kind::DataCamp) => "datacamp.csv",
        Some(Kind::Host) => "host.csv",
        None => "events.jsonl",
    }
}

/// Both library readers on `bytes`: the streaming reader's events (or its first error) and the
/// parallel loader's; they must agree.
fn read_both(name: &str, bytes: &[u8]) -> Result<Vec<BethEvent>, Error> {
    let file = write(name, bytes);
    let streamed: Result<Vec<BethEvent>, Error> =
        EventReader::open(&file.path).and_then(|reader| reader.collect());
    let loaded = BethDataset::open(&file.path);
    match (&streamed, &loaded) {
        (Ok(events), Ok(dataset)) => {
            assert_eq!(events.len(), dataset.len(), "{name}");
            for (i, e) in events.iter().enumerate() {
                assert_eq!(&dataset.event(i), e, "{name}: event {i}");
            }
        }
        // An empty stream is fine for the iterator; the dataset refuses it.
        (Ok(events), Err(e)) => assert!(events.is_empty(), "{name}: loader failed alone: {e}"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{name}"),
        (Err(e), Ok(_)) => panic!("{name}: streaming reader failed alone: {e}"),
    }
    match loaded {
        Ok(_) => streamed,
        Err(e) => Err(e),
    }
}

/// Asserts that `bytes` fail everywhere at `line` with a message holding each of `needles`;
/// returns the library error.
fn fails(kind: Option<Kind>, bytes: &[u8], line: u64, needles: &[&str]) -> Error {
    let name = file_name(kind);
    let error = read_both(name, bytes).expect_err(name);
    let message = error.to_string();
    assert_eq!(error.line(), Some(line), "{message}");
    assert!(
        message.contains(&format!("{name}: line {line}")),
        "{message}"
    );
    for needle in needles {
        assert!(
            message.contains(needle),
            "{name}: {message} lacks {needle:?}"
        );
    }
    cli_fails(kind, bytes, &message);
    error
}

/// The command line on the same bytes: `inspect` and `score --output` exit 1 with the
/// library's message as their one line on stderr, and leave nothing behind.
fn cli_fails(kind: Option<Kind>, bytes: &[u8], message: &str) {
    let name = file_name(kind);
    let file = write(name, bytes);
    let inspect = bin().arg("inspect").arg(&file.path).output().unwrap();
    assert_eq!(inspect.status.code(), Some(1), "{name}");
    assert!(inspect.stdout.is_empty(), "{name}: inspect wrote to stdout");
    let stderr = String::from_utf8(inspect.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    // The same message, but for the directory the file is in.
    let from_name = &message[message.rfind(name).unwrap()..];
    let expected = format!("{}/{from_name}", file.path.parent().unwrap().display());
    assert_eq!(lines, [format!("error: {expected}")], "{name}");

    // Host files cannot be scored at all (no feature set fits them); the others fail on the row.
    // A header with no events is an empty stream to `score`, not an error (a live source may
    // end before its first event): the output is the header, complete.
    if kind == Some(Kind::Host) || error_line_is_end_of_header(message) {
        return;
    }
    let output = file.path.with_file_name("scored.out");
    let score = score_to(&file.path, &output);
    assert_eq!(score.status.code(), Some(1), "{name}");
    let stderr = String::from_utf8(score.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("line "),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(file.path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        [std::ffi::OsString::from(name)],
        "partial output left behind"
    );
}

fn error_line_is_end_of_header(message: &str) -> bool {
    message.contains("found the end of the input")
}

/// Asserts that `bytes` are read, by both readers, as `rows` events; returns them.
fn reads(kind: Option<Kind>, bytes: &[u8], rows: usize) -> Vec<BethEvent> {
    let name = file_name(kind);
    let events = read_both(name, bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(events.len(), rows, "{name}");
    let file = write(name, bytes);
    let inspect = bin().arg("inspect").arg(&file.path).output().unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    events
}

// ---------------------------------------------------------------------------------------------
// The cases, CSV

#[test]
fn empty_file() {
    for kind in [Some(Kind::Raw), None] {
        let e = fails(kind, b"", 1, &["empty"]);
        assert!(matches!(e, Error::EmptyInput { .. }), "{e}");
    }
}

#[test]
fn header_only() {
    for kind in CSV_KINDS {
        let text = format!("{}\n", kind.header());
        let e = fails(Some(kind), text.as_bytes(), 2, &[]);
        assert!(matches!(e, Error::NoRecords { line: 2, .. }), "{e}");
        if kind == Kind::Host {
            continue;
        }
        let file = write(file_name(Some(kind)), text.as_bytes());
        let output = file.path.with_file_name("scored.csv");
        let score = score_to(&file.path, &output);
        assert!(score.status.success());
        assert!(String::from_utf8_lossy(&score.stderr).starts_with("0 events"));
        let scored = std::fs::read_to_string(&output).unwrap();
        assert_eq!(scored, format!("{},score,prediction\n", kind.header()));
    }
}

#[test]
fn unknown_header() {
    for kind in CSV_KINDS {
        let text = kind
            .with_last_row(&kind.row(&[]))
            .replacen("userId", "uid", 1);
        let e = fails(
            Some(kind),
            text.as_bytes(),
            1,
            &["missing columns [userId]", "unexpected columns [uid]"],
        );
        assert!(matches!(e, Error::UnknownHeader { .. }), "{e}");
    }
}

#[test]
fn duplicated_header_column() {
    for kind in CSV_KINDS {
        let text = kind
            .with_last_row(&kind.row(&[]))
            .replacen("parentProcessId", "processId", 1);
        fails(Some(kind), text.as_bytes(), 1, &["processId", "twice"]);
    }
}

#[test]
fn missing_column() {
    for kind in CSV_KINDS {
        let columns: Vec<&str> = kind
            .columns()
            .iter()
            .copied()
            .filter(|&c| c != "returnValue")
            .collect();
        let row: Vec<String> = columns.iter().map(|c| ordinary(c)).collect();
        let text = format!("{}\n{}\n", columns.join(","), row.join(","));
        fails(
            Some(kind),
            text.as_bytes(),
            1,
            &["missing columns [returnValue]"],
        );
    }
}

#[test]
fn extra_columns_are_read_past() {
    // Files as people save them: a pandas index before the columns, a note after, quoted
    // numbers. The extra columns are ignored, and the events equal those of the plain file.
    for kind in CSV_KINDS {
        let plain = kind.with_last_row(&kind.row(&[]));
        let expected = reads(Some(kind), plain.as_bytes(), 3);
        let quoted: Vec<(&str, String)> = ["processId", "parentProcessId", "userId", "returnValue"]
            .into_iter()
            .map(|c| (c, format!("\"{}\"", ordinary(c))))
            .collect();
        let quoted: Vec<(&str, &str)> = quoted.iter().map(|(c, v)| (*c, v.as_str())).collect();
        let quoted_row = kind.row(&quoted);
        let text = format!(
            "index,{},note,note\n0,{},a,b\n1,{},\"c,d\",\n2,{quoted_row},,\n",
            kind.header(),
            kind.row(&[]),
            kind.row(&[])
        );
        let events = reads(Some(kind), text.as_bytes(), 3);
        assert_eq!(events, expected, "{kind:?}");
        let file = write(file_name(Some(kind)), text.as_bytes());
        let d = BethDataset::open(&file.path).unwrap();
        assert_eq!(d.extra_columns(), ["index", "note", "note"], "{kind:?}");
        // A record must still have as many fields as the header.
        let short = format!(
            "index,{}\n0,{}\n{}\n",
            kind.header(),
            kind.row(&[]),
            kind.row(&[])
        );
        fails(Some(kind), short.as_bytes(), 3, &["fields"]);
    }
}

#[test]
fn non_numeric_value() {
    for kind in CSV_KINDS {
        let text = kind.with_last_row(&kind.row(&[("userId", "abc")]));
        let e = fails(Some(kind), text.as_bytes(), 4, &["userId", "\"abc\""]);
        assert!(
            matches!(
                e,
                Error::Field {
                    column: "userId",
                    ..
                }
            ),
            "{e}"
        );
    }
}

#[test]
fn integer_overflow() {
    for kind in CSV_KINDS {
        let pid = "123456789012345678901234567890";
        let text = kind.with_last_row(&kind.row(&[("processId", pid)]));
        fails(
            Some(kind),
            text.as_bytes(),
            4,
            &["processId", "out of range"],
        );
    }
}

#[test]
fn negative_where_unsigned_is_expected() {
    for kind in CSV_KINDS {
        let text = kind.with_last_row(&kind.row(&[("processId", "-5")]));
        fails(Some(kind), text.as_bytes(), 4, &["processId", "negative"]);
    }
}

#[test]
fn nan_inf_and_empty_in_numeric_columns() {
    for kind in CSV_KINDS {
        for bad in ["NaN", "inf", "-inf", ""] {
            let text = kind.with_last_row(&kind.row(&[("returnValue", bad)]));
            let e = fails(Some(kind), text.as_bytes(), 4, &["returnValue"]);
            assert!(
                matches!(
                    e,
                    Error::Field {
                        column: "returnValue",
                        ..
                    }
                ),
                "{e}"
            );
            if kind.has("timestamp") {
                let text = kind.with_last_row(&kind.row(&[("timestamp", bad)]));
                fails(Some(kind), text.as_bytes(), 4, &["timestamp"]);
            }
        }
    }
}

#[test]
fn utf8_bom_is_read() {
    for kind in CSV_KINDS {
        let text = format!(
            "\u{feff}{}",
            kind.with_last_row(&kind.row(&[("returnValue", "7")]))
        );
        let events = reads(Some(kind), text.as_bytes(), 3);
        assert_eq!(events[2].return_value, 7);
        assert_eq!(events[0].process_id, 191);
    }
}

#[test]
fn invalid_utf8_in_a_text_column_is_read() {
    // CSV is bytes; text columns are carried, never decoded, so a bad byte there is no error.
    for kind in [Kind::Raw, Kind::Host] {
        let mut bytes = kind
            .with_last_row(&kind.row(&[("returnValue", "9")]))
            .into_bytes();
        let at = bytes.windows(7).rposition(|w| w == b"systemd").unwrap();
        bytes[at] = 0xff;
        bytes[at + 1] = 0xfe;
        let events = reads(Some(kind), &bytes, 3);
        assert_eq!(events[2].return_value, 9);
    }
}

#[test]
fn mixed_crlf_and_lf_are_read() {
    for kind in CSV_KINDS {
        let text = format!(
            "{}\r\n{}\n{}\r\n{}",
            kind.header(),
            kind.row(&[("returnValue", "1")]),
            kind.row(&[("returnValue", "2")]),
            kind.row(&[("returnValue", "3")]),
        );
        let events = reads(Some(kind), text.as_bytes(), 3);
        let values: Vec<i64> = events.iter().map(|e| e.return_value).collect();
        assert_eq!(values, [1, 2, 3]);
    }
}

#[test]
fn quoted_fields_with_commas_escaped_quotes_and_newlines_are_read() {
    for kind in [Kind::Raw, Kind::Host] {
        let args = "\"[{'name': \"\"a,b\"\", 'value': \"\"x\"\"\"\"y\"\"}, 1,\n2]\"";
        let text = kind.with_last_row(&kind.row(&[("args", args), ("returnValue", "-13")]));
        let events = reads(Some(kind), text.as_bytes(), 3);
        assert_eq!(events[2].return_value, -13);
        assert_eq!(events[2].process_id, 191);
    }
    // DataCamp has only numbers, but quoting a number is legal CSV.
    let kind = Kind::DataCamp;
    let text = kind.with_last_row(&kind.row(&[("returnValue", "\"-13\"")]));
    assert_eq!(reads(Some(kind), text.as_bytes(), 3)[2].return_value, -13);
}

#[test]
fn unterminated_quote_at_end_of_file() {
    for kind in CSV_KINDS {
        let last_quoted = kind.columns().len() - 1;
        let mut fields: Vec<String> = kind.columns().iter().map(|c| ordinary(c)).collect();
        fields[last_quoted] = "\"0".into();
        let text = format!(
            "{}\n{}\n{}\n{}",
            kind.header(),
            kind.row(&[]),
            kind.row(&[]),
            fields.join(",")
        );
        fails(Some(kind), text.as_bytes(), 4, &["closing quote"]);
    }
}

#[test]
fn truncated_last_line() {
    for kind in CSV_KINDS {
        // Cut in the middle of the record: too few fields.
        let full = kind.row(&[]);
        let cut = &full[..full.find(",1,").unwrap() + 2];
        let text = format!("{}\n{}\n{}\n{cut}", kind.header(), full, full);
        fails(Some(kind), text.as_bytes(), 4, &["fields, found"]);
        // Complete but without the final line break: legal, read.
        let text = format!(
            "{}\n{}\n{}",
            kind.header(),
            full,
            kind.row(&[("returnValue", "5")])
        );
        assert_eq!(reads(Some(kind), text.as_bytes(), 2)[1].return_value, 5);
    }
}

#[test]
fn a_100_mb_line_is_refused_with_bounded_memory() {
    let huge = "x".repeat(100 << 20);
    let limit = format!("a record of at most {MAX_RECORD_BYTES} bytes");
    for kind in CSV_KINDS {
        let column = if kind.has("args") {
            "args"
        } else {
            "processId"
        };
        let text = kind.with_last_row(&kind.row(&[(column, &huge)]));
        fails(Some(kind), text.as_bytes(), 4, &[&limit]);
    }
    fails(
        None,
        format!("{}\n{{\"a\":\"{huge}\"}}\n", tracee_event()).as_bytes(),
        2,
        &[&limit],
    );
}

// ---------------------------------------------------------------------------------------------
// The cases, Tracee JSON lines

#[test]
fn json_that_is_not_an_object() {
    for bad in ["[1, 2, 3]", "42", "\"event\"", "null"] {
        fails(
            None,
            format!("{}\n{bad}\n", tracee_event()).as_bytes(),
            2,
            &["expected"],
        );
    }
}

#[test]
fn json_with_wrong_types() {
    let event = tracee_event();
    for (from, to, column) in [
        ("\"userId\":1000", "\"userId\":\"root\"", "userId"),
        ("\"processId\":1948212", "\"processId\":-1", "processId"),
        ("\"argsNum\":4", "\"argsNum\":4.5", "argsNum"),
        ("\"eventId\":\"257\"", "\"eventId\":\"x\"", "eventId"),
    ] {
        assert!(event.contains(from), "{from}");
        let bad = event.replace(from, to);
        fails(None, format!("{event}\n{bad}\n").as_bytes(), 2, &[column]);
    }
}

#[test]
fn json_cut_mid_object() {
    let event = tracee_event();
    for cut in [1, event.len() / 2, event.len() - 1] {
        let text = format!("{event}\n{event}\n{}", &event[..cut]);
        fails(None, text.as_bytes(), 3, &["EOF"]);
    }
}

#[test]
fn json_with_invalid_utf8_in_a_string() {
    let event = tracee_event();
    let mut bytes = format!("{event}\n{event}\n").into_bytes();
    let at = bytes.windows(3).rposition(|w| w == b"exa").unwrap();
    bytes[at] = 0xff;
    fails(None, &bytes, 2, &["UTF-8"]);
}

#[test]
fn json_with_bom_and_crlf_is_read() {
    let event = tracee_event();
    let text = format!("\u{feff}{event}\r\n{event}\n\r\n{event}");
    let events = reads(None, text.as_bytes(), 3);
    assert_eq!(events[2].process_id, 1_948_212);
    assert_eq!(events[2].user_id, 1000);
}

#[test]
fn json_header_like_first_line_is_not_csv() {
    // A CSV header after a JSON line is a bad JSON line 2, not a schema switch.
    let text = format!(
        "{}\n{}\n{}\n",
        tracee_event(),
        Kind::Raw.header(),
        Kind::Raw.row(&[])
    );
    fails(None, text.as_bytes(), 2, &["expected"]);
}

#[test]
fn label_other_than_0_or_1() {
    for kind in CSV_KINDS {
        let label = if kind == Kind::DataCamp {
            "sus_label"
        } else {
            "sus"
        };
        let text = kind.with_last_row(&kind.row(&[(label, "2")]));
        fails(Some(kind), text.as_bytes(), 4, &[label, "a label, 0 or 1"]);
    }
}

#[test]
fn json_mount_namespace_beyond_the_csv_range() {
    let event = tracee_event();
    let bad = event.replace(
        "\"mountNamespace\":4026531840",
        "\"mountNamespace\":9223372036854775808",
    );
    assert_ne!(bad, event);
    fails(
        None,
        format!("{event}\n{bad}\n").as_bytes(),
        2,
        &["mountNamespace", "9223372036854775807"],
    );
}
