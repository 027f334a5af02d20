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
    /// Detector directory (written by `train`).
    #[arg(long)]
    model: PathBuf,
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
}

pub fn run(args: Args) -> Result<()> {
    // Scoring runs on the CPU path whatever the backend; NdArray only holds the weights.
    let detector = Detector::<NdArray>::load(&args.model, &Default::default())?;
    let config = ServeConfig {
        listen: args.listen,
        alerts: args.alerts.map(|p| {
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
        forward: args.forward,
        forward_queue: args.forward_queue,
        max_body_bytes: args.max_body_bytes,
        max_concurrent_requests: args.max_concurrent_requests,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            path: "<tokio runtime>".into(),
            source,
        })?;
    let model_name = args.model.display().to_string();
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
