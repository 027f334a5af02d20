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
