use std::io::Write;
use std::path::PathBuf;

use beth_detect::data::{BethDataset, Column, ColumnSummary, Label};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// BETH files: raw split CSV, DataCamp CSV, per-host CSV or Tracee JSON lines.
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
