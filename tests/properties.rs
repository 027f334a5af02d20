//! Properties over generated input (proptest): readers never panic, valid events survive a
//! write → read round trip unchanged, and scaled features are always finite.

use beth_detect::data::{BethDataset, BethEvent, EventReader, Schema};
use beth_detect::features::{FEATURE_WIDTH, FeatureScaler, FeatureSet};
use proptest::prelude::*;

/// Reads everything both ways; must not panic, and every error must carry a line.
fn read_everything(bytes: &[u8]) {
    if let Ok(mut reader) = EventReader::new(bytes, "prop") {
        while let Some(next) = reader.read_event() {
            if let Err(e) = next {
                assert!(e.line().is_some(), "{e}");
            }
        }
    }
    if let Ok(reader) = EventReader::new(bytes, "prop") {
        let _ = BethDataset::from_reader_parallel(reader, 3);
    }
}

const RAW_HEADER: &str = "timestamp,processId,threadId,parentProcessId,userId,mountNamespace,processName,hostName,eventId,eventName,stackAddresses,argsNum,returnValue,args,sus,evil";

/// Bytes that look like CSV: the characters that matter to a CSV parser, digits and text.
fn csvish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b",".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"-".to_vec()),
        Just(b".".to_vec()),
        "[0-9]{1,25}".prop_map(String::into_bytes),
        "[a-zA-Z ]{1,5}".prop_map(String::into_bytes),
        any::<u8>().prop_map(|b| vec![b]),
    ];
    proptest::collection::vec(piece, 0..200).prop_map(|pieces| pieces.concat())
}

fn event() -> impl Strategy<Value = BethEvent> {
    (
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()),
        // Namespace ids: CSV and JSON both read 0..=i64::MAX.
        (
            0..=i64::MAX as u64,
            any::<u32>(),
            any::<u32>(),
            any::<i64>(),
        ),
        (0u8..2, 0u8..2),
    )
        .prop_map(
            |(
                (process_id, thread_id, parent_process_id, user_id),
                (mount_namespace, event_id, args_num, return_value),
                (sus, evil),
            )| BethEvent {
                process_id,
                thread_id,
                parent_process_id,
                user_id,
                mount_namespace,
                event_id,
                args_num,
                return_value,
                sus,
                evil,
            },
        )
}

/// Text for the columns the readers skip: anything, commas, quotes and line breaks included.
fn text() -> impl Strategy<Value = String> {
    "[a-z,\"\\n\\r' {}\\[\\]:\u{e9}\u{4e2d}]{0,30}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_a_reader(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        read_everything(&bytes);
    }

    #[test]
    fn csv_like_bytes_after_a_real_header_never_panic_a_reader(body in csvish()) {
        let mut bytes = format!("{RAW_HEADER}\n").into_bytes();
        bytes.extend_from_slice(&body);
        read_everything(&bytes);
    }

    #[test]
    fn json_like_bytes_never_panic_the_tracee_reader(body in csvish()) {
        let mut bytes = b"{\"processId\":".to_vec();
        bytes.extend_from_slice(&body);
        read_everything(&bytes);
    }

    #[test]
    fn raw_csv_events_round_trip(
        rows in proptest::collection::vec((event(), text(), text(), -1e12f64..1e12), 1..40),
        crlf in any::<bool>(),
    ) {
        // Written by the csv crate (independent of our reader), which quotes what needs quoting.
        let mut writer = csv::WriterBuilder::new()
            .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
            .from_writer(Vec::new());
        writer.write_record(RAW_HEADER.split(',')).unwrap();
        for (e, name, args, timestamp) in &rows {
            writer.write_record([
                timestamp.to_string(),
                e.process_id.to_string(),
                e.thread_id.to_string(),
                e.parent_process_id.to_string(),
                e.user_id.to_string(),
                e.mount_namespace.to_string(),
                name.clone(),
                "host".into(),
                e.event_id.to_string(),
                "openat".into(),
                "[1, 2]".into(),
                e.args_num.to_string(),
                e.return_value.to_string(),
                args.clone(),
                e.sus.to_string(),
                e.evil.to_string(),
            ]).unwrap();
        }
        let bytes = writer.into_inner().unwrap();
        let expected: Vec<BethEvent> = rows.iter().map(|r| r.0).collect();
        let streamed: Vec<BethEvent> = EventReader::new(bytes.as_slice(), "rt.csv")
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(&streamed, &expected);
        let loaded = BethDataset::from_reader_parallel(
            EventReader::new(bytes.as_slice(), "rt.csv").unwrap(), 3).unwrap();
        prop_assert_eq!(loaded.schema(), Schema::Raw);
        let loaded: Vec<BethEvent> = (0..loaded.len()).map(|i| loaded.event(i)).collect();
        prop_assert_eq!(&loaded, &expected);
    }

    #[test]
    fn tracee_json_events_round_trip(events in proptest::collection::vec((event(), text()), 1..20)) {
        // serde_json writes the lines; Tracee prints eventId as a string.
        let mut text = String::new();
        for (e, name) in &events {
            let line = serde_json::json!({
                "timestamp": 1657291777566819000u64,
                "processId": e.process_id,
                "threadId": e.thread_id,
                "parentProcessId": e.parent_process_id,
                "userId": e.user_id,
                "mountNamespace": e.mount_namespace,
                "processName": name,
                "eventId": e.event_id.to_string(),
                "argsNum": e.args_num,
                "returnValue": e.return_value,
                "args": [{"name": "x", "value": name}],
            });
            text.push_str(&line.to_string());
            text.push('\n');
        }
        let read: Vec<BethEvent> = EventReader::new(text.as_bytes(), "rt.jsonl")
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // Tracee events carry no labels.
        let expected: Vec<BethEvent> = events
            .iter()
            .map(|(e, _)| BethEvent { sus: 0, evil: 0, ..*e })
            .collect();
        prop_assert_eq!(read, expected);
    }

    #[test]
    fn fitted_scaler_gives_finite_features(
        train in proptest::collection::vec(event(), 1..50),
        probe in event(),
        paper in any::<bool>(),
    ) {
        let set = if paper { FeatureSet::Paper } else { FeatureSet::Seed };
        let dataset = BethDataset::from_events("prop", Schema::Raw, train.iter().copied());
        let scaler = FeatureScaler::fit(set, &dataset).unwrap();
        for e in train.iter().chain([&probe]) {
            let x = scaler.transform(e);
            prop_assert!(x.iter().all(|v| v.is_finite()), "{:?} -> {:?}", e, x);
        }
    }

    #[test]
    fn any_valid_scaler_gives_finite_features(
        mean in proptest::array::uniform7(proptest::num::f64::NORMAL | proptest::num::f64::ZERO),
        std in proptest::array::uniform7(proptest::num::f64::POSITIVE | proptest::num::f64::ZERO),
        probe in event(),
    ) {
        let scaler = FeatureScaler::new(FeatureSet::Seed, &mean, &std).unwrap();
        let x = scaler.transform(&probe);
        prop_assert_eq!(x.len(), FEATURE_WIDTH);
        prop_assert!(x.iter().all(|v| v.is_finite()), "{:?}", x);
    }
}

/// What serde_json, fully validating, makes of one Tracee line: the event if it is a JSON
/// object holding the nine fields with the types and ranges the crate reads, `None` otherwise.
/// The independent reference for the crate's own one-pass scanner.
fn serde_json_reference(line: &[u8]) -> Option<BethEvent> {
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    let object = value.as_object()?;
    let small = |key: &str| {
        object
            .get(key)?
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
    };
    object.get("timestamp")?.as_f64()?;
    let event_id = match object.get("eventId")? {
        serde_json::Value::String(text) => text.parse().ok()?,
        other => u32::try_from(other.as_u64()?).ok()?,
    };
    Some(BethEvent {
        process_id: small("processId")?,
        thread_id: small("threadId")?,
        parent_process_id: small("parentProcessId")?,
        user_id: small("userId")?,
        mount_namespace: object
            .get("mountNamespace")?
            .as_u64()
            .filter(|&v| v <= i64::MAX as u64)?,
        event_id,
        args_num: small("argsNum")?,
        return_value: object.get("returnValue")?.as_i64()?,
        sus: 0,
        evil: 0,
    })
}

/// A real Tracee event (tests/fixtures/tracee), which the mutations below start from.
const TRACEE_EVENT: &str = include_str!("fixtures/tracee/classic-json-example.jsonl");

/// One edit of a line: delete, insert or replace a byte at a position (taken modulo the
/// line's length), with bytes that matter to JSON.
fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    let byte = prop_oneof![
        proptest::sample::select(b"{}[]\",:0123456789-+.eE \\utrfalsn".to_vec()),
        any::<u8>(),
    ];
    proptest::collection::vec((any::<usize>(), 0u8..3, byte), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// The scanner accepts exactly the lines serde_json accepts as events, with the same
    /// values, on a real event edited at random.
    #[test]
    fn tracee_scanner_agrees_with_serde_json(edits in edits()) {
        let mut line = TRACEE_EVENT.trim_end().as_bytes().to_vec();
        for (at, op, byte) in edits {
            let at = at % (line.len() + 1);
            match op {
                0 if at < line.len() => { line.remove(at); }
                1 => line.insert(at, byte),
                _ if at < line.len() => line[at] = byte,
                _ => line.push(byte),
            }
        }
        // Line breaks would make two lines of one; the reader's own splitting is tested apart.
        line.retain(|&b| b != b'\n' && b != b'\r');
        prop_assume!(!line.iter().all(u8::is_ascii_whitespace));
        // A valid first line fixes the format, so every edited line is read as Tracee JSON.
        let mut input = TRACEE_EVENT.trim_end().as_bytes().to_vec();
        input.push(b'\n');
        input.extend_from_slice(&line);
        let mut reader = EventReader::new(input.as_slice(), "edited.jsonl").unwrap();
        reader.read_event().unwrap().unwrap();
        let ours = reader.read_event().unwrap();
        let reference = serde_json_reference(&line);
        match (&ours, &reference) {
            (Ok(a), Some(b)) => prop_assert_eq!(a, b),
            (Err(e), None) => prop_assert_eq!(e.line(), Some(2)),
            _ => prop_assert!(false, "scanner {:?}, serde_json {:?}, line {}", ours, reference,
                String::from_utf8_lossy(&line)),
        }
    }
}
