//! Several networks of the notebook's shape trained as one stacked module.
//!
//! Training N separate [`ThreatDetector`]s through the Learner would cost N times the per-step
//! overhead that dominates so small a network. [`ThreatEnsemble`] keeps member `m`'s layer
//! weights at index `m` of `[N, in, out]` tensors, so one batched matrix product per layer
//! runs every member on the same batch. The members share no parameter and Adam works
//! element by element, so summing the members' mean losses trains each exactly as it would be
//! trained alone on that batch order; only their initialisations and dropout masks differ.
//! After training, [`ThreatEnsemble::into_members`] hands back ordinary [`ThreatDetector`]s.

use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig, Linear, Relu};
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::models::dropout::dropout;
use crate::models::mlp::{ThreatDetector, ThreatDetectorConfig, bce_with_logits, f32_values};

/// `members` networks of one shape, stacked layer by layer.
#[derive(Module, Debug)]
pub struct ThreatEnsemble<B: Backend> {
    /// First layer, `[N, in, hidden1]`.
    pub w1: Param<Tensor<B, 3>>,
    /// `[N, 1, hidden1]`.
    pub b1: Param<Tensor<B, 3>>,
    /// `[N, hidden1, hidden2]`.
    pub w2: Param<Tensor<B, 3>>,
    /// `[N, 1, hidden2]`.
    pub b2: Param<Tensor<B, 3>>,
    /// `[N, hidden2, 1]`.
    pub w3: Param<Tensor<B, 3>>,
    /// `[N, 1, 1]`.
    pub b3: Param<Tensor<B, 3>>,
    dropout: Dropout,
    relu: Relu,
}

impl<B: Backend> ThreatEnsemble<B> {
    /// Stacks networks of one shape (dropout is taken from `config`).
    ///
    /// # Panics
    /// If `members` is empty or their shapes differ.
    pub fn stack(members: &[ThreatDetector<B>], config: &ThreatDetectorConfig) -> Self {
        assert!(!members.is_empty(), "an ensemble needs a member");
        let weight = |f: fn(&ThreatDetector<B>) -> &Linear<B>| {
            let parts: Vec<Tensor<B, 3>> = members
                .iter()
                .map(|m| f(m).weight.val().unsqueeze_dim(0))
                .collect();
            Param::from_tensor(Tensor::cat(parts, 0).detach())
        };
        let bias = |f: fn(&ThreatDetector<B>) -> &Linear<B>| {
            let parts: Vec<Tensor<B, 3>> = members
                .iter()
                .map(|m| {
                    let b = f(m)
                        .bias
                        .as_ref()
                        .expect("the network's layers have biases");
                    b.val().unsqueeze_dim::<2>(0).unsqueeze_dim(0)
                })
                .collect();
            Param::from_tensor(Tensor::cat(parts, 0).detach())
        };
        ThreatEnsemble {
            w1: weight(|m| &m.fc1),
            b1: bias(|m| &m.fc1),
            w2: weight(|m| &m.fc2),
            b2: bias(|m| &m.fc2),
            w3: weight(|m| &m.fc3),
            b3: bias(|m| &m.fc3),
            dropout: DropoutConfig::new(config.dropout).init(),
            relu: Relu::new(),
        }
    }

    /// Dropout probability after the first hidden layer.
    pub fn dropout_probability(&self) -> f64 {
        self.dropout.prob
    }

    /// The parameters, `w1, b1, w2, b2, w3, b3`.
    pub fn parameters(&self) -> [&Param<Tensor<B, 3>>; 6] {
        [&self.w1, &self.b1, &self.w2, &self.b2, &self.w3, &self.b3]
    }

    /// Number of members.
    pub fn members(&self) -> usize {
        self.w1.dims()[0]
    }

    /// Each member's logits, `[N, rows, 1]`.
    pub fn forward_logits(&self, features: Tensor<B, 2>) -> Tensor<B, 3> {
        let [rows, width] = features.dims();
        let n = self.members();
        // Each member's bias spread over the rows as a product with a column of ones (exact:
        // one product per entry, by 1): a `[N, 1, out]` bias broadcast over the rows differs
        // per member, which burn-flex adds element by element through a strided walk, in the
        // forward pass and again for the gradient. This kept a batch-1024 step of two members
        // at three times one network's.
        let ones = Tensor::<B, 3>::ones([n, rows, 1], &features.device());
        let biased = |x: Tensor<B, 3>, w: Tensor<B, 3>, b: Tensor<B, 3>| {
            x.matmul(w) + ones.clone().matmul(b)
        };
        let x = features.unsqueeze_dim::<3>(0).expand([n, rows, width]);
        let x = self.relu.forward(biased(x, self.w1.val(), self.b1.val()));
        let x = dropout(x, self.dropout.prob);
        let x = self.relu.forward(biased(x, self.w2.val(), self.b2.val()));
        biased(x, self.w3.val(), self.b3.val())
    }

    /// The mean over members of each member's mean BCE-with-logits on the batch; `N` times it
    /// (the sum of the members' losses) has, with respect to a member's weights, that member's
    /// own loss gradient.
    pub fn mean_member_loss(
        &self,
        features: Tensor<B, 2>,
        targets: Tensor<B, 2>,
        positive_weight: f64,
    ) -> Tensor<B, 1> {
        let logits = self.forward_logits(features);
        let [n, rows, _] = logits.dims();
        let targets = targets.unsqueeze_dim::<3>(0).expand([n, rows, 1]);
        bce_with_logits(
            logits.reshape([n * rows, 1]),
            targets.reshape([n * rows, 1]),
            positive_weight,
        )
    }

    /// The ensemble's probabilities `[rows, 1]`: the mean of the members' sigmoids.
    pub fn forward(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        burn::tensor::activation::sigmoid(self.forward_logits(features))
            .mean_dim(0)
            .squeeze_dim(0)
    }

    /// The members as separate networks (on the same device).
    pub fn into_members(self, config: &ThreatDetectorConfig) -> Vec<ThreatDetector<B>> {
        let device = self.w1.device();
        let [n, i, h1] = self.w1.dims();
        let h2 = self.w2.dims()[2];
        let (w1, b1, w2, b2, w3, b3) = (
            f32_values(self.w1.val()),
            f32_values(self.b1.val()),
            f32_values(self.w2.val()),
            f32_values(self.b2.val()),
            f32_values(self.w3.val()),
            f32_values(self.b3.val()),
        );
        let linear = |w: &[f32], b: &[f32], inputs: usize, outputs: usize| Linear {
            weight: Param::from_data(TensorData::new(w.to_vec(), [inputs, outputs]), &device),
            bias: Some(Param::from_data(
                TensorData::new(b.to_vec(), [outputs]),
                &device,
            )),
        };
        (0..n)
            .map(|m| {
                let mut net = config.init_zeroed::<B>(&device);
                net.fc1 = linear(&w1[m * i * h1..][..i * h1], &b1[m * h1..][..h1], i, h1);
                net.fc2 = linear(&w2[m * h1 * h2..][..h1 * h2], &b2[m * h2..][..h2], h1, h2);
                net.fc3 = linear(&w3[m * h2..][..h2], &b3[m..][..1], h2, 1);
                net
            })
            .collect()
    }
}
