//! `beth-detect serve`: Tracee's webhook output scored as it arrives, with Prometheus metrics.
//!
//! Built on axum (hyper on tokio) and prometheus-client. Routes:
//!
//! - `POST /events`: one Tracee event (what `tracee --output webhook:URL` sends, one per
//!   request) or many as JSON lines. The whole body is parsed before anything is scored: a
//!   malformed line is a 400 naming the line and the problem, and nothing of that body counts;
//!   a body over the size limit is a 413. Otherwise 200 with `{"events": n, "alerts": k}`.
//!   Alerts are appended to the alerts sink (flushed per request) and queued for `--forward`.
//! - `GET /metrics`: the counters, the scoring-time histogram and the model's identity.
//! - `GET /healthz`: 200 with the detector's kind (the detector is loaded before the server
//!   listens).
//!
//! Scoring runs on the CPU path ([`BodyScorer`]); alert lines are byte for byte what
//! `score --only-alerts` writes for the same events and format.

mod forward;
mod metrics;
#[cfg(feature = "nats")]
mod publish;

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use burn::prelude::Backend;
use serde_json::json;

use crate::detector::Detector;
use crate::error::{Error, Result};
use crate::scoring::{BodyScore, BodyScorer, OutputFormat};

pub use forward::Forwarder;
pub use metrics::Metrics;

/// Bodies larger than this are scored on tokio's blocking pool, not on a worker thread that
/// other connections need.
const BLOCKING_BODY_BYTES: usize = 64 << 10;
/// How long a stopping server waits for queued alerts to reach the forward receiver.
const FORWARD_PATIENCE: Duration = Duration::from_secs(10);

/// Where alerts are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertSink {
    /// Appended to a file (created if missing).
    File(PathBuf),
    /// Standard output.
    Stdout,
}

/// The server's settings.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The address to listen on (port 0: any free port; see [`Server::local_addr`]).
    pub listen: SocketAddr,
    /// Where alerts are written, if anywhere.
    pub alerts: Option<AlertSink>,
    /// [`OutputFormat::JsonLines`] or [`OutputFormat::Falco`].
    pub format: OutputFormat,
    /// Give alerts their reasons (Falco output always has them).
    pub explain: bool,
    /// POST every alert to this `http://` URL.
    pub forward: Option<String>,
    /// Alerts waiting for the forward receiver before new ones are dropped (and counted).
    pub forward_queue: usize,
    /// The largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Requests handled at once; more wait for a slot.
    pub max_concurrent_requests: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8470)),
            alerts: None,
            format: OutputFormat::JsonLines,
            explain: false,
            forward: None,
            forward_queue: 10_000,
            max_body_bytes: 16 << 20,
            max_concurrent_requests: 256,
        }
    }
}

impl ServeConfig {
    /// Refuses limits that would let nothing through.
    fn check_limits(&self) -> Result<()> {
        if self.max_body_bytes == 0 || self.max_concurrent_requests == 0 {
            return Err(Error::InvalidConfig {
                name: "serve limits",
                expected: "a body limit and a concurrency limit of at least 1",
                found: format!(
                    "{} bytes, {} requests",
                    self.max_body_bytes, self.max_concurrent_requests
                ),
            });
        }
        Ok(())
    }
}

/// What a server saw before it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServeSummary {
    /// Events scored.
    pub events: u64,
    /// Alerts written.
    pub alerts: u64,
    /// Requests refused with 400 or 413.
    pub bad_requests: u64,
    /// Alerts the forward receiver never got.
    pub forward_failures: u64,
}

/// What the server does with the events it is sent.
enum Intake {
    /// Scores them here.
    Score(BodyScorer),
    /// Publishes them, unscored, into the fleet's JetStream stream.
    #[cfg(feature = "nats")]
    Publish(crate::fleet::Publisher),
}

/// State shared by the handlers.
struct App {
    intake: Intake,
    max_body_bytes: usize,
    metrics: Metrics,
    sink: Option<Mutex<Box<dyn Write + Send>>>,
    sink_name: PathBuf,
    forward: Option<Forwarder>,
}

/// A bound, not yet running server.
pub struct Server {
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    config: ServeConfig,
}

impl Server {
    /// Binds the address and prepares the detector, the sinks and the metrics. Must be called
    /// inside a tokio runtime. `model_name` is how metrics name the detector (its directory).
    pub async fn bind<B: Backend>(
        detector: &Detector<B>,
        model_name: &str,
        config: ServeConfig,
    ) -> Result<Server> {
        config.check_limits()?;
        let (sink, sink_name): (Option<Box<dyn Write + Send>>, PathBuf) = match &config.alerts {
            None => (None, PathBuf::new()),
            Some(AlertSink::Stdout) => (Some(Box::new(std::io::stdout())), "<stdout>".into()),
            Some(AlertSink::File(path)) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| Error::io(path, e))?;
                (Some(Box::new(file)), path.clone())
            }
        };
        let metrics = Metrics::new(identity(detector, model_name, &config));
        let forward = match &config.forward {
            None => None,
            Some(url) => Some(Forwarder::start(
                url,
                config.forward_queue,
                metrics.forward_failures.clone(),
            )?),
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::io(Path::new(&config.listen.to_string()), e))?;
        let app = App {
            intake: Intake::Score(BodyScorer::new(detector, config.format, config.explain)?),
            max_body_bytes: config.max_body_bytes,
            metrics,
            sink: sink.map(Mutex::new),
            sink_name,
            forward,
        };
        Ok(Server {
            listener,
            app: Arc::new(app),
            config,
        })
    }

    /// Binds the address for `serve --nats`: events are validated and published into the
    /// fleet's stream through `publisher`, answered 200 only once JetStream has stored every
    /// message of the body (a body over the server's max payload goes as several messages),
    /// 503 while JetStream cannot be reached (so the sender retries), 400 for a bad body. No
    /// detector: scoring happens in the fleet's scorers.
    #[cfg(feature = "nats")]
    pub async fn bind_publisher(
        publisher: crate::fleet::Publisher,
        config: ServeConfig,
    ) -> Result<Server> {
        config.check_limits()?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::io(Path::new(&config.listen.to_string()), e))?;
        let app = App {
            intake: Intake::Publish(publisher),
            max_body_bytes: config.max_body_bytes,
            metrics: Metrics::new(vec![("mode".into(), "publish".into())]),
            sink: None,
            sink_name: PathBuf::new(),
            forward: None,
        };
        Ok(Server {
            listener,
            app: Arc::new(app),
            config,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| Error::io(Path::new(&self.config.listen.to_string()), e))
    }

    /// Serves until `shutdown` completes; then stops accepting, finishes the requests in
    /// flight, lets the forward queue drain (up to 10 s) and flushes the alerts.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<ServeSummary> {
        let name = self.config.listen.to_string();
        let router = Router::new()
            .route(
                "/events",
                post(events).route_layer(axum::middleware::from_fn_with_state(
                    self.app.clone(),
                    refuse_declared_oversize,
                )),
            )
            .route("/metrics", get(metrics_text))
            .route("/healthz", get(healthz))
            .with_state(self.app.clone())
            .layer(DefaultBodyLimit::max(self.config.max_body_bytes))
            .layer(tower::limit::ConcurrencyLimitLayer::new(
                self.config.max_concurrent_requests,
            ));
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| Error::io(Path::new(&name), e))?;
        // Every handler has returned; the state is ours again.
        let app = match Arc::try_unwrap(self.app) {
            Ok(app) => app,
            Err(shared) => {
                return Ok(summary(&shared.metrics));
            }
        };
        if let Some(forward) = app.forward {
            forward.finish(FORWARD_PATIENCE).await;
        }
        if let Some(sink) = app.sink {
            let mut sink = sink.into_inner().unwrap_or_else(|p| p.into_inner());
            sink.flush().map_err(|e| Error::io(&app.sink_name, e))?;
        }
        Ok(summary(&app.metrics))
    }
}

fn summary(metrics: &Metrics) -> ServeSummary {
    ServeSummary {
        events: metrics.events.get(),
        alerts: metrics.alerts.get(),
        bad_requests: metrics.bad_requests.get(),
        forward_failures: metrics.forward_failures.get(),
    }
}

/// The labels of `beth_detect_model_info`.
fn identity<B: Backend>(
    detector: &Detector<B>,
    model_name: &str,
    config: &ServeConfig,
) -> Vec<(String, String)> {
    let meta = detector.metadata();
    [
        ("model", model_name.to_string()),
        ("kind", detector.kind().to_string()),
        ("members", detector.members().len().max(1).to_string()),
        ("feature_set", meta.feature_set.to_string()),
        ("threshold", detector.threshold().to_string()),
        ("trained_on", meta.data_source.clone()),
        ("synthetic", meta.synthetic.to_string()),
        ("crate_version", meta.crate_version.clone()),
        (
            "output_format",
            match config.format {
                OutputFormat::Falco => "falco",
                _ => "jsonl",
            }
            .to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// SIGTERM or SIGINT (Ctrl-C), whichever comes first.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        // No signal handling: only Ctrl-C stops the server.
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn refuse(app: &App, status: StatusCode, message: String) -> Response {
    app.metrics.bad_requests.inc();
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Refuses a body whose declared length is over `--max-body-bytes` before a byte of it is
/// read: a client that sent `Expect: 100-continue` then never sends it and gets its 413 whole
/// (one whose body is already on the wire may see the connection close under it instead).
async fn refuse_declared_oversize(
    State(app): State<Arc<App>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > app.max_body_bytes as u64) {
        return refuse(
            &app,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body's declared length is over --max-body-bytes ({} bytes)",
                app.max_body_bytes
            ),
        );
    }
    next.run(request).await
}

async fn events(
    State(app): State<Arc<App>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return refuse(&app, rejection.status(), rejection.body_text()),
    };
    #[cfg(feature = "nats")]
    if let Intake::Publish(publisher) = &app.intake {
        return publish::events(&app, publisher, &body).await;
    }
    let started = Instant::now();
    let scored = if body.len() >= BLOCKING_BODY_BYTES {
        let shared = app.clone();
        match tokio::task::spawn_blocking(move || score_body(&shared, &body)).await {
            Ok(scored) => scored,
            Err(e) => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({ "error": e.to_string() })),
                )
                    .into_response();
            }
        }
    } else {
        score_body(&app, &body)
    };
    let scored = match scored {
        Ok(scored) => scored,
        Err(e) => return refuse(&app, StatusCode::BAD_REQUEST, e.to_string()),
    };
    app.metrics
        .score_seconds
        .observe(started.elapsed().as_secs_f64());
    app.metrics.events.inc_by(scored.events);
    app.metrics.alerts.inc_by(scored.alerts.len() as u64);
    let alerts = scored.alerts.len();
    if let Err(e) = write_alerts(&app, &scored) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({ "error": e.to_string() })),
        )
            .into_response();
    }
    if let Some(forward) = &app.forward {
        for alert in scored.alerts {
            forward.send(alert);
        }
    }
    axum::Json(json!({ "events": scored.events, "alerts": alerts })).into_response()
}

fn score_body(app: &App, body: &[u8]) -> Result<BodyScore> {
    match &app.intake {
        Intake::Score(scorer) => scorer.score(body, Path::new("request body")),
        #[cfg(feature = "nats")]
        Intake::Publish(_) => unreachable!("published bodies are not scored"),
    }
}

/// Appends a body's alerts to the sink in one write and flushes it.
fn write_alerts(app: &App, scored: &BodyScore) -> Result<()> {
    let Some(sink) = &app.sink else {
        return Ok(());
    };
    if scored.alerts.is_empty() {
        return Ok(());
    }
    let lines = scored.alerts.concat();
    let mut sink = sink.lock().unwrap_or_else(|p| p.into_inner());
    sink.write_all(&lines)
        .and_then(|()| sink.flush())
        .map_err(|e| Error::io(&app.sink_name, e))
}

async fn metrics_text(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    match &app.intake {
        Intake::Score(scorer) => {
            axum::Json(json!({ "status": "ok", "kind": scorer.kind() })).into_response()
        }
        #[cfg(feature = "nats")]
        Intake::Publish(publisher) => axum::Json(json!({
            "status": "ok",
            "mode": "publish",
            "connected": publisher.connected(),
        }))
        .into_response(),
    }
}
