//! Argument parsing and printing; the work is done by the library.

use clap::{Parser, Subcommand};

mod inspect;
mod synth;

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
    /// Write synthetic BETH split files (labelled as synthetic; for demos and benchmarks).
    ///
    /// Example: beth-detect synth --out synthetic --scale 0.1 --seed 7
    Synth(synth::Args),
}

pub fn run(cli: Cli) -> beth_detect::Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Synth(args) => synth::run(args),
    }
}
