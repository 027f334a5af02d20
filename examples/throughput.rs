//! Training and inference throughput on a BETH split directory, printed as JSON lines in the
//! same shape as `benches/reference/pytorch_mlp.py`, so `benches/compare.sh` can put them side
//! by side.
//!
//! ```sh
//! cargo run --release --example throughput -- DIR [--backend flex] [--batch-sizes 64,1024] [--ensemble N]
//! ```
//!
//! Training is one epoch through burn-train's `Learner` (the crate's `train`): the epoch is
//! timed by a renderer from the Learner's first training step to its first validation step
//! (`seconds`); `seconds_with_setup` is the whole `train` call, including loading the model,
//! checkpointing, validation and test on one 8,192-row batch.
//! Inference is on features already scaled and in memory, batch 8192, best of three: `inference`
//! with the crate's CPU scoring path (`CpuScorer`, behind every scoring command), and
//! `inference_burn` with burn's forward pass on the chosen backend. `--ensemble N` sets the
//! networks trained and scored (default: the crate's default, 2; 1 is the notebook's one
//! network, what PyTorch's reference runs); every line says how many (`members`).

use std::path::PathBuf;
use std::time::Instant;

use beth_detect::backend::BackendChoice;
use beth_detect::data::{BethDataset, BethSplits};
use beth_detect::features::FEATURE_WIDTH;
use beth_detect::training::{Progress, ProgressEvent, TrainingConfig, train};
use burn::backend::Autodiff;
use burn::prelude::Backend;
use std::sync::{Arc, Mutex};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut dir = None;
    let mut backend = BackendChoice::DEFAULT;
    let mut batch_sizes = vec![64usize, 1024];
    let mut ensemble = TrainingConfig::new().ensemble;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--backend" => backend = args.next().unwrap_or_default().parse()?,
            "--inference-only" => batch_sizes = Vec::new(),
            "--ensemble" => ensemble = args.next().unwrap_or_default().parse()?,
            "--batch-sizes" => {
                batch_sizes = args
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            _ => dir = Some(PathBuf::from(arg)),
        }
    }
    let dir =
        dir.ok_or("usage: throughput DIR [--backend B] [--batch-sizes 64,1024] [--ensemble N]")?;
    beth_detect::with_backend!(backend, |B| run::<B>(&dir, backend, &batch_sizes, ensemble))
}

fn run<B: Backend>(
    dir: &std::path::Path,
    backend: BackendChoice,
    batch_sizes: &[usize],
    ensemble: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let splits = BethSplits::open_dir(dir)?;
    let rows = splits.train.len();
    let one_batch = |d: &BethDataset| {
        BethDataset::from_events(
            d.path(),
            d.schema(),
            (0..8192.min(d.len())).map(|i| d.event(i)),
        )
    };
    let small = BethSplits {
        train: splits.train.clone(),
        validation: one_batch(&splits.validation),
        test: one_batch(&splits.test),
        carved: None,
    };
    let device = B::Device::default();
    let scratch = tempfile::tempdir()?;
    let mut detector = None;
    for &batch_size in batch_sizes {
        let config = TrainingConfig::new()
            .with_num_epochs(1)
            .with_ensemble(ensemble)
            .with_batch_size(batch_size)
            .with_validation_batch_size(8192);
        // When the Learner's first training and first validation steps were rendered.
        let clock: Arc<Mutex<(Option<Instant>, Option<Instant>)>> = Default::default();
        let marks = clock.clone();
        let started = Instant::now();
        let outcome = train::<Autodiff<B>>(
            &config,
            &small,
            scratch.path(),
            Progress::Observe(Box::new(move |event| {
                let mut t = marks.lock().unwrap();
                match event {
                    ProgressEvent::Training { .. } => t.0.get_or_insert_with(Instant::now),
                    ProgressEvent::Validation => t.1.get_or_insert_with(Instant::now),
                };
            })),
            &device,
        )?;
        let with_setup = started.elapsed().as_secs_f64();
        let (first_train, first_valid) = *clock.lock().unwrap();
        let seconds = first_valid
            .zip(first_train)
            .map_or(with_setup, |(v, t)| (v - t).as_secs_f64());
        println!(
            "{{\"job\": \"train_epoch\", \"backend\": \"{backend}\", \"members\": {ensemble}, \"batch_size\": {batch_size}, \"rows\": {rows}, \"seconds\": {seconds:.3}, \"seconds_with_setup\": {with_setup:.3}, \"rows_per_s\": {:.0}}}",
            rows as f64 / seconds
        );
        detector = Some(outcome.detector);
    }
    // With --inference-only, an untrained network: inference speed does not depend on weights.
    let detector = match detector {
        Some(d) => d,
        None => {
            let scaler = beth_detect::features::FeatureScaler::fit(
                beth_detect::features::FeatureSet::Seed,
                &splits.train,
            )?;
            let metadata = beth_detect::detector::DetectorMetadata {
                crate_version: String::new(),
                burn_version: String::new(),
                feature_set: beth_detect::features::FeatureSet::Seed,
                label: beth_detect::data::Label::Sus,
                kind: beth_detect::models::DetectorKind::Mlp,
                model: beth_detect::ThreatDetectorConfig::new(),
                training: None,
                threshold_rule: Default::default(),
                data_source: "untrained".into(),
                synthetic: true,
                train_rows: 0,
                train_positives: 0,
                validation_rows: 0,
                carved_validation: None,
                benign_alert_rate: None,
                calibration: None,
            };
            let model = beth_detect::ThreatDetectorConfig::new().init::<B>(&device);
            beth_detect::Detector::new(model, scaler, 0.5, metadata)?
        }
    };
    let members = detector.members().len();
    let mut features = vec![0.0f32; rows * FEATURE_WIDTH];
    for (i, row) in features.chunks_exact_mut(FEATURE_WIDTH).enumerate() {
        detector
            .scaler()
            .transform_into(&splits.train.event(i), row);
    }
    let cpu = detector.cpu_scorer();
    let fast = || {
        let mut n = 0;
        let mut scores = Vec::with_capacity(8192);
        for chunk in features.chunks(8192 * FEATURE_WIDTH) {
            scores.clear();
            cpu.score_into(chunk, &mut scores);
            n += scores.len();
        }
        n
    };
    let burn_forward = || {
        let mut n = 0;
        for chunk in features.chunks(8192 * FEATURE_WIDTH) {
            n += detector.score_feature_rows_on_device(chunk).len();
        }
        n
    };
    let paths: [(&str, &dyn Fn() -> usize); 2] =
        [("inference", &fast), ("inference_burn", &burn_forward)];
    for (job, infer) in paths {
        infer();
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let started = Instant::now();
            assert_eq!(infer(), rows);
            best = best.min(started.elapsed().as_secs_f64());
        }
        println!(
            "{{\"job\": \"{job}\", \"backend\": \"{backend}\", \"members\": {members}, \"batch_size\": 8192, \"rows\": {rows}, \"seconds\": {best:.3}, \"rows_per_s\": {:.0}}}",
            rows as f64 / best
        );
    }
    Ok(())
}
