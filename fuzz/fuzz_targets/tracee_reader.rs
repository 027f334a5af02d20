//! Arbitrary bytes as Tracee JSON lines (the input always starts with `{`, so the reader takes
//! the JSON path): no panic, and every error names a line.
#![no_main]

use beth_detect::data::EventReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Vec::with_capacity(data.len() + 1);
    input.push(b'{');
    input.extend_from_slice(data);
    let Ok(mut reader) = EventReader::new(input.as_slice(), "fuzz.jsonl") else {
        return;
    };
    while let Some(next) = reader.read_event() {
        if let Err(e) = next {
            assert!(e.line().is_some(), "{e}");
        }
    }
});
