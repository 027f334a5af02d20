use std::io::Write;
use std::path::PathBuf;

use beth_detect::backend::BackendChoice;
use beth_detect::data::EventReader;
use beth_detect::detector::Detector;
use beth_detect::scoring::{ScoreOptions, score_stream};
use beth_detect::{Error, Result, with_backend};
use burn::prelude::Backend;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Detector directory (written by `train`).
    #[arg(long)]
    model: PathBuf,
    /// Events to score: any BETH CSV or Tracee JSON lines.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the scored rows (default: standard output). A file is written under a
    /// temporary name and renamed when complete.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Backend: `ndarray`, `flex` (default) or `wgpu` (needs the `wgpu` cargo feature).
    #[arg(long, default_value_t = BackendChoice::DEFAULT)]
    backend: BackendChoice,
}

pub fn run(args: Args) -> Result<()> {
    with_backend!(args.backend, |B| run_on::<B>(args))
}

fn run_on<B: Backend>(args: Args) -> Result<()> {
    let detector = Detector::<B>::load(&args.model, &Default::default())?;
    let mut reader = EventReader::open(&args.input)?;
    let options = ScoreOptions {
        // The plain-matrix CPU path scores the same model faster than burn on a CPU backend; on
        // the GPU backend the model runs where the user asked.
        cpu_fast_path: args.backend != BackendChoice::Wgpu,
        ..ScoreOptions::default()
    };
    let summary = match &args.output {
        None => {
            let stdout = std::io::stdout().lock();
            score_stream(
                &detector,
                &mut reader,
                std::io::BufWriter::new(stdout),
                &options,
            )?
        }
        Some(path) => {
            let tmp = path.with_file_name(format!(
                ".{}.partial-{}",
                path.file_name()
                    .map_or("scores".into(), |n| n.to_string_lossy()),
                std::process::id()
            ));
            let file = std::fs::File::create(&tmp).map_err(|e| Error::Io {
                path: tmp.clone(),
                source: e,
            })?;
            let result = score_stream(
                &detector,
                &mut reader,
                std::io::BufWriter::new(file),
                &options,
            )
            .and_then(|s| {
                std::fs::rename(&tmp, path).map_err(|e| Error::Io {
                    path: path.clone(),
                    source: e,
                })?;
                Ok(s)
            });
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result?
        }
    };
    let _ = writeln!(
        std::io::stderr(),
        "{} events, {} alerts",
        summary.events,
        summary.alerts
    );
    Ok(())
}
