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

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write as _;
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
        let text = |name: &str| -> Option<Cow<'_, str>> { raw(name).map(json_text) };
        let priority = Priority::of(score, threshold);
        let time = raw("timestamp")
            .and_then(|raw| raw.parse::<u64>().ok())
            .filter(|&t| t >= EPOCH_NANOS_MIN)
            .map_or(now, |t| SystemTime::UNIX_EPOCH + Duration::from_nanos(t));
        let hostname = raw("hostName")
            .filter(|raw| raw.starts_with('"'))
            .map_or(Cow::Borrowed(self.hostname.as_str()), json_text);
        let reasons = reasons_text(reasons);
        let output = describe(&text, score, priority, &hostname, &reasons);
        let args = raw("args").and_then(tracee_args);
        let flattened: Vec<(String, &str)> = args
            .iter()
            .flatten()
            .map(|(name, value)| {
                let mut key = String::with_capacity(5 + name.len());
                key.push_str("args.");
                key.push_str(name);
                (key, value.as_ref())
            })
            .collect();
        let score_text = serde_json::to_string(&crate::scoring::json::json_score(score)).ok()?;
        let threshold_text = serde_json::to_string(&Value::from(threshold)).ok()?;
        let mut reasons_value = Vec::with_capacity(reasons.len() + 2);
        write_json_string(&mut reasons_value, &reasons);
        let reasons_value = std::str::from_utf8(&reasons_value).ok()?;
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
        output_fields.push(("beth_detect.reasons", reasons_value));
        // The keys in the order serde_json's map writes them (sorted), as `alert` does.
        last_of_each_key_sorted(&mut output_fields);
        line.reserve(record.len() + output.len() + 512);
        line.extend_from_slice(b"{\"hostname\":");
        write_json_string(line, &hostname);
        line.extend_from_slice(b",\"output\":");
        write_json_string(line, &output);
        line.extend_from_slice(b",\"output_fields\":{");
        for (i, (key, value)) in output_fields.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            write_json_string(line, key);
            line.push(b':');
            line.extend_from_slice(value.as_bytes());
        }
        line.extend_from_slice(b"},\"priority\":");
        write_json_string(line, priority.name());
        line.extend_from_slice(b",\"rule\":");
        write_json_string(line, RULE);
        line.extend_from_slice(b",\"source\":");
        write_json_string(line, SOURCE);
        line.extend_from_slice(b",\"tags\":[");
        for (i, tag) in self.tags.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            write_json_string(line, tag);
        }
        // RFC 3339 text needs no escaping.
        write!(
            line,
            "],\"time\":\"{}\"}}",
            humantime::format_rfc3339_nanos(time)
        )
        .ok()?;
        Some(())
    }
}

/// Tracee's `args` as (name, value text) pairs when every element is an object with a string
/// `name`, as [`flatten_tracee_args`] reads them (the last of a repeated key counts); `None`
/// otherwise. Plain elements (keys and name without escapes) are split by the scanner and their
/// values copied as written; anything else is read by serde_json.
fn tracee_args(raw: &str) -> Option<Vec<(Cow<'_, str>, Cow<'_, str>)>> {
    let plain = || -> Option<Vec<(Cow<'_, str>, Cow<'_, str>)>> {
        crate::data::array_elements(raw)?
            .into_iter()
            .map(|element| {
                let (mut name, mut value) = (None, "null");
                for (key, member) in crate::data::object_members(element.as_bytes())? {
                    match key {
                        "name" => name = Some(member),
                        "value" => value = member,
                        _ => {}
                    }
                }
                let name = name?.strip_prefix('"')?.strip_suffix('"')?;
                (!name.contains('\\')).then_some((Cow::Borrowed(name), Cow::Borrowed(value)))
            })
            .collect()
    };
    plain().or_else(|| {
        let Ok(Value::Array(args)) = serde_json::from_str::<Value>(raw) else {
            return None;
        };
        let named = named_args(&args)?;
        Some(
            named
                .into_iter()
                .map(|(name, value)| (Cow::Owned(name.to_string()), Cow::Owned(value.to_string())))
                .collect(),
        )
    })
}

/// `text` as a JSON string, exactly as serde_json writes it; copied as it is when nothing in
/// it needs escaping (`"`, `\\` or a control character), which is nearly always.
fn write_json_string(line: &mut Vec<u8>, text: &str) {
    if crate::data::plain_string_bytes(text.as_bytes()) == text.len() {
        line.push(b'"');
        line.extend_from_slice(text.as_bytes());
        line.push(b'"');
    } else {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *line, text);
    }
}

/// Sorts members by key, keeping only the last of each key: what inserting them in order into
/// a map does.
fn last_of_each_key_sorted(members: &mut Vec<(&str, &str)>) {
    members.reverse();
    // Stable: of equal keys the last written stays first, and `dedup_by` keeps it. Most keys
    // differ in their first eight bytes, compared as one number (zero-padded, which orders as
    // the bytes do); only ties compare the whole keys.
    members.sort_by_cached_key(|&(key, _)| {
        let mut first = [0u8; 8];
        let n = key.len().min(8);
        first[..n].copy_from_slice(&key.as_bytes()[..n]);
        (u64::from_be_bytes(first), key)
    });
    members.dedup_by(|later, kept| later.0 == kept.0);
}

/// A raw JSON value as text: a string's contents, anything else as written.
fn json_text(raw: &str) -> Cow<'_, str> {
    match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(plain) if !plain.contains('\\') => Cow::Borrowed(plain),
        Some(_) => serde_json::from_str::<String>(raw).map_or(Cow::Borrowed(raw), Cow::Owned),
        None => Cow::Borrowed(raw),
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
    let text = |name: &str| -> Option<Cow<'_, str>> {
        fields.get(name).map(|v| match v {
            Value::String(s) => Cow::Borrowed(s.as_str()),
            other => Cow::Owned(other.to_string()),
        })
    };
    describe(&text, score, priority, hostname, &reasons_text(reasons))
}

/// The readable line, from a way to read an event's field as text.
fn describe<'a>(
    text: &dyn Fn(&str) -> Option<Cow<'a, str>>,
    score: f32,
    priority: Priority,
    hostname: &str,
    reasons: &str,
) -> String {
    let mut line = String::with_capacity(160 + reasons.len());
    let _ = write!(
        line,
        "Suspicious kernel event (score {score:.3}, {}): ",
        priority.name()
    );
    if let Some(name) = text("eventName") {
        line.push_str(&name);
    } else if let Some(id) = text("eventId") {
        line.push_str("event ");
        line.push_str(&id);
    } else {
        line.push_str("event");
    }
    line.push_str(" by ");
    line.push_str(text("processName").as_deref().unwrap_or("process"));
    let mut ids = 0;
    for (short, name) in [
        ("pid", "processId"),
        ("ppid", "parentProcessId"),
        ("uid", "userId"),
    ] {
        if let Some(value) = text(name) {
            line.push_str(if ids == 0 { " (" } else { ", " });
            line.push_str(short);
            line.push(' ');
            line.push_str(&value);
            ids += 1;
        }
    }
    if ids > 0 {
        line.push(')');
    }
    line.push_str(" on ");
    line.push_str(hostname);
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
    let Some(named) = named_args(args).map(|named| {
        named
            .into_iter()
            .map(|(name, value)| (format!("args.{name}"), value.clone()))
            .collect::<Vec<_>>()
    }) else {
        return fields;
    };
    fields.remove("args");
    fields.extend(named);
    fields
}

/// Each argument's `name` and `value` (`null` when absent); `None` unless every argument is an
/// object with a string `name`.
fn named_args(args: &[Value]) -> Option<Vec<(&str, &Value)>> {
    args.iter()
        .map(|arg| {
            Some((
                arg.get("name")?.as_str()?,
                arg.get("value").unwrap_or(&Value::Null),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::explain::Reason;

    /// The alert `write_tracee_alert` writes and the one [`FalcoContext::alert`] builds through
    /// serde_json's map, for the same line.
    fn both_paths(line: &str) -> (Vec<u8>, Vec<u8>) {
        let context = FalcoContext {
            hostname: "scorer-host".into(),
            tags: vec!["beth-detect".into(), "anomaly".into(), "mlp".into()],
        };
        let reasons = [Reason {
            feature: "userId",
            value: 0,
            baseline: 1000,
            contribution: 0.412,
        }];
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut fast = Vec::new();
        context
            .write_tracee_alert(line.as_bytes(), 0.973, 0.5, &reasons, now, &mut fast)
            .expect("a plain object takes the fast path");
        let fields = serde_json::from_str(line).unwrap();
        let general =
            serde_json::to_vec(&context.alert(fields, 0.973, 0.5, &reasons, now)).unwrap();
        (fast, general)
    }

    #[test]
    fn real_tracee_events_give_the_same_alert_on_both_paths() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tracee/");
        let mut events = String::new();
        for file in [
            "classic-json-example.jsonl",
            "classic-json-docs-v0.24.1.jsonl",
        ] {
            events += &std::fs::read_to_string(format!("{dir}{file}")).unwrap();
        }
        assert!(events.lines().count() >= 6);
        let mut byte_for_byte = 0;
        for line in events.lines().filter(|l| !l.trim().is_empty()) {
            let (fast, general) = both_paths(line);
            let (fast, general) = (
                String::from_utf8(fast).unwrap(),
                String::from_utf8(general).unwrap(),
            );
            assert_eq!(
                serde_json::from_str::<Value>(&fast).unwrap(),
                serde_json::from_str::<Value>(&general).unwrap()
            );
            // Objects nested in a value are copied as written; the map sorts their keys.
            if !line.contains("\":{") {
                assert_eq!(fast, general);
                byte_for_byte += 1;
            }
        }
        assert!(byte_for_byte >= 1);
    }

    #[test]
    fn unusual_events_give_the_same_alert_on_both_paths() {
        let lines = [
            // Escapes in values, a number as host name, a repeated key (the last counts).
            r#"{"processId":1,"processId":7,"hostName":42,"processName":"ba\"sh\n\u00e9","eventName":"open\tat","userId":0}"#,
            // An argument name with an escape, one without a value, one repeated key.
            r#"{"processId":7,"args":[{"name":"pa\u0074h","value":"/etc"},{"name":"mode"},{"name":"a","name":"b","value":1,"value":[2]}]}"#,
            // Not every argument named: `args` stays as it is.
            r#"{"processId":7,"args":[{"name":"x","value":1},{"value":2}]}"#,
            r#"{"processId":7,"args":[1,2],"parentProcessId":3}"#,
            // Non-ASCII text, a name needing escapes once decoded, numbers written unusually.
            r#"{"hostName":"höst-ü","eventId":"257","args":[{"name":"q\"uote","value":1.5e2}],"timestamp":1657291777566819000}"#,
            // No fields the description uses.
            r#"{}"#,
        ];
        for line in lines {
            let (fast, general) = both_paths(line);
            let fast: Value = serde_json::from_slice(&fast).unwrap();
            let general: Value = serde_json::from_slice(&general).unwrap();
            assert_eq!(fast, general, "{line}");
        }
    }
}
