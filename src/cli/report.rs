//! What every command prints the same way: summary tables and the unusual-alert-rate warning.

use std::path::Path;

use beth_detect::detector::DetectorMetadata;
use beth_detect::evaluation::{AlertRate, EvaluationReport};
use beth_detect::{Error, Result};
use serde::Serialize;

pub fn print_report(name: &str, r: &EvaluationReport) {
    let opt = |v: Option<f64>| v.map_or("undefined (one class)".to_string(), |v| format!("{v:.4}"));
    println!("{name}: {} rows, {} positive", r.rows, r.positives);
    println!(
        "  accuracy {:.5}  precision {:.4}  recall {:.4}  f1 {:.4}",
        r.accuracy, r.precision, r.recall, r.f1
    );
    println!(
        "  auroc {}  average precision {}  threshold {}",
        opt(r.auroc),
        opt(r.average_precision),
        r.threshold
    );
    let c = &r.confusion;
    println!(
        "  confusion: tp {}  fp {}  tn {}  fn {}",
        c.tp, c.fp, c.tn, c.fn_
    );
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Warns on stderr when `events` alerted far more often than the normal events the detector's
/// threshold was set on: an attack, or a host unlike the training data.
pub fn warn_if_unusual(
    metadata: &DetectorMetadata,
    model: &Path,
    name: &str,
    events: u64,
    alerts: u64,
    benign: Option<AlertRate>,
) {
    let Some(expected) = metadata.benign_alert_rate else {
        return;
    };
    let Some(factor) = expected.unusual(events, alerts) else {
        return;
    };
    let basis = if metadata.calibration.is_some() {
        "the traffic it was calibrated on"
    } else {
        "its benign validation rows"
    };
    eprintln!(
        "warning: {name}: {alerts} of {events} events alert ({:.2}%), {factor:.0}x the rate of {basis} ({} of {}). \
Either this is an attack, or these events come from a host unlike the training data. \
If they are this host's normal traffic, re-fit the threshold on them: \
beth-detect calibrate --model {} --data FILE --threshold fpr:0.001 --out DIR",
        100.0 * alerts as f64 / events as f64,
        expected.alerts,
        expected.events,
        model.display()
    );
    // With labels, say which part of the excess is the attack and which the host.
    if let Some(benign) = benign {
        let factor = expected.times(&benign);
        eprintln!(
            "  {name} is labelled: {} of the alerts are suspicious events; its {} benign events alert at {:.3}% ({factor:.1}x), {}",
            alerts - benign.alerts,
            benign.events,
            100.0 * benign.rate(),
            if factor >= beth_detect::evaluation::UNUSUAL_FACTOR {
                "so this host is unlike the training data: calibrate on its normal traffic"
            } else {
                "so the excess is the attack, not the host"
            }
        );
    }
}
