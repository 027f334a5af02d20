//! Report → text: the short table a person reads first, before any JSON.
//!
//! One row per split: events, suspicious events, how many were caught (recall), false alarms
//! (benign events that alerted, and their share of the benign events), precision, AUROC and
//! the threshold with the rule that chose it. Data from the synthetic generator is marked
//! SYNTHETIC above the table. The text is returned, never printed: the caller decides where
//! it goes.
//!
//! ```
//! use beth_detect::evaluation::{EvaluationReport, ThresholdRule};
//! use beth_detect::report::{SummaryRow, summary_table};
//!
//! let report = EvaluationReport::compute(&[0.9, 0.2, 0.7, 0.1], &[1, 0, 0, 0], 0.5)?;
//! let row = SummaryRow::of("test", &report, Some(&ThresholdRule::MaxF1));
//! let table = summary_table(&[row], false);
//! assert!(table.contains("1 (100.0%)")); // caught: 1 of 1 suspicious event
//! assert!(table.contains("1 (33.3%)")); // false alarms: 1 of 3 benign events
//! # Ok::<(), beth_detect::Error>(())
//! ```

use crate::evaluation::{EvaluationReport, ThresholdRule};

/// One line of the table, its cells already written out.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// What the row is about (`validation`, `test`, a file, `mlp test` …).
    pub name: String,
    /// Events.
    pub rows: String,
    /// Events labelled suspicious.
    pub suspicious: String,
    /// Suspicious events that alerted, and their share (recall).
    pub caught: String,
    /// Benign events that alerted, and their share of the benign events (false-positive
    /// rate).
    pub false_alarms: String,
    /// Alerts that were suspicious.
    pub precision: String,
    /// Area under the ROC curve.
    pub auroc: String,
    /// The threshold and the rule that chose it.
    pub threshold: String,
    /// Whether nothing suspicious was caught though there was something to catch.
    pub caught_nothing: bool,
}

impl SummaryRow {
    /// The row for one report; `rule` is the threshold's rule when known.
    pub fn of(name: &str, report: &EvaluationReport, rule: Option<&ThresholdRule>) -> Self {
        let c = &report.confusion;
        let benign = c.fp + c.tn;
        SummaryRow {
            name: name.to_string(),
            rows: thousands(report.rows),
            suspicious: thousands(report.positives),
            caught: format!("{} ({})", thousands(c.tp), percent(c.tp, report.positives)),
            false_alarms: format!("{} ({})", thousands(c.fp), percent(c.fp, benign)),
            precision: if c.tp + c.fp == 0 {
                "no alerts".into()
            } else {
                format!("{:.4}", report.precision)
            },
            auroc: report
                .auroc
                .map_or_else(|| "one class".into(), |a| format!("{a:.4}")),
            threshold: threshold_text(report.threshold, rule),
            caught_nothing: c.tp == 0 && report.positives > 0,
        }
    }

    /// A row over several runs of the same split (a benchmark's seeds): per-run counts are
    /// means, shares are means over runs with the worst run's in brackets.
    pub fn over_runs(
        name: &str,
        reports: &[&EvaluationReport],
        rule: Option<&ThresholdRule>,
    ) -> Self {
        let n = reports.len().max(1) as f64;
        let mean =
            |f: &dyn Fn(&EvaluationReport) -> f64| reports.iter().map(|r| f(r)).sum::<f64>() / n;
        let fpr = |r: &EvaluationReport| r.confusion.false_positive_rate();
        let worst_recall = reports
            .iter()
            .map(|r| r.recall)
            .fold(f64::INFINITY, f64::min);
        let worst_fpr = reports.iter().map(|r| fpr(r)).fold(0.0, f64::max);
        let thresholds = reports.iter().map(|r| r.threshold);
        let (low, high) = thresholds.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), t| {
            (l.min(t), h.max(t))
        });
        let aurocs: Vec<f64> = reports.iter().filter_map(|r| r.auroc).collect();
        SummaryRow {
            name: name.to_string(),
            rows: thousands(mean(&|r| r.rows as f64).round() as u64),
            suspicious: thousands(mean(&|r| r.positives as f64).round() as u64),
            caught: format!(
                "{} (min {})",
                share(mean(&|r| r.recall)),
                share(worst_recall)
            ),
            false_alarms: format!("{} (max {})", share(mean(&fpr)), share(worst_fpr)),
            precision: format!("{:.4}", mean(&|r| r.precision)),
            auroc: if aurocs.is_empty() {
                "one class".into()
            } else {
                format!("{:.4}", aurocs.iter().sum::<f64>() / aurocs.len() as f64)
            },
            threshold: if low == high {
                threshold_text(low, rule)
            } else {
                format!(
                    "{}–{}{}",
                    short_threshold(low),
                    short_threshold(high),
                    rule.map_or_else(String::new, |r| format!(" ({r})"))
                )
            },
            caught_nothing: reports
                .iter()
                .all(|r| r.confusion.tp == 0 && r.positives > 0),
        }
    }
}

/// One row per named report that exists (`None`s are left out): the train command's and the
/// examples' validation and test lines.
pub fn split_rows(
    reports: &[(&str, Option<&EvaluationReport>)],
    rule: Option<&ThresholdRule>,
) -> Vec<SummaryRow> {
    reports
        .iter()
        .filter_map(|(name, report)| report.map(|r| SummaryRow::of(name, r, rule)))
        .collect()
}

/// The table: a SYNTHETIC banner when `synthetic`, a header, one line per row, and a plain
/// sentence under any row that caught nothing.
pub fn summary_table(rows: &[SummaryRow], synthetic: bool) -> String {
    let header = [
        "",
        "events",
        "suspicious",
        "caught (recall)",
        "false alarms (FPR)",
        "precision",
        "AUROC",
        "threshold (rule)",
    ];
    let cells: Vec<[&str; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.name.as_str(),
                &r.rows,
                &r.suspicious,
                &r.caught,
                &r.false_alarms,
                &r.precision,
                &r.auroc,
                &r.threshold,
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for line in &cells {
        for (w, c) in widths.iter_mut().zip(line) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    if synthetic {
        out.push_str("SYNTHETIC data: these figures say nothing about real logs\n");
    }
    for line in std::iter::once(&header).chain(&cells) {
        for (i, (cell, w)) in line.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            if i == 0 || i == 7 {
                out.push_str(cell);
                out.extend(std::iter::repeat_n(' ', pad));
            } else {
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(cell);
            }
            if i < 7 {
                out.push_str("  ");
            }
        }
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        out.push('\n');
    }
    for r in rows.iter().filter(|r| r.caught_nothing) {
        out.push_str(&format!(
            "{}: no suspicious event reached the threshold: this detector caught nothing there\n",
            r.name
        ));
    }
    out
}

fn threshold_text(threshold: f64, rule: Option<&ThresholdRule>) -> String {
    match rule {
        None => short_threshold(threshold),
        Some(ThresholdRule::Fixed(_)) => format!("{} (fixed)", short_threshold(threshold)),
        Some(rule) => format!("{} ({rule})", short_threshold(threshold)),
    }
}

fn short_threshold(t: f64) -> String {
    if t == 0.0 || t == 1.0 || t == 0.5 {
        format!("{t}")
    } else if t.abs() >= 1e-3 {
        format!("{t:.4}")
    } else {
        format!("{t:.3e}")
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        share(part as f64 / whole as f64)
    }
}

/// A share as a percentage with enough digits to tell small rates apart.
fn share(x: f64) -> String {
    let p = 100.0 * x;
    if p == 0.0 || p >= 10.0 {
        format!("{p:.1}%")
    } else if p >= 0.1 {
        format!("{p:.2}%")
    } else {
        format!("{p:.3}%")
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
