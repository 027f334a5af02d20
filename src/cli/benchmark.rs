//! `beth-detect benchmark`: several seeds × detector kinds, trained and evaluated, one table.

use std::path::PathBuf;

use beth_detect::backend::BackendChoice;
use beth_detect::benchmark::{
    BenchmarkEvent, BenchmarkOptions, BenchmarkReport, SplitSummary, run_benchmark,
};
use beth_detect::evaluation::EvaluationReport;
use beth_detect::features::FeatureSet;
use beth_detect::models::DetectorKind;
use beth_detect::plots::write_comparison_plots;
use beth_detect::report::{SummaryRow, summary_table};
use beth_detect::{Error, Result, with_backend};
use burn::backend::Autodiff;
use burn::prelude::Backend;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory with the split files, as for `train` (validation carved per seed when there is
    /// no validation file).
    #[arg(long)]
    data: PathBuf,
    /// Detector kinds, comma-separated: `mlp`, `autoencoder`, `iforest`.
    #[arg(long, default_value = "mlp,autoencoder,iforest", value_delimiter = ',')]
    detectors: Vec<DetectorKind>,
    /// Seeds 1..=N; each trains exactly as `train --seed S` does.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// Feature set: `seed` (the notebook's 7 columns) or `paper` (the BETH paper's encoding).
    #[arg(long, default_value = "seed")]
    features: FeatureSet,
    /// Share of the training file carved out as validation when there is no validation file.
    #[arg(long, default_value_t = 0.2)]
    validation_fraction: f64,
    /// Print the results as one JSON object.
    #[arg(long)]
    json: bool,
    /// Draw every detector's and seed's test ROC on one chart, precision-recall likewise.
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Backend: `ndarray`, `flex` (default) or `wgpu` (needs the `wgpu` cargo feature).
    #[arg(long, default_value_t = BackendChoice::DEFAULT)]
    backend: BackendChoice,
}

pub fn run(args: Args) -> Result<()> {
    with_backend!(args.backend, |B| run_on::<B>(args))
}

fn run_on<B: Backend>(args: Args) -> Result<()> {
    let options = BenchmarkOptions {
        detectors: args.detectors.clone(),
        seeds: args.seeds,
        features: args.features,
        validation_fraction: args.validation_fraction,
    };
    let report = run_benchmark::<Autodiff<B>>(&args.data, &options, |event| match event {
        BenchmarkEvent::Fitting { detector, seed } => {
            eprintln!("{detector} seed {seed}: training…")
        }
        BenchmarkEvent::Fitted {
            detector,
            seed,
            fit_seconds,
            test_auroc,
        } => eprintln!(
            "{detector} seed {seed}: trained in {fit_seconds:.1} s, test AUROC {}",
            test_auroc.map_or("undefined".into(), |a| format!("{a:.4}"))
        ),
    })?;
    let label = if report.data.synthetic {
        "SYNTHETIC data"
    } else {
        "real data"
    };
    if let Some(dir) = &args.plots {
        let mut series = Vec::new();
        for d in &report.detectors {
            for (run, (scores, targets)) in d
                .per_seed
                .iter()
                .zip(d.test_scores.iter().zip(&d.test_targets))
            {
                series.push((
                    format!("{} seed {}", d.detector, run.seed),
                    scores.as_slice(),
                    targets.as_slice(),
                ));
            }
        }
        let files = write_comparison_plots(dir, &format!("test · {label}"), &series)?;
        eprintln!("plots written: {}", files.len());
    }
    if args.json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| Error::Training(e.to_string()))?;
        println!("{text}");
    } else {
        print_table(&report, label);
    }
    Ok(())
}

fn print_table(report: &BenchmarkReport, label: &str) {
    let rows: Vec<SummaryRow> = report
        .detectors
        .iter()
        .flat_map(|b| {
            let seeds = b.per_seed.len();
            [
                (format!("{} validation ×{seeds}", b.detector), true),
                (format!("{} test ×{seeds}", b.detector), false),
            ]
            .map(|(name, validation)| {
                let reports: Vec<&EvaluationReport> = b
                    .per_seed
                    .iter()
                    .map(|r| if validation { &r.validation } else { &r.test })
                    .collect();
                SummaryRow::over_runs(&name, &reports, Some(&b.threshold_rule))
            })
        })
        .collect();
    println!(
        "means over seeds; (min …)/(max …) the worst seed\n{}",
        summary_table(&rows, report.data.synthetic)
    );
    let d = &report.data;
    println!(
        "{} ({label}): train {} rows, validation {}{}, test {}; features {}",
        d.source,
        d.train_rows,
        d.validation_rows,
        if d.carved_validation {
            " (carved, per seed)"
        } else {
            ""
        },
        d.test_rows,
        d.features
    );
    println!(
        "{:<14} {:<10} {:>7} {:>7} {:>7} {:>11} {:>7} {:>13} {:>7} {:>8}",
        "detector",
        "split",
        "AUROC",
        "± std",
        "min",
        "AUROC 0/1¹",
        "AP",
        "recall@1%FPR",
        "F1",
        "fit s"
    );
    for b in &report.detectors {
        let seeds = b.per_seed.len();
        let fit = b.per_seed.iter().map(|r| r.fit_seconds).sum::<f64>() / seeds as f64;
        for (split, s) in [("validation", &b.validation), ("test", &b.test)] {
            print_row(&format!("{} ×{seeds}", b.detector), split, s, fit);
        }
    }
    println!(
        "¹ AUROC of the 0/1 predictions at the threshold, averaged over seeds: how the BETH paper computed its AUROCs"
    );
}

fn print_row(detector: &str, split: &str, s: &SplitSummary, fit: f64) {
    println!(
        "{detector:<14} {split:<10} {:>7.4} {:>7.4} {:>7.4} {:>11.4} {:>7.4} {:>13.4} {:>7.4} {fit:>8.1}",
        s.auroc_mean,
        s.auroc_std,
        s.auroc_min,
        s.auroc_hard_mean,
        s.average_precision_mean,
        s.recall_at_1pct_fpr_mean,
        s.f1_mean
    );
}
