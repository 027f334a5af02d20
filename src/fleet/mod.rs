//! Fleet scoring on NATS JetStream: events from many hosts in one durable stream, any number
//! of scorers sharing one durable consumer, alerts exactly once in their own stream.
//!
//! ```text
//! tracee → webhook → serve --nats ─┐
//! tracee → forward → Vector ───────┼→ stream TRACEE (tracee.>) → N × score --nats ─┬→ BETH_ALERTS (beth.alerts.<priority>)
//! beth-detect publish FILE ────────┘                                               └→ BETH_DEAD (beth.dead.line|message)
//! ```
//!
//! - [`publish`]: events in, as NDJSON messages of Tracee JSON lines ([`wire`]), each with a
//!   deterministic `Nats-Msg-Id`, every PubAck awaited;
//! - [`scorer`]: the shared durable pull consumer: score, publish alerts and dead letters,
//!   await their PubAcks, then acknowledge;
//! - [`connection`]: user/password or token in the URL, credentials files, TLS; no secret in
//!   any error.
//!
//! The delivery contract: at least once into the events stream (a publisher that retries may
//! send a message twice; JetStream drops the copy within the stream's duplicate window, two
//! minutes by default), and each alert exactly once in `BETH_ALERTS` as long as a message is
//! redelivered within that window — which the scorer checks against its consumer's ack wait
//! when it starts. This module is a shell over [`crate::scoring`]: every score comes from the
//! same CPU scorer as `score` and `serve`.

pub mod acked;
pub mod connection;
pub mod publish;
pub mod scorer;
pub mod wire;

pub use connection::NatsOptions;
pub use publish::{EVENTS_STREAM, EVENTS_SUBJECT, PublishWindow, Published, Publisher};
pub use scorer::{ALERTS_STREAM, CONSUMER, DEAD_STREAM, FleetConfig, FleetScorer, FleetSummary};
pub use wire::{DEFAULT_EVENTS_PER_MESSAGE, MessagePacker, message_id};
