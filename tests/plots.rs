//! The PNG plots: they decode, have the documented size, and show what they should.

mod common;

use beth_detect::plots::{PLOT_SIZE, write_evaluation_plots, write_training_curves};
use beth_detect::training::EpochHistory;
use common::Picture;

const BLUE: [u8; 3] = [0, 0, 255];
const RED: [u8; 3] = [255, 0, 0];

fn assert_plot(path: &std::path::Path) -> Picture {
    let picture = Picture::open(path);
    assert_eq!(
        (picture.width, picture.height),
        PLOT_SIZE,
        "{}",
        path.display()
    );
    // Axes, grid and text take a few per cent of the canvas; blank would be 0.
    let inked = picture.inked();
    assert!(inked > 0.02 && inked < 0.9, "{}: {inked}", path.display());
    picture
}

#[test]
fn evaluation_plots_decode_and_draw_both_classes() {
    let dir = tempfile::tempdir().unwrap();
    // Benign scores low, suspicious high, with overlap: a real curve, both histograms filled.
    let scores: Vec<f32> = (0..1000).map(|i| (i % 100) as f32 / 100.0).collect();
    let targets: Vec<u8> = (0..1000)
        .map(|i| u8::from(i % 100 >= 60 || i % 7 == 0))
        .collect();
    let files = write_evaluation_plots(dir.path(), "test split", &scores, &targets, 0.5).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["roc.png", "precision_recall.png", "score_histogram.png"]
    );
    for file in &files[..2] {
        let picture = assert_plot(file);
        // The detector's curve is drawn in blue.
        assert!(picture.count_near(BLUE) > 200, "{}", file.display());
    }
    // Histogram bars are 45 % colour over white: benign (140, 140, 255), suspicious
    // (255, 140, 140); where both classes share a bin the colours mix, so neither is alone.
    let histogram = assert_plot(&files[2]);
    assert!(histogram.count_near([140, 140, 255]) > 1000);
    assert!(histogram.count_near([255, 140, 140]) > 1000);
    // Nothing is left under a temporary name.
    let entries = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(entries, 3);
}

#[test]
fn evaluation_plots_of_one_class_still_draw() {
    // No positives: AUROC is undefined, the plot says so instead of failing.
    let dir = tempfile::tempdir().unwrap();
    let files =
        write_evaluation_plots(dir.path(), "benign only", &[0.1, 0.2, 0.3], &[0, 0, 0], 0.5)
            .unwrap();
    for file in &files {
        assert_plot(file);
    }
}

#[test]
fn training_curves_decode_and_draw_both_losses() {
    let dir = tempfile::tempdir().unwrap();
    let history = EpochHistory {
        train_loss: vec![0.7, 0.4, 0.3, 0.25],
        valid_loss: vec![0.6, 0.45, 0.35, 0.36],
        valid_accuracy: vec![0.7, 0.8, 0.85, 0.85],
        valid_precision: vec![0.5, 0.6, 0.7, 0.7],
        valid_recall: vec![0.4, 0.5, 0.6, 0.6],
        valid_f1: vec![0.45, 0.55, 0.65, 0.65],
        valid_auroc: vec![f64::NAN, 0.8, 0.9, 0.9],
        best_epoch: 3,
    };
    let file = write_training_curves(dir.path(), "hand-made", &history).unwrap();
    assert_eq!(file, dir.path().join("training_curves.png"));
    let picture = assert_plot(&file);
    assert!(picture.count_near(BLUE) > 200);
    assert!(picture.count_near(RED) > 200);
}
