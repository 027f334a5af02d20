//! Events into the fleet's stream: NDJSON messages published with their ids, every PubAck
//! awaited, the stream created when absent and never changed when present.

use std::collections::VecDeque;
use std::time::Duration;

use async_nats::jetstream::context::{Context, PublishAckFuture};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config, StorageType};

use super::connection::NatsOptions;
use crate::error::Result;

/// The events stream's name unless told otherwise.
pub const EVENTS_STREAM: &str = "TRACEE";
/// The subject events are published on unless told otherwise.
pub const EVENTS_SUBJECT: &str = "tracee.events";
/// The subjects of an events stream this crate creates.
pub const EVENTS_SUBJECTS: &str = "tracee.>";

/// Publishes waiting for at most this many PubAcks at once, and at most [`WINDOW_BYTES`] of
/// payload: enough to keep the connection busy (small messages go ~1.5x faster with 4,096
/// than with 256 outstanding), few enough that memory stays bounded and a failure is found
/// soon.
const ACK_WINDOW: usize = 4096;
const WINDOW_BYTES: usize = 32 << 20;

/// A message ready to publish: its `Nats-Msg-Id` and its payload.
pub type IdentifiedMessage = (String, Vec<u8>);

/// What a publish stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// Messages acknowledged by the stream.
    pub messages: u64,
    /// Of those, messages the stream already held (same id within its duplicate window).
    pub duplicates: u64,
}

/// A connection that publishes into one events stream; cheap to clone and share between
/// tasks (each publish awaits its own PubAcks).
#[derive(Clone)]
pub struct Publisher {
    options: NatsOptions,
    client: async_nats::Client,
    jetstream: Context,
    subject: String,
}

impl Publisher {
    /// Connects and makes sure `stream` exists (created with file storage and subjects
    /// `tracee.>` — or `subject` itself when it lies outside them — if absent; an existing
    /// stream is left as it is).
    pub async fn connect(options: &NatsOptions, stream: &str, subject: &str) -> Result<Self> {
        let client = options.connect().await?;
        let jetstream = async_nats::jetstream::new(client.clone());
        let subjects = if subject.starts_with("tracee.") {
            EVENTS_SUBJECTS.to_string()
        } else {
            subject.to_string()
        };
        ensure_stream(options, &jetstream, stream, &subjects).await?;
        Ok(Publisher {
            options: options.clone(),
            client,
            jetstream,
            subject: subject.to_string(),
        })
    }

    /// The largest message the server takes.
    pub fn max_payload(&self) -> usize {
        self.client.server_info().max_payload
    }

    /// Whether the connection is up now (a server that went away is being reconnected to).
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Sends one message; the PubAck is the returned future's.
    async fn send(&self, id: String, payload: Vec<u8>) -> Result<PublishAckFuture> {
        let message = PublishMessage::build()
            .payload(payload.into())
            .message_id(id);
        self.jetstream
            .send_publish(self.subject.clone(), message)
            .await
            .map_err(|e| {
                self.options
                    .error(format!("publish to {}", self.subject), e)
            })
    }

    async fn settle(&self, ack: PublishAckFuture, published: &mut Published) -> Result<()> {
        let ack = ack.await.map_err(|e| {
            self.options
                .error(format!("PubAck from {}", self.subject), e)
        })?;
        published.messages += 1;
        published.duplicates += ack.duplicate as u64;
        Ok(())
    }

    /// Publishes `(id, payload)` messages and awaits every PubAck.
    pub async fn publish_all(&self, messages: Vec<IdentifiedMessage>) -> Result<Published> {
        let mut acks = Vec::with_capacity(messages.len());
        for (id, payload) in messages {
            acks.push(self.send(id, payload).await?);
        }
        let mut published = Published::default();
        for ack in acks {
            self.settle(ack, &mut published).await?;
        }
        Ok(published)
    }

    /// A sender for a long run of messages that keeps a window of PubAcks outstanding.
    pub fn window(&self) -> PublishWindow<'_> {
        PublishWindow {
            publisher: self,
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            published: Published::default(),
        }
    }
}

/// Publishes a long run of messages with at most 4,096 PubAcks (and 32 MB) outstanding.
pub struct PublishWindow<'a> {
    publisher: &'a Publisher,
    in_flight: VecDeque<(PublishAckFuture, usize)>,
    in_flight_bytes: usize,
    published: Published,
}

impl PublishWindow<'_> {
    /// Sends one message; its PubAck is awaited by a later `send` or by [`Self::finish`].
    pub async fn send(&mut self, id: String, payload: Vec<u8>) -> Result<()> {
        while self.in_flight.len() >= ACK_WINDOW
            || (self.in_flight_bytes + payload.len() > WINDOW_BYTES && !self.in_flight.is_empty())
        {
            let Some((oldest, bytes)) = self.in_flight.pop_front() else {
                break;
            };
            self.in_flight_bytes -= bytes;
            self.publisher.settle(oldest, &mut self.published).await?;
        }
        let bytes = payload.len();
        let ack = self.publisher.send(id, payload).await?;
        self.in_flight.push_back((ack, bytes));
        self.in_flight_bytes += bytes;
        Ok(())
    }

    /// Awaits every PubAck still outstanding and says what was stored.
    pub async fn finish(mut self) -> Result<Published> {
        while let Some((ack, _)) = self.in_flight.pop_front() {
            self.publisher.settle(ack, &mut self.published).await?;
        }
        Ok(self.published)
    }
}

/// Creates `name` with file storage and `subjects` unless it exists; never changes one that
/// does.
pub(crate) async fn ensure_stream(
    options: &NatsOptions,
    jetstream: &Context,
    name: &str,
    subjects: &str,
) -> Result<()> {
    let config = Config {
        name: name.to_string(),
        subjects: vec![subjects.to_string()],
        storage: StorageType::File,
        // JetStream's own default, written out because exactly-once rests on it.
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    };
    jetstream
        .get_or_create_stream(config)
        .await
        .map(|_| ())
        .map_err(|e| options.error(format!("find or create stream {name}"), e))
}
