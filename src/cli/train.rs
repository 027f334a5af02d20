use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use beth_detect::backend::BackendChoice;
use beth_detect::data::synth::{SynthConfig, generate_splits};
use beth_detect::data::{BethSplits, Label};
use beth_detect::detector::{publish_dir, staging_dir};
use beth_detect::evaluation::ThresholdRule;
use beth_detect::features::FeatureSet;
use beth_detect::training::{
    ClassWeight, DataProvenance, Progress, TrainingConfig, train_with_provenance,
};
use beth_detect::{Error, Result, with_backend};
use burn::backend::Autodiff;
use burn::prelude::Backend;
use burn::train::renderer::{
    EvaluationName, EvaluationProgress, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining, ProgressType, TrainingProgress,
};

use super::report::{print_report, write_json};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["data", "synthetic"])))]
pub struct Args {
    /// Directory with the three split files (Kaggle or DataCamp names).
    #[arg(long)]
    data: Option<PathBuf>,
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
    /// Seed of initialisation, dropout, shuffling (and of the synthetic data).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Positive-class weight in the loss: `none`, `balanced` or a number.
    #[arg(long, default_value = "none")]
    class_weight: ClassWeight,
    /// Decision threshold: a probability, `max-f1` or `youden` (chosen on validation).
    #[arg(long, default_value = "0.5")]
    threshold: ThresholdRule,
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
    let (splits, provenance) = match &args.data {
        Some(dir) => (
            BethSplits::open_dir(dir)?,
            DataProvenance {
                source: dir.display().to_string(),
                synthetic: false,
            },
        ),
        None => {
            let synth = SynthConfig::new()
                .with_scale(args.scale)
                .with_seed(args.seed);
            (
                generate_splits(&synth)?,
                DataProvenance {
                    source: format!("synthetic BETH, scale {}, seed {}", args.scale, args.seed),
                    synthetic: true,
                },
            )
        }
    };
    let tag = if provenance.synthetic {
        " (SYNTHETIC data)"
    } else {
        ""
    };
    eprintln!(
        "data: {}{tag}: train {} rows, validation {}, test {} (loaded in {:.1} s); backend {}",
        provenance.source,
        splits.train.len(),
        splits.validation.len(),
        splits.test.len(),
        started.elapsed().as_secs_f64(),
        args.backend
    );
    let config = TrainingConfig::new()
        .with_feature_set(args.features)
        .with_label(args.label)
        .with_num_epochs(args.epochs)
        .with_batch_size(args.batch_size)
        .with_learning_rate(args.lr)
        .with_seed(args.seed)
        .with_class_weight(args.class_weight)
        .with_threshold(args.threshold)
        .with_early_stopping_patience(args.patience)
        .with_num_workers(args.workers);
    config.validate()?;
    let progress = if std::io::stdout().is_terminal() {
        Progress::Default
    } else {
        Progress::Custom(Box::new(EpochLines::default()))
    };
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
        write_json(
            &staging.join("validation_report.json"),
            &outcome.validation_report,
        )?;
        write_json(&staging.join("test_report.json"), &outcome.test_report)?;
        write_json(&staging.join("history.json"), &outcome.history)?;
        publish_dir(&staging, &args.out)?;
        eprintln!(
            "trained {} epochs in {:.1} s; kept epoch {}; detector written to {}",
            outcome.history.valid_loss.len(),
            started.elapsed().as_secs_f64(),
            outcome.history.best_epoch,
            args.out.display()
        );
        if args.json {
            let all = serde_json::json!({
                "synthetic": provenance.synthetic,
                "validation": outcome.validation_report,
                "test": outcome.test_report,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&all).map_err(|e| Error::Training(e.to_string()))?
            );
        } else {
            print_report(&format!("validation{tag}"), &outcome.validation_report);
            print_report(&format!("test{tag}"), &outcome.test_report);
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

/// One line per epoch on stderr, for logs and pipes (burn's own plain renderer prints every
/// batch).
#[derive(Default)]
struct EpochLines {
    last_epoch: usize,
}

impl MetricsRendererTraining for EpochLines {
    fn update_train(&mut self, _: MetricState) {}
    fn update_valid(&mut self, _: MetricState) {}
    fn render_train(&mut self, item: TrainingProgress, _: Vec<ProgressType>) {
        let epoch = item.global_progress.items_processed;
        if epoch != self.last_epoch {
            self.last_epoch = epoch;
            eprintln!("epoch {epoch}/{}", item.global_progress.items_total);
        }
    }
    fn render_valid(&mut self, _: TrainingProgress, _: Vec<ProgressType>) {}
}

impl MetricsRendererEvaluation for EpochLines {
    fn update_test(&mut self, _: EvaluationName, _: MetricState) {}
    fn render_test(&mut self, _: EvaluationProgress, _: Vec<ProgressType>) {}
}

impl MetricsRenderer for EpochLines {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, _: burn::train::metric::MetricDefinition) {}
}
