//! `beth-detect calibrate`: a detector's threshold re-fitted on a host's own traffic.

use std::path::PathBuf;

use beth_detect::backend::NdArray;
use beth_detect::detector::Detector;
use beth_detect::detector::calibration::{BudgetMode, calibrate_with, open_calibration_data};
use beth_detect::evaluation::ThresholdRule;
use beth_detect::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Detector directory (written by `train` or an earlier `calibrate`).
    #[arg(long)]
    model: PathBuf,
    /// The host's own traffic: a file (BETH CSV of any schema, or Tracee JSON lines) or a
    /// directory of them. Labels are optional; where present, only benign rows are used.
    #[arg(long)]
    data: PathBuf,
    /// The alert budget: `fpr:X` (at most a fraction X of these events alert) or
    /// `per-million:N` (at most N alerts per million of them). A ceiling: a threshold that
    /// already meets it is kept, so calibrating never makes this traffic alert more.
    #[arg(long)]
    threshold: ThresholdRule,
    /// Set the threshold to the budget's quantile even when that is lower than the current
    /// one (more of these events then alert): for a detector moved to a quieter host.
    #[arg(long)]
    allow_lower: bool,
    /// Where to write the calibrated detector (atomically; not --model itself, whose reports
    /// describe the old threshold). Everything but the threshold and its record stays byte for
    /// byte as it was.
    #[arg(long)]
    out: PathBuf,
    /// Print what was done as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    // Scoring runs on the CPU scorer whatever the backend: NdArray only holds the weights.
    let same = |a: &PathBuf, b: &PathBuf| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same(&args.model, &args.out) {
        return Err(Error::InvalidConfig {
            name: "--out",
            expected: "a directory other than --model (its reports describe the old threshold)",
            found: args.out.display().to_string(),
        });
    }
    let detector = Detector::<NdArray>::load(&args.model, &Default::default())?;
    let data = open_calibration_data(&args.data)?;
    let mode = if args.allow_lower {
        BudgetMode::AllowLower
    } else {
        BudgetMode::Ceiling
    };
    let (calibrated, outcome) = calibrate_with(detector, &data, args.threshold, mode)?;
    calibrated.save(&args.out)?;
    if args.json {
        let value = serde_json::json!({
            "model": args.model,
            "out": args.out,
            "rule": args.threshold.to_string(),
            "previous_threshold": outcome.previous_threshold,
            "threshold": outcome.threshold,
            "budget_threshold": outcome.budget_threshold,
            "threshold_kept": outcome.threshold_kept,
            "allow_lower": args.allow_lower,
            "events": outcome.after.events,
            "skipped_suspicious": outcome.skipped_suspicious,
            "alerts_before": outcome.before.alerts,
            "alerts_after": outcome.after.alerts,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).map_err(|e| Error::Training(e.to_string()))?
        );
        return Ok(());
    }
    let pct = |r: &beth_detect::evaluation::AlertRate| 100.0 * r.rate();
    println!(
        "calibrated on {} normal events of {}{}",
        outcome.after.events,
        args.data.display(),
        if outcome.skipped_suspicious > 0 {
            format!(
                " ({} labelled suspicious, left out)",
                outcome.skipped_suspicious
            )
        } else {
            String::new()
        }
    );
    if outcome.threshold_kept {
        println!(
            "  already within budget: {} of {} ({:.3}%) alert; threshold kept at {}",
            outcome.before.alerts,
            outcome.before.events,
            pct(&outcome.before),
            outcome.threshold
        );
    } else {
        println!(
            "  threshold {:.6} ({}) -> {:.6} ({})",
            outcome.previous_threshold, outcome.previous_rule, outcome.threshold, args.threshold
        );
        println!(
            "  these events alerting: {} ({:.3}%) before, {} ({:.3}%) now",
            outcome.before.alerts,
            pct(&outcome.before),
            outcome.after.alerts,
            pct(&outcome.after)
        );
        if outcome.after.alerts > outcome.before.alerts {
            println!(
                "  the threshold is lower (--allow-lower): {} more of these events alert than before",
                outcome.after.alerts - outcome.before.alerts
            );
        }
    }
    println!("calibrated detector written to {}", args.out.display());
    Ok(())
}
