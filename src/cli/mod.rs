//! Argument parsing and printing; the work is done by the library.

use clap::{Parser, Subcommand};

mod benchmark;
mod calibrate;
mod eval;
mod inspect;
mod interop;
#[cfg(feature = "nats")]
mod nats;
#[cfg(feature = "nats")]
mod publish;
mod report;
mod score;
#[cfg(feature = "nats")]
mod score_nats;
#[cfg(feature = "serve")]
mod serve;
mod synth;
mod train;

/// Detect suspicious kernel events (BETH / Tracee) with a small neural network.
#[derive(Debug, Parser)]
#[command(name = "beth-detect", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print schema, row count, label counts and per-column min/mean/max of BETH files.
    ///
    /// Example: beth-detect inspect data/labelled_training_data.csv --json
    Inspect(inspect::Args),
    /// Train a detector and report on validation and test.
    ///
    /// Example: beth-detect train --data beth/ --features paper --class-weight balanced --threshold max-f1 --out detector
    Train(train::Args),
    /// Evaluate a detector on a labelled file or on the splits in a directory.
    ///
    /// Example: beth-detect eval --model detector --data beth/labelled_testing_data.csv --json
    Eval(eval::Args),
    /// Train and evaluate every detector kind with seeds 1..N, as `train --seed S` would, and
    /// summarise: AUROC mean/std/min, the paper's 0/1 AUROC, AP, recall at 1% FPR, F1.
    ///
    /// Example: beth-detect benchmark --data beth/ --seeds 5 --json
    Benchmark(benchmark::Args),
    /// Re-fit a detector's threshold on a host's own normal traffic (an alert budget); the
    /// model stays as it is.
    ///
    /// Example: beth-detect calibrate --model detector --data host-normal.csv --threshold fpr:0.001 --out detector-host
    Calibrate(calibrate::Args),
    /// Score events: the input's rows with `score` and `prediction` appended.
    ///
    /// Example: beth-detect score --model detector --input events.csv --output scored.csv
    Score(score::Args),
    /// Score Tracee's webhook output over HTTP: POST /events, GET /metrics, GET /healthz.
    ///
    /// Example: beth-detect serve --model detector --alerts alerts.jsonl --output-format falco
    #[cfg(feature = "serve")]
    Serve(serve::Args),
    /// Publish events (Tracee JSON lines or BETH CSV) into a NATS JetStream stream for fleet
    /// scoring with `score --nats`.
    ///
    /// Example: beth-detect publish --nats nats://127.0.0.1:4222 events.jsonl
    #[cfg(feature = "nats")]
    Publish(publish::Args),
    /// Make a detector from the PyTorch notebook's trained model and its scaler statistics.
    ///
    /// Example: beth-detect import-torch model.pt --scaler scaler.json --out detector
    ImportTorch(interop::ImportArgs),
    /// Write a detector's weights as safetensors that PyTorch loads into the notebook's network.
    ///
    /// Example: beth-detect export --model detector --out model.safetensors
    Export(interop::ExportArgs),
    /// Write synthetic BETH split files (labelled as synthetic; for demos and benchmarks).
    ///
    /// Example: beth-detect synth --out synthetic --scale 0.1 --seed 7
    Synth(synth::Args),
    /// Print a shell completion script for bash, zsh, fish, elvish or powershell.
    ///
    /// Example: beth-detect completions bash > ~/.local/share/bash-completion/completions/beth-detect
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

pub fn run(cli: Cli) -> beth_detect::Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Benchmark(args) => benchmark::run(args),
        Command::Calibrate(args) => calibrate::run(args),
        Command::Score(args) => score::run(args),
        #[cfg(feature = "serve")]
        Command::Serve(args) => serve::run(args),
        #[cfg(feature = "nats")]
        Command::Publish(args) => publish::run(args),
        Command::ImportTorch(args) => interop::import(args),
        Command::Export(args) => interop::export(args),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "beth-detect", &mut std::io::stdout());
            Ok(())
        }
    }
}
