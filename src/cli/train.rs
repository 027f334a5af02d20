//! `beth-detect train`: fit a detector, report on its splits, save it.

use std::path::PathBuf;
use std::time::Instant;

use beth_detect::atomic_files::{publish_dir, staging_dir};
use beth_detect::backend::BackendChoice;
use beth_detect::data::synth::SynthConfig;
use beth_detect::data::{CarveOptions, Label};
use beth_detect::evaluation::ThresholdRule;
use beth_detect::features::FeatureSet;
use beth_detect::models::DetectorKind;
use beth_detect::plots::write_training_curves;
use beth_detect::report::{split_rows, summary_table};
use beth_detect::training::{
    ClassWeight, DataProvenance, Progress, TrainingConfig, train_with_provenance,
};
use beth_detect::{Error, Result, with_backend};
use burn::backend::Autodiff;
use burn::prelude::Backend;

use super::report::{print_report, write_json};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["data", "synthetic"])))]
pub struct Args {
    /// What to train: `mlp` (the notebook's supervised network; needs `sus` labels),
    /// `autoencoder` or `iforest` (label-free: fitted on the benign training rows, or on every
    /// row of data without labels).
    #[arg(long, default_value = "mlp")]
    detector: DetectorKind,
    /// Directory with the split files (Kaggle or DataCamp names, or names holding `train`,
    /// `validation` and `test`), or one file (CSV of any BETH schema, or Tracee JSON lines),
    /// which then has no test split. Without a validation file, validation is carved out of
    /// the training rows (see --validation-fraction).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Share of the training file carved out as validation when the directory has no
    /// validation file: stratified by the label, drawn with --seed.
    #[arg(long, default_value_t = 0.2)]
    validation_fraction: f64,
    /// Train on the built-in synthetic BETH generator instead (results are labelled SYNTHETIC).
    #[arg(long)]
    synthetic: bool,
    /// Size of the synthetic splits, as a fraction of the published sizes.
    #[arg(long, default_value_t = 1.0, requires = "synthetic")]
    scale: f64,
    /// Feature set: `seed` (the notebook's 7 columns) or `paper` (the BETH paper's encoding).
    #[arg(long, default_value = "seed")]
    features: FeatureSet,
    /// Label to learn: `sus` or `evil` (raw files only).
    #[arg(long, default_value = "sus")]
    label: Label,
    /// Epochs.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Training batch size.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Adam weight decay (L2, PyTorch's semantics). 0 gives the notebook's exact recipe.
    #[arg(long, default_value_t = 1e-2)]
    weight_decay: f64,
    /// Networks trained side by side whose probabilities are averaged (1 = one network, the
    /// notebook's).
    #[arg(long, default_value_t = 2)]
    ensemble: usize,
    /// Seed of initialisation, dropout, shuffling, carving (and of the synthetic data).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Positive-class weight in the loss: `none`, `balanced` or a number.
    #[arg(long, default_value = "none")]
    class_weight: ClassWeight,
    /// Decision threshold: a score in [0, 1], `max-f1`, `youden` (chosen on labelled
    /// validation), or an alert budget: `fpr:X`, the lowest threshold at which at most a
    /// fraction X of the benign validation rows (all of them without labels) alert, or
    /// `per-million:N`, at most N per million. Default: `max-f1` for `mlp`, `fpr:0.01` for
    /// the label-free kinds. `0.5` is the notebook's.
    #[arg(long)]
    threshold: Option<ThresholdRule>,
    /// Stop after this many epochs without a lower validation loss.
    #[arg(long)]
    patience: Option<usize>,
    /// Data-loader worker threads (0 = on the training thread; >0 is not bit-reproducible).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Output directory: the detector, reports, history and burn's checkpoints. Written
    /// atomically: it appears complete or not at all.
    #[arg(long)]
    out: PathBuf,
    /// Print the reports as one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Backend: `ndarray`, `flex` (default) or `wgpu` (GPU; needs the `wgpu` cargo feature).
    #[arg(long, default_value_t = BackendChoice::DEFAULT)]
    backend: BackendChoice,
}

pub fn run(args: Args) -> Result<()> {
    with_backend!(args.backend, |B| run_on::<B>(args))
}

fn run_on<B: Backend>(args: Args) -> Result<()> {
    let started = Instant::now();
    let synthetic = SynthConfig::new()
        .with_scale(args.scale)
        .with_seed(args.seed);
    let carve = CarveOptions {
        fraction: args.validation_fraction,
        seed: args.seed,
        label: args.label,
    };
    let (splits, provenance) = DataProvenance::load(args.data.as_deref(), &synthetic, &carve)?;
    let tag = if provenance.synthetic {
        " (SYNTHETIC data)"
    } else {
        ""
    };
    let labels = if splits.train.has_label(args.label) {
        String::new()
    } else {
        format!(" (no `{}` labels)", args.label)
    };
    eprintln!(
        "data: {}{tag}{labels}: train {} rows, validation {}, test {} (loaded in {:.1} s); detector {}, backend {}",
        provenance.source,
        splits.train.len(),
        splits.validation.len(),
        splits.test.len(),
        started.elapsed().as_secs_f64(),
        args.detector,
        args.backend
    );
    if let Some(carved) = &splits.carved {
        eprintln!("validation: no validation file, so {carved}");
    }
    let config = TrainingConfig::new()
        .with_detector(args.detector)
        .with_feature_set(args.features)
        .with_label(args.label)
        .with_num_epochs(args.epochs)
        .with_batch_size(args.batch_size)
        .with_learning_rate(args.lr)
        .with_weight_decay(args.weight_decay)
        .with_ensemble(args.ensemble)
        .with_seed(args.seed)
        .with_class_weight(args.class_weight)
        .with_threshold(args.threshold)
        .with_early_stopping_patience(args.patience)
        .with_num_workers(args.workers);
    config.validate()?;
    // burn's UI on a terminal, one line per epoch on stderr otherwise.
    let progress = Progress::Default;
    let staging = staging_dir(&args.out)?;
    let result = (|| -> Result<()> {
        let outcome = train_with_provenance::<Autodiff<B>>(
            &config,
            &splits,
            &staging,
            progress,
            &Default::default(),
            &provenance,
        )?;
        outcome.detector.write_into(&staging)?;
        for (name, report) in [
            ("validation_report.json", &outcome.validation_report),
            ("test_report.json", &outcome.test_report),
        ] {
            if let Some(report) = report {
                write_json(&staging.join(name), report)?;
            }
        }
        if !outcome.history.valid_loss.is_empty() {
            write_json(&staging.join("history.json"), &outcome.history)?;
            write_training_curves(
                &staging,
                &format!("{}{tag}", provenance.source),
                &outcome.history,
            )?;
        }
        publish_dir(&staging, &args.out)?;
        if outcome.history.valid_loss.is_empty() {
            eprintln!(
                "fitted in {:.1} s; detector written to {}",
                started.elapsed().as_secs_f64(),
                args.out.display()
            );
        } else {
            eprintln!(
                "trained {} epochs in {:.1} s; kept epoch {}; detector written to {}",
                outcome.history.valid_loss.len(),
                started.elapsed().as_secs_f64(),
                outcome.history.best_epoch,
                args.out.display()
            );
        }
        let threshold = outcome.detector.threshold();
        if args.json {
            let all = serde_json::json!({
                "detector": args.detector,
                "synthetic": provenance.synthetic,
                "carved_validation": splits.carved,
                "threshold": threshold,
                "threshold_rule": outcome.detector.metadata().threshold_rule.to_string(),
                "benign_alert_rate": outcome.detector.metadata().benign_alert_rate,
                "validation_alerts": outcome.validation_alerts,
                "validation": outcome.validation_report,
                "test": outcome.test_report,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&all).map_err(|e| Error::Training(e.to_string()))?
            );
        } else {
            let rule = outcome.detector.metadata().threshold_rule;
            let rows = split_rows(
                &[
                    ("validation", outcome.validation_report.as_ref()),
                    ("test", outcome.test_report.as_ref()),
                ],
                Some(&rule),
            );
            if !rows.is_empty() {
                println!("{}", summary_table(&rows, provenance.synthetic));
            }
            match &outcome.validation_report {
                Some(report) => print_report(&format!("validation{tag}"), report),
                None => println!(
                    "validation{tag} (no labels): {} rows, {} alert at threshold {threshold}",
                    splits.validation.len(),
                    outcome.validation_alerts
                ),
            }
            match &outcome.test_report {
                Some(report) => print_report(&format!("test{tag}"), report),
                None => println!("test: none (no labelled test split)"),
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}
