//! `beth-detect inspect`: what a data file or a detector directory holds.

use std::io::Write;
use std::path::PathBuf;

use beth_detect::backend::NdArray;
use beth_detect::data::{BethDataset, Column, ColumnSummary, Label};
use beth_detect::detector::{DETECTOR_FILE, Detector};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// BETH files (raw split CSV, DataCamp CSV, per-host CSV or Tracee JSON lines), or
    /// detector directories (kind, threshold and its rule, where it was trained and
    /// calibrated).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// One JSON object per file, one per line.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct FileReport<'a> {
    path: &'a std::path::Path,
    schema: &'static str,
    rows: usize,
    sus: Option<usize>,
    evil: Option<usize>,
    columns: Vec<ColumnSummary>,
    /// Header columns no schema uses; ignored by train and eval, kept by score.
    extra_columns: &'a [String],
}

pub fn run(args: Args) -> beth_detect::Result<()> {
    let mut out = std::io::stdout().lock();
    for path in &args.files {
        if path.join(DETECTOR_FILE).is_file() {
            let written = inspect_detector(&mut out, path, args.json)?;
            if written.is_err() {
                return Ok(());
            }
            continue;
        }
        let dataset = BethDataset::open(path)?;
        let count = |label: Label| -> Option<usize> {
            let d = dataset.clone().with_label(label).ok()?;
            Some(d.positives())
        };
        let report = FileReport {
            path,
            schema: dataset.schema().name(),
            rows: dataset.len(),
            sus: dataset
                .schema()
                .has(Column::Sus)
                .then(|| count(Label::Sus))
                .flatten(),
            evil: dataset
                .schema()
                .has(Column::Evil)
                .then(|| count(Label::Evil))
                .flatten(),
            columns: dataset.summary(),
            extra_columns: dataset.extra_columns(),
        };
        let written = if args.json {
            writeln!(
                out,
                "{}",
                serde_json::to_string(&report).expect("report serialises")
            )
        } else {
            print_text(&mut out, &report)
        };
        // A closed pipe (e.g. `| head`) is not an error worth reporting.
        if written.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

fn print_text(out: &mut impl Write, r: &FileReport) -> std::io::Result<()> {
    let show = |v: Option<usize>| v.map_or("-".to_string(), |n| n.to_string());
    writeln!(out, "{}", r.path.display())?;
    writeln!(
        out,
        "  schema {}  rows {}  sus {}  evil {}",
        r.schema,
        r.rows,
        show(r.sus),
        show(r.evil)
    )?;
    if !r.extra_columns.is_empty() {
        writeln!(
            out,
            "  extra columns (ignored; kept by score): {}",
            r.extra_columns.join(", ")
        )?;
    }
    writeln!(
        out,
        "  {:<16} {:>22} {:>22} {:>22}",
        "column", "min", "mean", "max"
    )?;
    for c in &r.columns {
        writeln!(
            out,
            "  {:<16} {:>22} {:>22.4} {:>22}",
            c.column, c.min, c.mean, c.max
        )?;
    }
    Ok(())
}

/// A detector directory: what it is, its threshold and rule, and its provenance.
fn inspect_detector(
    out: &mut impl Write,
    path: &std::path::Path,
    json: bool,
) -> beth_detect::Result<std::io::Result<()>> {
    let detector = Detector::<NdArray>::load(path, &Default::default())?;
    let m = detector.metadata();
    if json {
        let value = serde_json::json!({
            "path": path,
            "kind": detector.kind(),
            "members": detector.members().len().max(1),
            "threshold": detector.threshold(),
            "threshold_rule": m.threshold_rule.to_string(),
            "metadata": m,
        });
        return Ok(writeln!(out, "{value}"));
    }
    Ok((|| {
        writeln!(out, "{} (detector)", path.display())?;
        writeln!(
            out,
            "  kind {}  networks {}  features {}  label {}",
            detector.kind(),
            detector.members().len().max(1),
            m.feature_set,
            m.label
        )?;
        writeln!(
            out,
            "  threshold {} ({})",
            detector.threshold(),
            m.threshold_rule
        )?;
        writeln!(
            out,
            "  trained on {}{}: {} rows ({} positive), validation {} rows",
            m.data_source,
            if m.synthetic { " (SYNTHETIC)" } else { "" },
            m.train_rows,
            m.train_positives,
            m.validation_rows
        )?;
        if let Some(rate) = &m.benign_alert_rate {
            writeln!(
                out,
                "  normal events alerting where the threshold was set: {} of {} ({:.3}%)",
                rate.alerts,
                rate.events,
                100.0 * rate.rate()
            )?;
        }
        match &m.calibration {
            Some(c) => writeln!(
                out,
                "  calibrated {} on {} by {} (threshold was {} by {}; {} suspicious rows left out; {}{})",
                c.calibrated_at,
                c.data_source,
                c.rule,
                c.previous_threshold,
                c.previous_rule,
                c.skipped_suspicious,
                c.mode.map_or_else(
                    || "budget's quantile: calibrated before budgets were ceilings".to_string(),
                    |mode| mode.to_string()
                ),
                if c.threshold_kept {
                    "; already within budget, threshold kept"
                } else {
                    ""
                }
            ),
            None => writeln!(out, "  not calibrated (threshold chosen at training time)"),
        }
    })())
}
