//! Features → batches: the burn `Batcher` that turns events into tensors.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::data::{BethDataset, BethItem};
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

/// A split scaled once, row-major, for the training data loader.
///
/// Drawing a shuffled batch from a [`BethDataset`] reads one value from each of its ten
/// columns per row, ten cache misses at random places in memory; at batch 64 that was a
/// tenth of a training step (perf, full-size synthetic splits). Here a row is 28 contiguous
/// bytes, scaled once instead of once per epoch, and the batches hold the same values in
/// the same order as [`BethBatcher`]'s.
#[derive(Debug, Clone)]
pub struct ScaledRows {
    features: Arc<[[f32; FEATURE_WIDTH]]>,
    targets: Arc<[u8]>,
}

impl ScaledRows {
    /// Every row of `data`, scaled by `scaler`, with its chosen label (0 without labels).
    pub fn new(scaler: &FeatureScaler, data: &BethDataset) -> Self {
        let features = (0..data.len())
            .map(|i| {
                let mut row = [0.0f32; FEATURE_WIDTH];
                scaler.transform_into(&data.event(i), &mut row);
                row
            })
            .collect();
        let targets = match data.targets() {
            [] => vec![0; data.len()].into(),
            targets => targets.into(),
        };
        ScaledRows { features, targets }
    }

    /// The scaled rows, row-major.
    pub fn features(&self) -> &[[f32; FEATURE_WIDTH]] {
        &self.features
    }
}

/// One scaled row and its label, as the data loader hands it to [`RowBatcher`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaledRow {
    /// Scaled features.
    pub features: [f32; FEATURE_WIDTH],
    /// Label, 0 or 1.
    pub target: u8,
}

impl Dataset<ScaledRow> for ScaledRows {
    fn get(&self, index: usize) -> Option<ScaledRow> {
        Some(ScaledRow {
            features: *self.features.get(index)?,
            target: self.targets[index],
        })
    }

    fn len(&self) -> usize {
        self.features.len()
    }
}

/// Builds [`BethBatch`]es from [`ScaledRow`]s.
#[derive(Debug, Clone)]
pub struct RowBatcher {
    /// Weight of a positive row in the loss (1 = unweighted).
    pub positive_weight: f64,
}

impl<B: Backend> Batcher<B, ScaledRow, BethBatch<B>> for RowBatcher {
    fn batch(&self, items: Vec<ScaledRow>, device: &B::Device) -> BethBatch<B> {
        let n = items.len();
        let features: Vec<f32> = items.iter().flat_map(|item| item.features).collect();
        let targets: Vec<f32> = items.iter().map(|item| item.target as f32).collect();
        BethBatch {
            features: Tensor::from_data(TensorData::new(features, [n, FEATURE_WIDTH]), device),
            targets: Tensor::from_data(TensorData::new(targets, [n, 1]), device),
            positive_weight: self.positive_weight,
        }
    }
}
