//! Scores → output: stream events through a detector and write them back with their scores.
//!
//! Memory stays constant whatever the input size: events are read, featurised, scored and
//! written one batch at a time, and each batch is flushed as soon as it is written. On live
//! input ([`LiveInput`]) a partial batch is scored and flushed the moment the input pauses, so
//! an alert never waits for events that have not happened yet.
//!
//! ```
//! use beth_detect::backend::NdArray;
//! use beth_detect::data::EventReader;
//! use beth_detect::interop::{imported_detector, load_pytorch, load_sklearn_scaler};
//! use beth_detect::scoring::{ScoreOptions, score_stream};
//!
//! // The PyTorch notebook's model and scaler (test fixtures), made into a detector.
//! let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pytorch");
//! let model = load_pytorch::<NdArray>(format!("{fixtures}/model.pt"), &Default::default())?;
//! let scaler = load_sklearn_scaler(format!("{fixtures}/scaler.json"))?;
//! let detector = imported_detector(model, scaler, 0.5, "model.pt".as_ref())?;
//!
//! let events = "processId,threadId,parentProcessId,userId,mountNamespace,argsNum,returnValue,sus_label\n\
//!               382,382,1,101,4026532232,3,15,0\n\
//!               7347,7347,7341,0,4026531840,1,0,1\n";
//! let mut reader = EventReader::new(events.as_bytes(), "events.csv")?;
//! let mut scored = Vec::new();
//! let summary = score_stream(&detector, &mut reader, &mut scored, &ScoreOptions::default())?;
//! assert_eq!(summary.events, 2);
//! let scored = String::from_utf8(scored).unwrap();
//! let lines: Vec<&str> = scored.lines().collect();
//! assert!(lines[0].ends_with("sus_label,score,prediction"));
//! assert!(lines[1].starts_with("382,382,1,101,4026532232,3,15,0,"));
//! # Ok::<(), beth_detect::Error>(())
//! ```

use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};

use burn::prelude::Backend;

use crate::data::{BethEvent, EventReader, Schema};
use crate::detector::Detector;
use crate::error::{Error, Result};

/// What the scored output looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// The input's CSV header and rows, each with `score` and `prediction` appended. For
    /// Tracee JSON input, JSON lines are written instead.
    #[default]
    Csv,
    /// One JSON object per event: a Tracee event as it came, or a CSV row as an object of its
    /// columns, with `score` and `prediction` added.
    JsonLines,
}

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
    /// Score with [`CpuScorer`](crate::cpu_scorer::CpuScorer) instead of the detector's burn
    /// backend (same results; set it to false to run the model on, e.g., the GPU).
    pub cpu_fast_path: bool,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            batch_size: 8192,
            only_alerts: false,
            skip_bad: false,
            format: OutputFormat::Csv,
            cpu_fast_path: true,
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

struct Pending {
    events: Vec<BethEvent>,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

/// Scores every event `reader` yields and writes them to `out`.
///
/// By default the first bad record stops the run with its error; what was written before it
/// is whole rows only. With `skip_bad` bad records are skipped and counted.
pub fn score_stream<B: Backend, R: Read, W: Write>(
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
    let schema = reader.schema();
    let json = options.format == OutputFormat::JsonLines || schema == Schema::Tracee;
    let columns: Vec<String> = split_header(reader.header_bytes());
    if !json {
        out.write_all(reader.header_bytes()).map_err(io)?;
        out.write_all(b",score,prediction\n").map_err(io)?;
        out.flush().map_err(io)?;
    }
    let mut summary = ScoreSummary::default();
    let mut pending = Pending {
        events: Vec::with_capacity(options.batch_size),
        bytes: Vec::new(),
        ends: Vec::with_capacity(options.batch_size),
    };
    let mut line = Vec::new();
    let mut scorer = Scorer {
        detector,
        cpu: options.cpu_fast_path.then(|| detector.cpu_scorer()),
        features: Vec::new(),
    };
    loop {
        // What happens after this batch is written: go on, stop at the end, or fail.
        let after: Option<Result<()>> = match reader.read_event() {
            // Live input paused: what is held is scored and written now, not when more comes.
            Some(Err(e)) if e.is_would_block() => None,
            Some(Ok(event)) => {
                pending.events.push(event);
                pending.bytes.extend_from_slice(reader.record_bytes());
                pending.ends.push(pending.bytes.len());
                if pending.events.len() < options.batch_size {
                    continue;
                }
                None
            }
            Some(Err(e)) if options.skip_bad && e.line().is_some() => {
                summary.skipped += 1;
                if summary.first_skipped.len() < SKIPPED_KEPT {
                    summary
                        .first_skipped
                        .push((e.line().unwrap_or(0), e.to_string()));
                }
                continue;
            }
            // Rows read before a bad one are still written: the output stays whole rows.
            Some(Err(e)) => Some(Err(e)),
            None => Some(Ok(())),
        };
        flush(
            &mut scorer,
            &mut pending,
            &mut out,
            json,
            &columns,
            options,
            &mut summary,
            &mut line,
        )
        .map_err(io)?;
        match after {
            None => {}
            Some(Ok(())) => break,
            Some(Err(e)) => return Err(e),
        }
    }
    out.flush().map_err(io)?;
    Ok(summary)
}

struct Scorer<'a, B: Backend> {
    detector: &'a Detector<B>,
    cpu: Option<crate::cpu_scorer::CpuScorer>,
    features: Vec<f32>,
}

impl<B: Backend> Scorer<'_, B> {
    fn score(&mut self, events: &[BethEvent]) -> Vec<f32> {
        match &self.cpu {
            None => self.detector.score_events(events),
            Some(cpu) => {
                let width = crate::features::FEATURE_WIDTH;
                self.features.resize(events.len() * width, 0.0);
                for (e, row) in events.iter().zip(self.features.chunks_exact_mut(width)) {
                    self.detector.scaler().transform_into(e, row);
                }
                cpu.score(&self.features)
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn flush<B: Backend, W: Write>(
    scorer: &mut Scorer<'_, B>,
    pending: &mut Pending,
    out: &mut W,
    json: bool,
    columns: &[String],
    options: &ScoreOptions,
    summary: &mut ScoreSummary,
    line: &mut Vec<u8>,
) -> std::io::Result<()> {
    if pending.events.is_empty() {
        return Ok(());
    }
    let scores = scorer.score(&pending.events);
    let threshold = scorer.detector.threshold();
    let mut start = 0;
    for (&end, &score) in pending.ends.iter().zip(&scores) {
        let record = &pending.bytes[start..end];
        start = end;
        let alert = score as f64 >= threshold;
        summary.events += 1;
        summary.alerts += alert as u64;
        if options.only_alerts && !alert {
            continue;
        }
        line.clear();
        if json {
            json_line(record, columns, score, alert, line);
        } else {
            line.extend_from_slice(record);
            write!(line, ",{score},{}", alert as u8)?;
        }
        line.push(b'\n');
        out.write_all(line)?;
    }
    out.flush()?;
    pending.events.clear();
    pending.bytes.clear();
    pending.ends.clear();
    Ok(())
}

fn split_header(header: &[u8]) -> Vec<String> {
    if header.is_empty() {
        return Vec::new();
    }
    let mut fields = Vec::new();
    let _ = crate::data::split_fields(header, &mut fields);
    fields
        .iter()
        .map(|r| String::from_utf8_lossy(&header[r.clone()]).into_owned())
        .collect()
}

/// A Tracee object with two fields added before its closing brace, or a CSV row as an object.
fn json_line(record: &[u8], columns: &[String], score: f32, alert: bool, line: &mut Vec<u8>) {
    let trimmed = record.trim_ascii_end();
    if columns.is_empty() {
        if let Some(body) = trimmed.strip_suffix(b"}") {
            line.extend_from_slice(body);
            let empty = body.trim_ascii_end().ends_with(b"{");
            let _ = write!(
                line,
                "{}\"score\":{score},\"prediction\":{}}}",
                if empty { "" } else { "," },
                alert as u8
            );
        }
        return;
    }
    let mut fields = Vec::new();
    let _ = crate::data::split_fields(record, &mut fields);
    let mut object = serde_json::Map::new();
    for (name, range) in columns.iter().zip(&fields) {
        let raw = String::from_utf8_lossy(&record[range.clone()]).replace("\"\"", "\"");
        let value = match raw.parse::<i64>() {
            Ok(n) => serde_json::Value::from(n),
            Err(_) => serde_json::Value::from(raw),
        };
        object.insert(name.clone(), value);
    }
    object.insert("score".into(), json_score(score));
    object.insert("prediction".into(), serde_json::Value::from(alert as u8));
    let _ = serde_json::to_writer(&mut *line, &object);
}

/// The score as JSON, written with the f32's shortest digits (as in the CSV output).
fn json_score(score: f32) -> serde_json::Value {
    format!("{score}")
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}
