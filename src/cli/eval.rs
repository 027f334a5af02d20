//! `beth-detect eval`: a saved detector scored on labelled files, with the summary table.

use std::path::{Path, PathBuf};

use beth_detect::backend::BackendChoice;
use beth_detect::data::{BethDataset, BethSplits, CarveOptions};
use beth_detect::detector::{Detector, evaluate_scores};
use beth_detect::plots::write_evaluation_plots;
use beth_detect::{Error, Result, with_backend};
use burn::prelude::Backend;

use beth_detect::report::{SummaryRow, summary_table};

use super::report::{print_report, warn_if_unusual};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Detector directory (written by `train`).
    #[arg(long)]
    model: PathBuf,
    /// A labelled BETH file, or a directory of split files (validation and test are reported).
    #[arg(long)]
    data: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Also draw ROC, precision-recall and score-histogram PNGs into this directory (one
    /// subdirectory per split when `--data` is a directory).
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Backend: `ndarray`, `flex` (default) or `wgpu` (needs the `wgpu` cargo feature).
    #[arg(long, default_value_t = BackendChoice::DEFAULT)]
    backend: BackendChoice,
}

pub fn run(args: Args) -> Result<()> {
    with_backend!(args.backend, |B| run_on::<B>(args))
}

fn run_on<B: Backend>(args: Args) -> Result<()> {
    let detector = Detector::<B>::load(&args.model, &Default::default())?;
    let label = detector.metadata().label;
    let many = args.data.is_dir();
    let datasets: Vec<(String, BethDataset)> = if many {
        // Without a validation file, carve the rows the detector was validated on: same
        // fraction, seed and stratification as at training time.
        let carve = detector
            .metadata()
            .carved_validation
            .as_ref()
            .map(|c| c.options)
            .unwrap_or(CarveOptions {
                label,
                ..CarveOptions::default()
            });
        let splits = BethSplits::open_dir_with(&args.data, &carve)?.with_label(label)?;
        if let Some(carved) = &splits.carved {
            eprintln!("validation: {carved}");
        }
        vec![
            ("validation".to_string(), splits.validation),
            ("test".to_string(), splits.test),
        ]
    } else {
        let d = BethDataset::open(&args.data)?.with_label(label)?;
        vec![(args.data.display().to_string(), d)]
    };
    if detector.metadata().synthetic {
        eprintln!("note: this detector was trained on SYNTHETIC data");
    }
    let mut json = serde_json::Map::new();
    let mut reports = Vec::new();
    for (name, dataset) in &datasets {
        let (report, scores) = evaluate_scores(&detector, dataset)?;
        let c = &report.confusion;
        // The validation split of a directory holds the rows the threshold was set on.
        if !(many && name == "validation") {
            warn_if_unusual(
                detector.metadata(),
                &args.model,
                name,
                report.rows,
                c.tp + c.fp,
                Some(c.benign_alerts()),
            );
        }
        if let Some(plots) = &args.plots {
            let dir = if many {
                plots.join(name)
            } else {
                plots.clone()
            };
            // A path would not fit in a caption; its file name does.
            let short = Path::new(name)
                .file_name()
                .map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned());
            let title = if detector.metadata().synthetic {
                format!("{short} · SYNTHETIC-trained detector")
            } else {
                short
            };
            for file in write_evaluation_plots(
                &dir,
                &title,
                &scores,
                dataset.targets(),
                detector.threshold(),
            )? {
                eprintln!("wrote {}", file.display());
            }
        }
        if args.json {
            json.insert(
                name.clone(),
                serde_json::to_value(&report).map_err(|e| Error::Training(e.to_string()))?,
            );
        }
        reports.push((name, report));
    }
    if !args.json {
        let rule = detector.metadata().threshold_rule;
        let rows: Vec<SummaryRow> = reports
            .iter()
            .map(|(name, r)| SummaryRow::of(name, r, Some(&rule)))
            .collect();
        let synthetic = detector.metadata().synthetic
            || datasets
                .iter()
                .any(|(_, d)| beth_detect::data::synth::is_synthetic(d));
        println!("{}", summary_table(&rows, synthetic));
        for (name, report) in &reports {
            print_report(name, report);
        }
    }
    if args.json {
        let value = if datasets.len() == 1 {
            json.into_iter().next().map(|(_, v)| v).unwrap_or_default()
        } else {
            serde_json::Value::Object(json)
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(|e| Error::Training(e.to_string()))?
        );
    }
    Ok(())
}
