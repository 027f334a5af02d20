//! `beth-detect import-torch` and `export-torch`: the notebook's PyTorch weights in and out.

use std::path::PathBuf;

use beth_detect::Result;
use beth_detect::detector::Detector;
use beth_detect::detector::interop::{
    export_model, imported_detector, load_pytorch, load_safetensors, load_sklearn_scaler,
};
use burn::backend::NdArray;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The notebook's `state_dict` saved with `torch.save` (`.pt`), or a `.safetensors` file
    /// with the same keys (0.weight, 0.bias, 3.weight, 3.bias, 5.weight, 5.bias).
    model: PathBuf,
    /// scikit-learn StandardScaler statistics: {"features": [...], "mean": [...], "std": [...]}.
    #[arg(long)]
    scaler: PathBuf,
    /// Decision threshold.
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Detector directory to write (atomically).
    #[arg(long)]
    out: PathBuf,
}

pub fn import(args: ImportArgs) -> Result<()> {
    let device = Default::default();
    let model = if args.model.extension().is_some_and(|e| e == "safetensors") {
        load_safetensors::<NdArray>(&args.model, &device)?
    } else {
        load_pytorch::<NdArray>(&args.model, &device)?
    };
    let scaler = load_sklearn_scaler(&args.scaler)?;
    let detector = imported_detector(model, scaler, args.threshold, &args.model)?;
    detector.save(&args.out)?;
    eprintln!("detector written to {}", args.out.display());
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Detector directory.
    #[arg(long)]
    model: PathBuf,
    /// File to write. Networks as safetensors: PyTorch loads an `mlp` into the notebook's
    /// nn.Sequential (an autoencoder into its own, see the README) with
    /// `model.load_state_dict(safetensors.torch.load_file(path))`. A forest as JSON.
    #[arg(long)]
    out: PathBuf,
}

pub fn export(args: ExportArgs) -> Result<()> {
    let detector = Detector::<NdArray>::load(&args.model, &Default::default())?;
    let what = export_model(&detector, &args.out)?;
    eprintln!("{what} written to {}", args.out.display());
    Ok(())
}
