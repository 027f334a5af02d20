//! Trains the default detector on the real BETH rows bundled with the crate and prints its
//! reports: the first 12,500 rows of DataCamp's `labelled_train.csv` (validation carved out of
//! them, stratified) and the first 7,500 rows of `labelled_test.csv`, as a pandas user saved
//! them (index column, BOM, quoted fields, CRLF).
//!
//! ```sh
//! cargo run --example real_data                       # seed 42
//! cargo run --example real_data -- --seed 2           # another seed
//! cargo run --example real_data -- --weight-decay 0 --ensemble 1 --threshold 0.5   # the notebook's exact recipe
//! ```
//!
//! These are real events, but only the first rows of the splits: the figures are not the
//! paper's full-split benchmark.

use std::path::Path;

use beth_detect::backend::BackendChoice;
use beth_detect::data::{BethSplits, CarveOptions};
use beth_detect::report::{split_rows, summary_table};
use beth_detect::training::{DataProvenance, Progress, TrainingConfig, train_with_provenance};
use burn::backend::Autodiff;
use burn::prelude::Backend;

const LABEL: &str = "real BETH rows (first rows of the splits, not the full benchmark)";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = TrainingConfig::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--seed" => config.seed = value.parse()?,
            "--weight-decay" => config.weight_decay = value.parse()?,
            "--ensemble" => config.ensemble = value.parse()?,
            "--threshold" => config.threshold = Some(value.parse()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    beth_detect::with_backend!(BackendChoice::DEFAULT, |B| run::<B>(&config))
}

fn run<B: Backend>(config: &TrainingConfig) -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/beth/njeriw_DataCamp");
    let carve = CarveOptions {
        seed: config.seed,
        ..CarveOptions::default()
    };
    let splits = BethSplits::open_dir_with(&dir, &carve)?;
    let carved = splits
        .carved
        .as_ref()
        .expect("the directory has no validation file");
    println!(
        "{LABEL}\ntrain {} rows ({} sus), validation {} rows ({} sus) carved from {} (seed {}), test {} rows ({} sus)",
        splits.train.len(),
        splits.train.positives(),
        splits.validation.len(),
        splits.validation.positives(),
        carved
            .from
            .file_name()
            .unwrap_or_default()
            .to_string_lossy(),
        carved.options.seed,
        splits.test.len(),
        splits.test.positives(),
    );
    println!(
        "recipe: weight decay {}, ensemble {}, seed {}, threshold {}",
        config.weight_decay,
        config.ensemble,
        config.seed,
        config
            .threshold
            .map_or_else(|| "the default (max-f1)".to_string(), |t| t.to_string())
    );
    let scratch =
        std::env::temp_dir().join(format!("beth-detect-real-data-{}", std::process::id()));
    let provenance = DataProvenance {
        source: dir.display().to_string(),
        synthetic: false,
    };
    let outcome = train_with_provenance::<Autodiff<B>>(
        config,
        &splits,
        &scratch,
        Progress::Silent,
        &Default::default(),
        &provenance,
    );
    let _ = std::fs::remove_dir_all(&scratch);
    let outcome = outcome?;
    let rule = outcome.detector.metadata().threshold_rule;
    let rows = split_rows(
        &[
            ("validation", outcome.validation_report.as_ref()),
            ("test", outcome.test_report.as_ref()),
        ],
        Some(&rule),
    );
    print!("{}", summary_table(&rows, false));
    Ok(())
}
