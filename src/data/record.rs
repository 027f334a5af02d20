//! One strict RFC 4180 record splitter and the numeric field parsers, shared by the streaming
//! reader and the parallel loader so both accept and reject exactly the same input.
//!
//! The splitter does not decode quoted fields: it finds where they end (with `memchr`, so the
//! long `args` and `stackAddresses` texts are skipped at memory speed) and hands out byte ranges.
//! Numbers are parsed straight from bytes, with no allocation per field.

use std::ops::Range;

use super::schema::{Column, CsvLayout};

/// The most bytes one record may take; a longer one is an error, so memory stays bounded even
/// on a 100 MB line.
pub const MAX_RECORD_BYTES: usize = 4 << 20;

/// What splitting a record found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Split {
    /// A complete record: `len` bytes including its line terminator, `newlines` newline bytes
    /// in it (one more than 1 when quoted fields hold line breaks; 0 for a last line without a
    /// terminator).
    Record { len: usize, newlines: u64 },
    /// The buffer ends inside the record and more input may follow.
    NeedMore,
    /// The record is malformed.
    Malformed {
        expected: &'static str,
        found: String,
    },
}

/// Splits the record at the start of `buf` into `fields` (ranges into `buf`; quoted fields are
/// given without their quotes and with `""` still doubled).
///
/// `at_eof` says no bytes follow `buf`: a record may then end without a line terminator, and a
/// quoted field still open is an error rather than a request for more input.
pub(crate) fn split_record(buf: &[u8], at_eof: bool, fields: &mut Vec<Range<usize>>) -> Split {
    fields.clear();
    let mut pos = 0;
    let mut newlines = 0u64;
    loop {
        if buf.get(pos) == Some(&b'"') {
            let content = pos + 1;
            let mut p = content;
            // Looking for line feeds in the same pass costs nothing extra and counts the lines
            // a quoted field spans, for error positions.
            let end = loop {
                match memchr::memchr2(b'"', b'\n', &buf[p..]) {
                    None => {
                        return if at_eof {
                            Split::Malformed {
                                expected: "a closing quote",
                                found: "the end of the input inside a quoted field".into(),
                            }
                        } else {
                            Split::NeedMore
                        };
                    }
                    Some(k) if buf[p + k] == b'\n' => {
                        newlines += 1;
                        p += k + 1;
                    }
                    Some(k) => {
                        let q = p + k;
                        match buf.get(q + 1) {
                            Some(b'"') => p = q + 2,
                            None if !at_eof => return Split::NeedMore,
                            _ => break q,
                        }
                    }
                }
            };
            fields.push(content..end);
            pos = end + 1;
        } else {
            let start = pos;
            while let Some(&b) = buf.get(pos) {
                match b {
                    b',' | b'\n' | b'\r' => break,
                    b'"' => {
                        return Split::Malformed {
                            expected: "a quote only at the start of a field",
                            found: format!("a quote inside unquoted field {}", fields.len() + 1),
                        };
                    }
                    _ => pos += 1,
                }
            }
            fields.push(start..pos);
        }
        match buf.get(pos) {
            Some(b',') => pos += 1,
            Some(b'\n') => {
                return Split::Record {
                    len: pos + 1,
                    newlines: newlines + 1,
                };
            }
            Some(b'\r') => match buf.get(pos + 1) {
                Some(b'\n') => {
                    return Split::Record {
                        len: pos + 2,
                        newlines: newlines + 1,
                    };
                }
                None if !at_eof => return Split::NeedMore,
                None => {
                    return Split::Record {
                        len: pos + 1,
                        newlines,
                    };
                }
                Some(_) => {
                    return Split::Malformed {
                        expected: "a line feed after a carriage return",
                        found: "a lone carriage return".into(),
                    };
                }
            },
            None if at_eof => return Split::Record { len: pos, newlines },
            None => return Split::NeedMore,
            Some(&other) => {
                return Split::Malformed {
                    expected: "a comma or the end of the line after a closing quote",
                    found: format!("{:?}", other as char),
                };
            }
        }
    }
}

/// Why a numeric field did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberError {
    Empty,
    Invalid,
    Negative,
    Overflow,
}

/// Parses a decimal integer (optional leading `-`) that must lie in `min..=max`.
#[inline]
pub(crate) fn parse_int(bytes: &[u8], min: i64, max: i64) -> Result<i64, NumberError> {
    let (negative, digits) = match bytes.split_first() {
        None => return Err(NumberError::Empty),
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        Some(_) => (false, bytes),
    };
    if digits.is_empty() {
        return Err(NumberError::Invalid);
    }
    // Accumulate as a negative number so i64::MIN parses too.
    let mut value: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(NumberError::Invalid);
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_sub(d as i64))
            .ok_or(NumberError::Overflow)?;
    }
    let value = if negative {
        value
    } else {
        value.checked_neg().ok_or(NumberError::Overflow)?
    };
    if value < min {
        return Err(if min >= 0 && value < 0 {
            NumberError::Negative
        } else {
            NumberError::Overflow
        });
    }
    if value > max {
        return Err(NumberError::Overflow);
    }
    Ok(value)
}

/// Checks that a field is a finite decimal number, without computing it: plain
/// `[-]digits[.digits]` (what BETH's timestamps look like) is accepted at once, anything else
/// goes through the standard parser.
pub(crate) fn check_finite_f64(bytes: &[u8]) -> Result<(), NumberError> {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let (int, frac) = match memchr::memchr(b'.', digits) {
        Some(i) => (&digits[..i], &digits[i + 1..]),
        None => (digits, &b""[..]),
    };
    let plain = !int.is_empty()
        && int.iter().all(u8::is_ascii_digit)
        && frac.iter().all(u8::is_ascii_digit);
    if plain {
        return Ok(());
    }
    parse_finite_f64(bytes).map(|_| ())
}

/// Parses a finite decimal float.
pub(crate) fn parse_finite_f64(bytes: &[u8]) -> Result<f64, NumberError> {
    if bytes.is_empty() {
        return Err(NumberError::Empty);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| NumberError::Invalid)?;
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(NumberError::Overflow),
        Err(_) => Err(NumberError::Invalid),
    }
}

/// How a numeric column is parsed and what its error messages say.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NumericKind {
    pub min: i64,
    pub max: i64,
    pub expected: &'static str,
}

pub(crate) const U32_KIND: NumericKind = NumericKind {
    min: 0,
    max: u32::MAX as i64,
    expected: "a non-negative integer no larger than 4294967295",
};
pub(crate) const U64_KIND: NumericKind = NumericKind {
    min: 0,
    max: i64::MAX,
    expected: "a non-negative integer no larger than 9223372036854775807",
};
pub(crate) const I64_KIND: NumericKind = NumericKind {
    min: i64::MIN,
    max: i64::MAX,
    expected: "an integer between -9223372036854775808 and 9223372036854775807",
};
pub(crate) const LABEL_KIND: NumericKind = NumericKind {
    min: 0,
    max: 1,
    expected: "a label, 0 or 1",
};

/// What to do with each field of a record of a given layout.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FieldAction {
    /// A text column: kept as bytes, never decoded.
    Skip,
    /// `timestamp`: checked to be a finite number, not stored.
    Timestamp,
    /// A numeric column.
    Number(Column, NumericKind),
}

pub(crate) fn field_actions(layout: &CsvLayout) -> Vec<FieldAction> {
    let mut actions = vec![FieldAction::Skip; layout.fields];
    for &column in layout.schema.columns() {
        let Some(i) = layout.field(column) else {
            continue;
        };
        actions[i] = match column {
            Column::Timestamp => FieldAction::Timestamp,
            Column::ProcessId
            | Column::ThreadId
            | Column::ParentProcessId
            | Column::UserId
            | Column::EventId
            | Column::ArgsNum => FieldAction::Number(column, U32_KIND),
            Column::MountNamespace => FieldAction::Number(column, U64_KIND),
            Column::ReturnValue => FieldAction::Number(column, I64_KIND),
            Column::Sus | Column::Evil | Column::SusLabel => {
                FieldAction::Number(column, LABEL_KIND)
            }
            Column::ProcessName
            | Column::HostName
            | Column::EventName
            | Column::StackAddresses
            | Column::Args => FieldAction::Skip,
        };
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str, eof: bool) -> (Split, Vec<String>) {
        let mut f = Vec::new();
        let r = split_record(s.as_bytes(), eof, &mut f);
        let texts = f.iter().map(|r| s[r.clone()].to_string()).collect();
        (r, texts)
    }

    #[test]
    fn splits_quoted_fields_with_commas_and_escaped_quotes() {
        let (r, f) = split("1,\"a, b\",\"say \"\"hi\"\"\",x\r\nnext", false);
        assert_eq!(
            r,
            Split::Record {
                len: 25,
                newlines: 1
            }
        );
        assert_eq!(f, ["1", "a, b", "say \"\"hi\"\"", "x"]);
    }

    #[test]
    fn quoted_newline_is_part_of_the_field() {
        let (r, f) = split("\"a\nb\",2\n", true);
        assert_eq!(
            r,
            Split::Record {
                len: 8,
                newlines: 2
            }
        );
        assert_eq!(f, ["a\nb", "2"]);
    }

    #[test]
    fn open_quote_needs_more_then_fails_at_eof() {
        assert_eq!(split("1,\"abc", false).0, Split::NeedMore);
        assert!(matches!(split("1,\"abc", true).0, Split::Malformed { .. }));
    }

    #[test]
    fn last_line_without_terminator_is_a_record_only_at_eof() {
        assert_eq!(split("1,2", false).0, Split::NeedMore);
        assert_eq!(
            split("1,2", true).0,
            Split::Record {
                len: 3,
                newlines: 0
            }
        );
    }

    #[test]
    fn stray_quote_is_malformed() {
        assert!(matches!(
            split("1,a\"b,2\n", true).0,
            Split::Malformed { .. }
        ));
        assert!(matches!(
            split("\"a\"b,2\n", true).0,
            Split::Malformed { .. }
        ));
    }

    #[test]
    fn integers_hand_checked() {
        assert_eq!(parse_int(b"0", 0, 10), Ok(0));
        assert_eq!(parse_int(b"4294967295", 0, u32::MAX as i64), Ok(4294967295));
        assert_eq!(
            parse_int(b"4294967296", 0, u32::MAX as i64),
            Err(NumberError::Overflow)
        );
        assert_eq!(
            parse_int(b"-9223372036854775808", i64::MIN, i64::MAX),
            Ok(i64::MIN)
        );
        assert_eq!(
            parse_int(b"123456789012345678901234567890", i64::MIN, i64::MAX),
            Err(NumberError::Overflow)
        );
        assert_eq!(parse_int(b"-1", 0, 10), Err(NumberError::Negative));
        assert_eq!(parse_int(b"", 0, 10), Err(NumberError::Empty));
        assert_eq!(parse_int(b"-", 0, 10), Err(NumberError::Invalid));
        assert_eq!(parse_int(b"1.5", 0, 10), Err(NumberError::Invalid));
        assert_eq!(parse_int(b"NaN", 0, 10), Err(NumberError::Invalid));
        assert_eq!(parse_int(b"-115", i64::MIN, i64::MAX), Ok(-115));
    }

    #[test]
    fn timestamp_check_agrees_with_the_parser() {
        for ok in [&b"129.050634"[..], b"0", b"-3.5", b"1e3", b"7."] {
            assert_eq!(
                check_finite_f64(ok),
                Ok(()),
                "{:?}",
                String::from_utf8_lossy(ok)
            );
        }
        for bad in [
            &b""[..],
            b"-",
            b".",
            b"1.2.3",
            b"NaN",
            b"inf",
            b"12a",
            b"1e999",
        ] {
            assert!(
                check_finite_f64(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn floats_must_be_finite() {
        assert_eq!(parse_finite_f64(b"129.050634"), Ok(129.050634));
        assert_eq!(parse_finite_f64(b"inf"), Err(NumberError::Overflow));
        assert_eq!(parse_finite_f64(b"NaN"), Err(NumberError::Overflow));
        assert_eq!(parse_finite_f64(b"x"), Err(NumberError::Invalid));
    }
}
