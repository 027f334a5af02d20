//! The streaming scorer: events read, featurised, scored and written one batch at a time
//! (files, pipes, live input), and request bodies scored whole for `serve`.

use std::io::{Read, Write};
use std::ops::Range;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, channel, sync_channel};
use std::time::SystemTime;

use burn::prelude::Backend;

use super::explain::{Explainer, Reason};
use super::output::{LineWriter, OutputFormat, split_header};
use crate::data::{
    BethEvent, EventReader, Schema, TraceeFields, decode_tracee_fields,
    decode_tracee_record_needing, tracee_error,
};
use crate::detector::Detector;
use crate::error::{Error, Result};
use crate::features::{FEATURE_WIDTH, FeatureScaler};
use crate::models::host::CpuScorer;

/// Knobs of [`score_stream`].
#[derive(Debug, Clone)]
pub struct ScoreOptions {
    /// Events per forward pass.
    pub batch_size: usize,
    /// Write only events predicted suspicious.
    pub only_alerts: bool,
    /// Skip records that do not parse (counted and reported in the summary) instead of
    /// stopping at the first.
    pub skip_bad: bool,
    /// Output format.
    pub format: OutputFormat,
    /// Score with the detector's [`CpuScorer`], as every other path does (bit-identical to
    /// `eval`, `train`'s reports and `serve`); set it to false to run the model through burn on
    /// the detector's device (the GPU, say), equal within float rounding.
    pub cpu_fast_path: bool,
    /// Give every alert its [reasons](super::explain): a `reasons` column in CSV, a `reasons`
    /// list in JSON lines (empty for events that are not alerts). Falco output always has them.
    pub explain: bool,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            batch_size: 8192,
            only_alerts: false,
            skip_bad: false,
            format: OutputFormat::Csv,
            cpu_fast_path: true,
            explain: false,
        }
    }
}

/// What a scoring run saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScoreSummary {
    /// Events scored.
    pub events: u64,
    /// Events predicted suspicious.
    pub alerts: u64,
    /// Bad records skipped (only with `skip_bad`).
    pub skipped: u64,
    /// The first few skipped records' lines and errors.
    pub first_skipped: Vec<(u64, String)>,
}

const SKIPPED_KEPT: usize = 5;

/// A byte source read by a background thread, for input that arrives live (a pipe from
/// `tracee --output json`, a terminal, a FIFO).
///
/// Its `read` returns [`std::io::ErrorKind::WouldBlock`] once each time the input pauses —
/// no bytes are waiting — and blocks on the next call; [`score_stream`] takes that pause to
/// score and flush the events it holds. Memory is bounded: the thread stays at most four
/// 64 KiB chunks ahead.
pub struct LiveInput {
    chunks: Receiver<std::io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    read: usize,
    pause_reported: bool,
    ended: bool,
}

const LIVE_CHUNK: usize = 64 << 10;

impl LiveInput {
    /// Starts the thread that reads `source`.
    pub fn spawn<R: Read + Send + 'static>(source: R) -> Self {
        let (tx, rx) = sync_channel(4);
        std::thread::spawn(move || pump(source, tx));
        LiveInput {
            chunks: rx,
            chunk: Vec::new(),
            read: 0,
            pause_reported: false,
            ended: false,
        }
    }
}

fn pump<R: Read>(mut source: R, tx: SyncSender<std::io::Result<Vec<u8>>>) {
    loop {
        let mut chunk = vec![0; LIVE_CHUNK];
        match source.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                chunk.truncate(n);
                if tx.send(Ok(chunk)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

impl Read for LiveInput {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read == self.chunk.len() {
            if self.ended {
                return Ok(0);
            }
            let next = match self.chunks.try_recv() {
                Ok(next) => Some(next),
                Err(TryRecvError::Empty) if !self.pause_reported => {
                    self.pause_reported = true;
                    return Err(std::io::ErrorKind::WouldBlock.into());
                }
                Err(TryRecvError::Empty) => self.chunks.recv().ok(),
                Err(TryRecvError::Disconnected) => None,
            };
            self.pause_reported = false;
            match next {
                None => {
                    self.ended = true;
                    return Ok(0);
                }
                Some(Err(e)) => {
                    self.ended = true;
                    return Err(e);
                }
                Some(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.read = 0;
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.read);
        buf[..n].copy_from_slice(&self.chunk[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }
}

/// A batch of events read, with the bytes of their records.
struct Pending {
    events: Vec<BethEvent>,
    bytes: Vec<u8>,
    /// Each record's bytes in `bytes`.
    ranges: Vec<Range<usize>>,
    /// Each record's line and byte offset, kept for Tracee lines, which are decoded a batch
    /// at a time.
    positions: Vec<(u64, u64)>,
}

impl Pending {
    fn with_capacity(events: usize) -> Self {
        Pending {
            events: Vec::with_capacity(events),
            bytes: Vec::new(),
            ranges: Vec::with_capacity(events),
            positions: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.events.clear();
        self.bytes.clear();
        self.ranges.clear();
        self.positions.clear();
    }

    /// Decodes a batch of undecoded Tracee lines on every core. A bad line is skipped and
    /// counted in `skipped` when `skip_bad`; otherwise the batch ends before it and its error
    /// is returned — the same output, line for line, as decoding one line at a time.
    fn decode_tracee_lines(
        &mut self,
        path: &Path,
        required: TraceeFields,
        skip_bad: bool,
        skipped: &mut ScoreSummary,
    ) -> Option<Result<()>> {
        use rayon::prelude::*;
        let bytes = &self.bytes;
        let decoded: Vec<std::result::Result<BethEvent, String>> = self
            .ranges
            .par_iter()
            // Small batches (live input) stay on this thread: waking the pool costs more.
            .with_min_len(512)
            .map(|range| decode_tracee_fields(&bytes[range.clone()], required))
            .collect();
        let mut kept = 0;
        for (i, result) in decoded.into_iter().enumerate() {
            match result {
                Ok(event) => {
                    self.events[kept] = event;
                    self.ranges[kept] = self.ranges[i].clone();
                    kept += 1;
                }
                Err(message) => {
                    let (line, byte) = self.positions[i];
                    let position = crate::error::Position {
                        path: path.to_path_buf(),
                        line,
                        byte,
                    };
                    let error = tracee_error(position, message);
                    if !skip_bad {
                        self.events.truncate(kept);
                        self.ranges.truncate(kept);
                        return Some(Err(error));
                    }
                    skipped.skipped += 1;
                    if skipped.first_skipped.len() < SKIPPED_KEPT {
                        skipped.first_skipped.push((line, error.to_string()));
                    }
                }
            }
        }
        self.events.truncate(kept);
        self.ranges.truncate(kept);
        None
    }
}

/// A batch, and what comes after it: more batches (`None`), the end, or an error.
type ReadBatch = (Pending, Option<Result<()>>);

/// Scores every event `reader` yields and writes them to `out`.
///
/// By default the first bad record stops the run with its error; what was written before it
/// is whole rows only. With `skip_bad` bad records are skipped and counted.
pub fn score_stream<B: Backend, R: Read + Send, W: Write>(
    detector: &Detector<B>,
    reader: &mut EventReader<R>,
    mut out: W,
    options: &ScoreOptions,
) -> Result<ScoreSummary> {
    let out_name = Path::new("<output>");
    if options.batch_size == 0 {
        return Err(Error::InvalidConfig {
            name: "batch size",
            expected: "at least 1",
            found: "0".into(),
        });
    }
    detector.check_schema(reader.schema(), reader.path())?;
    let io = |e: std::io::Error| Error::io(out_name, e);
    let batch = BatchScorer::new(
        detector,
        LineWriter::new(
            detector,
            options.format,
            options.explain,
            split_header(reader.header_bytes()),
        ),
    );
    if let Some(header) = batch.lines.csv_header(reader.header_bytes()) {
        out.write_all(&header).map_err(io)?;
        out.flush().map_err(io)?;
    }
    let mut model = |rows: &[f32]| {
        if options.cpu_fast_path {
            detector.score_feature_rows(rows)
        } else {
            detector.score_feature_rows_on_device(rows)
        }
    };
    // The next batch is read and parsed on a second thread while this one is scored and
    // written: with two cores the slower stage sets the pace, not the sum of both.
    std::thread::scope(|scope| {
        let (full, batches) = sync_channel::<ReadBatch>(1);
        let (spares, spare) = channel::<Pending>();
        // Tracee lines go through a third stage that decodes each batch on every core while
        // the next is being read and the last scored: decoding JSON is most of the work.
        let (full, decoder) = if reader.schema() == Schema::Tracee {
            let required = TraceeFields::for_columns(&detector.scaler().feature_set().columns());
            let path = reader.path().to_path_buf();
            let (raw, undecoded) = sync_channel::<ReadBatch>(1);
            let decoder = scope
                .spawn(move || decode_batches(undecoded, full, &path, required, options.skip_bad));
            (raw, Some(decoder))
        } else {
            (full, None)
        };
        let reading = scope.spawn(move || read_batches(reader, options, full, spare));
        let mut summary = ScoreSummary::default();
        let written = (|| {
            for (mut pending, after) in &batches {
                if !pending.events.is_empty() {
                    let (events, alerts) = batch
                        .score(
                            &pending.events,
                            &pending.bytes,
                            &pending.ranges,
                            &mut model,
                            options.only_alerts,
                            |_, _, line| out.write_all(line),
                        )
                        .map_err(io)?;
                    summary.events += events;
                    summary.alerts += alerts;
                    out.flush().map_err(io)?;
                }
                pending.clear();
                // The reader may have finished and gone: then the buffer is simply dropped.
                let _ = spares.send(pending);
                if let Some(after) = after {
                    return after;
                }
            }
            Ok(())
        })();
        // A reader still sending finds no one listening and stops. One blocked on live input
        // stops when the next input comes, as any stage of a pipeline learns that its reader
        // has gone only when it next writes.
        drop(batches);
        let join = |stage: std::thread::ScopedJoinHandle<'_, ScoreSummary>| {
            stage
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        };
        let mut skipped = join(reading);
        if let Some(decoder) = decoder {
            let decoded = join(decoder);
            skipped.skipped += decoded.skipped;
            skipped.first_skipped.extend(decoded.first_skipped);
            skipped.first_skipped.sort_by_key(|(line, _)| *line);
            skipped.first_skipped.truncate(SKIPPED_KEPT);
        }
        written?;
        out.flush().map_err(io)?;
        summary.skipped = skipped.skipped;
        summary.first_skipped = skipped.first_skipped;
        Ok(summary)
    })
}

/// Reads `reader` into batches of at most `options.batch_size` events and sends them to
/// `full`, reusing the buffers that come back on `spare`. A batch is sent when full, when live
/// input pauses (what is held is scored now, not when more comes), and at the end or the first
/// bad record (unless skipped: then counted in the summary returned).
fn read_batches<R: Read>(
    reader: &mut EventReader<R>,
    options: &ScoreOptions,
    full: SyncSender<ReadBatch>,
    spare: Receiver<Pending>,
) -> ScoreSummary {
    let mut skipped = ScoreSummary::default();
    let mut pending = Pending::with_capacity(options.batch_size);
    // Tracee lines are only found here; `decode_batches` decodes them.
    let tracee = reader.schema() == Schema::Tracee;
    if tracee {
        reader.leave_tracee_lines_undecoded();
    }
    loop {
        let after: Option<Result<()>> = match reader.read_event() {
            Some(Err(e)) if e.is_would_block() => {
                if pending.events.is_empty() {
                    continue;
                }
                None
            }
            Some(Ok(event)) => {
                pending.events.push(event);
                let start = pending.bytes.len();
                pending.bytes.extend_from_slice(reader.record_bytes());
                pending.ranges.push(start..pending.bytes.len());
                if tracee {
                    pending
                        .positions
                        .push((reader.record_line(), reader.record_byte()));
                }
                if pending.events.len() < options.batch_size {
                    continue;
                }
                None
            }
            Some(Err(e)) if options.skip_bad && e.line().is_some() => {
                skipped.skipped += 1;
                if skipped.first_skipped.len() < SKIPPED_KEPT {
                    skipped
                        .first_skipped
                        .push((e.line().unwrap_or(0), e.to_string()));
                }
                continue;
            }
            // Rows read before a bad one are still written: the output stays whole rows.
            Some(Err(e)) => Some(Err(e)),
            None => Some(Ok(())),
        };
        let last = after.is_some();
        if full.send((pending, after)).is_err() || last {
            return skipped;
        }
        pending = spare
            .try_recv()
            .unwrap_or_else(|_| Pending::with_capacity(options.batch_size));
    }
}

/// Decodes the Tracee lines of each batch from `undecoded` on every core and passes the batch
/// on to `full`; returns the bad lines it skipped.
fn decode_batches(
    undecoded: Receiver<ReadBatch>,
    full: SyncSender<ReadBatch>,
    path: &Path,
    required: TraceeFields,
    skip_bad: bool,
) -> ScoreSummary {
    let mut skipped = ScoreSummary::default();
    for (mut pending, after) in undecoded {
        let after = pending
            .decode_tracee_lines(path, required, skip_bad, &mut skipped)
            .or(after);
        let last = after.is_some();
        if full.send((pending, after)).is_err() || last {
            break;
        }
    }
    skipped
}

/// Scores request bodies and messages of Tracee JSON lines held in memory: what `serve` does
/// with each POST ([`score`](Self::score), all or nothing) and what a fleet scorer does with
/// each message ([`score_lines`](Self::score_lines), line by line). The alert lines are byte
/// for byte those [`score_stream`] writes with `only_alerts` and the same format.
#[derive(Debug, Clone)]
pub struct BodyScorer {
    kind: &'static str,
    cpu: CpuScorer,
    batch: BatchScorer,
    required: TraceeFields,
}

/// What one body held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyScore {
    /// Events scored.
    pub events: u64,
    /// One output line per alert, each ending in `\n`.
    pub alerts: Vec<Vec<u8>>,
}

/// What one body held, line by line: its good lines scored, its bad lines kept with their
/// errors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinesScore {
    /// Events scored.
    pub events: u64,
    /// The alerts, in line order.
    pub alerts: Vec<LineAlert>,
    /// The lines that are not events, in line order.
    pub bad: Vec<BadLine>,
}

/// One alert of a body.
#[derive(Debug, Clone, PartialEq)]
pub struct LineAlert {
    /// The 1-based line of the body it came from.
    pub line: u64,
    /// The event's score.
    pub score: f32,
    /// The output line, ending in `\n`.
    pub text: Vec<u8>,
}

/// A line of a body that is not an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// Its 1-based line in the body.
    pub line: u64,
    /// Its bytes in the body (without the line terminator).
    pub bytes: Range<usize>,
    /// Why it is not an event.
    pub error: String,
}

impl BodyScorer {
    /// Takes what it needs from the detector (scoring runs on the CPU path); `format` is
    /// [`OutputFormat::JsonLines`] or [`OutputFormat::Falco`] (a CSV request is answered with
    /// JSON lines too: Tracee events have no CSV form). Fails if the detector's features need
    /// a column Tracee events lack.
    pub fn new<B: Backend>(
        detector: &Detector<B>,
        format: OutputFormat,
        explain: bool,
    ) -> Result<Self> {
        detector.check_schema(Schema::Tracee, Path::new("Tracee events"))?;
        Ok(BodyScorer {
            kind: detector.kind(),
            // Requests are small and run concurrently; one thread each.
            cpu: detector.cpu_scorer().clone().with_threads(1),
            batch: BatchScorer::new(
                detector,
                LineWriter::new(detector, format, explain, Vec::new()),
            ),
            required: TraceeFields::for_columns(&detector.scaler().feature_set().columns()),
        })
    }

    /// The detector kind's name.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The detector's threshold.
    pub fn threshold(&self) -> f64 {
        self.batch.lines.threshold
    }

    /// Parses every line of `body` first (the first bad one is the error, and nothing is
    /// scored), then scores them. `name` is what errors call the body.
    pub fn score(&self, body: &[u8], name: &Path) -> Result<BodyScore> {
        let mut events = Vec::new();
        // Records are scored and written from the body itself, not copied.
        let mut ranges = Vec::new();
        for (line, record, start) in body_lines(body) {
            let position = || crate::error::Position {
                path: name.to_path_buf(),
                line,
                byte: start as u64,
            };
            let event =
                decode_tracee_record_needing(&body[record.clone()], self.required, position)?;
            events.push(event);
            ranges.push(record);
        }
        let mut alerts = Vec::new();
        let mut model = |rows: &[f32]| self.cpu.score(rows);
        let (events, _) = self
            .batch
            .score(&events, body, &ranges, &mut model, true, |_, _, line| {
                alerts.push(line.to_vec());
                Ok(())
            })
            .map_err(|e| Error::io(name, e))?;
        Ok(BodyScore { events, alerts })
    }

    /// Scores every line of `body` that is an event and keeps the others, with their errors,
    /// for the caller to set aside: one bad line never holds up its neighbours.
    pub fn score_lines(&self, body: &[u8]) -> LinesScore {
        let mut events = Vec::new();
        let mut ranges = Vec::new();
        let mut lines = Vec::new();
        let mut bad = Vec::new();
        for (line, record, _) in body_lines(body) {
            match decode_tracee_fields(&body[record.clone()], self.required) {
                Ok(event) => {
                    events.push(event);
                    ranges.push(record);
                    lines.push(line);
                }
                Err(error) => bad.push(BadLine {
                    line,
                    bytes: record,
                    error,
                }),
            }
        }
        let mut alerts = Vec::new();
        let mut model = |rows: &[f32]| self.cpu.score(rows);
        // Writing into memory cannot fail.
        let (events, _) = self
            .batch
            .score(
                &events,
                body,
                &ranges,
                &mut model,
                true,
                |i, score, text| {
                    alerts.push(LineAlert {
                        line: lines[i],
                        score,
                        text: text.to_vec(),
                    });
                    Ok(())
                },
            )
            .unwrap_or_default();
        LinesScore {
            events,
            alerts,
            bad,
        }
    }
}

/// The non-blank lines of a body: (1-based line, bytes without the terminator, start offset).
pub fn body_lines(body: &[u8]) -> impl Iterator<Item = (u64, Range<usize>, usize)> + '_ {
    let mut start = 0;
    let mut line = 0u64;
    std::iter::from_fn(move || {
        while start < body.len() {
            let end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |i| start + i);
            let mut record = start..end;
            if body[..end].ends_with(b"\r") {
                record.end -= 1;
            }
            let record_start = start;
            start = end + 1;
            line += 1;
            if !body[record.clone()].iter().all(u8::is_ascii_whitespace) {
                return Some((line, record, record_start));
            }
        }
        None
    })
}

/// Scores a batch of records, explains its alerts, and writes the lines. Built once per run
/// (or per server) and shared: nothing in it changes while scoring.
#[derive(Debug, Clone)]
struct BatchScorer {
    scaler: FeatureScaler,
    lines: LineWriter,
    explainer: Option<Explainer>,
}

impl BatchScorer {
    fn new<B: Backend>(detector: &Detector<B>, lines: LineWriter) -> Self {
        BatchScorer {
            scaler: detector.scaler().clone(),
            explainer: lines.explain.then(|| Explainer::new(detector.scaler())),
            lines,
        }
    }

    /// Writes each line through `write`; returns (events, alerts).
    fn score(
        &self,
        events: &[BethEvent],
        bytes: &[u8],
        ranges: &[Range<usize>],
        model: &mut dyn FnMut(&[f32]) -> Vec<f32>,
        only_alerts: bool,
        mut write: impl FnMut(usize, f32, &[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<(u64, u64)> {
        let mut features = vec![0.0f32; events.len() * FEATURE_WIDTH];
        for (e, row) in events.iter().zip(features.chunks_exact_mut(FEATURE_WIDTH)) {
            self.scaler.transform_into(e, row);
        }
        let scores = model(&features);
        let threshold = self.lines.threshold;
        let alert: Vec<bool> = scores.iter().map(|&s| s as f64 >= threshold).collect();
        let reasons = self.reasons(events, &scores, &alert, model);
        let falco = self.lines.format == OutputFormat::Falco;
        let only_alerts = only_alerts || falco;
        let now = SystemTime::now();
        let alerts = alert.iter().filter(|&&a| a).count() as u64;
        if falco {
            // A Falco alert takes microseconds to write (a JSON object of the event's fields):
            // written on every core, then passed on in order.
            use rayon::prelude::*;
            let alerting: Vec<usize> = (0..events.len()).filter(|&i| alert[i]).collect();
            let lines: Vec<std::io::Result<Vec<u8>>> = alerting
                .par_iter()
                .with_min_len(32)
                .map(|&i| {
                    let mut line = Vec::new();
                    let reasons = reasons.as_ref().map(|r| r[i].as_slice());
                    let record = &bytes[ranges[i].clone()];
                    self.lines
                        .write(record, scores[i], true, reasons, now, &mut line)
                        .map(|()| line)
                })
                .collect();
            for (&i, line) in alerting.iter().zip(lines) {
                write(i, scores[i], &line?)?;
            }
            return Ok((events.len() as u64, alerts));
        }
        let mut line = Vec::new();
        for (i, (range, &score)) in ranges.iter().zip(&scores).enumerate() {
            let record = &bytes[range.clone()];
            if only_alerts && !alert[i] {
                continue;
            }
            line.clear();
            let reasons = reasons.as_ref().map(|r| r[i].as_slice());
            self.lines
                .write(record, score, alert[i], reasons, now, &mut line)?;
            write(i, score, &line)?;
        }
        Ok((events.len() as u64, alerts))
    }

    /// Every event's reasons (empty unless it is an alert), when explaining.
    fn reasons(
        &self,
        events: &[BethEvent],
        scores: &[f32],
        alert: &[bool],
        model: &mut dyn FnMut(&[f32]) -> Vec<f32>,
    ) -> Option<Vec<Vec<Reason>>> {
        let explainer = self.explainer.as_ref()?;
        let feature_set = self.scaler.feature_set();
        let alerting: Vec<usize> = (0..events.len()).filter(|&i| alert[i]).collect();
        let rows: Vec<[f64; FEATURE_WIDTH]> = alerting
            .iter()
            .map(|&i| feature_set.encode(&events[i]))
            .collect();
        let alert_scores: Vec<f32> = alerting.iter().map(|&i| scores[i]).collect();
        let explained = explainer.explain(&rows, &alert_scores, |occluded| {
            let mut scaled = vec![0.0f32; occluded.len() * FEATURE_WIDTH];
            for (x, row) in occluded.iter().zip(scaled.chunks_exact_mut(FEATURE_WIDTH)) {
                self.scaler.scale_into(x, row);
            }
            model(&scaled)
        });
        let mut all = vec![Vec::new(); events.len()];
        for (i, r) in alerting.into_iter().zip(explained) {
            all[i] = r;
        }
        Some(all)
    }
}
