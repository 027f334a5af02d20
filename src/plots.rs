//! Report → pictures: ROC and precision–recall curves, score histograms by class, and training
//! curves, as PNG files.
//!
//! Text is drawn with a font compiled into the crate (DejaVu Sans, ASCII subset), so plots come
//! out the same on a server with no fonts installed. Every file is written under a temporary
//! name and renamed when complete.
//!
//! ```
//! use beth_detect::plots::{PLOT_SIZE, write_evaluation_plots};
//!
//! let dir = tempfile::tempdir()?;
//! let scores = [0.1, 0.4, 0.35, 0.8, 0.9, 0.2];
//! let targets = [0, 0, 1, 1, 1, 0];
//! let files = write_evaluation_plots(dir.path(), "example", &scores, &targets, 0.5)?;
//! assert_eq!(files.len(), 3);
//! assert!(files.iter().all(|f| f.exists()));
//! # let _ = PLOT_SIZE;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::atomic_files::write_file_atomically;
use crate::error::{Error, Result};
use crate::evaluation::{auroc, average_precision, curve};
use crate::training::EpochHistory;

/// Width and height, in pixels, of every plot.
pub const PLOT_SIZE: (u32, u32) = (1000, 640);

/// Points kept per curve: more than the plot has pixels, far fewer than a full split's scores.
const MAX_CURVE_POINTS: usize = 4000;

const HISTOGRAM_BINS: usize = 50;

static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans-ascii.ttf");

fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The font is compiled in and known to parse; a failure would only lose the text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Writes `roc.png`, `precision_recall.png` and `score_histogram.png` for one labelled split
/// into `dir` (created if missing), with `title` (say, the split's name, and whether it is
/// synthetic) in every caption. Returns the files written.
pub fn write_evaluation_plots(
    dir: &Path,
    title: &str,
    scores: &[f32],
    targets: &[u8],
    threshold: f64,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let positives = targets.iter().filter(|&&t| t != 0).count() as f64;
    let negatives = targets.len() as f64 - positives;
    let (roc, pr) = roc_and_pr(scores, targets);
    let auc = auroc(scores, targets).map_or("n/a (one class)".into(), |a| format!("{a:.4}"));
    let roc_file = dir.join("roc.png");
    draw_curves(
        &roc_file,
        &format!("ROC · {title} · AUROC {auc}"),
        ROC_AXES,
        &[("detector".into(), roc, BLUE)],
        ("chance".into(), vec![(0.0, 0.0), (1.0, 1.0)]),
    )?;
    let ap = average_precision(scores, targets).map_or("n/a".into(), |a| format!("{a:.4}"));
    let base = if targets.is_empty() {
        0.0
    } else {
        positives / targets.len() as f64
    };
    let pr_file = dir.join("precision_recall.png");
    draw_curves(
        &pr_file,
        &format!("Precision-recall · {title} · AP {ap}"),
        PR_AXES,
        &[("detector".into(), pr, BLUE)],
        (
            format!("positive rate {base:.4}"),
            vec![(0.0, base), (1.0, base)],
        ),
    )?;

    let (benign, suspicious) = class_histograms(scores, targets);
    let top = benign
        .iter()
        .chain(&suspicious)
        .fold(0.0f64, |m, &v| m.max(v))
        .max(1e-3)
        * 1.1;
    let histogram_file = dir.join("score_histogram.png");
    render(&histogram_file, |area| {
        let mut chart = ChartBuilder::on(area)
            .caption(format!("Scores by class · {title}"), caption_font())
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..1f64, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("score")
            .y_desc("share of the class")
            .label_style(label_font())
            .draw()?;
        let width = 1.0 / HISTOGRAM_BINS as f64;
        for (shares, colour, name) in [
            (&benign, BLUE, format!("benign (n = {})", negatives as u64)),
            (
                &suspicious,
                RED,
                format!("suspicious (n = {})", positives as u64),
            ),
        ] {
            chart
                .draw_series(shares.iter().enumerate().map(|(i, &share)| {
                    let x = i as f64 * width;
                    Rectangle::new([(x, 0.0), (x + width, share)], colour.mix(0.45).filled())
                }))?
                .label(name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 16, y + 6)], colour.mix(0.45).filled())
                });
        }
        chart
            .draw_series(LineSeries::new(
                [(threshold, 0.0), (threshold, top)],
                BLACK.stroke_width(2),
            ))?
            .label(format!("threshold {threshold:.3}"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.stroke_width(2)));
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })?;
    Ok(vec![roc_file, pr_file, histogram_file])
}

/// Points of a curve, in the chart's coordinates.
type Curve = Vec<(f64, f64)>;

/// A chart's axis names and the legend's corner.
struct Axes {
    x: &'static str,
    y: &'static str,
    legend: SeriesLabelPosition,
}

const ROC_AXES: Axes = Axes {
    x: "false positive rate",
    y: "true positive rate",
    legend: SeriesLabelPosition::LowerRight,
};
const PR_AXES: Axes = Axes {
    x: "recall",
    y: "precision",
    legend: SeriesLabelPosition::LowerLeft,
};

/// One chart of curves on the unit square, each `(name, points, colour)`, and a grey
/// reference line (chance, or the positive rate).
fn draw_curves(
    path: &Path,
    caption: &str,
    axes: Axes,
    curves: &[(String, Curve, RGBColor)],
    reference: (String, Curve),
) -> Result<()> {
    render(path, |area| {
        let mut chart = ChartBuilder::on(area)
            .caption(caption, caption_font())
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..1f64, 0f64..1.02f64)?;
        chart
            .configure_mesh()
            .x_desc(axes.x)
            .y_desc(axes.y)
            .label_style(label_font())
            .draw()?;
        for (name, points, colour) in curves {
            let colour = *colour;
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        chart
            .draw_series(LineSeries::new(reference.1.clone(), BLACK.mix(0.4)))?
            .label(reference.0.as_str())
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.4)));
        legend(&mut chart, axes.legend)
    })
}

/// The ROC curve (false-positive rate, true-positive rate) and the precision–recall curve
/// (recall, precision) of scored labels, thinned for drawing.
fn roc_and_pr(scores: &[f32], targets: &[u8]) -> (Curve, Curve) {
    let points = curve(scores, targets);
    let positives = targets.iter().filter(|&&t| t != 0).count() as f64;
    let negatives = targets.len() as f64 - positives;
    let rate = |a: u64, b: f64| if b > 0.0 { a as f64 / b } else { 0.0 };
    let mut roc: Vec<(f64, f64)> = vec![(0.0, 0.0)];
    roc.extend(points.iter().map(|p| {
        (
            rate(p.confusion.fp, negatives),
            rate(p.confusion.tp, positives),
        )
    }));
    let pr = points
        .iter()
        .map(|p| {
            let c = &p.confusion;
            let precision = if c.tp + c.fp > 0 {
                c.tp as f64 / (c.tp + c.fp) as f64
            } else {
                1.0
            };
            (rate(c.tp, positives), precision)
        })
        .collect();
    (thin(roc), thin(pr))
}

/// Writes `roc.png` and `precision_recall.png` into `dir` with one curve per series
/// `(name, scores, labels)` — several detectors, or seeds, compared on one chart.
pub fn write_comparison_plots(
    dir: &Path,
    title: &str,
    series: &[(String, &[f32], &[u8])],
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let curves: Vec<(String, Curve, Curve, RGBColor)> = series
        .iter()
        .enumerate()
        .map(|(i, (name, scores, targets))| {
            let (roc, pr) = roc_and_pr(scores, targets);
            let auc = auroc(scores, targets).map_or("n/a".into(), |a| format!("{a:.4}"));
            let ap = average_precision(scores, targets).map_or("n/a".into(), |a| format!("{a:.4}"));
            let (r, g, b) = Palette99::pick(i).to_rgba().rgb();
            let colour = RGBColor(r, g, b);
            (format!("{name} (AUROC {auc}, AP {ap})"), roc, pr, colour)
        })
        .collect();
    let (roc, pr): (Vec<_>, Vec<_>) = curves
        .into_iter()
        .map(|(name, roc, pr, colour)| ((name.clone(), roc, colour), (name, pr, colour)))
        .unzip();
    let base = series.first().map_or(0.0, |(_, _, targets)| {
        targets.iter().filter(|&&t| t != 0).count() as f64 / targets.len().max(1) as f64
    });
    let files = vec![dir.join("roc.png"), dir.join("precision_recall.png")];
    draw_curves(
        &files[0],
        &format!("ROC · {title}"),
        ROC_AXES,
        &roc,
        ("chance".into(), vec![(0.0, 0.0), (1.0, 1.0)]),
    )?;
    draw_curves(
        &files[1],
        &format!("Precision-recall · {title}"),
        PR_AXES,
        &pr,
        (
            format!("positive rate {base:.4}"),
            vec![(0.0, base), (1.0, base)],
        ),
    )?;
    Ok(files)
}

/// Writes `training_curves.png` into `dir`: training and validation loss per epoch on the left
/// (the kept epoch marked), validation metrics per epoch on the right.
pub fn write_training_curves(dir: &Path, title: &str, history: &EpochHistory) -> Result<PathBuf> {
    let file = dir.join("training_curves.png");
    let epochs = history.train_loss.len().max(1);
    let per_epoch = |values: &[f64]| -> Vec<(f64, f64)> {
        values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, &v)| ((i + 1) as f64, v))
            .collect()
    };
    let losses = [&history.train_loss, &history.valid_loss];
    let top = losses
        .iter()
        .flat_map(|l| l.iter())
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, &v| m.max(v))
        .max(1e-3)
        * 1.1;
    let x_range = 0.5..epochs as f64 + 0.5;
    render(&file, |area| {
        let body = area.titled(&format!("Training · {title}"), caption_font())?;
        let (left, right) = body.split_horizontally(PLOT_SIZE.0 / 2);
        let mut chart = ChartBuilder::on(&left)
            .caption("Loss", caption_font())
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x_range.clone(), 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("binary cross-entropy")
            .x_labels(epochs.min(20) + 1)
            .x_label_formatter(&whole_epochs)
            .label_style(label_font())
            .draw()?;
        for (values, colour, name) in [
            (&history.train_loss, BLUE, "training"),
            (&history.valid_loss, RED, "validation"),
        ] {
            let points = per_epoch(values);
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, colour.filled())),
            )?;
        }
        let best = history.best_epoch as f64;
        chart
            .draw_series(LineSeries::new(
                [(best, 0.0), (best, top)],
                BLACK.mix(0.6).stroke_width(2),
            ))?
            .label(format!("kept: epoch {}", history.best_epoch))
            .legend(|(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.6).stroke_width(2))
            });
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;

        let mut chart = ChartBuilder::on(&right)
            .caption("Validation metrics", caption_font())
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(50)
            .build_cartesian_2d(x_range, 0f64..1.02f64)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_labels(epochs.min(20) + 1)
            .x_label_formatter(&whole_epochs)
            .label_style(label_font())
            .draw()?;
        let magenta = RGBColor(170, 0, 170);
        let orange = RGBColor(230, 120, 0);
        for (values, colour, name) in [
            (&history.valid_accuracy, BLUE, "accuracy"),
            (&history.valid_precision, GREEN, "precision"),
            (&history.valid_recall, orange, "recall"),
            (&history.valid_f1, RED, "F1"),
            (&history.valid_auroc, magenta, "AUROC"),
        ] {
            chart
                .draw_series(LineSeries::new(per_epoch(values), colour.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })?;
    Ok(file)
}

/// Epoch axis labels at whole epochs only.
fn whole_epochs(x: &f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        String::new()
    }
}

type PlotResult = std::result::Result<(), Box<dyn std::error::Error>>;
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn caption_font() -> TextStyle<'static> {
    ("sans-serif", 24).into_font().into()
}

fn label_font() -> TextStyle<'static> {
    ("sans-serif", 16).into_font().into()
}

fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font(label_font())
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

/// Draws onto a white RGB canvas and writes it as a PNG, atomically.
fn render(path: &Path, draw: impl FnOnce(&Area<'_>) -> PlotResult) -> Result<()> {
    register_font();
    let (width, height) = PLOT_SIZE;
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let area = BitMapBackend::with_buffer(&mut pixels, PLOT_SIZE).into_drawing_area();
        let drawn = area
            .fill(&WHITE)
            .map_err(|e| e.into())
            .and_then(|()| draw(&area))
            .and_then(|()| area.present().map_err(|e| e.into()));
        drawn.map_err(|e| Error::Plot {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    }
    write_file_atomically(path, |out| {
        let mut encoder = png::Encoder::new(out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let encoded = encoder.write_header().and_then(|mut writer| {
            writer
                .write_image_data(&pixels)
                .and_then(|()| writer.finish())
        });
        encoded.map_err(|e| Error::Plot {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    })
}

/// Keeps at most [`MAX_CURVE_POINTS`] points, evenly spaced along the curve, first and last
/// always included.
fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_CURVE_POINTS {
        return points;
    }
    let last = points.len() - 1;
    (0..MAX_CURVE_POINTS)
        .map(|i| points[i * last / (MAX_CURVE_POINTS - 1)])
        .collect()
}

/// Each class's share of events per score bin (so a rare class is as visible as a common one).
fn class_histograms(scores: &[f32], targets: &[u8]) -> (Vec<f64>, Vec<f64>) {
    let mut counts = [vec![0u64; HISTOGRAM_BINS], vec![0u64; HISTOGRAM_BINS]];
    for (&score, &target) in scores.iter().zip(targets) {
        let bin = ((score.clamp(0.0, 1.0) as f64 * HISTOGRAM_BINS as f64) as usize)
            .min(HISTOGRAM_BINS - 1);
        counts[(target != 0) as usize][bin] += 1;
    }
    let [benign, suspicious] = counts.map(|c| {
        let total = c.iter().sum::<u64>().max(1) as f64;
        c.iter().map(|&n| n as f64 / total).collect::<Vec<_>>()
    });
    (benign, suspicious)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_shares_are_counted_by_hand() {
        // Bins are 0.02 wide: 0.0 and 0.01 share bin 0, 1.0 falls in the last bin.
        let (benign, suspicious) = class_histograms(&[0.0, 0.01, 0.5, 1.0], &[0, 0, 0, 1]);
        assert_eq!(benign[0], 2.0 / 3.0);
        assert_eq!(benign[25], 1.0 / 3.0);
        assert_eq!(suspicious[HISTOGRAM_BINS - 1], 1.0);
        assert_eq!(suspicious.iter().sum::<f64>(), 1.0);
    }

    #[test]
    fn thinning_keeps_the_ends() {
        let points: Vec<(f64, f64)> = (0..10_001).map(|i| (i as f64, 0.0)).collect();
        let kept = thin(points);
        assert_eq!(kept.len(), MAX_CURVE_POINTS);
        assert_eq!(kept[0].0, 0.0);
        assert_eq!(kept[MAX_CURVE_POINTS - 1].0, 10_000.0);
    }
}
