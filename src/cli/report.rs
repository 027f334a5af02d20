use std::path::Path;

use beth_detect::evaluation::EvaluationReport;
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
