//! The synthetic generator against the published BETH figures (../shared/data/README.md).

use beth_detect::data::synth::{SynthConfig, SynthSplit, generate, write_splits};
use beth_detect::data::{BethSplits, Label, Schema};

#[test]
fn full_scale_counts_are_the_published_ones() {
    // BETH paper, Tables 1, 3, 4: rows, sus, evil.
    let published = [
        (SynthSplit::Training, 763_144, 1_269, 0),
        (SynthSplit::Validation, 188_967, 786, 0),
        (SynthSplit::Testing, 188_967, 13_027 + 158_432, 158_432),
    ];
    for (split, rows, sus, evil) in published {
        let c = split.counts(1.0);
        assert_eq!((c.rows, c.sus_only + c.evil, c.evil), (rows, sus, evil));
    }
    // Generating the smaller splits in full is cheap enough for a test.
    let validation = generate(SynthSplit::Validation, &SynthConfig::new()).unwrap();
    assert_eq!((validation.len(), validation.positives()), (188_967, 786));
}

#[test]
fn written_files_read_back_as_generated_and_are_deterministic() {
    let config = SynthConfig::new().with_scale(0.01).with_seed(7);
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write_splits(a.path(), &config, Schema::Raw).unwrap();
    write_splits(b.path(), &config, Schema::Raw).unwrap();
    for name in ["labelled_training_data.csv", "labelled_testing_data.csv"] {
        assert_eq!(
            std::fs::read(a.path().join(name)).unwrap(),
            std::fs::read(b.path().join(name)).unwrap()
        );
    }
    let read = BethSplits::open_dir(a.path()).unwrap();
    let made = generate(SynthSplit::Testing, &config).unwrap();
    assert_eq!(read.test.columns(), made.columns());
    assert_eq!(read.test.len(), 1890);
    assert_eq!(read.test.with_label(Label::Evil).unwrap().positives(), 1584);

    let dc = tempfile::tempdir().unwrap();
    write_splits(dc.path(), &config, Schema::DataCamp).unwrap();
    let dc = BethSplits::open_dir(dc.path()).unwrap();
    assert_eq!(dc.train.schema(), Schema::DataCamp);
    assert_eq!(
        dc.train.columns().process_id,
        read.train.columns().process_id
    );
    assert_eq!(dc.train.targets(), read.train.targets());

    let other = generate(SynthSplit::Testing, &config.with_seed(8)).unwrap();
    assert_ne!(other.columns(), made.columns());
}

#[test]
fn bad_scale_is_an_error() {
    for scale in [0.0, -1.0, f64::NAN, 1e9] {
        assert!(generate(SynthSplit::Training, &SynthConfig::new().with_scale(scale)).is_err());
    }
}
