//! `beth-detect serve` end to end: a real server process on a free loopback port, real HTTP
//! clients, the metrics it exposes, the alerts it writes compared with offline `score`, and
//! forwarding to a receiver that is then stopped.
#![cfg(all(feature = "serve", target_os = "linux"))]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{assert_success, fixture_detector_with_threshold, tracee_events};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_beth-detect");

/// A detector from the committed PyTorch fixture, with a threshold that makes a mix of alerts
/// and quiet events on the real rows.
fn detector(dir: &Path) -> PathBuf {
    fixture_detector_with_threshold(BIN, dir, "0.3")
}

struct Served {
    child: Child,
    url: String,
}

impl Served {
    fn start(model: &Path, extra: &[&str]) -> Served {
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--model")
            .arg(model)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stderr.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Served { child, url }
    }

    fn post(&self, client: &reqwest::blocking::Client, body: String) -> (u16, Value) {
        let response = client
            .post(format!("{}/events", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_str(&response.text().unwrap()).unwrap(),
        )
    }

    fn metrics(&self) -> String {
        reqwest::blocking::get(format!("{}/metrics", self.url))
            .unwrap()
            .text()
            .unwrap()
    }

    /// SIGTERM, then the exit status (within 20 s).
    fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) with the pid of our own child and a valid signal number.
        let killed = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(killed, 0);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The value of an unlabelled sample in Prometheus text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in\n{text}"))
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn serve_scores_concurrent_posts_and_batches_exactly_as_score_does() {
    let dir = tempfile::tempdir().unwrap();
    let model = detector(dir.path());
    let alerts_file = dir.path().join("alerts.jsonl");
    let server = Served::start(
        &model,
        &[
            "--alerts",
            alerts_file.to_str().unwrap(),
            "--max-body-bytes",
            "2000000",
        ],
    );
    let events = tracee_events(2640);
    let (singles, batch) = events.split_at(640);

    let health = reqwest::blocking::get(format!("{}/healthz", server.url)).unwrap();
    assert_eq!(health.status().as_u16(), 200);

    // 16 clients, 40 single-event POSTs each (what Tracee's webhook sends).
    let server = Arc::new(server);
    let alerts_reported = Arc::new(Mutex::new(0u64));
    let clients: Vec<_> = singles
        .chunks(40)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            let server = server.clone();
            let alerts_reported = alerts_reported.clone();
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                for event in chunk {
                    let (status, answer) = server.post(&client, event);
                    assert_eq!(status, 200, "{answer}");
                    assert_eq!(answer["events"], 1);
                    *alerts_reported.lock().unwrap() += answer["alerts"].as_u64().unwrap();
                }
            })
        })
        .collect();
    assert_eq!(clients.len(), 16);
    let client = reqwest::blocking::Client::new();
    // Meanwhile, 2,000 events as one NDJSON body.
    let (status, answer) = server.post(&client, batch.join("\n") + "\n");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["events"], 2000);
    *alerts_reported.lock().unwrap() += answer["alerts"].as_u64().unwrap();
    for c in clients {
        c.join().unwrap();
    }

    // A malformed third line: 400 naming it, and nothing of that body is scored.
    let bad = format!(
        "{}\n{}\n{{\"processId\": \"seven\"}}\n",
        events[0], events[1]
    );
    let (status, answer) = server.post(&client, bad);
    assert_eq!(status, 400);
    let message = answer["error"].as_str().unwrap();
    assert!(message.contains("line 3"), "{message}");
    // Too large: 413. Declared with `Expect: 100-continue`, as curl does for large bodies, so
    // the server answers from the headers and the body is never sent: a body already on the
    // wire may meet a closed connection instead of the answer (TCP resets unread data).
    let huge = events.join("\n").repeat(2);
    assert!(huge.len() > 2_000_000);
    assert!(post_declared(&server.url, huge.len()).starts_with("HTTP/1.1 413"));

    let text = server.metrics();
    let alerts = *alerts_reported.lock().unwrap();
    assert!(alerts > 0 && alerts < 2640, "{alerts} alerts");
    assert_eq!(metric(&text, "beth_detect_events_total"), 2640.0);
    assert_eq!(metric(&text, "beth_detect_alerts_total"), alerts as f64);
    assert_eq!(metric(&text, "beth_detect_bad_requests_total"), 2.0);
    assert_eq!(metric(&text, "beth_detect_forward_failures_total"), 0.0);
    // One observation per scored body: 640 single events and one batch.
    assert_eq!(metric(&text, "beth_detect_score_seconds_count"), 641.0);
    assert!(text.contains("beth_detect_model_info{"), "{text}");
    assert!(text.contains("kind=\"mlp\""), "{text}");

    let server = Arc::try_unwrap(server).ok().unwrap();
    let status = server.terminate();
    assert!(status.success(), "{status:?}");

    // Offline: the same events through `score --only-alerts`.
    let all = dir.path().join("events.jsonl");
    std::fs::write(&all, events.join("\n") + "\n").unwrap();
    let out = Command::new(BIN)
        .args([
            "score",
            "--only-alerts",
            "--output-format",
            "jsonl",
            "--model",
        ])
        .arg(&model)
        .arg(&all)
        .output()
        .unwrap();
    assert_success(&out);
    let offline = String::from_utf8(out.stdout).unwrap();
    let served = std::fs::read_to_string(&alerts_file).unwrap();
    assert_eq!(served.lines().count() as u64, alerts);
    assert_eq!(sorted_lines(&served), sorted_lines(&offline));
}

/// A local receiver (what falcosidekick would be): collects every POSTed body until stopped.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Receiver {
    fn start() -> Receiver {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, address) = std::sync::mpsc::channel();
        let kept = bodies.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                bound.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().route(
                    "/",
                    axum::routing::post(move |body: String| {
                        let kept = kept.clone();
                        async move {
                            kept.lock().unwrap().push(body);
                            "ok"
                        }
                    }),
                );
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let address = address.recv().unwrap();
        Receiver {
            url: format!("http://{address}/"),
            bodies,
            stop,
            thread,
        }
    }

    fn stop(self) -> Vec<String> {
        self.stop.send(()).unwrap();
        self.thread.join().unwrap();
        Arc::try_unwrap(self.bodies).unwrap().into_inner().unwrap()
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_forwards_every_alert_and_counts_a_stopped_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let model = detector(dir.path());
    let alerts_file = dir.path().join("alerts.falco.jsonl");
    let receiver = Receiver::start();
    let server = Served::start(
        &model,
        &[
            "--alerts",
            alerts_file.to_str().unwrap(),
            "--output-format",
            "falco",
            "--forward",
            &receiver.url,
        ],
    );
    let events = tracee_events(1200);
    let client = reqwest::blocking::Client::new();
    let (status, answer) = server.post(&client, events[..1000].join("\n"));
    assert_eq!(status, 200);
    let first_alerts = answer["alerts"].as_u64().unwrap() as usize;
    assert!(first_alerts > 0);
    wait_for("the receiver to get every alert", || {
        receiver.bodies.lock().unwrap().len() >= first_alerts
    });
    let received = receiver.stop();
    let written = std::fs::read_to_string(&alerts_file).unwrap();
    let mut received: Vec<String> = received.iter().map(|b| b.trim_end().to_string()).collect();
    received.sort();
    assert_eq!(received, sorted_lines(&written));
    for line in &received {
        let alert: Value = serde_json::from_str(line).unwrap();
        assert_eq!(alert["source"], "beth-detect");
    }

    // The receiver is gone: intake goes on at once, and every new alert is counted as a
    // forwarding failure once its retries are spent.
    let started = Instant::now();
    let (status, answer) = server.post(&client, events[1000..].join("\n"));
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    let later_alerts = answer["alerts"].as_f64().unwrap();
    assert!(later_alerts > 0.0);
    wait_for("the failures to be counted", || {
        metric(&server.metrics(), "beth_detect_forward_failures_total") == later_alerts
    });
    let text = server.metrics();
    assert_eq!(metric(&text, "beth_detect_events_total"), 1200.0);
    assert_eq!(
        metric(&text, "beth_detect_alerts_total"),
        first_alerts as f64 + later_alerts
    );
    assert!(server.terminate().success());
}

/// POSTs headers declaring a `length`-byte body with `Expect: 100-continue` and returns the
/// server's answer (it never gets the body).
fn post_declared(url: &str, length: usize) -> String {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /events HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
    )
    .unwrap();
    let mut answer = [0u8; 512];
    let n = stream.read(&mut answer).unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}
