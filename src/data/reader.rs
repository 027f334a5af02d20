//! Streaming readers: one event at a time, in constant memory, from any BETH format.

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

pub use super::event::BethEvent;
use super::record::{self, FieldAction, MAX_RECORD_BYTES, NumberError, Split};
use super::schema::{Column, CsvLayout, Schema};
use super::tracee::{TraceeFields, decode_tracee_fields};
use crate::error::{Error, Position, Result, show_bytes};

/// A problem with one field, before it is given a position.
pub(crate) struct FieldProblem {
    pub column: &'static str,
    pub expected: &'static str,
    pub found: String,
}

impl FieldProblem {
    pub(crate) fn at(self, position: Position) -> Error {
        Error::Field {
            position,
            column: self.column,
            expected: self.expected,
            found: self.found,
        }
    }
}

/// Decodes the numeric fields of one split CSV record into `event`.
#[inline]
pub(crate) fn decode_fields(
    buf: &[u8],
    fields: &[Range<usize>],
    actions: &[FieldAction],
    event: &mut BethEvent,
) -> std::result::Result<(), FieldProblem> {
    for (range, action) in fields.iter().zip(actions) {
        let bytes = &buf[range.clone()];
        match *action {
            FieldAction::Skip => {}
            FieldAction::Timestamp => {
                if record::check_finite_f64(bytes).is_err() {
                    return Err(FieldProblem {
                        column: Column::Timestamp.name(),
                        expected: "a finite number",
                        found: show_bytes(bytes),
                    });
                }
            }
            FieldAction::Number(column, kind) => match record::parse_int(bytes, kind.min, kind.max)
            {
                Ok(v) => event.set(column, v),
                Err(e) => {
                    let found = match e {
                        NumberError::Overflow => format!("{} (out of range)", show_bytes(bytes)),
                        NumberError::Negative => format!("{} (negative)", show_bytes(bytes)),
                        _ => show_bytes(bytes),
                    };
                    return Err(FieldProblem {
                        column: column.name(),
                        expected: kind.expected,
                        found,
                    });
                }
            },
        }
    }
    Ok(())
}

/// A line that holds no event: empty, or only a carriage return.
pub(crate) fn is_blank_record(buf: &[u8], fields: &[Range<usize>]) -> bool {
    fields.len() == 1 && fields[0].is_empty() && buf.first() != Some(&b'"')
}

/// Decodes one Tracee JSON line (without its terminator); `position` says where it was, and is
/// called only if the line is bad (no path is copied per good line).
pub fn decode_tracee_record(line: &[u8], position: impl FnOnce() -> Position) -> Result<BethEvent> {
    decode_tracee_record_needing(line, TraceeFields::ALL, position)
}

/// [`decode_tracee_record`] where only the fields in `required` must be present.
pub(crate) fn decode_tracee_record_needing(
    line: &[u8],
    required: TraceeFields,
    position: impl FnOnce() -> Position,
) -> Result<BethEvent> {
    decode_tracee_fields(line, required).map_err(|message| tracee_error(position(), message))
}

/// A bad Tracee line's error.
pub(crate) fn tracee_error(position: Position, message: String) -> Error {
    Error::Record {
        position,
        expected: "a Tracee JSON event object".into(),
        found: message,
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const READ_CHUNK: usize = 64 * 1024;

enum Format {
    Csv {
        layout: CsvLayout,
        actions: Vec<FieldAction>,
    },
    Tracee,
}

/// Reads events one at a time from any BETH format, detected from the CSV header or the first
/// JSON line; memory use is bounded by the longest record, whatever the input's size.
///
/// ```
/// use beth_detect::data::EventReader;
///
/// let csv = "processId,threadId,parentProcessId,userId,mountNamespace,argsNum,returnValue,sus_label\n\
///            382,382,1,101,4026532232,3,15,0\n";
/// let mut reader = EventReader::new(csv.as_bytes(), "example.csv")?;
/// assert_eq!(reader.schema().name(), "datacamp");
/// let event = reader.next().unwrap()?;
/// assert_eq!((event.process_id, event.user_id, event.return_value), (382, 101, 15));
/// assert!(reader.next().is_none());
/// # Ok::<(), beth_detect::Error>(())
/// ```
pub struct EventReader<R> {
    source: R,
    path: PathBuf,
    format: Format,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    fields: Vec<Range<usize>>,
    header: Vec<u8>,
    record: Range<usize>,
    record_line: u64,
    record_byte: u64,
    next_line: u64,
    next_byte: u64,
    stopped: bool,
    /// Tracee lines are handed out undecoded (see [`Self::leave_tracee_lines_undecoded`]).
    undecoded_tracee: bool,
}

impl EventReader<File> {
    /// Opens a file and detects its schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        EventReader::new(file, path)
    }
}

impl<R: Read> EventReader<R> {
    /// Wraps any byte source; `name` is what errors call it (a path, or `<stdin>`).
    pub fn new(source: R, name: impl Into<PathBuf>) -> Result<Self> {
        let mut reader = EventReader {
            source,
            path: name.into(),
            format: Format::Tracee,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            eof: false,
            fields: Vec::new(),
            header: Vec::new(),
            record: 0..0,
            record_line: 0,
            record_byte: 0,
            next_line: 1,
            next_byte: 0,
            stopped: false,
            undecoded_tracee: false,
        };
        reader.detect()?;
        Ok(reader)
    }

    /// The detected schema.
    pub fn schema(&self) -> Schema {
        match &self.format {
            Format::Csv { layout, .. } => layout.schema,
            Format::Tracee => Schema::Tracee,
        }
    }

    /// CSV header columns the schema does not use, in file order (empty for Tracee JSON,
    /// whose unused fields are simply not read).
    pub fn extra_columns(&self) -> &[String] {
        match &self.format {
            Format::Csv { layout, .. } => layout.extra_columns(),
            Format::Tracee => &[],
        }
    }

    /// The file name errors use.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The CSV header line as it was in the input (without BOM or line terminator); empty for
    /// Tracee JSON.
    pub fn header_bytes(&self) -> &[u8] {
        &self.header
    }

    /// The bytes of the record last returned (or last rejected), without its line terminator:
    /// the CSV row or the JSON object exactly as they were in the input.
    pub fn record_bytes(&self) -> &[u8] {
        &self.buf[self.record.clone()]
    }

    /// The 1-based line on which the record last returned (or rejected) starts.
    pub fn record_line(&self) -> u64 {
        self.record_line
    }

    /// The 0-based byte offset at which the record last returned (or rejected) starts.
    pub fn record_byte(&self) -> u64 {
        self.record_byte
    }

    /// From now on a Tracee JSON line is only found, not decoded: [`Self::read_event`] returns
    /// a default event for it, and the caller decodes [`Self::record_bytes`] itself — on several
    /// cores at once, which is what the streaming scorer does. CSV input is unaffected.
    pub(crate) fn leave_tracee_lines_undecoded(&mut self) {
        self.undecoded_tracee = true;
    }

    fn record_position(&self) -> Position {
        Position {
            path: self.path.clone(),
            line: self.record_line,
            byte: self.next_byte,
        }
    }

    /// Reads more input, keeping the unread tail; fails if one record outgrows the limit.
    fn fill(&mut self) -> Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= MAX_RECORD_BYTES {
                self.stopped = true;
                return Err(Error::Record {
                    position: Position {
                        path: self.path.clone(),
                        line: self.next_line,
                        byte: self.next_byte,
                    },
                    expected: format!("a record of at most {} bytes", MAX_RECORD_BYTES),
                    found: "a longer one".into(),
                });
            }
            let grown = (self.buf.len() * 2).min(MAX_RECORD_BYTES);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.source.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // A live source with nothing to read yet: the reader stays usable and the caller
                // may act on the pause (flush what it holds) and call again.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Err(Error::io(&self.path, e));
                }
                Err(e) => {
                    self.stopped = true;
                    return Err(Error::io(&self.path, e));
                }
            }
        }
    }

    /// [`fill`](Self::fill) that waits out a live source's pauses (nothing is held yet while
    /// the header is read, so there is nothing to flush).
    fn fill_waiting(&mut self) -> Result<()> {
        loop {
            match self.fill() {
                Err(e) if e.is_would_block() => continue,
                other => return other,
            }
        }
    }

    fn detect(&mut self) -> Result<()> {
        while self.end - self.start < 3 && !self.eof {
            self.fill_waiting()?;
        }
        if self.buf[self.start..self.end].starts_with(UTF8_BOM) {
            self.start += 3;
            self.next_byte = 3;
        }
        // Skip blank lines before the first record.
        loop {
            while self.start < self.end && matches!(self.buf[self.start], b'\n' | b'\r') {
                if self.buf[self.start] == b'\n' {
                    self.next_line += 1;
                }
                self.start += 1;
                self.next_byte += 1;
            }
            if self.start < self.end || self.eof {
                break;
            }
            self.fill_waiting()?;
        }
        if self.start == self.end {
            return Err(Error::EmptyInput {
                path: self.path.clone(),
            });
        }
        if self.buf[self.start] == b'{' {
            self.format = Format::Tracee;
            return Ok(());
        }
        let len = loop {
            match record::split_record(&self.buf[self.start..self.end], self.eof, &mut self.fields)
            {
                Split::Record { len, .. } => break len,
                Split::NeedMore => self.fill_waiting()?,
                Split::Malformed { expected, found } => {
                    return Err(Error::Record {
                        position: Position {
                            path: self.path.clone(),
                            line: self.next_line,
                            byte: self.next_byte,
                        },
                        expected: format!("a CSV header: {expected}"),
                        found,
                    });
                }
            }
        };
        let names: Vec<&[u8]> = self
            .fields
            .iter()
            .map(|r| &self.buf[self.start + r.start..self.start + r.end])
            .collect();
        let layout = Schema::detect_csv(&self.path, &names)?;
        let actions = record::field_actions(&layout);
        self.header = trim_terminator(&self.buf[self.start..self.start + len]).to_vec();
        self.format = Format::Csv { layout, actions };
        self.start += len;
        self.next_byte += len as u64;
        self.next_line += 1;
        Ok(())
    }

    /// Reads the next event; `None` at the end of the input.
    ///
    /// After a field-level error (a bad number, a wrong field count) the reader stays usable and
    /// the next call reads the next record, so a caller may skip bad records (and count them).
    /// After a broken quote, an oversized record or an I/O error it stops — except an error for
    /// which [`Error::is_would_block`] is true: a live source (such as
    /// `beth_detect::scoring::LiveInput`) has nothing yet, and the next call goes on.
    pub fn read_event(&mut self) -> Option<Result<BethEvent>> {
        if self.stopped {
            return None;
        }
        loop {
            if self.start == self.end {
                if self.eof {
                    return None;
                }
                if let Err(e) = self.fill() {
                    return Some(Err(e));
                }
                continue;
            }
            let outcome = match &self.format {
                Format::Csv { .. } => self.next_csv(),
                Format::Tracee => self.next_tracee(),
            };
            match outcome {
                Step::Event(e) => return Some(Ok(e)),
                Step::Blank => continue,
                Step::More => {
                    if let Err(e) = self.fill() {
                        return Some(Err(e));
                    }
                }
                Step::Failed(e) => return Some(Err(e)),
            }
        }
    }

    fn consume(&mut self, len: usize, newlines: u64) {
        self.record_line = self.next_line;
        self.record_byte = self.next_byte;
        self.record =
            self.start..self.start + trim_terminator(&self.buf[self.start..self.start + len]).len();
        self.start += len;
        self.next_byte += len as u64;
        self.next_line += newlines.max(1);
    }

    fn next_csv(&mut self) -> Step {
        let Format::Csv { layout, actions } = &self.format else {
            unreachable!("next_csv is only called for CSV input")
        };
        let expected_fields = layout.fields;
        match record::split_record(&self.buf[self.start..self.end], self.eof, &mut self.fields) {
            Split::NeedMore => Step::More,
            Split::Malformed { expected, found } => {
                self.record_line = self.next_line;
                self.stopped = true;
                Step::Failed(Error::Record {
                    position: self.record_position(),
                    expected: expected.to_string(),
                    found,
                })
            }
            Split::Record { len, newlines } => {
                let record = &self.buf[self.start..self.start + len];
                if is_blank_record(record, &self.fields) {
                    self.start += len;
                    self.next_byte += len as u64;
                    self.next_line += newlines;
                    return Step::Blank;
                }
                let mut event = BethEvent::default();
                let result = if self.fields.len() != expected_fields {
                    Err(Error::Record {
                        position: Position {
                            path: self.path.clone(),
                            line: self.next_line,
                            byte: self.next_byte,
                        },
                        expected: format!("{expected_fields} fields"),
                        found: format!("{} fields", self.fields.len()),
                    })
                } else {
                    decode_fields(record, &self.fields, actions, &mut event).map_err(|p| {
                        p.at(Position {
                            path: self.path.clone(),
                            line: self.next_line,
                            byte: self.next_byte,
                        })
                    })
                };
                self.consume(len, newlines);
                match result {
                    Ok(()) => Step::Event(event),
                    Err(e) => Step::Failed(e),
                }
            }
        }
    }

    fn next_tracee(&mut self) -> Step {
        let available = &self.buf[self.start..self.end];
        let (len, newlines) = match memchr::memchr(b'\n', available) {
            Some(i) => (i + 1, 1),
            None if self.eof => (available.len(), 0),
            None => return Step::More,
        };
        let line = trim_terminator(&available[..len]);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            self.start += len;
            self.next_byte += len as u64;
            self.next_line += newlines;
            return Step::Blank;
        }
        if self.undecoded_tracee {
            self.consume(len, newlines);
            return Step::Event(BethEvent::default());
        }
        let (path, line_number, byte) = (&self.path, self.next_line, self.next_byte);
        let result = decode_tracee_record(line, || Position {
            path: path.clone(),
            line: line_number,
            byte,
        });
        self.consume(len, newlines);
        match result {
            Ok(event) => Step::Event(event),
            Err(e) => Step::Failed(e),
        }
    }
}

/// What a CSV reader hands to the parallel loader after reading the header.
pub(crate) struct CsvParts<R> {
    pub source: R,
    pub pending: Vec<u8>,
    pub eof: bool,
    pub next_line: u64,
    pub next_byte: u64,
    pub layout: CsvLayout,
    pub actions: Vec<FieldAction>,
}

impl<R: Read> EventReader<R> {
    /// The CSV header's layout (`None` for Tracee JSON).
    pub(crate) fn csv_layout(&self) -> Option<&CsvLayout> {
        match &self.format {
            Format::Csv { layout, .. } => Some(layout),
            Format::Tracee => None,
        }
    }

    /// Splits a CSV reader into its source and unread bytes; gives the reader back for JSON.
    pub(crate) fn into_csv_parts(self) -> std::result::Result<CsvParts<R>, Box<Self>> {
        match self.format {
            Format::Csv { layout, actions } => Ok(CsvParts {
                pending: self.buf[self.start..self.end].to_vec(),
                source: self.source,
                eof: self.eof,
                next_line: self.next_line,
                next_byte: self.next_byte,
                layout,
                actions,
            }),
            Format::Tracee => Err(Box::new(self)),
        }
    }

    /// The line the next record starts on.
    pub(crate) fn next_line(&self) -> u64 {
        self.next_line
    }
}

enum Step {
    Event(BethEvent),
    Blank,
    More,
    Failed(Error),
}

fn trim_terminator(record: &[u8]) -> &[u8] {
    let record = record.strip_suffix(b"\n").unwrap_or(record);
    record.strip_suffix(b"\r").unwrap_or(record)
}

impl<R: Read> Iterator for EventReader<R> {
    type Item = Result<BethEvent>;
    fn next(&mut self) -> Option<Self::Item> {
        self.read_event()
    }
}
