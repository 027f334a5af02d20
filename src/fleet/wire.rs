//! What travels on the fleet's streams: Tracee JSON lines, several to a message, each message
//! with an id that is the same every time the same lines are published.

use serde_json::Value;

use crate::data::Column;
use crate::error::{Error, Result};

/// Events per message unless told otherwise: ~190 KB of Tracee events, well under NATS's
/// default 1 MB payload, and enough to carry ~0.8 M events/s.
pub const DEFAULT_EVENTS_PER_MESSAGE: usize = 256;

/// Bytes of a message kept free for what NATS adds (headers: the message id).
const HEADROOM: usize = 1024;

/// Packs lines into NDJSON messages of at most `events_per_message` lines and the server's
/// payload limit; a line never straddles two messages.
#[derive(Debug)]
pub struct MessagePacker {
    events_per_message: usize,
    max_bytes: usize,
    current: Vec<u8>,
    lines: usize,
}

impl MessagePacker {
    /// `max_payload` is the server's limit (`Client::server_info().max_payload`).
    pub fn new(events_per_message: usize, max_payload: usize) -> Result<Self> {
        if events_per_message == 0 {
            return Err(Error::InvalidConfig {
                name: "events per message",
                expected: "at least 1",
                found: "0".into(),
            });
        }
        Ok(MessagePacker {
            events_per_message,
            max_bytes: max_payload.saturating_sub(HEADROOM).max(1),
            current: Vec::new(),
            lines: 0,
        })
    }

    /// Adds one line (without its terminator); returns the message it completed, if any. A
    /// line larger than a message can be is refused, naming `what` (its file and line).
    pub fn push(&mut self, line: &[u8], what: impl FnOnce() -> String) -> Result<Option<Vec<u8>>> {
        if line.len() + 1 > self.max_bytes {
            return Err(Error::InvalidConfig {
                name: "event size",
                expected: "an event smaller than the NATS server's max payload",
                found: format!(
                    "{}: {} bytes (limit {})",
                    what(),
                    line.len(),
                    self.max_bytes
                ),
            });
        }
        let mut done = None;
        if self.lines == self.events_per_message
            || self.current.len() + line.len() + 1 > self.max_bytes
        {
            done = self.take();
        }
        self.current.extend_from_slice(line);
        self.current.push(b'\n');
        self.lines += 1;
        Ok(done)
    }

    /// The message being filled once it holds its `events_per_message` lines, so that it can
    /// go before another line arrives.
    pub fn take_full(&mut self) -> Option<Vec<u8>> {
        if self.lines == self.events_per_message {
            self.take()
        } else {
            None
        }
    }

    /// The last, partial message.
    pub fn finish(mut self) -> Option<Vec<u8>> {
        self.take()
    }

    fn take(&mut self) -> Option<Vec<u8>> {
        if self.lines == 0 {
            return None;
        }
        self.lines = 0;
        // The next message is likely as large: reserved once instead of grown by doubling.
        let capacity = self.current.len();
        Some(std::mem::replace(
            &mut self.current,
            Vec::with_capacity(capacity),
        ))
    }
}

/// The `Nats-Msg-Id` of the `index`-th message (0-based) of a publish: a 128-bit digest of
/// its lines and its place. Publishing the same input again gives the same ids, so JetStream
/// stores nothing twice within the stream's duplicate window; different inputs do not collide.
pub fn message_id(index: u64, payload: &[u8]) -> String {
    let digest = xxhash_rust::xxh3::xxh3_128(payload);
    format!("{digest:032x}-{index}")
}

/// The id of an alert: the source stream, its message's sequence and the line, so a message
/// delivered twice publishes no alert twice.
pub fn alert_id(stream: &str, sequence: u64, line: u64) -> String {
    format!("{stream}:{sequence}:{line}")
}

/// A CSV row as a Tracee-style JSON line: each column under its own name (BETH's columns are
/// Tracee's field names), numbers as JSON numbers, text as strings, the labels kept.
pub fn csv_row_as_json(columns: &[String], record: &[u8], out: &mut Vec<u8>) {
    let mut object = crate::scoring::output::csv_object(record, columns);
    // BETH's timestamps are seconds since boot, with a fraction: a number, not text.
    let timestamp = Column::Timestamp.name();
    if let Some(Value::String(text)) = object.get(timestamp)
        && let Some(number) = text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
    {
        object.insert(timestamp.to_string(), Value::Number(number));
    }
    // Writing into memory cannot fail.
    let _ = serde_json::to_writer(&mut *out, &object);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_hold_at_most_n_lines_and_never_split_one() {
        let mut packer = MessagePacker::new(2, 1024 + 12).unwrap();
        let mut messages = Vec::new();
        for line in ["aaaa", "bb", "c", "dddddd", "e"] {
            messages.extend(packer.push(line.as_bytes(), String::new).unwrap());
        }
        messages.extend(packer.finish());
        // 12 bytes of payload room: "aaaa\nbb\n" (8), then "c\n" + "dddddd\n" is 9, then "e".
        let texts: Vec<&str> = messages
            .iter()
            .map(|m| std::str::from_utf8(m).unwrap())
            .collect();
        assert_eq!(texts, ["aaaa\nbb\n", "c\ndddddd\n", "e\n"]);
        let mut packer = MessagePacker::new(2, 1024 + 12).unwrap();
        packer.push(b"a", String::new).unwrap();
        assert_eq!(packer.take_full(), None);
        packer.push(b"b", String::new).unwrap();
        assert_eq!(packer.take_full().as_deref(), Some(&b"a\nb\n"[..]));
        assert_eq!(packer.finish(), None);
        assert!(packer_refuses_a_line_over_the_limit());
    }

    fn packer_refuses_a_line_over_the_limit() -> bool {
        let mut packer = MessagePacker::new(10, 1024 + 4).unwrap();
        packer
            .push(b"12345", || "events.jsonl: line 7".into())
            .is_err()
    }

    #[test]
    fn ids_depend_on_the_lines_and_their_place() {
        assert_eq!(message_id(3, b"x\n"), message_id(3, b"x\n"));
        assert_ne!(message_id(3, b"x\n"), message_id(4, b"x\n"));
        assert_ne!(message_id(3, b"x\n"), message_id(3, b"y\n"));
        assert_eq!(alert_id("TRACEE", 12, 3), "TRACEE:12:3");
    }

    #[test]
    fn csv_rows_become_json_with_numbers_as_numbers() {
        let columns: Vec<String> = ["timestamp", "processId", "processName", "args"]
            .map(String::from)
            .to_vec();
        let mut out = Vec::new();
        csv_row_as_json(
            &columns,
            br#"1809.495787,381,"close","[{'name': 'fd', 'value': ""x""}]""#,
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"args":"[{'name': 'fd', 'value': \"x\"}]","processId":381,"processName":"close","timestamp":1809.495787}"#
        );
    }
}
