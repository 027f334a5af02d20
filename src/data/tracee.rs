//! Tracee's classic JSON events (`tracee --output json`, every release up to v0.24.1), decoded
//! in one pass that reads only the nine fields the crate uses.
//!
//! Why a scanner and not serde: a Tracee event is ~750 bytes of which the crate needs nine
//! numbers; serde_json spent most of `score`'s time building and validating the rest
//! (0.43–0.50 M events/s), and sonic-rs executed no fewer instructions on these short values.
//! This scanner still checks that the whole line is one valid JSON object (RFC 8259: strings,
//! escapes, numbers, nesting, no trailing text) — a line serde_json refuses is refused here too,
//! which a property test holds it to — but it never builds the values it skips.
//!
//! Errors say which field was wrong and what it held, or where (1-based byte column) the JSON
//! broke off.

use super::event::BethEvent;
use super::schema::Column;

/// Nesting deeper than this is refused (serde_json's own limit), so no line can exhaust the
/// stack.
const MAX_DEPTH: usize = 128;

/// The fields read, in the order their bits are kept.
const FIELDS: [(&str, &str); 9] = [
    ("timestamp", "a number"),
    ("processId", "a non-negative 32-bit integer"),
    ("threadId", "a non-negative 32-bit integer"),
    ("parentProcessId", "a non-negative 32-bit integer"),
    ("userId", "a non-negative 32-bit integer"),
    (
        "mountNamespace",
        "a non-negative integer no larger than 9223372036854775807",
    ),
    (
        "eventId",
        "a non-negative 32-bit integer (or one as a string)",
    ),
    ("argsNum", "a non-negative 32-bit integer"),
    ("returnValue", "a 64-bit integer"),
];

const TIMESTAMP: usize = 0;
const MOUNT_NAMESPACE: usize = 5;
const EVENT_ID: usize = 6;
const RETURN_VALUE: usize = 8;

/// What a line of Tracee's nested event structure is told.
const NESTED_TRACEE: &str = "Tracee's nested event structure (`workload.process…`, arguments in `data[]`: its main branch after v0.24.1), which has no `mountNamespace` and no `argsNum`, both needed here; Tracee v0.24.1 and earlier write the classic format (`tracee --output json`)";

/// Which of the fields read must be present, one bit per field of [`FIELDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceeFields(u16);

impl TraceeFields {
    /// Every field: what reading Tracee's output for inspection or training insists on.
    pub(crate) const ALL: TraceeFields = TraceeFields((1 << FIELDS.len()) - 1);

    /// Only the fields behind `columns` (a feature set's): what scoring needs. A line without
    /// `timestamp`, or without an `eventId` the features do not use — a DataCamp row published
    /// as JSON, say — is still an event to score.
    pub(crate) fn for_columns(columns: &[Column]) -> TraceeFields {
        let mut bits = 0;
        for column in columns {
            if let Some(k) = FIELDS.iter().position(|(name, _)| *name == column.name()) {
                bits |= 1 << k;
            }
        }
        TraceeFields(bits)
    }
}

/// Decodes one Tracee JSON line; the fields outside `required` may be missing (then 0).
pub(crate) fn decode_tracee_fields(
    line: &[u8],
    required: TraceeFields,
) -> Result<BethEvent, String> {
    // JSON is UTF-8 (RFC 8259). Checked once for the whole line (ASCII runs at memory speed);
    // the scanner then looks at bytes only.
    if let Err(e) = std::str::from_utf8(line) {
        return Err(format!(
            "invalid UTF-8 at byte {} of the line",
            e.valid_up_to()
        ));
    }
    scan_event(line, required.0).map_err(|fault| {
        if is_nested_tracee(line) {
            NESTED_TRACEE.to_string()
        } else {
            fault.message(line)
        }
    })
}

fn scan_event(line: &[u8], required: u16) -> Scan<BethEvent> {
    let mut scanner = Scanner { bytes: line, at: 0 };
    let mut values = [0i64; 9];
    let mut seen = 0u16;
    scanner.object_line(|scanner| {
        let key = scanner.key()?;
        scanner.skip_space();
        scanner.expect(b':', "`:` after an object key")?;
        scanner.skip_space();
        match key {
            Key::Field(k) => {
                if seen & (1 << k) != 0 {
                    return Err(Fault::Duplicate(k));
                }
                seen |= 1 << k;
                values[k] = scanner.field_value(k)?;
                Ok(())
            }
            Key::Other => scanner.skip_value(1),
        }
    })?;
    if seen & required != required {
        let missing = (0..FIELDS.len())
            .find(|k| (seen & required) & (1 << k) == 0 && required & (1 << k) != 0)
            .unwrap_or(0);
        return Err(Fault::Missing(missing));
    }
    Ok(BethEvent {
        process_id: values[1] as u32,
        thread_id: values[2] as u32,
        parent_process_id: values[3] as u32,
        user_id: values[4] as u32,
        mount_namespace: values[MOUNT_NAMESPACE] as u64,
        event_id: values[EVENT_ID] as u32,
        args_num: values[7] as u32,
        return_value: values[RETURN_VALUE],
        sus: 0,
        evil: 0,
    })
}

/// The members of a one-object JSON line as (key, raw value text), in the order written, for
/// an output that copies an event's fields as they are (Falco-shaped alerts). `None` if the
/// line is not one valid JSON object or a key holds an escape (the caller then decodes it).
pub(crate) fn object_members(line: &[u8]) -> Option<Vec<(&str, &str)>> {
    let text = std::str::from_utf8(line).ok()?;
    let mut scanner = Scanner { bytes: line, at: 0 };
    let mut members = Vec::with_capacity(40);
    scanner
        .object_line(|scanner| {
            let key_start = scanner.at + 1;
            if scanner.peek() != Some(b'"') || scanner.skip_string()? {
                return Err(scanner.unexpected("a key without escapes"));
            }
            // Positions are at ASCII quotes and separators: character boundaries.
            let key = &text[key_start..scanner.at - 1];
            scanner.skip_space();
            scanner.expect(b':', "`:` after an object key")?;
            scanner.skip_space();
            let value_start = scanner.at;
            scanner.skip_value(1)?;
            members.push((key, &text[value_start..scanner.at]));
            Ok(())
        })
        .ok()?;
    Some(members)
}

/// The elements of a one-array JSON text as raw value texts, in order. `None` if it is not
/// one valid JSON array.
pub(crate) fn array_elements(text: &str) -> Option<Vec<&str>> {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        at: 0,
    };
    let mut elements = Vec::with_capacity(8);
    scanner
        .container_line(b'[', b']', |scanner| {
            let start = scanner.at;
            scanner.skip_value(1)?;
            // Positions are at ASCII separators: character boundaries.
            elements.push(&text[start..scanner.at]);
            Ok(())
        })
        .ok()?;
    Some(elements)
}

/// How many bytes at the start of `bytes` a JSON string holds as they are: none is `"`, `\\`
/// or a control character.
pub(crate) fn plain_string_bytes(bytes: &[u8]) -> usize {
    let mut scanner = Scanner { bytes, at: 0 };
    scanner.skip_plain_string_bytes();
    scanner.at
}

type Scan<T> = Result<T, Fault>;

/// Whether a line that failed is an object of Tracee's nested structure: a `workload`
/// object and no `processId`. Only asked of bad lines.
#[cold]
fn is_nested_tracee(line: &[u8]) -> bool {
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(object)) => {
            object.get("workload").is_some_and(|w| w.is_object())
                && !object.contains_key("processId")
        }
        _ => false,
    }
}

/// What went wrong and where (byte offsets in the line); the message is written only once a
/// line has failed, so the scanning paths carry two words, not a String.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Something else than `expected` at `at` (or the end of the line).
    Unexpected {
        expected: &'static str,
        at: usize,
    },
    /// The line ends inside a string that opened at `at`.
    OpenString {
        at: usize,
    },
    /// A control character inside a string.
    Control {
        at: usize,
    },

    /// A backslash not followed by one of JSON's escapes.
    Escape {
        at: usize,
    },
    /// Nesting deeper than [`MAX_DEPTH`] at `at`.
    Depth {
        at: usize,
    },
    /// Field `field`'s value, which starts at `at`, has the wrong type or range.
    Value {
        field: usize,
        at: usize,
    },
    /// A number overflows an f64.
    Infinite {
        at: usize,
        end: usize,
    },
    /// `eventId` as a string that is not a number.
    EventIdText {
        at: usize,
        end: usize,
    },
    Duplicate(usize),
    Missing(usize),
}

impl Fault {
    #[cold]
    fn message(self, line: &[u8]) -> String {
        match self {
            Fault::Unexpected { expected, at } if at >= line.len() => {
                format!(
                    "EOF while parsing the line (expected {expected} at column {})",
                    at + 1
                )
            }
            Fault::Unexpected { expected, at } => format!(
                "expected {expected} at column {}, found {}",
                at + 1,
                shown(&line[at..])
            ),
            Fault::OpenString { at } => {
                format!("EOF while parsing a string (opened at column {})", at + 1)
            }
            Fault::Control { at } => format!(
                "control character (\\u{:04x}) while parsing a string at column {}",
                line[at],
                at + 1
            ),
            Fault::Escape { at } => format!("invalid escape in a string at column {}", at + 1),
            Fault::Depth { at } => format!(
                "recursion limit exceeded ({MAX_DEPTH} levels) at column {}",
                at + 1
            ),
            Fault::Value { field, at } => {
                // The value whole if it is valid JSON; what is there if not.
                let mut scanner = Scanner { bytes: line, at };
                let end = match scanner.skip_value(1) {
                    Ok(()) => scanner.at,
                    Err(_) => line.len(),
                };
                let (name, expected) = FIELDS[field];
                format!(
                    "`{name}`: expected {expected}, found {}",
                    shown(&line[at..end])
                )
            }
            Fault::Infinite { at, end } => format!(
                "number out of range at column {}: {}",
                at + 1,
                shown(&line[at..end])
            ),
            Fault::EventIdText { at, end } => format!(
                "`eventId`: expected a non-negative integer, found {}",
                shown(&line[at..end])
            ),
            Fault::Duplicate(k) => format!("duplicate field `{}`", FIELDS[k].0),
            Fault::Missing(k) => format!("missing field `{}`", FIELDS[k].0),
        }
    }
}

enum Key {
    Field(usize),
    Other,
}

/// How a number token looked.
struct NumberToken {
    negative: bool,
    /// Digits before any `.` or exponent.
    integer: std::ops::Range<usize>,
    /// A fraction follows.
    fraction: bool,
    /// An exponent follows.
    exponent: bool,
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline]
    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    #[inline]
    fn expect(&mut self, byte: u8, expected: &'static str) -> Scan<()> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    #[inline]
    fn unexpected(&self, expected: &'static str) -> Fault {
        Fault::Unexpected {
            expected,
            at: self.at,
        }
    }

    /// Walks the one object a line holds, calling `member` at each member's key; checks the
    /// separators, and that nothing but space follows the object.
    fn object_line(&mut self, member: impl FnMut(&mut Self) -> Scan<()>) -> Scan<()> {
        self.container_line(b'{', b'}', member)
    }

    /// Walks the one object or array (`open` … `close`) a text holds, calling `item` at each
    /// member's key or element; checks the separators, and that nothing but space follows.
    fn container_line(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Scan<()>,
    ) -> Scan<()> {
        let (what, separator) = if open == b'{' {
            ("a JSON object", "`,` or `}` after an object member")
        } else {
            ("a JSON array", "`,` or `]` after an array element")
        };
        self.skip_space();
        if self.peek() != Some(open) {
            return Err(self.unexpected(what));
        }
        self.at += 1;
        self.skip_space();
        if self.peek() == Some(close) {
            self.at += 1;
        } else {
            loop {
                self.skip_space();
                item(self)?;
                self.skip_space();
                match self.peek() {
                    Some(b',') => self.at += 1,
                    Some(b) if b == close => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(self.unexpected(separator)),
                }
            }
        }
        self.skip_space();
        if self.at != self.bytes.len() {
            return Err(self.unexpected("the end of the line after the object"));
        }
        Ok(())
    }

    /// An object key: one of the fields read, or anything else.
    #[inline]
    fn key(&mut self) -> Scan<Key> {
        if self.peek() != Some(b'"') {
            return Err(self.unexpected("a string key"));
        }
        let start = self.at + 1;
        let escaped = self.skip_string()?;
        let raw = &self.bytes[start..self.at - 1];
        let decoded;
        let name: &[u8] = if escaped {
            decoded = unescape(raw);
            decoded.as_bytes()
        } else {
            raw
        };
        Ok(match name {
            b"timestamp" => Key::Field(0),
            b"processId" => Key::Field(1),
            b"threadId" => Key::Field(2),
            b"parentProcessId" => Key::Field(3),
            b"userId" => Key::Field(4),
            b"mountNamespace" => Key::Field(5),
            b"eventId" => Key::Field(6),
            b"argsNum" => Key::Field(7),
            b"returnValue" => Key::Field(8),
            _ => Key::Other,
        })
    }

    /// Skips a string starting at its opening quote; says whether it held escapes.
    #[inline]
    fn skip_string(&mut self) -> Scan<bool> {
        let opened = self.at;
        self.at += 1;
        let mut escaped = false;
        loop {
            self.skip_plain_string_bytes();
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    self.skip_escape(opened)?;
                }
                Some(_) => return Err(Fault::Control { at: self.at }),
                None => return Err(Fault::OpenString { at: opened }),
            }
        }
    }

    /// Moves past string bytes that need no attention (not `"`, `\\` or a control character),
    /// eight at a time: most of a Tracee line is such bytes.
    #[inline]
    fn skip_plain_string_bytes(&mut self) {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
        while let Some(chunk) = self.bytes.get(self.at..self.at + 8) {
            let v = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            let special = has_zero(v ^ (ONES * b'"' as u64))
                | has_zero(v ^ (ONES * b'\\' as u64))
                | (v.wrapping_sub(ONES * 0x20) & !v & HIGHS);
            if special != 0 {
                // The lowest flagged byte is the first special one (later flags may be
                // false positives, earlier ones cannot be).
                self.at += (special.trailing_zeros() / 8) as usize;
                return;
            }
            self.at += 8;
        }
        while let Some(&b) = self.bytes.get(self.at) {
            if b == b'"' || b == b'\\' || b < 0x20 {
                return;
            }
            self.at += 1;
        }
    }

    /// Skips the escape at a backslash.
    #[cold]
    fn skip_escape(&mut self, opened: usize) -> Scan<()> {
        let at = self.at;
        let valid = match self.bytes.get(at + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => 2,
            Some(b'u') => match self.bytes.get(at + 2..at + 6) {
                Some(hex) if hex.iter().all(u8::is_ascii_hexdigit) => 6,
                Some(_) => 0,
                None if self.bytes[at + 2..].iter().all(u8::is_ascii_hexdigit) => {
                    return Err(Fault::OpenString { at: opened });
                }
                None => 0,
            },
            None => return Err(Fault::OpenString { at: opened }),
            Some(_) => 0,
        };
        if valid == 0 {
            return Err(Fault::Escape { at });
        }
        self.at += valid;
        Ok(())
    }

    /// Skips any JSON value, checking it.
    fn skip_value(&mut self, depth: usize) -> Scan<()> {
        match self.peek() {
            Some(b'"') => self.skip_string().map(|_| ()),
            Some(b'{') => self.skip_container(depth, b'}'),
            Some(b'[') => self.skip_container(depth, b']'),
            Some(b't') => self.skip_literal(b"true"),
            Some(b'f') => self.skip_literal(b"false"),
            Some(b'n') => self.skip_literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.skip_number(),
            _ => Err(self.unexpected("a JSON value")),
        }
    }

    fn skip_container(&mut self, depth: usize, close: u8) -> Scan<()> {
        if depth >= MAX_DEPTH {
            return Err(Fault::Depth { at: self.at });
        }
        let object = close == b'}';
        self.at += 1;
        self.skip_space();
        if self.peek() == Some(close) {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.skip_space();
            if object {
                if self.peek() != Some(b'"') {
                    return Err(self.unexpected("a string key"));
                }
                self.skip_string()?;
                self.skip_space();
                self.expect(b':', "`:` after an object key")?;
                self.skip_space();
            }
            self.skip_value(depth + 1)?;
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b) if b == close => {
                    self.at += 1;
                    return Ok(());
                }
                _ if object => return Err(self.unexpected("`,` or `}` after an object member")),
                _ => return Err(self.unexpected("`,` or `]` after an array element")),
            }
        }
    }

    fn skip_literal(&mut self, literal: &'static [u8]) -> Scan<()> {
        let end = self.at + literal.len();
        if self.bytes.get(self.at..end) == Some(literal) {
            self.at = end;
            Ok(())
        } else if self.bytes.len() < end && literal.starts_with(&self.bytes[self.at..]) {
            Err(Fault::Unexpected {
                expected: "the rest of a `true`, `false` or `null`",
                at: self.bytes.len(),
            })
        } else {
            Err(self.unexpected("a JSON value"))
        }
    }

    /// A number token, checked against JSON's grammar: `-? (0 | [1-9][0-9]*) (.[0-9]+)?
    /// ([eE][+-]?[0-9]+)?`.
    #[inline]
    fn number(&mut self) -> Scan<NumberToken> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let integer_start = self.at;
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(self.unexpected("a digit")),
        }
        let integer = integer_start..self.at;
        let fraction = self.peek() == Some(b'.');
        if fraction {
            self.at += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.unexpected("a digit after the decimal point"));
            }
            self.skip_digits();
        }
        let exponent = matches!(self.peek(), Some(b'e' | b'E'));
        if exponent {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.unexpected("a digit in the exponent"));
            }
            self.skip_digits();
        }
        // Only a number with an exponent or hundreds of digits can overflow an f64; such a
        // number is refused wherever it is, as serde_json refuses it.
        if exponent || self.at - start > 300 {
            let finite = std::str::from_utf8(&self.bytes[start..self.at])
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(f64::is_finite);
            if !finite {
                return Err(Fault::Infinite {
                    at: start,
                    end: self.at,
                });
            }
        }
        Ok(NumberToken {
            negative,
            integer,
            fraction,
            exponent,
        })
    }

    /// A number skipped: the same grammar as [`Self::number`], without keeping its parts.
    #[inline]
    fn skip_number(&mut self) -> Scan<()> {
        let start = self.at;
        self.at += (self.bytes[start] == b'-') as usize;
        let first = self.at;
        self.skip_digits();
        let digits = self.at - first;
        let plain_integer = digits > 0
            && (digits == 1 || self.bytes[first] != b'0')
            && !matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        if plain_integer {
            return Ok(());
        }
        // Fractions, exponents and what is not JSON (a lone `-`, leading zeros): the full
        // parser reads them and says where they go wrong.
        self.at = start;
        self.number().map(|_| ())
    }

    /// Moves past ASCII digits, eight at a time: Tracee's timestamps and stack addresses are
    /// runs of 15–19 digits.
    #[inline]
    fn skip_digits(&mut self) {
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        while let Some(chunk) = self.bytes.get(self.at..self.at + 8) {
            let v = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            // A byte's high bit: above `9` (+0x46 reaches 0x80) or below `0` (−0x30 wraps).
            // Carries and borrows only reach later bytes, so the lowest flag is the first
            // byte that is not a digit.
            let other = (v.wrapping_add(0x4646_4646_4646_4646)
                | v.wrapping_sub(0x3030_3030_3030_3030))
                & HIGHS;
            if other != 0 {
                self.at += (other.trailing_zeros() / 8) as usize;
                return;
            }
            self.at += 8;
        }
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    /// The value of field `field`, range-checked for its type.
    fn field_value(&mut self, field: usize) -> Scan<i64> {
        let at = self.at;
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => {
                let token = self.number()?;
                if field == TIMESTAMP {
                    // Any JSON number (already checked to fit an f64).
                    return Ok(0);
                }
                let digits = &self.bytes[token.integer];
                // 20 digits overflow every range here; below that no u64 overflows.
                if token.fraction || token.exponent || digits.len() > 19 {
                    return Err(Fault::Value { field, at });
                }
                let magnitude = digits.iter().fold(0u64, |v, &d| v * 10 + (d - b'0') as u64);
                let value = match (field, token.negative) {
                    // JSON's `-0` is a float to serde_json, and so not an integer here either.
                    (_, true) if magnitude == 0 => None,
                    (RETURN_VALUE, false) => i64::try_from(magnitude).ok(),
                    // -9223372036854775808 is the one magnitude past i64::MAX that fits.
                    (RETURN_VALUE, true) => 0i64.checked_sub_unsigned(magnitude),
                    (_, true) => None,
                    (MOUNT_NAMESPACE, false) => i64::try_from(magnitude).ok(),
                    (_, false) => u32::try_from(magnitude).ok().map(i64::from),
                };
                value.ok_or(Fault::Value { field, at })
            }
            Some(b'"') if field == EVENT_ID => {
                let escaped = self.skip_string()?;
                let raw = &self.bytes[at + 1..self.at - 1];
                let parsed = if escaped {
                    unescape(raw).parse::<u32>().ok()
                } else {
                    std::str::from_utf8(raw)
                        .ok()
                        .and_then(|t| t.parse::<u32>().ok())
                };
                parsed
                    .map(i64::from)
                    .ok_or(Fault::EventIdText { at, end: self.at })
            }
            _ => Err(Fault::Value { field, at }),
        }
    }
}

/// A string's content with its escapes decoded (checked already); unpaired surrogates become
/// U+FFFD, as they cannot name a field anyway.
fn unescape(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut units: Vec<u16> = Vec::new();
    let mut i = 0;
    let hex = |at: usize| -> Option<u16> {
        let digits = std::str::from_utf8(raw.get(at..at + 4)?).ok()?;
        u16::from_str_radix(digits, 16).ok()
    };
    while i < raw.len() {
        if raw[i] != b'\\' || i + 1 >= raw.len() {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        let c = raw[i + 1];
        i += 2;
        let simple = match c {
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => 0,
            other => other,
        };
        if c != b'u' {
            out.push(simple);
            continue;
        }
        units.clear();
        units.push(hex(i).unwrap_or(0xfffd));
        i += 4;
        if (0xd800..0xdc00).contains(&units[0])
            && raw.get(i..i + 2) == Some(b"\\u")
            && let Some(low) = hex(i + 2)
        {
            units.push(low);
            i += 6;
        }
        let text: String = char::decode_utf16(units.iter().copied())
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect();
        out.extend_from_slice(text.as_bytes());
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Up to 40 bytes of `bytes`, as text.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() > 40 {
        format!("{}…", &text[..text.floor_char_boundary(40)])
    } else {
        text.into_owned()
    }
}
