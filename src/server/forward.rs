//! Alerts POSTed to a receiver (falcosidekick, a webhook) through a bounded queue.
//!
//! Up to 8 alerts are delivered at once, each tried 3 times (100 ms, then 200 ms apart).
//! Intake never waits for the receiver: an alert that finds the queue full is dropped and
//! counted, as is one the receiver refuses on every retry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// Alerts being delivered at once (so one slow receiver response does not hold up the rest).
const IN_FLIGHT: u32 = 8;
/// Tries per alert.
const ATTEMPTS: u32 = 3;
/// The wait before the first retry; doubled for each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Tracee's own webhook timeout.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The sending end; dropping it (and [`Forwarder::finish`]) lets the queue drain.
#[derive(Debug)]
pub struct Forwarder {
    queue: mpsc::Sender<Vec<u8>>,
    failures: Counter,
    /// Alerts queued and not yet delivered or given up on.
    undelivered: Arc<AtomicU64>,
    worker: JoinHandle<()>,
}

impl Forwarder {
    /// Starts the task that POSTs queued alerts to `url` (plain `http://`).
    pub fn start(url: &str, capacity: usize, failures: Counter) -> Result<Self> {
        let bad = |why: String| Error::InvalidConfig {
            name: "forward URL",
            expected: "an http:// URL (put a local falcosidekick or proxy in front of HTTPS)",
            found: format!("{url}: {why}"),
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if parsed.scheme() != "http" {
            return Err(bad(format!("scheme `{}`", parsed.scheme())));
        }
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let (queue, mut alerts) = mpsc::channel::<Vec<u8>>(capacity.max(1));
        let counted = failures.clone();
        let undelivered = Arc::new(AtomicU64::new(0));
        let in_flight = undelivered.clone();
        let worker = tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(IN_FLIGHT as usize));
            while let Some(alert) = alerts.recv().await {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                let (client, url) = (client.clone(), parsed.clone());
                let (counted, in_flight) = (counted.clone(), in_flight.clone());
                tokio::spawn(async move {
                    if !deliver(&client, &url, alert).await {
                        counted.inc();
                    }
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                    drop(slot);
                });
            }
            // The queue is closed: wait for the deliveries still under way.
            let _ = slots.acquire_many(IN_FLIGHT).await;
        });
        Ok(Forwarder {
            queue,
            failures,
            undelivered,
            worker,
        })
    }

    /// Queues an alert line; a full queue drops it (counted).
    pub fn send(&self, alert: Vec<u8>) {
        self.undelivered.fetch_add(1, Ordering::Relaxed);
        if self.queue.try_send(alert).is_err() {
            self.undelivered.fetch_sub(1, Ordering::Relaxed);
            self.failures.inc();
        }
    }

    /// Closes the queue and waits up to `patience` for it to drain; alerts still undelivered
    /// then are counted as failures.
    pub async fn finish(self, patience: Duration) {
        let Forwarder {
            queue,
            failures,
            undelivered,
            worker,
        } = self;
        drop(queue);
        let abort = worker.abort_handle();
        if tokio::time::timeout(patience, worker).await.is_err() {
            abort.abort();
            failures.inc_by(undelivered.load(Ordering::Relaxed));
        }
    }
}

/// One alert, with retries; true once the receiver answered 2xx.
async fn deliver(client: &reqwest::Client, url: &reqwest::Url, alert: Vec<u8>) -> bool {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(url.clone())
            .header("content-type", "application/json")
            .body(alert.clone())
            .send()
            .await;
        if sent.is_ok_and(|r| r.status().is_success()) {
            return true;
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    false
}
