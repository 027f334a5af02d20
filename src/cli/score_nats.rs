//! `beth-detect score --nats`: one of any number of scorers sharing the fleet's durable
//! consumer; alerts to `BETH_ALERTS`, bad lines to `BETH_DEAD`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use beth_detect::Result;
use beth_detect::backend::NdArray;
use beth_detect::detector::Detector;
use beth_detect::fleet::{CONSUMER, EVENTS_STREAM, FleetConfig, FleetScorer};
use beth_detect::scoring::{BodyScorer, OutputFormat};
use beth_detect::server::shutdown_signal;

use super::nats::{ConnectArgs, runtime};

#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    /// Score a fleet's events from NATS JetStream instead of a file: nats://[user:password@|
    /// token@]host:port or tls://…; alerts go to stream BETH_ALERTS as Falco JSON with reasons.
    /// Options of file scoring that the fleet decides for itself are refused beside it: events
    /// are Tracee JSON lines, alerts Falco JSON with reasons, bad lines dead-lettered, scoring
    /// on the CPU path.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with_all = ["input", "input_flag", "output", "format", "only_alerts", "skip_bad", "batch_size", "backend"]
    )]
    pub nats: Option<String>,
    /// The events stream (with --nats).
    #[arg(long, default_value = EVENTS_STREAM, requires = "nats")]
    stream: String,
    /// The durable pull consumer every scorer shares (with --nats).
    #[arg(long, default_value = CONSUMER, requires = "nats")]
    consumer: String,
    /// Seconds a message may stay unacknowledged before another scorer gets it; applies when
    /// this scorer creates the consumer.
    #[arg(long, default_value_t = 30.0, requires = "nats")]
    ack_wait: f64,
    /// Exit once nothing has arrived for this many seconds (replays, tests); without it, run
    /// until SIGTERM or SIGINT, which finish and acknowledge the batch in hand.
    #[arg(long, value_name = "SECS", requires = "nats")]
    until_idle: Option<f64>,
    /// Deliveries of a message that keeps failing before it is dead-lettered.
    #[arg(long, default_value_t = 5, requires = "nats")]
    max_deliver: i64,
    /// Messages fetched and scored together (each holds up to 256 events by default).
    #[arg(long, default_value_t = 32, requires = "nats")]
    fetch_messages: usize,
    /// Alerts per message on BETH_ALERTS. 1: each alert its own message and id. More: the
    /// alerts of one priority from one source message share a message, one JSON per line,
    /// with the first one's id — several times faster to store when many events alert.
    #[arg(long, default_value_t = 1, requires = "nats")]
    alerts_per_message: usize,
    #[command(flatten)]
    connect: ConnectArgs,
}

pub fn run(model: &Path, args: &FleetArgs, json: bool) -> Result<()> {
    let seconds = |value: f64, name: &'static str| {
        if value.is_finite() && value > 0.0 {
            Ok(Duration::from_secs_f64(value))
        } else {
            Err(beth_detect::Error::InvalidConfig {
                name,
                expected: "a positive number of seconds",
                found: value.to_string(),
            })
        }
    };
    let config = FleetConfig {
        stream: args.stream.clone(),
        consumer: args.consumer.clone(),
        ack_wait: seconds(args.ack_wait, "--ack-wait")?,
        until_idle: args
            .until_idle
            .map(|s| seconds(s, "--until-idle"))
            .transpose()?,
        max_deliver: args.max_deliver,
        fetch_messages: args.fetch_messages,
        alerts_per_message: args.alerts_per_message,
    };
    // Scoring runs on the CPU path whatever the backend; NdArray only holds the weights.
    let detector = Detector::<NdArray>::load(model, &Default::default())?;
    let scorer = BodyScorer::new(&detector, OutputFormat::Falco, true)?;
    let url = args.nats.clone().unwrap_or_default();
    let options = args.connect.options(&url, "beth-detect score");
    let started = Instant::now();
    let summary = runtime()?.block_on(async {
        let fleet = FleetScorer::connect(&options, scorer, config).await?;
        let mut err = std::io::stderr().lock();
        // Scripts and tests wait for this line before they count on the consumer.
        let _ = writeln!(
            err,
            "scoring {} on {} as consumer {} (ack wait {} s)",
            args.stream,
            options.server(),
            args.consumer,
            fleet.ack_wait().as_secs_f64()
        );
        drop(err);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            flag.store(true, Ordering::Relaxed);
        });
        fleet.run(stop).await
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let mut err = std::io::stderr().lock();
    if json {
        let mut value = serde_json::to_value(summary).unwrap_or_default();
        value["seconds"] = serde_json::json!(seconds);
        let _ = writeln!(err, "{value}");
    } else {
        let _ = writeln!(
            err,
            "{} events, {} alerts, {} bad lines, {} messages ({} redelivered, {} given back, {} dead-lettered)",
            summary.events,
            summary.alerts,
            summary.bad_lines,
            summary.messages,
            summary.redeliveries,
            summary.retries,
            summary.dead_messages
        );
    }
    Ok(())
}
