//! Scored records → output lines: CSV with `score` and `prediction` appended, JSON lines, or
//! Falco alerts; the same for files, pipes and request bodies.

use std::io::Write;
use std::time::SystemTime;

use burn::prelude::Backend;
use serde_json::{Map, Value};

use super::explain::{Reason, reasons_text};
use super::falco::FalcoContext;
use super::json::{json_score, reasons_json};
use crate::detector::Detector;

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
    /// Alerts only, as Falco-compatible JSON lines with their reasons (see [`crate::scoring::falco`]).
    Falco,
}

/// How a scored record is written: the same for files, pipes and request bodies.
#[derive(Debug, Clone)]
pub(super) struct LineWriter {
    pub(super) format: OutputFormat,
    pub(super) explain: bool,
    /// The CSV header's columns; empty for Tracee JSON.
    columns: Vec<String>,
    /// Set for Falco output.
    falco: Option<FalcoContext>,
    /// The detector's threshold: what alerts, and what Falco priorities are measured from.
    pub(super) threshold: f64,
}

impl LineWriter {
    pub(super) fn new<B: Backend>(
        detector: &Detector<B>,
        format: OutputFormat,
        explain: bool,
        columns: Vec<String>,
    ) -> Self {
        let falco = format == OutputFormat::Falco;
        // Tracee input has no CSV form.
        let format = if format == OutputFormat::Csv && columns.is_empty() {
            OutputFormat::JsonLines
        } else {
            format
        };
        LineWriter {
            format,
            explain: explain || falco,
            columns,
            falco: falco.then(|| FalcoContext::new(detector.kind())),
            threshold: detector.threshold(),
        }
    }

    /// The header line of CSV output.
    pub(super) fn csv_header(&self, input_header: &[u8]) -> Option<Vec<u8>> {
        (self.format == OutputFormat::Csv).then(|| {
            let mut header = input_header.to_vec();
            header.extend_from_slice(b",score,prediction");
            if self.explain {
                header.extend_from_slice(b",reasons");
            }
            header.push(b'\n');
            header
        })
    }

    /// One output line, with its `\n`.
    pub(super) fn write(
        &self,
        record: &[u8],
        score: f32,
        alert: bool,
        reasons: Option<&[Reason]>,
        now: SystemTime,
        line: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        match self.format {
            OutputFormat::Csv => {
                line.extend_from_slice(record);
                write!(line, ",{score},{}", alert as u8)?;
                if let Some(reasons) = reasons {
                    // `;`, `=`, `(`, `+` and spaces need no CSV quoting.
                    write!(line, ",{}", reasons_text(reasons))?;
                }
            }
            OutputFormat::JsonLines if self.columns.is_empty() => {
                tracee_line(record, score, alert, reasons, line)
            }
            OutputFormat::JsonLines => {
                let mut object = csv_object(record, &self.columns);
                object.insert("score".into(), json_score(score));
                object.insert("prediction".into(), Value::from(alert as u8));
                if let Some(reasons) = reasons {
                    object.insert("reasons".into(), reasons_json(reasons));
                }
                serde_json::to_writer(&mut *line, &object)?;
            }
            OutputFormat::Falco => {
                let falco = self.falco.as_ref().expect("falco output has a context");
                let reasons = reasons.unwrap_or(&[]);
                if self.columns.is_empty() {
                    let start = line.len();
                    let written =
                        falco.write_tracee_alert(record, score, self.threshold, reasons, now, line);
                    if written.is_some() {
                        line.push(b'\n');
                        return Ok(());
                    }
                    line.truncate(start);
                }
                let fields = if self.columns.is_empty() {
                    serde_json::from_slice(record).unwrap_or_default()
                } else {
                    csv_object(record, &self.columns)
                };
                let alert = falco.alert(fields, score, self.threshold, reasons, now);
                serde_json::to_writer(&mut *line, &alert)?;
            }
        }
        line.push(b'\n');
        Ok(())
    }
}

/// The columns of a CSV header line; none for Tracee JSON (an empty header).
pub fn split_header(header: &[u8]) -> Vec<String> {
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

/// A Tracee object with the score (and reasons) added before its closing brace.
fn tracee_line(
    record: &[u8],
    score: f32,
    alert: bool,
    reasons: Option<&[Reason]>,
    line: &mut Vec<u8>,
) {
    let trimmed = record.trim_ascii_end();
    if let Some(body) = trimmed.strip_suffix(b"}") {
        line.extend_from_slice(body);
        let empty = body.trim_ascii_end().ends_with(b"{");
        let _ = write!(
            line,
            "{}\"score\":{score},\"prediction\":{}",
            if empty { "" } else { "," },
            alert as u8
        );
        if let Some(reasons) = reasons {
            line.extend_from_slice(b",\"reasons\":");
            let _ = serde_json::to_writer(&mut *line, &reasons_json(reasons));
        }
        line.push(b'}');
    }
}

/// A CSV row as an object of its columns (integers as numbers).
pub(crate) fn csv_object(record: &[u8], columns: &[String]) -> Map<String, Value> {
    let mut fields = Vec::new();
    let _ = crate::data::split_fields(record, &mut fields);
    let mut object = Map::new();
    for (name, range) in columns.iter().zip(&fields) {
        let raw = String::from_utf8_lossy(&record[range.clone()]).replace("\"\"", "\"");
        let value = match raw.parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::from(raw),
        };
        object.insert(name.clone(), value);
    }
    object
}
