//! The server's Prometheus metrics, in one registry.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Counters and the scoring-time histogram; cheap to update from any task.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `beth_detect_events_total`.
    pub events: Counter,
    /// `beth_detect_alerts_total`.
    pub alerts: Counter,
    /// `beth_detect_bad_requests_total`: 400s and 413s.
    pub bad_requests: Counter,
    /// `beth_detect_forward_failures_total`: alerts not delivered to `--forward` (the receiver
    /// failed every retry, or the queue was full).
    pub forward_failures: Counter,
    /// `beth_detect_score_seconds`: parsing, scoring and explaining one request body.
    pub score_seconds: Histogram,
    /// `beth_detect_published_events_total`: events stored in the fleet's stream
    /// (`serve --nats`).
    pub published_events: Counter,
    /// `beth_detect_publish_failures_total`: bodies answered 503 because JetStream could not
    /// be reached or did not acknowledge in time (`serve --nats`).
    pub publish_failures: Counter,
}

impl Metrics {
    /// The metrics, with `beth_detect_model_info` carrying `identity` as labels.
    pub fn new(identity: Vec<(String, String)>) -> Self {
        let mut registry = Registry::default();
        let events = Counter::default();
        let alerts = Counter::default();
        let bad_requests = Counter::default();
        let forward_failures = Counter::default();
        let published_events = Counter::default();
        let publish_failures = Counter::default();
        // 1 µs to ~4 s.
        let score_seconds = Histogram::new(exponential_buckets(1e-6, 4.0, 12));
        registry.register("beth_detect_events", "Events scored", events.clone());
        registry.register("beth_detect_alerts", "Events that alerted", alerts.clone());
        registry.register(
            "beth_detect_bad_requests",
            "Requests refused: malformed (400) or too large (413) bodies",
            bad_requests.clone(),
        );
        registry.register(
            "beth_detect_forward_failures",
            "Alerts not delivered to the forward URL",
            forward_failures.clone(),
        );
        registry.register(
            "beth_detect_score_seconds",
            "Seconds spent parsing, scoring and explaining one request body",
            score_seconds.clone(),
        );
        registry.register(
            "beth_detect_published_events",
            "Events stored in the fleet's JetStream stream (serve --nats)",
            published_events.clone(),
        );
        registry.register(
            "beth_detect_publish_failures",
            "Bodies answered 503: JetStream unreachable or too slow to acknowledge (serve --nats)",
            publish_failures.clone(),
        );
        registry.register(
            "beth_detect_model",
            "The detector being served",
            Info::new(identity),
        );
        Metrics {
            registry,
            events,
            alerts,
            bad_requests,
            forward_failures,
            score_seconds,
            published_events,
            publish_failures,
        }
    }

    /// The text exposition (OpenMetrics, which Prometheus scrapes).
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
