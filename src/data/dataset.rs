//! `BethDataset`: a whole BETH file in memory, columnar, loaded on every core.

use std::io::Read;
use std::path::{Path, PathBuf};

use burn::data::dataset::Dataset;

use super::reader::{BethEvent, EventReader, decode_fields, is_blank_record};
use super::record::{self, FieldAction, MAX_RECORD_BYTES, Split};
use super::schema::{Column, CsvLayout, Label, Schema};
use crate::error::{Error, Position, Result};

/// The numeric columns of a BETH file, one vector per column. Columns the schema lacks stay
/// empty (and read as 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventColumns {
    /// `processId`.
    pub process_id: Vec<u32>,
    /// `threadId`.
    pub thread_id: Vec<u32>,
    /// `parentProcessId`.
    pub parent_process_id: Vec<u32>,
    /// `userId`.
    pub user_id: Vec<u32>,
    /// `mountNamespace`.
    pub mount_namespace: Vec<u64>,
    /// `eventId`.
    pub event_id: Vec<u32>,
    /// `argsNum`.
    pub args_num: Vec<u32>,
    /// `returnValue`.
    pub return_value: Vec<i64>,
    /// `sus` / `sus_label`.
    pub sus: Vec<u8>,
    /// `evil`.
    pub evil: Vec<u8>,
}

/// Which columns a schema fills, computed once so pushing a row is branch-light.
#[derive(Debug, Clone, Copy)]
struct Present {
    thread_id: bool,
    mount_namespace: bool,
    event_id: bool,
    sus: bool,
    evil: bool,
}

impl Present {
    fn of(schema: Schema) -> Self {
        Present {
            thread_id: schema.has(Column::ThreadId),
            mount_namespace: schema.has(Column::MountNamespace),
            event_id: schema.has(Column::EventId),
            sus: schema.has(Column::Sus),
            evil: schema.has(Column::Evil),
        }
    }

    /// What a CSV file with this header fills: its schema's columns, less the label columns
    /// the header leaves out (a user's own logs have none).
    fn of_layout(layout: &CsvLayout) -> Self {
        let mut p = Present::of(layout.schema);
        p.sus &= layout.field(Column::Sus).is_some() || layout.field(Column::SusLabel).is_some();
        p.evil &= layout.field(Column::Evil).is_some();
        p
    }

    /// Of a reader's input.
    fn of_reader<R: Read>(reader: &EventReader<R>) -> Self {
        match reader.csv_layout() {
            Some(layout) => Present::of_layout(layout),
            None => Present::of(reader.schema()),
        }
    }

    fn has_label(self, label: Label) -> bool {
        match label {
            Label::Sus => self.sus,
            Label::Evil => self.evil,
        }
    }
}

impl EventColumns {
    fn with_capacity(n: usize, p: Present) -> Self {
        let opt = |present: bool| if present { n } else { 0 };
        EventColumns {
            process_id: Vec::with_capacity(n),
            thread_id: Vec::with_capacity(opt(p.thread_id)),
            parent_process_id: Vec::with_capacity(n),
            user_id: Vec::with_capacity(n),
            mount_namespace: Vec::with_capacity(opt(p.mount_namespace)),
            event_id: Vec::with_capacity(opt(p.event_id)),
            args_num: Vec::with_capacity(n),
            return_value: Vec::with_capacity(n),
            sus: Vec::with_capacity(opt(p.sus)),
            evil: Vec::with_capacity(opt(p.evil)),
        }
    }

    #[inline]
    fn push(&mut self, e: &BethEvent, p: Present) {
        self.process_id.push(e.process_id);
        if p.thread_id {
            self.thread_id.push(e.thread_id);
        }
        self.parent_process_id.push(e.parent_process_id);
        self.user_id.push(e.user_id);
        if p.mount_namespace {
            self.mount_namespace.push(e.mount_namespace);
        }
        if p.event_id {
            self.event_id.push(e.event_id);
        }
        self.args_num.push(e.args_num);
        self.return_value.push(e.return_value);
        if p.sus {
            self.sus.push(e.sus);
        }
        if p.evil {
            self.evil.push(e.evil);
        }
    }

    fn append(&mut self, other: &mut EventColumns) {
        self.process_id.append(&mut other.process_id);
        self.thread_id.append(&mut other.thread_id);
        self.parent_process_id.append(&mut other.parent_process_id);
        self.user_id.append(&mut other.user_id);
        self.mount_namespace.append(&mut other.mount_namespace);
        self.event_id.append(&mut other.event_id);
        self.args_num.append(&mut other.args_num);
        self.return_value.append(&mut other.return_value);
        self.sus.append(&mut other.sus);
        self.evil.append(&mut other.evil);
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.process_id.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.process_id.is_empty()
    }

    /// The event at `i` (absent columns read as 0).
    #[inline]
    pub fn event(&self, i: usize) -> BethEvent {
        let at32 = |v: &Vec<u32>| v.get(i).copied().unwrap_or(0);
        BethEvent {
            process_id: self.process_id[i],
            thread_id: at32(&self.thread_id),
            parent_process_id: self.parent_process_id[i],
            user_id: self.user_id[i],
            mount_namespace: self.mount_namespace.get(i).copied().unwrap_or(0),
            event_id: at32(&self.event_id),
            args_num: self.args_num[i],
            return_value: self.return_value[i],
            sus: self.sus.get(i).copied().unwrap_or(0),
            evil: self.evil.get(i).copied().unwrap_or(0),
        }
    }
}

/// One training example as the data loader hands it to the batcher.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BethItem {
    /// The event's numeric fields.
    pub event: BethEvent,
    /// The chosen label (0 or 1; 0 for unlabelled inputs).
    pub target: u8,
}

/// A BETH file in memory: the numeric columns the features need, plus labels; no strings.
///
/// ```
/// use beth_detect::data::{BethDataset, Label};
///
/// let path = concat!(env!("CARGO_MANIFEST_DIR"),
///     "/tests/fixtures/beth/Jotishyadav29_BethSecure/labelled_testing_data.csv");
/// let test = BethDataset::open(path)?.with_label(Label::Evil)?;
/// assert_eq!((test.len(), test.positives()), (100, 4));
/// # Ok::<(), beth_detect::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BethDataset {
    path: PathBuf,
    schema: Schema,
    columns: EventColumns,
    label: Label,
    /// Header columns the schema does not use (ignored).
    extra_columns: Vec<String>,
    /// The columns the file fills (a CSV may leave its schema's labels out).
    present: Present,
}

/// Bytes read per block; each block is parsed by all cores at once.
const BLOCK_BYTES: usize = 8 << 20;

impl BethDataset {
    /// Reads a whole file of any schema, using every core for CSV files.
    ///
    /// The label is `sus`; switch with [`BethDataset::with_label`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        BethDataset::from_reader_parallel(EventReader::open(path)?, threads)
    }

    /// Reads every event of `reader`, parsing CSV in blocks on `threads` threads (Tracee JSON
    /// is read one event at a time). The result, errors and their line numbers included, is
    /// the same as [`BethDataset::from_reader`]'s; this is what [`BethDataset::open`] uses on
    /// files, offered for other sources (a decompressor, a socket).
    pub fn from_reader_parallel<R: Read>(reader: EventReader<R>, threads: usize) -> Result<Self> {
        let path = reader.path().to_path_buf();
        match reader.into_csv_parts() {
            Ok(parts) => load_csv_parallel(&path, parts, threads.max(1)),
            Err(reader) => BethDataset::from_reader(*reader),
        }
    }

    /// Reads every event of a streaming reader, one by one (any schema).
    pub fn from_reader<R: Read>(mut reader: EventReader<R>) -> Result<Self> {
        let schema = reader.schema();
        let extra_columns = reader.extra_columns().to_vec();
        let present = Present::of_reader(&reader);
        let mut columns = EventColumns::with_capacity(0, present);
        let first_line = reader.next_line();
        for event in &mut reader {
            columns.push(&event?, present);
        }
        let dataset = BethDataset {
            path: reader.path().to_path_buf(),
            schema,
            columns,
            label: Label::Sus,
            extra_columns,
            present,
        };
        dataset.check_not_empty(first_line)
    }

    /// Builds a dataset from events already in memory (the synthetic generator, tests).
    pub fn from_events(
        name: impl Into<PathBuf>,
        schema: Schema,
        events: impl IntoIterator<Item = BethEvent>,
    ) -> Self {
        let present = Present::of(schema);
        let mut columns = EventColumns::with_capacity(0, present);
        for e in events {
            columns.push(&e, present);
        }
        BethDataset {
            path: name.into(),
            schema,
            columns,
            label: Label::Sus,
            extra_columns: Vec::new(),
            present,
        }
    }

    fn check_not_empty(self, line: u64) -> Result<Self> {
        if self.columns.is_empty() {
            return Err(Error::NoRecords {
                path: self.path,
                line,
            });
        }
        Ok(self)
    }

    /// Chooses the label; an error if the file has no such column.
    pub fn with_label(mut self, label: Label) -> Result<Self> {
        if !self.has_label(label) {
            return Err(Error::MissingColumn {
                path: self.path,
                what: format!("label `{label}`"),
                column: label.name(),
                schema: self.schema.name(),
            });
        }
        self.label = label;
        Ok(self)
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's schema.
    pub fn schema(&self) -> Schema {
        self.schema
    }

    /// The header's columns that the schema does not use (a pandas index column, say): read
    /// past, never stored.
    pub fn extra_columns(&self) -> &[String] {
        &self.extra_columns
    }

    /// The chosen label.
    pub fn label(&self) -> Label {
        self.label
    }

    /// Whether the file has the chosen label at all (Tracee JSON has none, nor has a CSV whose
    /// header leaves the label columns out).
    pub fn is_labelled(&self) -> bool {
        self.has_label(self.label)
    }

    /// Whether the file has a label's column.
    pub fn has_label(&self, label: Label) -> bool {
        self.schema.has_label(label) && self.present.has_label(label)
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the dataset holds no events.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The columns.
    pub fn columns(&self) -> &EventColumns {
        &self.columns
    }

    /// The chosen label's column (empty if the file has none).
    pub fn targets(&self) -> &[u8] {
        self.label_column(self.label)
    }

    /// Any label's column, whichever is chosen (empty if the file has none).
    pub fn label_column(&self, label: Label) -> &[u8] {
        match label {
            Label::Sus => &self.columns.sus,
            Label::Evil => &self.columns.evil,
        }
    }

    /// Number of events whose chosen label is 1.
    pub fn positives(&self) -> usize {
        self.targets().iter().filter(|&&t| t == 1).count()
    }

    /// The event at `i`.
    pub fn event(&self, i: usize) -> BethEvent {
        self.columns.event(i)
    }

    /// A dataset of the rows at `indices`, in that order (same file name, schema and label).
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, indices: &[usize]) -> BethDataset {
        let present = self.present;
        let mut columns = EventColumns::with_capacity(indices.len(), present);
        for &i in indices {
            columns.push(&self.columns.event(i), present);
        }
        BethDataset {
            path: self.path.clone(),
            schema: self.schema,
            columns,
            label: self.label,
            extra_columns: self.extra_columns.clone(),
            present,
        }
    }
}

impl Dataset<BethItem> for BethDataset {
    fn get(&self, index: usize) -> Option<BethItem> {
        (index < self.len()).then(|| BethItem {
            event: self.columns.event(index),
            target: self.targets().get(index).copied().unwrap_or(0),
        })
    }

    fn len(&self) -> usize {
        self.columns.len()
    }
}

/// What one worker made of its part of a block.
struct Part {
    columns: EventColumns,
    /// Bytes consumed from the part's start: whole records only.
    consumed: usize,
    /// Newlines in the consumed bytes.
    lines: u64,
    /// The first bad record: (line offset from the part's start, byte offset, error builder).
    error: Option<(u64, usize, PartError)>,
}

enum PartError {
    Field(super::reader::FieldProblem),
    Record { expected: String, found: String },
}

/// Parses whole records from `buf[..]` starting at 0 while they start before `stop`.
fn parse_part(
    buf: &[u8],
    stop: usize,
    at_eof: bool,
    actions: &[FieldAction],
    present: Present,
) -> Part {
    let mut columns = EventColumns::with_capacity(stop / 64, present);
    let mut fields = Vec::with_capacity(actions.len());
    let mut pos = 0;
    let mut lines = 0u64;
    let mut event = BethEvent::default();
    while pos < stop {
        let rest = &buf[pos..];
        match record::split_record(rest, at_eof, &mut fields) {
            Split::NeedMore => break,
            Split::Malformed { expected, found } => {
                return Part {
                    columns,
                    consumed: pos,
                    lines,
                    error: Some((
                        lines,
                        pos,
                        PartError::Record {
                            expected: expected.to_string(),
                            found,
                        },
                    )),
                };
            }
            Split::Record { len, newlines } => {
                let record = &rest[..len];
                if !is_blank_record(record, &fields) {
                    let outcome = if fields.len() != actions.len() {
                        Err(PartError::Record {
                            expected: format!("{} fields", actions.len()),
                            found: format!("{} fields", fields.len()),
                        })
                    } else {
                        decode_fields(record, &fields, actions, &mut event)
                            .map_err(PartError::Field)
                    };
                    if let Err(e) = outcome {
                        return Part {
                            columns,
                            consumed: pos,
                            lines,
                            error: Some((lines, pos, e)),
                        };
                    }
                    columns.push(&event, present);
                }
                pos += len;
                lines += newlines;
            }
        }
    }
    Part {
        columns,
        consumed: pos,
        lines,
        error: None,
    }
}

/// Loads CSV records block by block; each block is cut into one part per thread at line
/// breaks, and the parts are parsed at once. A cut is only guessed (a line break may sit inside
/// a quoted field); it is accepted when the part before it, parsed from a known record start,
/// ends exactly there, and otherwise the rest of the block is parsed again from where that part
/// really ended. The result is the same as a sequential parse, errors and line numbers included.
fn load_csv_parallel<R: Read>(
    path: &Path,
    parts: super::reader::CsvParts<R>,
    threads: usize,
) -> Result<BethDataset> {
    let super::reader::CsvParts {
        mut source,
        mut pending,
        mut eof,
        mut next_line,
        mut next_byte,
        layout,
        actions,
    } = parts;
    let first_line = next_line;
    let present = Present::of_layout(&layout);
    let mut columns = EventColumns::with_capacity(0, present);
    let mut buf = std::mem::take(&mut pending);
    loop {
        // Top the block up.
        let want = BLOCK_BYTES.max(buf.len() + READ_STEP);
        if buf.len() < want && !eof {
            // `read_to_end` fills spare capacity without zeroing it first.
            buf.reserve(want - buf.len());
            let limit = (want - buf.len()) as u64;
            let n = (&mut source)
                .take(limit)
                .read_to_end(&mut buf)
                .map_err(|e| Error::io(path, e))?;
            if (n as u64) < limit {
                eof = true;
            }
        }
        if buf.is_empty() {
            break;
        }
        let cuts = guess_cuts(&buf, threads);
        let results: Vec<Part> = std::thread::scope(|scope| {
            let handles: Vec<_> = cuts
                .windows(2)
                .skip(1)
                .map(|w| {
                    let (start, stop) = (w[0], w[1]);
                    let slice = &buf[start..];
                    let actions = &actions;
                    scope.spawn(move || parse_part(slice, stop - start, eof, actions, present))
                })
                .collect();
            let mut out = vec![parse_part(&buf, cuts[1], eof, &actions, present)];
            out.extend(
                handles
                    .into_iter()
                    .map(|h| h.join().expect("parser threads do not panic")),
            );
            out
        });
        let mut consumed_total = 0;
        for (k, mut part) in results.into_iter().enumerate() {
            let start = cuts[k];
            if start != consumed_total {
                // The guessed cut fell inside a record: the parts from here are discarded and
                // parsed again in the next round, from where the previous part really ended.
                break;
            }
            columns.append(&mut part.columns);
            if let Some((rel_line, rel_byte, error)) = part.error {
                let position = Position {
                    path: path.to_path_buf(),
                    line: next_line + rel_line,
                    byte: next_byte + (start + rel_byte) as u64,
                };
                return Err(match error {
                    PartError::Field(problem) => problem.at(position),
                    PartError::Record { expected, found } => Error::Record {
                        position,
                        expected,
                        found,
                    },
                });
            }
            consumed_total = start + part.consumed;
            next_line += part.lines;
        }
        next_byte += consumed_total as u64;
        if eof && consumed_total == buf.len() {
            break;
        }
        if consumed_total == 0 && buf.len() >= MAX_RECORD_BYTES {
            return Err(Error::Record {
                position: Position {
                    path: path.to_path_buf(),
                    line: next_line,
                    byte: next_byte,
                },
                expected: format!("a record of at most {MAX_RECORD_BYTES} bytes"),
                found: "a longer one".into(),
            });
        }
        buf.drain(..consumed_total);
    }
    BethDataset {
        path: path.to_path_buf(),
        schema: layout.schema,
        columns,
        label: Label::Sus,
        extra_columns: layout.extra,
        present,
    }
    .check_not_empty(first_line)
}

const READ_STEP: usize = 1 << 20;

/// Cut points `0 = c0 < c1 < … < cn = len`: each inner cut just after a line feed near an even
/// share of the buffer.
fn guess_cuts(buf: &[u8], parts: usize) -> Vec<usize> {
    let mut cuts = vec![0];
    for k in 1..parts {
        let target = buf.len() * k / parts;
        let last = *cuts.last().expect("cuts starts with 0");
        if target <= last {
            continue;
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[target..]) {
            let cut = target + i + 1;
            if cut < buf.len() {
                cuts.push(cut);
            }
        }
    }
    cuts.push(buf.len());
    cuts
}

/// Minimum, mean and maximum of one numeric column.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ColumnSummary {
    /// The column's name.
    pub column: &'static str,
    /// Smallest value.
    pub min: f64,
    /// Mean, in f64.
    pub mean: f64,
    /// Largest value.
    pub max: f64,
}

impl BethDataset {
    /// Min/mean/max of every numeric feature column the file has (labels excluded).
    pub fn summary(&self) -> Vec<ColumnSummary> {
        fn summarise<T: Copy + Into<f64>>(column: Column, v: &[T]) -> Option<ColumnSummary> {
            if v.is_empty() {
                return None;
            }
            let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
            for &x in v {
                let x: f64 = x.into();
                min = min.min(x);
                max = max.max(x);
                sum += x;
            }
            Some(ColumnSummary {
                column: column.name(),
                min,
                mean: sum / v.len() as f64,
                max,
            })
        }
        let c = &self.columns;
        let wide = |v: &[u64]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        let signed = |v: &[i64]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        [
            summarise(Column::ProcessId, &c.process_id),
            summarise(Column::ThreadId, &c.thread_id),
            summarise(Column::ParentProcessId, &c.parent_process_id),
            summarise(Column::UserId, &c.user_id),
            summarise(Column::MountNamespace, &wide(&c.mount_namespace)),
            summarise(Column::EventId, &c.event_id),
            summarise(Column::ArgsNum, &c.args_num),
            summarise(Column::ReturnValue, &signed(&c.return_value)),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
