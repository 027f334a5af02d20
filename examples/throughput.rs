//! Training and inference throughput on a BETH split directory, printed as JSON lines in the
//! same shape as `benches/reference/pytorch_mlp.py`, so `benches/compare.sh` can put them side
//! by side.
//!
//! ```sh
//! cargo run --release --example throughput -- DIR [--backend flex] [--batch-sizes 64,1024]
//! ```
//!
//! Training is one epoch through burn-train's `Learner` (the crate's `train`), with a
//! validation split of one batch so the figure is the training epoch; the time includes the
//! Learner's set-up and checkpointing, so it slightly understates the pure epoch rate.
//! Inference is the detector's forward pass on features already scaled and in memory, batch
//! 8192, best of three.

use std::path::PathBuf;
use std::time::Instant;

use beth_detect::backend::BackendChoice;
use beth_detect::data::{BethDataset, BethSplits};
use beth_detect::features::FEATURE_WIDTH;
use beth_detect::training::{Progress, TrainingConfig, train};
use burn::backend::Autodiff;
use burn::prelude::Backend;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut dir = None;
    let mut backend = BackendChoice::DEFAULT;
    let mut batch_sizes = vec![64usize, 1024];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--backend" => backend = args.next().unwrap_or_default().parse()?,
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
    let dir = dir.ok_or("usage: throughput DIR [--backend B] [--batch-sizes 64,1024]")?;
    beth_detect::with_backend!(backend, |B| run::<B>(&dir, backend, &batch_sizes))
}

fn run<B: Backend>(
    dir: &std::path::Path,
    backend: BackendChoice,
    batch_sizes: &[usize],
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
    };
    let device = B::Device::default();
    let scratch = tempfile::tempdir()?;
    let mut detector = None;
    for &batch_size in batch_sizes {
        let config = TrainingConfig::new()
            .with_num_epochs(1)
            .with_batch_size(batch_size)
            .with_validation_batch_size(8192);
        let started = Instant::now();
        let outcome =
            train::<Autodiff<B>>(&config, &small, scratch.path(), Progress::Silent, &device)?;
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{{\"job\": \"train_epoch\", \"backend\": \"{backend}\", \"batch_size\": {batch_size}, \"rows\": {rows}, \"seconds\": {seconds:.3}, \"rows_per_s\": {:.0}}}",
            rows as f64 / seconds
        );
        detector = Some(outcome.detector);
    }
    let detector = detector.ok_or("no batch size given")?;
    let mut features = vec![0.0f32; rows * FEATURE_WIDTH];
    for (i, row) in features.chunks_exact_mut(FEATURE_WIDTH).enumerate() {
        detector
            .scaler()
            .transform_into(&splits.train.event(i), row);
    }
    let infer = || {
        let mut n = 0;
        for chunk in features.chunks(8192 * FEATURE_WIDTH) {
            n += detector.score_feature_rows(chunk).len();
        }
        n
    };
    infer();
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(infer(), rows);
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!(
        "{{\"job\": \"inference\", \"backend\": \"{backend}\", \"batch_size\": 8192, \"rows\": {rows}, \"seconds\": {best:.3}, \"rows_per_s\": {:.0}}}",
        rows as f64 / best
    );
    Ok(())
}
