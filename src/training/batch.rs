//! Features → batches: the burn `Batcher` that turns events into tensors.

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::data::BethItem;
use crate::features::{FEATURE_WIDTH, FeatureScaler};

/// A batch of scaled features and their labels.
#[derive(Debug, Clone)]
pub struct BethBatch<B: Backend> {
    /// Scaled features, `[N, 7]`, f32.
    pub features: Tensor<B, 2>,
    /// Labels as 0.0 / 1.0, `[N, 1]`.
    pub targets: Tensor<B, 2>,
    /// Weight of a positive row in the loss (1 = unweighted).
    pub positive_weight: f64,
}

/// Builds [`BethBatch`]es: features are encoded and scaled straight into one contiguous buffer
/// per batch, which becomes the tensor in a single copy.
#[derive(Debug, Clone)]
pub struct BethBatcher {
    scaler: FeatureScaler,
    positive_weight: f64,
}

impl BethBatcher {
    /// A batcher applying a fitted scaler.
    pub fn new(scaler: FeatureScaler) -> Self {
        BethBatcher {
            scaler,
            positive_weight: 1.0,
        }
    }

    /// Sets the loss weight of positive rows carried by every batch.
    pub fn with_positive_weight(mut self, weight: f64) -> Self {
        self.positive_weight = weight;
        self
    }

    /// The scaler it applies.
    pub fn scaler(&self) -> &FeatureScaler {
        &self.scaler
    }

    /// Scaled features of `items`, row-major `[N, 7]`, and their targets.
    pub fn buffers(&self, items: &[BethItem]) -> (Vec<f32>, Vec<f32>) {
        let mut features = vec![0.0f32; items.len() * FEATURE_WIDTH];
        let mut targets = Vec::with_capacity(items.len());
        for (item, row) in items.iter().zip(features.chunks_exact_mut(FEATURE_WIDTH)) {
            self.scaler.transform_into(&item.event, row);
            targets.push(item.target as f32);
        }
        (features, targets)
    }
}

impl<B: Backend> Batcher<B, BethItem, BethBatch<B>> for BethBatcher {
    fn batch(&self, items: Vec<BethItem>, device: &B::Device) -> BethBatch<B> {
        let n = items.len();
        let (features, targets) = self.buffers(&items);
        BethBatch {
            features: Tensor::from_data(TensorData::new(features, [n, FEATURE_WIDTH]), device),
            targets: Tensor::from_data(TensorData::new(targets, [n, 1]), device),
            positive_weight: self.positive_weight,
        }
    }
}
