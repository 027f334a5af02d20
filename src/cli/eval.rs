use std::path::PathBuf;

use beth_detect::backend::BackendChoice;
use beth_detect::data::{BethDataset, BethSplits};
use beth_detect::detector::Detector;
use beth_detect::{Error, Result, evaluate, with_backend};
use burn::prelude::Backend;

use super::report::print_report;

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
    let datasets: Vec<(String, BethDataset)> = if args.data.is_dir() {
        let splits = BethSplits::open_dir(&args.data)?.with_label(label)?;
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
    for (name, dataset) in &datasets {
        let report = evaluate(&detector, dataset)?;
        if args.json {
            json.insert(
                name.clone(),
                serde_json::to_value(&report).map_err(|e| Error::Training(e.to_string()))?,
            );
        } else {
            print_report(name, &report);
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
