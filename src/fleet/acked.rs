//! Many JetStream publishes, each acknowledged, through one reply subscription.
//!
//! Why not async-nats's `send_publish`: it gives every message its own inbox, oneshot channel
//! and timer, ~10 µs of client CPU a message on the 2-core machine (measured: `publish
//! --events-per-message 1`, 100,000 messages). A scorer publishes one message per alert, and
//! on a stream where a fifth of the events alert that was the scorer's biggest cost. Here
//! every publish of a round carries the reply subject `<inbox>.<round>.<index>`, the replies
//! arrive on one subscription, and the round ends when each index has its PubAck, or an
//! error, or the wait runs out. Every message is still acknowledged one by one by the server.

use std::time::Duration;

use async_nats::header::{HeaderMap, NATS_MESSAGE_ID};
use async_nats::{Client, StatusCode, Subscriber};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;

/// Replies allowed to wait unread before a publish stops to read them: the subscription's
/// channel drops what does not fit (async-nats's default capacity is 65,536).
const IN_FLIGHT: usize = 8_192;

/// A connection's publisher of acknowledged messages.
pub struct AckedPublisher {
    client: Client,
    prefix: String,
    replies: Subscriber,
    round: u64,
    wait: Duration,
}

/// One round of publishes: each belongs to an owner (a source message), and an owner's
/// outcome is the first failure among its publishes.
pub struct Round<'a> {
    publisher: &'a mut AckedPublisher,
    round: u64,
    /// The owner of each publish, by index.
    owners: Vec<usize>,
    answered: Vec<bool>,
    outstanding: usize,
    outcomes: Vec<Result<(), String>>,
}

/// What JetStream answers to a publish: the stream that stored it, or an error.
#[derive(Deserialize)]
struct PubAck {
    stream: Option<String>,
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    description: Option<String>,
}

impl AckedPublisher {
    /// Subscribes to a fresh inbox of `client`; a publish waits at most `wait` for its PubAck.
    pub async fn new(client: &Client, wait: Duration) -> Result<Self, async_nats::Error> {
        let prefix = format!("{}.", client.new_inbox());
        let replies = client.subscribe(format!("{prefix}>")).await?;
        Ok(AckedPublisher {
            client: client.clone(),
            prefix,
            replies,
            round: 0,
            wait,
        })
    }

    /// A round of publishes for `owners` owners.
    pub fn round(&mut self, owners: usize) -> Round<'_> {
        self.round += 1;
        Round {
            round: self.round,
            publisher: self,
            owners: Vec::new(),
            answered: Vec::new(),
            outstanding: 0,
            outcomes: vec![Ok(()); owners],
        }
    }
}

impl Round<'_> {
    /// Sends `payload` to `subject` with the message id `id`, for `owner`. An owner that has
    /// already failed sends nothing more.
    pub async fn publish(&mut self, owner: usize, subject: String, id: &str, payload: Bytes) {
        if self.outcomes[owner].is_err() {
            return;
        }
        if self.outstanding >= IN_FLIGHT {
            self.read_replies(IN_FLIGHT / 2).await;
        }
        let index = self.owners.len();
        let reply = format!("{}{}.{index}", self.publisher.prefix, self.round);
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, id);
        let sent = self
            .publisher
            .client
            .publish_with_reply_and_headers(subject, reply, headers, payload)
            .await;
        self.owners.push(owner);
        match sent {
            Ok(()) => {
                self.answered.push(false);
                self.outstanding += 1;
            }
            Err(e) => {
                self.answered.push(true);
                self.fail(owner, format!("publish: {e}"));
            }
        }
    }

    /// Waits for every reply; each owner's outcome: `Ok` when all its messages were stored
    /// (or found to be duplicates), else the first error.
    pub async fn finish(mut self) -> Vec<Result<(), String>> {
        self.read_replies(0).await;
        if self.outstanding > 0 {
            let wait = self.publisher.wait.as_secs_f64();
            for index in 0..self.owners.len() {
                if !self.answered[index] {
                    let owner = self.owners[index];
                    self.fail(owner, format!("no PubAck within {wait} s"));
                }
            }
        }
        self.outcomes
    }

    /// Reads replies until at most `left` are outstanding or the wait runs out.
    async fn read_replies(&mut self, left: usize) {
        let deadline = tokio::time::Instant::now() + self.publisher.wait;
        while self.outstanding > left {
            let next = tokio::time::timeout_at(deadline, self.publisher.replies.next()).await;
            let Ok(Some(reply)) = next else {
                return;
            };
            let Some(index) = self.index_of(reply.subject.as_str()) else {
                // A late reply to an earlier round, whose owners were already failed.
                continue;
            };
            if std::mem::replace(&mut self.answered[index], true) {
                continue;
            }
            self.outstanding -= 1;
            if let Err(e) = check(reply.status, &reply.payload) {
                let owner = self.owners[index];
                self.fail(owner, e);
            }
        }
    }

    fn index_of(&self, subject: &str) -> Option<usize> {
        let (round, index) = subject
            .strip_prefix(self.publisher.prefix.as_str())?
            .split_once('.')?;
        if round.parse::<u64>().ok()? != self.round {
            return None;
        }
        index
            .parse::<usize>()
            .ok()
            .filter(|&i| i < self.owners.len())
    }

    /// Marks `owner` failed (its first failure is kept).
    pub fn fail(&mut self, owner: usize, error: String) {
        if self.outcomes[owner].is_ok() {
            self.outcomes[owner] = Err(error);
        }
    }
}

/// Whether a reply is a PubAck (stored, or a duplicate of a stored message).
fn check(status: Option<StatusCode>, payload: &[u8]) -> Result<(), String> {
    if status == Some(StatusCode::NO_RESPONDERS) {
        return Err("no stream takes this subject".into());
    }
    match serde_json::from_slice::<PubAck>(payload) {
        Ok(PubAck { error: Some(e), .. }) => Err(e
            .description
            .unwrap_or_else(|| "refused by JetStream".into())),
        Ok(PubAck {
            stream: Some(_), ..
        }) => Ok(()),
        _ => Err(format!(
            "unexpected reply to a publish: {}",
            String::from_utf8_lossy(&payload[..payload.len().min(200)])
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_told_apart() {
        assert_eq!(check(None, br#"{"stream":"BETH_ALERTS","seq":7}"#), Ok(()));
        assert_eq!(
            check(
                None,
                br#"{"stream":"BETH_ALERTS","seq":7,"duplicate":true}"#
            ),
            Ok(())
        );
        assert_eq!(
            check(
                None,
                br#"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}"#
            ),
            Err("maximum messages exceeded".into())
        );
        assert!(check(Some(StatusCode::NO_RESPONDERS), b"").is_err());
        assert!(check(None, b"+OK").is_err());
    }
}
