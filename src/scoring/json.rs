//! The one way a score is written as JSON, shared by every JSON output (JSON lines, Falco,
//! `serve`): the f32's shortest digits, exactly as the CSV output writes them.

use serde_json::Value;

use super::explain::Reason;

/// A score as JSON, written with the f32's shortest digits (as in the CSV output).
pub fn json_score(score: f32) -> Value {
    format!("{score}")
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// Reasons as a JSON array of `{feature, value, baseline, contribution}`.
pub fn reasons_json(reasons: &[Reason]) -> Value {
    Value::Array(
        reasons
            .iter()
            .map(|r| {
                serde_json::json!({
                    "feature": r.feature,
                    "value": r.value,
                    "baseline": r.baseline,
                    "contribution": json_score(r.contribution),
                })
            })
            .collect(),
    )
}
