//! `beth-detect serve`: the arguments of the HTTP scorer beside Tracee.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use beth_detect::backend::NdArray;
use beth_detect::detector::Detector;
use beth_detect::server::{AlertSink, ServeConfig, Server, shutdown_signal};
use beth_detect::{Error, Result};

use super::score::OutputKind;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Detector directory (written by `train`); not with --nats.
    #[arg(long, required_unless_present = "nats")]
    model: Option<PathBuf>,
    /// Address to listen on; loopback unless another is given (port 0: any free port, printed
    /// on stderr).
    #[arg(long, default_value = "127.0.0.1:8470")]
    listen: SocketAddr,
    /// Append alerts to this file (created if missing), or `-` for standard output.
    #[arg(long)]
    alerts: Option<PathBuf>,
    /// `jsonl` (the Tracee event with score and prediction added) or `falco` (Falco-compatible
    /// alerts with reasons, for falcosidekick).
    #[arg(long, value_enum, default_value_t = OutputKind::Jsonl)]
    output_format: OutputKind,
    /// Give every alert its reasons (Falco output always has them).
    #[arg(long)]
    explain: bool,
    /// POST every alert to this http:// URL (e.g. falcosidekick), through a bounded queue with
    /// retries; failures are counted in /metrics and never hold up intake.
    #[arg(long)]
    forward: Option<String>,
    /// Alerts waiting for --forward before new ones are dropped (and counted).
    #[arg(long, default_value_t = 10_000)]
    forward_queue: usize,
    /// Largest request body in bytes; larger ones are answered 413.
    #[arg(long, default_value_t = 16 << 20)]
    max_body_bytes: usize,
    /// Requests handled at once; more wait for a slot.
    #[arg(long, default_value_t = 256)]
    max_concurrent_requests: usize,
    /// Publish the events into a fleet's NATS JetStream stream instead of scoring them here
    /// (nats://[user:password@|token@]host:port or tls://…): 200 once stored, 503 while
    /// JetStream cannot be reached. Scorers (`score --nats`) do the scoring.
    #[cfg(feature = "nats")]
    #[arg(long, value_name = "URL", conflicts_with_all = ["model", "alerts", "forward", "explain"])]
    nats: Option<String>,
    /// The events stream (with --nats; created with subjects `tracee.>` if absent).
    #[cfg(feature = "nats")]
    #[arg(long, default_value = beth_detect::fleet::EVENTS_STREAM, requires = "nats")]
    stream: String,
    /// The subject events are published on (with --nats).
    #[cfg(feature = "nats")]
    #[arg(long, default_value = beth_detect::fleet::EVENTS_SUBJECT, requires = "nats")]
    subject: String,
    #[cfg(feature = "nats")]
    #[command(flatten)]
    connect: super::nats::ConnectArgs,
}

pub fn run(args: Args) -> Result<()> {
    #[cfg(feature = "nats")]
    if let Some(url) = args.nats.clone() {
        return run_publishing(args, &url);
    }
    let Some(model) = args.model.clone() else {
        return Err(Error::InvalidConfig {
            name: "serve",
            expected: "--model DIR (or --nats URL to publish into a fleet's stream)",
            found: "neither".into(),
        });
    };
    // Scoring runs on the CPU path whatever the backend; NdArray only holds the weights.
    let detector = Detector::<NdArray>::load(&model, &Default::default())?;
    let config = config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            path: "<tokio runtime>".into(),
            source,
        })?;
    let model_name = model.display().to_string();
    let summary = runtime.block_on(async {
        let server = Server::bind(&detector, &model_name, config).await?;
        let address = server.local_addr()?;
        // Tests and scripts read this line to find a port chosen with `:0`.
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "listening on http://{address}");
        drop(err);
        server.run(shutdown_signal()).await
    })?;
    eprintln!(
        "stopped: {} events, {} alerts, {} bad requests, {} alerts not forwarded",
        summary.events, summary.alerts, summary.bad_requests, summary.forward_failures
    );
    Ok(())
}

fn config(args: &Args) -> Result<ServeConfig> {
    Ok(ServeConfig {
        listen: args.listen,
        alerts: args.alerts.clone().map(|p| {
            if p.as_os_str() == "-" {
                AlertSink::Stdout
            } else {
                AlertSink::File(p)
            }
        }),
        format: match args.output_format {
            OutputKind::Csv => {
                return Err(Error::InvalidConfig {
                    name: "output format",
                    expected: "`jsonl` or `falco` (Tracee events have no CSV form)",
                    found: "csv".into(),
                });
            }
            other => other.format(),
        },
        explain: args.explain,
        forward: args.forward.clone(),
        forward_queue: args.forward_queue,
        max_body_bytes: args.max_body_bytes,
        max_concurrent_requests: args.max_concurrent_requests,
    })
}

/// `serve --nats`: Tracee's webhook straight into the fleet's stream.
#[cfg(feature = "nats")]
fn run_publishing(args: Args, url: &str) -> Result<()> {
    let config = config(&args)?;
    let options = args.connect.options(url, "beth-detect serve");
    let summary = super::nats::runtime()?.block_on(async {
        let publisher =
            beth_detect::fleet::Publisher::connect(&options, &args.stream, &args.subject).await?;
        let server = Server::bind_publisher(publisher, config).await?;
        let address = server.local_addr()?;
        // Tests and scripts read this line to find a port chosen with `:0`.
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "listening on http://{address}, publishing to {} on {}",
            args.stream,
            options.server()
        );
        drop(err);
        server.run(shutdown_signal()).await
    })?;
    eprintln!("stopped: {} bad requests", summary.bad_requests);
    Ok(())
}
