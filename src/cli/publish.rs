//! `beth-detect publish`: events from a file or a pipe into the fleet's JetStream stream.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use beth_detect::data::EventReader;
use beth_detect::fleet::wire::csv_row_as_json;
use beth_detect::fleet::{
    EVENTS_STREAM, EVENTS_SUBJECT, MessagePacker, Published, Publisher, message_id,
};
use beth_detect::{Error, Result};

use super::nats::{ConnectArgs, runtime};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events: Tracee JSON lines or any BETH CSV (rows become JSON lines with Tracee's field
    /// names); `-` or nothing for standard input.
    input: Option<PathBuf>,
    /// The NATS server: nats://[user:password@|token@]host:port, or tls://…
    #[arg(long, value_name = "URL")]
    nats: String,
    /// The events stream (created with file storage and subjects `tracee.>` if absent).
    #[arg(long, default_value = EVENTS_STREAM)]
    stream: String,
    /// The subject events are published on.
    #[arg(long, default_value = EVENTS_SUBJECT)]
    subject: String,
    /// Events per message (messages also stay under the server's max payload).
    #[arg(long, default_value_t = beth_detect::fleet::DEFAULT_EVENTS_PER_MESSAGE)]
    events_per_message: usize,
    /// Skip events that do not parse, and report how many (and where) at the end.
    #[arg(long)]
    skip_bad: bool,
    /// Print the summary as one JSON object on stderr.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// What the reading thread hands over.
enum Read {
    Message(String, Vec<u8>),
    Done(Result<Counts>),
}

#[derive(Debug, Default)]
struct Counts {
    events: u64,
    skipped: u64,
    first_skipped: Vec<(u64, String)>,
}

pub fn run(args: Args) -> Result<()> {
    let input = args.input.clone().filter(|p| p.as_os_str() != "-");
    let name = input
        .as_ref()
        .map_or_else(|| PathBuf::from("<stdin>"), Clone::clone);
    let options = args.connect.options(&args.nats, "beth-detect publish");
    let started = Instant::now();
    let (published, counts) = runtime()?.block_on(async {
        let publisher = Publisher::connect(&options, &args.stream, &args.subject).await?;
        let packer = MessagePacker::new(args.events_per_message, publisher.max_payload())?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Read>(64);
        let skip_bad = args.skip_bad;
        let reading = std::thread::spawn(move || {
            let result = match &input {
                None => read(
                    EventReader::new(std::io::stdin().lock(), "<stdin>"),
                    packer,
                    skip_bad,
                    &tx,
                ),
                Some(path) => read(EventReader::open(path), packer, skip_bad, &tx),
            };
            let _ = tx.blocking_send(Read::Done(result));
        });
        let mut window = publisher.window();
        let mut counts = None;
        while let Some(read) = rx.recv().await {
            match read {
                Read::Message(id, payload) => window.send(id, payload).await?,
                Read::Done(result) => {
                    counts = Some(result);
                    break;
                }
            }
        }
        let published = window.finish().await?;
        let _ = reading.join();
        let counts = counts.unwrap_or_else(|| {
            Err(Error::Io {
                path: name.clone(),
                source: std::io::ErrorKind::Interrupted.into(),
            })
        })?;
        Ok::<(Published, Counts), Error>((published, counts))
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let rate = counts.events as f64 / seconds.max(1e-9);
    let mut err = std::io::stderr().lock();
    if args.json {
        let summary = serde_json::json!({
            "events": counts.events,
            "messages": published.messages,
            "duplicates": published.duplicates,
            "skipped": counts.skipped,
            "seconds": seconds,
            "events_per_second": rate,
        });
        let _ = writeln!(err, "{summary}");
    } else {
        let _ = writeln!(
            err,
            "{} events in {} messages to {} ({} already stored), {} bad lines skipped, {:.0} events/s",
            counts.events,
            published.messages,
            args.stream,
            published.duplicates,
            counts.skipped,
            rate
        );
        for (line, message) in &counts.first_skipped {
            let _ = writeln!(err, "  skipped line {line}: {message}");
        }
    }
    Ok(())
}

/// Reads every event, packs the lines into messages and sends them on.
fn read<R: std::io::Read>(
    reader: Result<EventReader<R>>,
    mut packer: MessagePacker,
    skip_bad: bool,
    tx: &tokio::sync::mpsc::Sender<Read>,
) -> Result<Counts> {
    let mut reader = reader?;
    let columns = beth_detect::scoring::output::split_header(reader.header_bytes());
    let mut counts = Counts::default();
    let mut index = 0u64;
    let mut line = Vec::new();
    let send = |payload: Vec<u8>, index: &mut u64| -> Result<()> {
        let id = message_id(*index, &payload);
        *index += 1;
        tx.blocking_send(Read::Message(id, payload))
            .map_err(|_| Error::Io {
                path: "<publisher>".into(),
                source: std::io::ErrorKind::BrokenPipe.into(),
            })
    };
    loop {
        match reader.read_event() {
            None => break,
            Some(Ok(_)) => {
                let record = reader.record_bytes();
                let bytes = if columns.is_empty() {
                    record
                } else {
                    line.clear();
                    csv_row_as_json(&columns, record, &mut line);
                    &line
                };
                let what = || format!("{}: line {}", reader.path().display(), reader.record_line());
                if let Some(message) = packer.push(bytes, what)? {
                    send(message, &mut index)?;
                }
                counts.events += 1;
            }
            Some(Err(e)) if skip_bad && e.line().is_some() => {
                counts.skipped += 1;
                if counts.first_skipped.len() < 5 {
                    counts
                        .first_skipped
                        .push((e.line().unwrap_or(0), e.to_string()));
                }
            }
            Some(Err(e)) => return Err(e),
        }
    }
    if let Some(message) = packer.finish() {
        send(message, &mut index)?;
    }
    Ok(counts)
}
