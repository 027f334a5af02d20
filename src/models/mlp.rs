//! Batches → scores: the network.

use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig, Relu};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use crate::error::{Error, Result};
use crate::features::FEATURE_WIDTH;
use crate::models::dropout::dropout;

/// The shape of the network: the original notebook's 7 → 64 → 32 → 1 MLP by default.
#[derive(Config, Debug, PartialEq)]
pub struct ThreatDetectorConfig {
    /// Input width: the number of features.
    #[config(default = 7)]
    pub input_width: usize,
    /// Width of the first hidden layer.
    #[config(default = 64)]
    pub hidden1: usize,
    /// Width of the second hidden layer.
    #[config(default = 32)]
    pub hidden2: usize,
    /// Dropout probability after the first hidden layer (training only).
    #[config(default = 0.3)]
    pub dropout: f64,
}

impl ThreatDetectorConfig {
    /// Checks every knob once, before anything is built.
    pub fn validate(&self) -> Result<()> {
        if self.input_width != FEATURE_WIDTH {
            return Err(Error::InvalidConfig {
                name: "input width",
                expected: "7 (the width of every feature set)",
                found: self.input_width.to_string(),
            });
        }
        if self.hidden1 == 0 || self.hidden2 == 0 {
            return Err(Error::InvalidConfig {
                name: "hidden layer width",
                expected: "at least 1",
                found: format!("{} and {}", self.hidden1, self.hidden2),
            });
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::InvalidConfig {
                name: "dropout",
                expected: "a probability in [0, 1)",
                found: self.dropout.to_string(),
            });
        }
        Ok(())
    }

    /// Builds a freshly initialised network on `device` (PyTorch's default initialisation:
    /// weights and biases uniform in ±1/√fan_in). Call [`validate`](Self::validate) first.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ThreatDetector<B> {
        ThreatDetector {
            fc1: LinearConfig::new(self.input_width, self.hidden1).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            fc2: LinearConfig::new(self.hidden1, self.hidden2).init(device),
            fc3: LinearConfig::new(self.hidden2, 1).init(device),
            relu: Relu::new(),
        }
    }

    /// Builds the network with every weight 0, drawing nothing from the random generator:
    /// the shell that saved or imported weights are loaded into.
    pub fn init_zeroed<B: Backend>(&self, device: &B::Device) -> ThreatDetector<B> {
        let linear = |i, o| {
            LinearConfig::new(i, o)
                .with_initializer(Initializer::Zeros)
                .init(device)
        };
        ThreatDetector {
            fc1: linear(self.input_width, self.hidden1),
            dropout: DropoutConfig::new(self.dropout).init(),
            fc2: linear(self.hidden1, self.hidden2),
            fc3: linear(self.hidden2, 1),
            relu: Relu::new(),
        }
    }

    /// Number of trainable parameters (2,625 for the default shape); saturates at
    /// `usize::MAX` for absurd shapes (a corrupted artifact) instead of overflowing.
    pub fn num_params(&self) -> usize {
        let layer =
            |inputs: usize, outputs: usize| inputs.saturating_add(1).saturating_mul(outputs);
        layer(self.input_width, self.hidden1)
            .saturating_add(layer(self.hidden1, self.hidden2))
            .saturating_add(layer(self.hidden2, 1))
    }
}

/// Linear(7, 64) → ReLU → Dropout(0.3) → Linear(64, 32) → ReLU → Linear(32, 1) → Sigmoid.
///
/// ```
/// use beth_detect::models::mlp::ThreatDetectorConfig;
/// use burn::backend::NdArray;
/// use burn::tensor::Tensor;
///
/// let device = Default::default();
/// let model = ThreatDetectorConfig::new().init::<NdArray>(&device);
/// let x = Tensor::<NdArray, 2>::zeros([5, 7], &device);
/// let p = model.forward(x);
/// assert_eq!(p.dims(), [5, 1]);
/// ```
#[derive(Module, Debug)]
pub struct ThreatDetector<B: Backend> {
    /// Input layer, 7 → 64 (PyTorch `nn.Sequential` index 0).
    pub fc1: Linear<B>,
    /// Dropout after the first ReLU (index 2).
    pub dropout: Dropout,
    /// Hidden layer, 64 → 32 (index 3).
    pub fc2: Linear<B>,
    /// Output layer, 32 → 1 (index 5).
    pub fc3: Linear<B>,
    relu: Relu,
}

impl<B: Backend> ThreatDetector<B> {
    /// Draws every parameter now, in layer order. burn initialises parameters lazily, on first
    /// use, from the backend's global random generator, so whichever code touches a layer first
    /// decides the order of the draws; training calls this right after seeding so that a seed
    /// always gives the same weights. (A model whose weights are then loaded from a file does
    /// not need it and should not draw at all.)
    pub fn materialize(self) -> Self {
        for linear in [&self.fc1, &self.fc2, &self.fc3] {
            let _ = linear.weight.val();
            if let Some(bias) = &linear.bias {
                let _ = bias.val();
            }
        }
        self
    }

    /// Logits `[N, 1]` (before the sigmoid); training uses these with a stable
    /// BCE-with-logits loss.
    pub fn forward_logits(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        let x = self.relu.forward(self.fc1.forward(features));
        // burn's dropout, with a faster mask (`models::dropout`).
        let x = dropout(x, self.dropout.prob);
        let x = self.relu.forward(self.fc2.forward(x));
        self.fc3.forward(x)
    }

    /// Probabilities `[N, 1]` that each event is suspicious.
    pub fn forward(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        sigmoid(self.forward_logits(features))
    }

    /// The shape the loaded weights actually have, as a config (dropout not included).
    pub fn weight_shapes(&self) -> [[usize; 2]; 3] {
        [
            self.fc1.weight.dims(),
            self.fc2.weight.dims(),
            self.fc3.weight.dims(),
        ]
    }
}

/// Numerically stable binary cross-entropy on logits, averaged over the batch:
/// `w·y·softplus(−z) + (1 − y)·softplus(z)`, where `w` weighs the positive class (PyTorch's
/// `BCEWithLogitsLoss(pos_weight=w)`).
///
/// Computed as `softplus(z)·(1 + (w − 1)·y) − w·y·z` (using `softplus(−z) = softplus(z) − z`),
/// with `softplus(z) = max(z, 0) + log1p(exp(−|z|))`: half the tensor operations of the
/// textbook form, which matters when per-operation overhead dominates a step.
pub fn bce_with_logits<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 2>,
    positive_weight: f64,
) -> Tensor<B, 1> {
    let softplus = logits.clone().clamp_min(0.0) + logits.clone().abs().neg().exp().log1p();
    let per_row = if positive_weight == 1.0 {
        softplus - logits * targets
    } else {
        softplus
            * targets
                .clone()
                .mul_scalar(positive_weight - 1.0)
                .add_scalar(1.0)
            - logits * targets.mul_scalar(positive_weight)
    };
    per_row.mean()
}

/// The network's output map for one logit, as the CPU scoring paths compute it (both must
/// agree bit for bit, so there is one definition).
pub fn probability(logit: f32) -> f32 {
    1.0 / (1.0 + (-logit).exp())
}

/// A tensor's values as f32, read back from any backend (weights for export and the CPU
/// scorer).
pub(crate) fn f32_values<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    if let Some(values) = crate::backend::ndarray_f32_values(&tensor) {
        return values;
    }
    tensor
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("weights convert to f32")
}
