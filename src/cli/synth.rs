//! `beth-detect synth`: the synthetic generator's splits written as CSV files.

use std::path::PathBuf;

use beth_detect::data::Schema;
use beth_detect::data::synth::{SynthConfig, SynthSplit, write_splits};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write the three split files into.
    #[arg(long)]
    out: PathBuf,
    /// Fraction of the published BETH split sizes (1.0 = 763,144 / 188,967 / 188,967 rows).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Generator seed; the same seed gives the same files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// `raw` (Kaggle's 16-column files) or `datacamp` (7 features + sus_label).
    #[arg(long, default_value = "raw", value_parser = ["raw", "datacamp"])]
    schema: String,
    /// Print what was written as JSON lines on stdout (path, rows, sus, evil).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> beth_detect::Result<()> {
    let schema = if args.schema == "raw" {
        Schema::Raw
    } else {
        Schema::DataCamp
    };
    let config = SynthConfig::new()
        .with_scale(args.scale)
        .with_seed(args.seed);
    let paths = write_splits(&args.out, &config, schema)?;
    for (path, split) in paths.iter().zip(SynthSplit::ALL) {
        let c = split.counts(args.scale);
        if args.json {
            let line = serde_json::json!({
                "path": path,
                "split": format!("{split:?}").to_lowercase(),
                "rows": c.rows,
                "sus": c.sus_only + c.evil,
                "evil": c.evil,
                "synthetic": true,
            });
            println!("{line}");
            continue;
        }
        eprintln!(
            "wrote {} (SYNTHETIC): {} rows, {} sus, {} evil",
            path.display(),
            c.rows,
            c.sus_only + c.evil,
            c.evil
        );
    }
    Ok(())
}
