//! Arbitrary bytes through both CSV readers: neither may panic, and the parallel block loader
//! must agree with the streaming reader (same events, or an error at the same line).
#![no_main]

use beth_detect::data::{BethDataset, EventReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let streamed = match EventReader::new(data, "fuzz.csv") {
        Ok(mut reader) => {
            let mut events = Vec::new();
            let mut failed_at = None;
            while let Some(next) = reader.read_event() {
                match next {
                    Ok(event) => events.push(event),
                    Err(e) => {
                        // Every record-level error names a line.
                        failed_at = Some(e.line().expect("record errors carry a line"));
                        break;
                    }
                }
            }
            Some((events, failed_at))
        }
        Err(_) => None,
    };
    let Ok(reader) = EventReader::new(data, "fuzz.csv") else {
        assert!(streamed.is_none());
        return;
    };
    let loaded = BethDataset::from_reader_parallel(reader, 3);
    let (events, failed_at) = streamed.expect("the same header was accepted once");
    match (loaded, failed_at) {
        (Ok(dataset), None) => {
            assert_eq!(dataset.len(), events.len());
            for (i, event) in events.iter().enumerate() {
                assert_eq!(&dataset.event(i), event, "event {i}");
            }
        }
        (Err(e), Some(line)) => assert_eq!(e.line(), Some(line), "{e}"),
        (Err(e), None) => assert!(events.is_empty(), "loader failed on good input: {e}"),
        (Ok(_), Some(line)) => panic!("loader accepted input the reader rejects at line {line}"),
    }
});
