//! The isolation forest at BETH's full size: fitted on the 763,144 rows of the training split
//! (scikit-learn's defaults: 100 trees × 256 rows) and scoring 100,000 rows on one thread.
//! Rows are SYNTHETIC (the crate's generator at scale 1, scaled as training scales them); the
//! cost does not depend on what they mean. The goal is a fit under 1 s.

use beth_detect::data::synth::{SynthConfig, SynthSplit, generate};
use beth_detect::features::{FeatureScaler, FeatureSet};
use beth_detect::models::iforest::IsolationForestConfig;
use criterion::{Criterion, criterion_group, criterion_main};

fn forest(c: &mut Criterion) {
    let train = generate(SynthSplit::Training, &SynthConfig::new().with_scale(1.0)).unwrap();
    let scaler = FeatureScaler::fit(FeatureSet::Seed, &train).unwrap();
    let rows: Vec<[f32; 7]> = (0..train.len())
        .map(|i| scaler.transform(&train.event(i)))
        .collect();
    assert_eq!(rows.len(), 763_144);
    let config = IsolationForestConfig::new().with_seed(1);
    let mut group = c.benchmark_group("iforest");
    group.sample_size(20);
    group.bench_function("fit/763144 rows", |b| b.iter(|| config.fit(&rows).unwrap()));
    let fitted = config.fit(&rows).unwrap();
    let batch = &rows[..100_000];
    group.bench_function("score/100000 rows, 1 thread", |b| {
        b.iter(|| fitted.score(batch))
    });
    group.finish();
}

criterion_group!(benches, forest);
criterion_main!(benches);
