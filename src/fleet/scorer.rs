//! A fleet scorer: one of any number of processes sharing one durable pull consumer on the
//! events stream. Each fetches messages, scores their lines with the one CPU scorer, publishes
//! every alert and every bad line, awaits those PubAcks, and only then acknowledges the
//! message. A scorer that dies holding messages loses nothing: JetStream gives them to the
//! others after `ack_wait`, and the alerts they publish again carry the same ids, which the
//! alerts stream drops as duplicates.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::context::Context;
use async_nats::jetstream::message::{AckKind, Message, PublishMessage};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;

use super::acked::{AckedPublisher, Round};
use super::connection::NatsOptions;
use super::publish::{EVENTS_SUBJECTS, ensure_stream};
use super::wire::{MessagePacker, alert_id};
use crate::error::{Error, Result};
use crate::scoring::falco::Priority;
use crate::scoring::{BodyScorer, LinesScore};

/// The alerts stream.
pub const ALERTS_STREAM: &str = "BETH_ALERTS";
/// Its subjects; an alert goes to `beth.alerts.<priority>` (`critical`, `error`, `warning`,
/// `notice`).
pub const ALERTS_SUBJECTS: &str = "beth.alerts.>";
/// The dead-letter stream.
pub const DEAD_STREAM: &str = "BETH_DEAD";
/// Its subjects: `beth.dead.line` for a line that is not an event, `beth.dead.message` for a
/// message that failed `max_deliver` times.
pub const DEAD_SUBJECTS: &str = "beth.dead.>";
/// The durable consumer's name unless told otherwise.
pub const CONSUMER: &str = "beth-detect";

/// Knobs of a [`FleetScorer`].
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The events stream.
    pub stream: String,
    /// The durable pull consumer all scorers share.
    pub consumer: String,
    /// How long a delivered message may go unacknowledged before JetStream gives it to
    /// another scorer; applies when this scorer creates the consumer.
    pub ack_wait: Duration,
    /// Stop once nothing arrived for this long (replays, tests); `None`: run until stopped.
    pub until_idle: Option<Duration>,
    /// Deliveries of a message that keeps failing (the alerts stream refusing, say) before it
    /// is dead-lettered and terminated.
    pub max_deliver: i64,
    /// Messages fetched at once.
    pub fetch_messages: usize,
    /// Alerts per message on the alerts stream: 1 (the default) gives each alert its own
    /// message and id; more packs the alerts of one priority from one source message, as
    /// newline-separated JSON, which stores several times faster when many events alert.
    pub alerts_per_message: usize,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            stream: super::publish::EVENTS_STREAM.into(),
            consumer: CONSUMER.into(),
            ack_wait: Duration::from_secs(30),
            until_idle: None,
            max_deliver: 5,
            fetch_messages: 32,
            alerts_per_message: 1,
        }
    }
}

/// What one scorer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FleetSummary {
    /// Events scored (in messages this scorer acknowledged).
    pub events: u64,
    /// Alerts published.
    pub alerts: u64,
    /// Lines that were not events, dead-lettered.
    pub bad_lines: u64,
    /// Messages acknowledged.
    pub messages: u64,
    /// Messages that had been delivered before (to a scorer that died, or failed).
    pub redeliveries: u64,
    /// Messages given back for a later try after a failure.
    pub retries: u64,
    /// Messages dead-lettered whole after `max_deliver` failures.
    pub dead_messages: u64,
    /// When the first message arrived, in seconds since the Unix epoch (to time several
    /// scorers draining one stream together).
    pub first_message_at: Option<f64>,
    /// When the last message was acknowledged, in seconds since the Unix epoch.
    pub last_ack_at: Option<f64>,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Waits for messages when none are waiting; short, so that a stop is noticed soon.
const POLL: Duration = Duration::from_millis(500);
/// How long a publish of an alert or dead letter may wait for its PubAck before the message
/// it came from is given back (the client's request timeout, as for every other request).
const PUBACK_WAIT: Duration = Duration::from_secs(10);
/// How much longer than [`POLL`] a fetch may take before it is given up and tried again.
const FETCH_PATIENCE: Duration = Duration::from_secs(5);

/// A connected scorer, ready to [`run`](Self::run).
pub struct FleetScorer {
    config: FleetConfig,
    scorer: Arc<BodyScorer>,
    client: async_nats::Client,
    jetstream: Context,
    consumer: PullConsumer,
    ack_wait: Duration,
    publisher: tokio::sync::Mutex<AckedPublisher>,
    /// The server's payload limit, read once: alerts are packed under it.
    max_payload: usize,
}

/// The alerts of one priority from one message, being packed into messages.
struct AlertGroup {
    priority: Priority,
    packer: MessagePacker,
    /// The line of the first alert in the packer, while it holds any.
    first_line: Option<u64>,
}

/// Where a message came from, for its ids and dead letters.
struct Source {
    subject: String,
    sequence: u64,
    delivered: i64,
}

impl FleetScorer {
    /// Connects; makes sure the events, alerts and dead-letter streams exist; joins the
    /// durable consumer, creating it if absent. `scorer` writes Falco-shaped alerts
    /// ([`crate::scoring::OutputFormat::Falco`]).
    pub async fn connect(
        options: &NatsOptions,
        scorer: BodyScorer,
        config: FleetConfig,
    ) -> Result<Self> {
        if config.max_deliver < 1
            || config.fetch_messages == 0
            || config.alerts_per_message == 0
            || config.ack_wait.is_zero()
        {
            return Err(Error::InvalidConfig {
                name: "fleet scorer",
                expected: "max_deliver, fetch size, alerts per message and ack wait of at least 1",
                found: format!("{config:?}"),
            });
        }
        let client = options.connect().await?;
        let jetstream = async_nats::jetstream::new(client.clone());
        ensure_stream(options, &jetstream, &config.stream, EVENTS_SUBJECTS).await?;
        ensure_stream(options, &jetstream, ALERTS_STREAM, ALERTS_SUBJECTS).await?;
        ensure_stream(options, &jetstream, DEAD_STREAM, DEAD_SUBJECTS).await?;
        let stream = jetstream
            .get_stream(&config.stream)
            .await
            .map_err(|e| options.error(format!("open stream {}", config.stream), e))?;
        let mut consumer: PullConsumer = stream
            .get_or_create_consumer(
                &config.consumer,
                pull::Config {
                    durable_name: Some(config.consumer.clone()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: config.ack_wait,
                    // The scorer counts deliveries itself and dead-letters a message that keeps
                    // failing: the server's own limit would drop it with only an advisory.
                    max_deliver: -1,
                    max_ack_pending: 20_000,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| options.error(format!("join consumer {}", config.consumer), e))?;
        let ack_wait = consumer
            .info()
            .await
            .map(|info| info.config.ack_wait)
            .map_err(|e| options.error(format!("read consumer {}", config.consumer), e))?;
        let mut alerts = jetstream
            .get_stream(ALERTS_STREAM)
            .await
            .map_err(|e| options.error(format!("open stream {ALERTS_STREAM}"), e))?;
        let window = alerts
            .info()
            .await
            .map(|info| info.config.duplicate_window)
            .map_err(|e| options.error(format!("read stream {ALERTS_STREAM}"), e))?;
        // A message redelivered after the window would publish its alerts a second time.
        if ack_wait >= window {
            return Err(Error::InvalidConfig {
                name: "ack wait",
                expected: "an ack wait shorter than the alerts stream's duplicate window (exactly-once alerts rest on it)",
                found: format!(
                    "ack wait {} s, {ALERTS_STREAM} duplicate window {} s",
                    ack_wait.as_secs_f64(),
                    window.as_secs_f64()
                ),
            });
        }
        let publisher = AckedPublisher::new(&client, PUBACK_WAIT)
            .await
            .map_err(|e| options.error("subscribe to PubAcks", e))?;
        Ok(FleetScorer {
            publisher: tokio::sync::Mutex::new(publisher),
            max_payload: client.server_info().max_payload,
            config,
            scorer: Arc::new(scorer),
            client,
            jetstream,
            consumer,
            ack_wait,
        })
    }

    /// The consumer's ack wait (the server's, which an existing consumer keeps).
    pub fn ack_wait(&self) -> Duration {
        self.ack_wait
    }

    /// Scores until `stop` is set (the batch in hand is finished and acknowledged first) or,
    /// with `until_idle`, until nothing has arrived for that long.
    pub async fn run(self, stop: Arc<AtomicBool>) -> Result<FleetSummary> {
        let mut summary = FleetSummary::default();
        let mut last_arrival = Instant::now();
        let mut failures = 0u32;
        while !stop.load(Ordering::Relaxed) {
            if let Some(idle) = self.config.until_idle
                && last_arrival.elapsed() >= idle
            {
                break;
            }
            // A pull whose connection broke may never end by itself: bounded, and what it
            // held is redelivered after the ack wait.
            let fetched = tokio::time::timeout(POLL + FETCH_PATIENCE, self.fetch()).await;
            let messages = match fetched.unwrap_or_else(|_| Err("fetch timed out".into())) {
                Ok(messages) => {
                    failures = 0;
                    messages
                }
                // The connection is down or the server busy: the client reconnects by
                // itself; wait a little longer each time.
                Err(_) => {
                    failures = (failures + 1).min(6);
                    tokio::time::sleep(Duration::from_millis(100 << failures)).await;
                    continue;
                }
            };
            if messages.is_empty() {
                continue;
            }
            last_arrival = Instant::now();
            summary.first_message_at.get_or_insert_with(unix_now);
            self.handle(messages, &mut summary).await;
            summary.last_ack_at = Some(unix_now());
        }
        // Acks are fire-and-forget publishes: see them onto the wire before going.
        let _ = self.client.flush().await;
        Ok(summary)
    }

    /// What is waiting now, or failing that the next message within [`POLL`].
    async fn fetch(&self) -> std::result::Result<Vec<Message>, async_nats::Error> {
        let mut messages = collect(
            self.consumer
                .fetch()
                .max_messages(self.config.fetch_messages)
                .messages()
                .await?,
        )
        .await;
        if messages.is_empty() {
            let wait = match self.config.until_idle {
                Some(idle) => POLL.min(idle).max(Duration::from_millis(50)),
                None => POLL,
            };
            messages = collect(
                self.consumer
                    .batch()
                    .max_messages(1)
                    .expires(wait)
                    .messages()
                    .await?,
            )
            .await;
        }
        Ok(messages)
    }

    /// Scores a batch of messages, publishes their alerts and dead letters, and acknowledges
    /// each message whose publishes were all acknowledged; the others are given back.
    async fn handle(&self, messages: Vec<Message>, summary: &mut FleetSummary) {
        let sources: Vec<Source> = messages
            .iter()
            .map(|m| {
                let (sequence, delivered) = m
                    .info()
                    .map_or((0, 1), |info| (info.stream_sequence, info.delivered));
                Source {
                    subject: m.subject.to_string(),
                    sequence,
                    delivered,
                }
            })
            .collect();
        let payloads: Vec<_> = messages.iter().map(|m| m.payload.clone()).collect();
        let scorer = self.scorer.clone();
        let scoring = tokio::task::spawn_blocking(move || {
            payloads
                .iter()
                .map(|p| scorer.score_lines(p))
                .collect::<Vec<LinesScore>>()
        });
        let scored = match self.with_progress(&messages, scoring).await {
            Ok(scored) => scored,
            Err(e) => {
                let error = format!("scoring failed: {e}");
                for (message, source) in messages.iter().zip(&sources) {
                    self.fail(message, source, &error, summary).await;
                }
                return;
            }
        };
        let mut publisher = self.publisher.lock().await;
        let publishing = async {
            let mut round = publisher.round(messages.len());
            for (owner, ((message, source), lines)) in
                messages.iter().zip(&sources).zip(&scored).enumerate()
            {
                self.publish_results(&mut round, owner, message, source, lines)
                    .await;
            }
            round.finish().await
        };
        let outcomes = self.with_progress(&messages, publishing).await;
        for (((message, source), lines), outcome) in
            messages.iter().zip(&sources).zip(&scored).zip(outcomes)
        {
            match outcome {
                Ok(()) => {
                    if message.ack().await.is_err() {
                        // The ack was lost with the connection: JetStream redelivers the
                        // message, and its alerts are dropped as duplicates.
                        continue;
                    }
                    summary.messages += 1;
                    summary.events += lines.events;
                    summary.alerts += lines.alerts.len() as u64;
                    summary.bad_lines += lines.bad.len() as u64;
                    summary.redeliveries += (source.delivered > 1) as u64;
                }
                Err(error) => self.fail(message, source, &error, summary).await,
            }
        }
    }

    /// Sends a message's alerts and dead letters in `round`, which awaits their PubAcks.
    async fn publish_results(
        &self,
        round: &mut Round<'_>,
        owner: usize,
        message: &Message,
        source: &Source,
        lines: &LinesScore,
    ) {
        let threshold = self.scorer.threshold();
        // One message per alert by default; with `alerts_per_message` > 1, the alerts of one
        // priority, in line order, share a message whose id is its first alert's.
        let mut groups: Vec<AlertGroup> = Vec::with_capacity(4);
        for alert in &lines.alerts {
            let priority = Priority::of(alert.score, threshold);
            let text = alert.text.strip_suffix(b"\n").unwrap_or(&alert.text);
            let group = match groups.iter().position(|g| g.priority == priority) {
                Some(i) => &mut groups[i],
                None => {
                    let packer = match MessagePacker::new(
                        self.config.alerts_per_message,
                        self.max_payload,
                    ) {
                        Ok(packer) => packer,
                        Err(e) => return round.fail(owner, e.to_string()),
                    };
                    groups.push(AlertGroup {
                        priority,
                        packer,
                        first_line: None,
                    });
                    groups.last_mut().expect("just pushed")
                }
            };
            let line = alert.line;
            match group
                .packer
                .push(text, || format!("the alert for line {line}"))
            {
                Err(e) => return round.fail(owner, e.to_string()),
                // The server's payload limit closed the message before this line.
                Ok(Some(full)) => {
                    let first = group.first_line.replace(line).unwrap_or(line);
                    self.publish_alerts(round, owner, source, priority, first, full)
                        .await;
                }
                Ok(None) => {
                    group.first_line.get_or_insert(line);
                }
            }
            // A full message goes at once: with one alert a message, in line order.
            if let Some(full) = group.packer.take_full() {
                let first = group.first_line.take().unwrap_or(line);
                self.publish_alerts(round, owner, source, priority, first, full)
                    .await;
            }
        }
        for group in groups {
            if let (Some(first), Some(last)) = (group.first_line, group.packer.finish()) {
                self.publish_alerts(round, owner, source, group.priority, first, last)
                    .await;
            }
        }
        for bad in &lines.bad {
            let letter = json!({
                "reason": "not an event",
                "error": bad.error,
                "stream": self.config.stream,
                "subject": source.subject,
                "sequence": source.sequence,
                "line": bad.line,
                "event": String::from_utf8_lossy(&message.payload[bad.bytes.clone()]),
            });
            let id = alert_id(&self.config.stream, source.sequence, bad.line);
            round
                .publish(
                    owner,
                    "beth.dead.line".into(),
                    &id,
                    letter.to_string().into(),
                )
                .await;
        }
    }

    /// Publishes packed alerts (lines with their newlines) as `beth.alerts.<priority>`, the
    /// id that of the first alert, the last newline dropped: one alert is exactly its JSON.
    async fn publish_alerts(
        &self,
        round: &mut Round<'_>,
        owner: usize,
        source: &Source,
        priority: Priority,
        first_line: u64,
        mut payload: Vec<u8>,
    ) {
        payload.pop();
        let id = alert_id(&self.config.stream, source.sequence, first_line);
        let subject = format!("beth.alerts.{}", priority.name().to_ascii_lowercase());
        round.publish(owner, subject, &id, payload.into()).await;
    }

    /// A message that could not be handled: given back with backoff, or after `max_deliver`
    /// deliveries dead-lettered whole and terminated — never acknowledged unless its dead
    /// letter is stored.
    async fn fail(
        &self,
        message: &Message,
        source: &Source,
        error: &str,
        summary: &mut FleetSummary,
    ) {
        if source.delivered >= self.config.max_deliver {
            let letter = json!({
                "reason": format!("failed {} deliveries", source.delivered),
                "error": error,
                "stream": self.config.stream,
                "subject": source.subject,
                "sequence": source.sequence,
                "deliveries": source.delivered,
                "message": String::from_utf8_lossy(&message.payload),
            });
            let publish = PublishMessage::build()
                .payload(letter.to_string().into())
                .message_id(format!(
                    "{}:{}:message",
                    self.config.stream, source.sequence
                ));
            let stored = match self
                .jetstream
                .send_publish("beth.dead.message", publish)
                .await
            {
                Ok(ack) => ack.await.is_ok(),
                Err(_) => false,
            };
            if stored && message.ack_with(AckKind::Term).await.is_ok() {
                summary.dead_messages += 1;
                return;
            }
        }
        // 1 s, 2 s, 4 s … up to a minute.
        let shift = (source.delivered.clamp(1, 7) - 1) as u32;
        let backoff = Duration::from_secs(1 << shift).min(Duration::from_secs(60));
        let _ = message.ack_with(AckKind::Nak(Some(backoff))).await;
        summary.retries += 1;
    }

    /// Runs `work`, telling JetStream every third of the ack wait that `messages` are still
    /// in hand, so a long batch is not given to another scorer meanwhile.
    async fn with_progress<T>(&self, messages: &[Message], work: impl Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        let mut ticks = tokio::time::interval(self.ack_wait / 3);
        ticks.tick().await;
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = ticks.tick() => {
                    for message in messages {
                        let _ = message.ack_with(AckKind::Progress).await;
                    }
                }
            }
        }
    }
}

async fn collect<S>(mut batch: S) -> Vec<Message>
where
    S: futures_util::Stream<Item = std::result::Result<Message, async_nats::Error>> + Unpin,
{
    let mut messages = Vec::new();
    while let Some(item) = batch.next().await {
        match item {
            Ok(message) => messages.push(message),
            // A pull that ended early (timeout, connection lost): what arrived is kept.
            Err(_) => break,
        }
    }
    messages
}
