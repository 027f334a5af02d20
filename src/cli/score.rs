//! `beth-detect score`: events from files, pipes or live input, written back with their scores.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use beth_detect::atomic_files::write_file_atomically;
use beth_detect::backend::BackendChoice;
use beth_detect::data::{EventReader, Schema};
use beth_detect::detector::Detector;
use beth_detect::scoring::{LiveInput, OutputFormat, ScoreOptions, ScoreSummary, score_stream};
use beth_detect::{Error, Result, with_backend};
use burn::prelude::Backend;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum InputFormat {
    Auto,
    Raw,
    Datacamp,
    Host,
    TraceeJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OutputKind {
    Csv,
    Jsonl,
    Falco,
}

impl OutputKind {
    pub(crate) fn format(self) -> OutputFormat {
        match self {
            OutputKind::Csv => OutputFormat::Csv,
            OutputKind::Jsonl => OutputFormat::JsonLines,
            OutputKind::Falco => OutputFormat::Falco,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Detector directory (written by `train`).
    #[arg(long)]
    model: PathBuf,
    /// Events to score: a BETH CSV or Tracee JSON-lines file, or `-` for standard input (the
    /// default).
    #[arg(conflicts_with = "input_flag")]
    input: Option<PathBuf>,
    /// The same as the positional INPUT.
    #[arg(long = "input", id = "input_flag")]
    input_flag: Option<PathBuf>,
    /// Input format; `auto` detects it from the CSV header or the first JSON line, the others
    /// insist on it.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    format: InputFormat,
    /// Where to write the scored events: a file (written under a temporary name and renamed
    /// when complete) or `-` for standard output (the default).
    #[arg(long)]
    output: Option<PathBuf>,
    /// `csv` (the input's columns plus score,prediction; Tracee input always gives JSON lines),
    /// `jsonl` (one JSON object per event with score and prediction added), or `falco` (alerts
    /// only, as Falco-compatible JSON lines with their reasons, for falcosidekick). Default
    /// `csv`; with `--nats` only `falco`.
    #[arg(long, value_enum)]
    output_format: Option<OutputKind>,
    /// Give every alert its reasons: the top 3 features by occlusion (score minus the score
    /// with the feature set to its training mean), as a `reasons` column or JSON list.
    #[arg(long)]
    explain: bool,
    /// Write only the events predicted suspicious.
    #[arg(long)]
    only_alerts: bool,
    /// Skip records that do not parse, and report how many (and where) at the end.
    #[arg(long)]
    skip_bad: bool,
    /// Events per forward pass.
    #[arg(long, default_value_t = 8192)]
    batch_size: usize,
    /// Print the end-of-run summary as one JSON object on stderr (stdout carries the events).
    #[arg(long)]
    json: bool,
    /// Backend: `ndarray`, `flex` (default) or `wgpu` (needs the `wgpu` cargo feature).
    #[arg(long, default_value_t = BackendChoice::DEFAULT)]
    backend: BackendChoice,
    #[cfg(feature = "nats")]
    #[command(flatten)]
    fleet: super::score_nats::FleetArgs,
}

pub fn run(args: Args) -> Result<()> {
    #[cfg(feature = "nats")]
    if args.fleet.nats.is_some() {
        if let Some(kind) = args.output_format.filter(|&k| k != OutputKind::Falco) {
            return Err(Error::InvalidConfig {
                name: "score --nats",
                expected: "--output-format falco (alerts go to BETH_ALERTS as Falco JSON with reasons)",
                found: format!("--output-format {kind:?}").to_lowercase(),
            });
        }
        return super::score_nats::run(&args.model, &args.fleet, args.json);
    }
    with_backend!(args.backend, |B| run_on::<B>(args))
}

fn run_on<B: Backend>(args: Args) -> Result<()> {
    let detector = Detector::<B>::load(&args.model, &Default::default())?;
    let options = ScoreOptions {
        batch_size: args.batch_size,
        only_alerts: args.only_alerts,
        skip_bad: args.skip_bad,
        format: args.output_format.unwrap_or(OutputKind::Csv).format(),
        explain: args.explain,
        // The plain-matrix CPU path scores the same model faster than burn on a CPU backend; on
        // the GPU backend the model runs where the user asked.
        cpu_fast_path: args.backend != BackendChoice::Wgpu,
    };
    let input = args.input.clone().or(args.input_flag.clone());
    let started = Instant::now();
    let summary = match score_input(&detector, input.as_deref(), &args, &options) {
        // Whoever read the output went away (`| head`): the job is over, not failed.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            return Ok(());
        }
        other => other?,
    };
    let seconds = started.elapsed().as_secs_f64();
    let name = input
        .as_deref()
        .filter(|p| p.as_os_str() != "-")
        .map_or_else(|| "<stdin>".to_string(), |p| p.display().to_string());
    super::report::warn_if_unusual(
        detector.metadata(),
        &args.model,
        &name,
        summary.events,
        summary.alerts,
        None,
    );
    let mut err = std::io::stderr().lock();
    if args.json {
        let summary = serde_json::json!({
            "events": summary.events,
            "alerts": summary.alerts,
            "skipped": summary.skipped,
            "first_skipped": summary.first_skipped.iter()
                .map(|(line, message)| serde_json::json!({"line": line, "error": message}))
                .collect::<Vec<_>>(),
            "seconds": seconds,
            "events_per_second": summary.events as f64 / seconds.max(1e-9),
        });
        let _ = writeln!(err, "{summary}");
        return Ok(());
    }
    let _ = writeln!(
        err,
        "{} events, {} alerts, {} bad lines skipped, {:.0} events/s",
        summary.events,
        summary.alerts,
        summary.skipped,
        summary.events as f64 / seconds.max(1e-9)
    );
    for (line, message) in &summary.first_skipped {
        let _ = writeln!(err, "  skipped line {line}: {message}");
    }
    Ok(())
}

/// Scores standard input (`None` or `-`), a regular file (with a progress bar on a terminal),
/// or a FIFO or device (read live).
fn score_input<B: Backend>(
    detector: &Detector<B>,
    input: Option<&std::path::Path>,
    args: &Args,
    options: &ScoreOptions,
) -> Result<ScoreSummary> {
    match input.filter(|p| p.as_os_str() != "-") {
        // Standard input may be live (a pipe from tracee): read it on its own thread so a
        // pause flushes the partial batch.
        None => score_from(
            detector,
            LiveInput::spawn(std::io::stdin()),
            "<stdin>".into(),
            args,
            options,
        ),
        Some(p) => {
            let file = std::fs::File::open(p).map_err(|e| Error::Io {
                path: p.to_path_buf(),
                source: e,
            })?;
            let size = file
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
            if let Some(size) = size {
                let bar = progress_bar(size);
                let summary = score_from(
                    detector,
                    bar.wrap_read(file),
                    p.to_path_buf(),
                    args,
                    options,
                );
                bar.finish_and_clear();
                summary
            } else {
                // A FIFO or a character device is as live as a pipe.
                let live = LiveInput::spawn(file);
                score_from(detector, live, p.to_path_buf(), args, options)
            }
        }
    }
}

fn score_from<B: Backend, R: Read + Send>(
    detector: &Detector<B>,
    source: R,
    name: PathBuf,
    args: &Args,
    options: &ScoreOptions,
) -> Result<ScoreSummary> {
    let mut reader = EventReader::new(source, name)?;
    let wanted = match args.format {
        InputFormat::Auto => None,
        InputFormat::Raw => Some(Schema::Raw),
        InputFormat::Datacamp => Some(Schema::DataCamp),
        InputFormat::Host => Some(Schema::Host),
        InputFormat::TraceeJson => Some(Schema::Tracee),
    };
    if let Some(w) = wanted
        && w != reader.schema()
    {
        return Err(Error::InvalidConfig {
            name: "input format",
            expected: "input in the format given with --format",
            found: format!(
                "{}: {} input, not {}",
                reader.path().display(),
                reader.schema(),
                w
            ),
        });
    }
    match args.output.as_deref().filter(|p| p.as_os_str() != "-") {
        // Buffered: score_stream flushes after every batch, so nothing waits in the buffer.
        None => score_stream(detector, &mut reader, stdout(), options),
        Some(path) => write_file_atomically(path, |out| {
            score_stream(detector, &mut reader, out, options)
        }),
    }
}

fn stdout() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock())
}

/// A byte-count bar on stderr, drawn only when stderr is a terminal (indicatif hides itself
/// otherwise, so logs and pipes get just the summary line).
fn progress_bar(bytes: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(bytes);
    let style = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}
