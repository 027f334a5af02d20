//! Alerts in the shape of Falco's JSON output, which falcosidekick routes to its destinations.
//!
//! One JSON object per alert with Falco's keys: `time` (RFC 3339), `rule`, `priority`,
//! `output` (one readable line), `output_fields`, `source`, `tags` and `hostname`.
//!
//! The priority says how far past the threshold the score is: with
//! `q = (score − threshold) / (1 − threshold)`, `Critical` for q ≥ 0.9, `Error` for q ≥ 0.5,
//! `Warning` for q ≥ 0.2 and `Notice` below (an event under the threshold, which is never an
//! alert, would be `Informational`). Falco's `Emergency` and `Alert` are left to rules that
//! know what happened, not how unusual it looked. With the default threshold 0.5: scores
//! from 0.95 are `Critical`, from 0.75 `Error`, from 0.6 `Warning`.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::time::{Duration, SystemTime};

use crate::scoring::explain::{Reason, reasons_text};

/// Falco's eight priorities, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// `Emergency`.
    Emergency,
    /// `Alert`.
    Alert,
    /// `Critical`.
    Critical,
    /// `Error`.
    Error,
    /// `Warning`.
    Warning,
    /// `Notice`.
    Notice,
    /// `Informational`.
    Informational,
    /// `Debug`.
    Debug,
}

impl Priority {
    /// The priority of a score under a detector's threshold (see the module docs).
    pub fn of(score: f32, threshold: f64) -> Priority {
        let score = score as f64;
        if score < threshold {
            return Priority::Informational;
        }
        let q = if threshold >= 1.0 {
            1.0
        } else {
            (score - threshold) / (1.0 - threshold)
        };
        match q {
            q if q >= 0.9 => Priority::Critical,
            q if q >= 0.5 => Priority::Error,
            q if q >= 0.2 => Priority::Warning,
            _ => Priority::Notice,
        }
    }

    /// The name Falco writes.
    pub const fn name(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }
}

/// The rule name every alert carries.
pub const RULE: &str = "Suspicious kernel event (beth-detect)";
/// The `source` every alert carries.
pub const SOURCE: &str = "beth-detect";
/// Tracee timestamps above this are nanoseconds since the epoch (after 1973); BETH's CSV
/// timestamps are seconds since boot, and an alert about one is stamped with the time it was
/// scored.
const EPOCH_NANOS_MIN: u64 = 100_000_000_000_000_000;

/// What every alert of one scoring run shares.
#[derive(Debug, Clone)]
pub struct FalcoContext {
    /// Used when the event has no `hostName`.
    pub hostname: String,
    /// `tags`.
    pub tags: Vec<String>,
}

impl FalcoContext {
    /// This machine's host name, and tags naming the detector kind.
    pub fn new(detector_kind: &str) -> Self {
        FalcoContext {
            hostname: gethostname::gethostname().to_string_lossy().into_owned(),
            tags: vec![
                "beth-detect".into(),
                "anomaly".into(),
                detector_kind.to_string(),
            ],
        }
    }

    /// The alert for one event: `fields` are the event's own (a Tracee object's, or a CSV
    /// row's columns), `now` the time used when the event carries no wall-clock time.
    pub fn alert(
        &self,
        fields: Map<String, Value>,
        score: f32,
        threshold: f64,
        reasons: &[Reason],
        now: SystemTime,
    ) -> Value {
        let priority = Priority::of(score, threshold);
        let time = fields
            .get("timestamp")
            .and_then(Value::as_u64)
            .filter(|&t| t >= EPOCH_NANOS_MIN)
            .map_or(now, |t| SystemTime::UNIX_EPOCH + Duration::from_nanos(t));
        let hostname = fields
            .get("hostName")
            .and_then(Value::as_str)
            .unwrap_or(&self.hostname)
            .to_string();
        let output = output_line(&fields, score, priority, &hostname, reasons);
        let mut output_fields = flatten_tracee_args(fields);
        output_fields.insert(
            "beth_detect.score".into(),
            crate::scoring::json::json_score(score),
        );
        output_fields.insert("beth_detect.threshold".into(), Value::from(threshold));
        output_fields.insert(
            "beth_detect.reasons".into(),
            Value::from(reasons_text(reasons)),
        );
        let mut alert = Map::new();
        alert.insert(
            "time".into(),
            Value::from(humantime::format_rfc3339_nanos(time).to_string()),
        );
        alert.insert("rule".into(), Value::from(RULE));
        alert.insert("priority".into(), Value::from(priority.name()));
        alert.insert("output".into(), Value::from(output));
        alert.insert("output_fields".into(), Value::Object(output_fields));
        alert.insert("source".into(), Value::from(SOURCE));
        alert.insert(
            "tags".into(),
            Value::Array(self.tags.iter().map(|t| Value::from(t.as_str())).collect()),
        );
        alert.insert("hostname".into(), Value::from(hostname));
        Value::Object(alert)
    }
}

impl FalcoContext {
    /// The alert for one Tracee JSON event, written into `line`: the same alert as
    /// [`FalcoContext::alert`] gives for the event's fields, built from the event's own text
    /// (field values are copied as they are written, not decoded and encoded again), which
    /// makes it several times cheaper. `None` if `record` is not a JSON object whose keys
    /// need no unescaping; the caller then takes the general path.
    pub(crate) fn write_tracee_alert(
        &self,
        record: &[u8],
        score: f32,
        threshold: f64,
        reasons: &[Reason],
        now: SystemTime,
        line: &mut Vec<u8>,
    ) -> Option<()> {
        let fields = crate::data::object_members(record)?;
        // The last of a repeated key counts, as in a map.
        let raw = |name: &str| -> Option<&str> {
            fields
                .iter()
                .rev()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| *value)
        };
        let text = |name: &str| -> Option<String> { raw(name).map(json_text) };
        let priority = Priority::of(score, threshold);
        let time = raw("timestamp")
            .and_then(|raw| raw.parse::<u64>().ok())
            .filter(|&t| t >= EPOCH_NANOS_MIN)
            .map_or(now, |t| SystemTime::UNIX_EPOCH + Duration::from_nanos(t));
        let hostname = raw("hostName")
            .filter(|raw| raw.starts_with('"'))
            .map_or_else(|| self.hostname.clone(), json_text);
        let reasons = reasons_text(reasons);
        let output = describe(&text, score, priority, &hostname, &reasons);
        // Tracee's `args` as `args.<name>` fields, when every one has a name.
        #[derive(Deserialize)]
        struct Arg<'a> {
            name: String,
            #[serde(borrow)]
            value: Option<&'a RawValue>,
        }
        let args: Option<Vec<Arg>> = raw("args").and_then(|raw| serde_json::from_str(raw).ok());
        let flattened: Vec<(String, &str)> = args
            .iter()
            .flatten()
            .map(|arg| {
                (
                    format!("args.{}", arg.name),
                    arg.value.map_or("null", RawValue::get),
                )
            })
            .collect();
        let score_text = serde_json::to_string(&crate::scoring::json::json_score(score)).ok()?;
        let threshold_text = serde_json::to_string(&Value::from(threshold)).ok()?;
        let reasons_value = serde_json::to_string(&reasons).ok()?;
        let mut output_fields: Vec<(&str, &str)> =
            Vec::with_capacity(fields.len() + flattened.len() + 3);
        output_fields.extend(
            fields
                .iter()
                .filter(|(key, _)| args.is_none() || *key != "args"),
        );
        output_fields.extend(flattened.iter().map(|(key, value)| (key.as_str(), *value)));
        output_fields.push(("beth_detect.score", &score_text));
        output_fields.push(("beth_detect.threshold", &threshold_text));
        output_fields.push(("beth_detect.reasons", &reasons_value));
        // The keys in the order serde_json's map writes them (sorted), as `alert` does.
        last_of_each_key_sorted(&mut output_fields);
        let string = |line: &mut Vec<u8>, text: &str| serde_json::to_writer(&mut *line, text);
        line.extend_from_slice(b"{\"hostname\":");
        string(line, &hostname).ok()?;
        line.extend_from_slice(b",\"output\":");
        string(line, &output).ok()?;
        line.extend_from_slice(b",\"output_fields\":{");
        for (i, (key, value)) in output_fields.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            string(line, key).ok()?;
            line.push(b':');
            line.extend_from_slice(value.as_bytes());
        }
        line.extend_from_slice(b"},\"priority\":");
        string(line, priority.name()).ok()?;
        line.extend_from_slice(b",\"rule\":");
        string(line, RULE).ok()?;
        line.extend_from_slice(b",\"source\":");
        string(line, SOURCE).ok()?;
        line.extend_from_slice(b",\"tags\":");
        serde_json::to_writer(&mut *line, &self.tags).ok()?;
        line.extend_from_slice(b",\"time\":");
        string(line, &humantime::format_rfc3339_nanos(time).to_string()).ok()?;
        line.push(b'}');
        Some(())
    }
}

/// Sorts members by key, keeping only the last of each key: what inserting them in order into
/// a map does.
fn last_of_each_key_sorted(members: &mut Vec<(&str, &str)>) {
    members.reverse();
    // Stable: of equal keys the last written stays first, and `dedup_by` keeps it.
    members.sort_by(|a, b| a.0.cmp(b.0));
    members.dedup_by(|later, kept| later.0 == kept.0);
}

/// A raw JSON value as text: a string's contents, anything else as written.
fn json_text(raw: &str) -> String {
    match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(plain) if !plain.contains('\\') => plain.to_string(),
        _ => serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_string()),
    }
}

/// `Suspicious kernel event (score 0.973, Critical): openat by bash (pid 7347, ppid 7341,
/// uid 0) on host-1; reasons: userId=0 (+0.412); …`
fn output_line(
    fields: &Map<String, Value>,
    score: f32,
    priority: Priority,
    hostname: &str,
    reasons: &[Reason],
) -> String {
    let text = |name: &str| -> Option<String> {
        fields.get(name).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    describe(&text, score, priority, hostname, &reasons_text(reasons))
}

/// The readable line, from a way to read an event's field as text.
fn describe(
    text: &dyn Fn(&str) -> Option<String>,
    score: f32,
    priority: Priority,
    hostname: &str,
    reasons: &str,
) -> String {
    let event = text("eventName")
        .or_else(|| text("eventId").map(|id| format!("event {id}")))
        .unwrap_or_else(|| "event".into());
    let process = text("processName").unwrap_or_else(|| "process".into());
    let ids: Vec<String> = [
        ("pid", "processId"),
        ("ppid", "parentProcessId"),
        ("uid", "userId"),
    ]
    .iter()
    .filter_map(|(short, name)| text(name).map(|v| format!("{short} {v}")))
    .collect();
    let mut line = format!(
        "Suspicious kernel event (score {score:.3}, {}): {event} by {process}",
        priority.name()
    );
    if !ids.is_empty() {
        line.push_str(&format!(" ({})", ids.join(", ")));
    }
    line.push_str(&format!(" on {hostname}"));
    if !reasons.is_empty() {
        line.push_str("; reasons: ");
        line.push_str(reasons);
    }
    line
}

/// Tracee's `args` (`[{"name": "pathname", "value": "/etc/passwd", …}]`) as `args.pathname`
/// fields, which Falco's consumers can show and filter on; every other field as it was.
fn flatten_tracee_args(mut fields: Map<String, Value>) -> Map<String, Value> {
    let Some(Value::Array(args)) = fields.get("args") else {
        return fields;
    };
    let named: Option<Vec<(String, Value)>> = args
        .iter()
        .map(|a| {
            let name = a.get("name")?.as_str()?;
            Some((
                format!("args.{name}"),
                a.get("value").cloned().unwrap_or(Value::Null),
            ))
        })
        .collect();
    if let Some(named) = named {
        fields.remove("args");
        fields.extend(named);
    }
    fields
}
