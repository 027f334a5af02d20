//! Loading a full-size synthetic raw training split (763,144 rows, ~210 MB) into a
//! `BethDataset`. Compare with `benches/reference/pandas_load.py` on the same file.
//!
//! The file is generated once into `target/bench-data/` (SYNTHETIC data, seed 42).

use std::path::PathBuf;

use beth_detect::data::synth::{SynthConfig, write_splits};
use beth_detect::data::{BethDataset, Schema};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn synthetic_raw_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/raw-scale-1");
    if !dir.join("labelled_training_data.csv").is_file() {
        write_splits(&dir, &SynthConfig::new(), Schema::Raw).expect("write synthetic splits");
    }
    dir
}

fn loading(c: &mut Criterion) {
    let path = synthetic_raw_dir().join("labelled_training_data.csv");
    let rows = BethDataset::open(&path).expect("load").len();
    let mut group = c.benchmark_group("loading");
    group.sample_size(10);
    group.throughput(Throughput::Elements(rows as u64));
    group.bench_function("raw_training_split_763k", |b| {
        b.iter(|| BethDataset::open(&path).expect("load").len())
    });
    group.finish();
}

criterion_group!(benches, loading);
criterion_main!(benches);
