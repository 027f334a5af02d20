//! The main job: train a detector, evaluate it on validation and test, save it.
//!
//! ```sh
//! cargo run --example train                          # synthetic BETH (embedded generator), no download
//! cargo run --example train -- DATA_DIR              # the real Kaggle or DataCamp split files
//! cargo run --example train -- --backend ndarray     # or flex (default), or wgpu (--features wgpu)
//! ```
//!
//! With no directory it generates synthetic splits calibrated to the BETH paper's published
//! sizes and label rates (at 75% of full size, so it finishes in about two minutes on two cores),
//! and every figure it prints is labelled SYNTHETIC: it says nothing about real-world quality.

use std::path::PathBuf;
use std::time::Instant;

use beth_detect::backend::BackendChoice;
use beth_detect::data::CarveOptions;
use beth_detect::data::synth::SynthConfig;
use beth_detect::report::{split_rows, summary_table};
use beth_detect::training::{DataProvenance, Progress, TrainingConfig, train_with_provenance};
use burn::backend::Autodiff;
use burn::prelude::Backend;

/// Fraction of the published BETH split sizes used by the default run.
const DEFAULT_SCALE: f64 = 0.75;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut data_dir = None;
    let mut backend = BackendChoice::DEFAULT;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--backend" => backend = args.next().unwrap_or_default().parse()?,
            _ => data_dir = Some(PathBuf::from(arg)),
        }
    }
    beth_detect::with_backend!(backend, |B| run::<B>(data_dir, backend))
}

fn run<B: Backend>(
    data_dir: Option<PathBuf>,
    backend: BackendChoice,
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let synthetic = SynthConfig::new().with_scale(DEFAULT_SCALE);
    let config = TrainingConfig::new();
    let carve = CarveOptions {
        seed: config.seed,
        ..CarveOptions::default()
    };
    let (splits, provenance) = DataProvenance::load(data_dir.as_deref(), &synthetic, &carve)?;
    let tag = if provenance.synthetic {
        "SYNTHETIC data"
    } else {
        "real data"
    };
    println!(
        "data: {} ({tag}): train {} rows ({} sus), validation {}, test {}; loaded in {:.1} s; backend {backend}",
        provenance.source,
        splits.train.len(),
        splits.train.positives(),
        splits.validation.len(),
        splits.test.len(),
        started.elapsed().as_secs_f64()
    );

    let out = PathBuf::from("artifacts/example-train");
    let device = Default::default();
    // burn's UI on a terminal, one line per epoch on stderr otherwise.
    let progress = Progress::Default;
    let outcome = train_with_provenance::<Autodiff<B>>(
        &config,
        &splits,
        &out,
        progress,
        &device,
        &provenance,
    )?;
    outcome.detector.save(out.join("detector"))?;
    let curves = beth_detect::plots::write_training_curves(
        &out,
        &format!("{} ({tag})", provenance.source),
        &outcome.history,
    )?;

    println!(
        "trained {} epochs in {:.1} s; kept epoch {} (lowest validation loss {:.5})",
        outcome.history.valid_loss.len(),
        started.elapsed().as_secs_f64(),
        outcome.history.best_epoch,
        outcome.history.valid_loss[outcome.history.best_epoch - 1]
    );
    let rule = outcome.detector.metadata().threshold_rule;
    let reports = [
        ("validation", outcome.validation_report.as_ref()),
        ("test", outcome.test_report.as_ref()),
    ];
    let rows = split_rows(&reports, Some(&rule));
    print!("{}", summary_table(&rows, provenance.synthetic));
    for (name, report) in reports {
        if let Some(report) = report {
            let path = out.join(format!("{name}_report.json"));
            std::fs::write(&path, serde_json::to_string_pretty(report)?)?;
            println!("{name} report ({tag}, every figure): {}", path.display());
        }
    }
    println!("detector saved to {}", out.join("detector").display());
    println!("training curves drawn in {}", curves.display());
    Ok(())
}
