//! `serve --nats`: a POSTed body validated as `serve` validates it, then published into the
//! fleet's stream; 200 only after every PubAck.

use std::path::Path;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{App, refuse};
use crate::data::decode_tracee_record;
use crate::error::Position;
use crate::fleet::publish::IdentifiedMessage;
use crate::fleet::{DEFAULT_EVENTS_PER_MESSAGE, MessagePacker, Publisher, message_id};
use crate::scoring::stream::body_lines;

/// How long a body's PubAcks may take before the sender is told to retry.
const PUBLISH_PATIENCE: Duration = Duration::from_secs(5);

pub(super) async fn events(app: &App, publisher: &Publisher, body: &[u8]) -> Response {
    let packed = match pack(body, publisher.max_payload()) {
        Ok(packed) => packed,
        Err(e) => return refuse(app, StatusCode::BAD_REQUEST, e.to_string()),
    };
    let events = packed.1;
    if !publisher.connected() {
        return unavailable(app, "JetStream cannot be reached now; retry".into());
    }
    match tokio::time::timeout(PUBLISH_PATIENCE, publisher.publish_all(packed.0)).await {
        Ok(Ok(published)) => {
            app.metrics.published_events.inc_by(events);
            axum::Json(json!({
                "events": events,
                "messages": published.messages,
                "duplicates": published.duplicates,
            }))
            .into_response()
        }
        Ok(Err(e)) => unavailable(app, e.to_string()),
        Err(_) => unavailable(
            app,
            format!(
                "JetStream did not acknowledge within {} s; retry",
                PUBLISH_PATIENCE.as_secs()
            ),
        ),
    }
}

/// Every line checked, then packed into messages with their ids; (messages, events).
fn pack(body: &[u8], max_payload: usize) -> crate::Result<(Vec<IdentifiedMessage>, u64)> {
    let name = Path::new("request body");
    let mut packer = MessagePacker::new(DEFAULT_EVENTS_PER_MESSAGE, max_payload)?;
    let mut payloads = Vec::new();
    let mut events = 0;
    for (line, record, start) in body_lines(body) {
        let bytes = &body[record];
        decode_tracee_record(bytes, || Position {
            path: name.to_path_buf(),
            line,
            byte: start as u64,
        })?;
        let what = || format!("request body: line {line}");
        payloads.extend(packer.push(bytes, what)?);
        events += 1;
    }
    payloads.extend(packer.finish());
    let messages = payloads
        .into_iter()
        .enumerate()
        .map(|(i, payload)| (message_id(i as u64, &payload), payload))
        .collect();
    Ok((messages, events))
}

fn unavailable(app: &App, message: String) -> Response {
    app.metrics.publish_failures.inc();
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, "1")],
        axum::Json(json!({ "error": message })),
    )
        .into_response()
}
