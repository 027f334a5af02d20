//! Every detector kind's scores computed on the CPU without burn: the networks' forward passes
//! as plain f32 matrix products, the forest through its own padded trees.
//!
//! burn's forward pass on a CPU backend pays a fixed cost per operation that dominates for
//! networks of a few thousand parameters; for scoring millions of events this path runs tiles
//! of rows through the host forward pass that training uses too ([`super::network`]), and
//! splits large inputs across threads. Networks of the notebook's shape go through an AVX-512
//! kernel instead where the CPU has it (`avx512`, checked against the host forward pass).
//! `tests/cpu_scorer.rs` checks both against burn's forward passes on random and real inputs.

use std::sync::Arc;

use burn::nn::Linear;
use burn::prelude::*;

use super::avx512::Avx512Network;
use super::matrix::dense;
use super::network::HostNetwork;
use crate::features::FEATURE_WIDTH;
use crate::models::autoencoder::{Autoencoder, error_to_score};
use crate::models::iforest::IsolationForest;
use crate::models::mlp::{ThreatDetector, f32_values, probability};

/// Rows multiplied at once: small enough that both hidden activations stay in L2 cache.
const TILE: usize = 512;
/// Inputs smaller than this are scored on the calling thread.
const PARALLEL_MIN_ROWS: usize = 8192;

/// A copy of a detector's model, scoring rows of scaled features on the CPU: the mean of the
/// members' probabilities for the supervised network(s), the mapped reconstruction error for
/// the autoencoder, the anomaly score for the forest.
#[derive(Debug, Clone)]
pub struct CpuScorer {
    model: CpuModel,
    threads: usize,
}

// One per scorer: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum CpuModel {
    Mlp(Vec<MemberWeights>),
    Autoencoder {
        layers: [Dense; 4],
        reference_error: f32,
    },
    Forest(Arc<IsolationForest>),
}

/// One `Linear` layer's weights, `[in, out]` row-major, and bias (the autoencoder's layers,
/// and the network's on their way to [`MemberWeights`]).
#[derive(Debug, Clone)]
struct Dense {
    outputs: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

/// One network's parameters, `w1, b1, w2, b2, w3, b3` (weights `[in, out]` row-major).
#[derive(Debug, Clone)]
struct MemberWeights {
    parameters: [Vec<f32>; 6],
    /// The same network for the AVX-512 kernel, where the CPU has it and the shape is the
    /// notebook's.
    avx512: Option<Avx512Network>,
}

impl CpuScorer {
    /// Copies the weights of a model (from any backend).
    pub fn from_model<B: Backend>(model: &ThreatDetector<B>) -> Self {
        CpuScorer::from_members(std::slice::from_ref(model))
    }

    /// Copies the weights of an ensemble's members (from any backend); scores are the mean of
    /// their probabilities.
    pub fn from_members<B: Backend>(members: &[ThreatDetector<B>]) -> Self {
        CpuScorer::with_model(CpuModel::Mlp(
            members.iter().map(MemberWeights::from_model).collect(),
        ))
    }

    /// Copies an autoencoder's weights (from any backend); scores are
    /// [`error_to_score`]`(error, reference_error)`.
    pub fn from_autoencoder<B: Backend>(model: &Autoencoder<B>, reference_error: f32) -> Self {
        let [a, b, c, d] = model.layers().map(Dense::of);
        CpuScorer::with_model(CpuModel::Autoencoder {
            layers: [a, b, c, d],
            reference_error,
        })
    }

    /// Scores with an isolation forest (shared, not copied).
    pub fn from_forest(forest: Arc<IsolationForest>) -> Self {
        CpuScorer::with_model(CpuModel::Forest(forest))
    }

    fn with_model(model: CpuModel) -> Self {
        CpuScorer {
            model,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// Sets the number of threads used for large inputs (at least 1).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Probabilities for rows of scaled features (row-major, 7 per row), appended to `out`.
    pub fn score_into(&self, features: &[f32], out: &mut Vec<f32>) {
        let rows = features.len() / FEATURE_WIDTH;
        let start = out.len();
        out.resize(start + rows, 0.0);
        let dest = &mut out[start..];
        if rows < PARALLEL_MIN_ROWS || self.threads == 1 {
            self.score_serial(&features[..rows * FEATURE_WIDTH], dest);
            return;
        }
        // Rayon's pool (already running for burn-flex) instead of threads spawned per call: a
        // call scores only a few hundred microseconds of rows.
        let per_task = rows.div_ceil(self.threads);
        use rayon::prelude::*;
        features[..rows * FEATURE_WIDTH]
            .par_chunks(per_task * FEATURE_WIDTH)
            .zip(dest.par_chunks_mut(per_task))
            .for_each(|(x, y)| self.score_serial(x, y));
    }

    /// Probabilities for rows of scaled features.
    pub fn score(&self, features: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(features.len() / FEATURE_WIDTH);
        self.score_into(features, &mut out);
        out
    }

    fn score_serial(&self, features: &[f32], out: &mut [f32]) {
        let members = match &self.model {
            CpuModel::Mlp(members) => members,
            CpuModel::Autoencoder {
                layers,
                reference_error,
            } => return score_autoencoder(layers, *reference_error, features, out),
            CpuModel::Forest(forest) => return forest.score_flat(features, out),
        };
        if let [member] = &members[..] {
            member.score_serial(features, out);
            return;
        }
        out.fill(0.0);
        let mut one = vec![0.0f32; out.len()];
        for member in members {
            member.score_serial(features, &mut one);
            for (o, p) in out.iter_mut().zip(&one) {
                *o += p;
            }
        }
        let n = members.len() as f32;
        for o in out.iter_mut() {
            *o /= n;
        }
    }
}

impl Dense {
    fn of<B: Backend>(layer: &Linear<B>) -> Self {
        let outputs = layer.weight.dims()[1];
        Dense {
            outputs,
            w: flush_subnormals(f32_values(layer.weight.val())),
            b: layer.bias.as_ref().map_or(vec![0.0; outputs], |b| {
                flush_subnormals(f32_values(b.val()))
            }),
        }
    }

    /// `y = x · w + b` (then ReLU when `relu`) for `n` rows of `x` into `y`.
    fn forward(&self, x: &[f32], n: usize, y: &mut [f32], relu: bool) {
        dense(x, n, &self.w, &self.b, y);
        if relu {
            for v in &mut y[..n * self.outputs] {
                *v = v.max(0.0);
            }
        }
    }
}

/// Each row's reconstruction error under `model` (row-major scaled features in), computed as
/// the CPU scorer computes scores: the autoencoder's `e` before [`error_to_score`].
pub fn autoencoder_errors<B: Backend>(model: &Autoencoder<B>, features: &[f32]) -> Vec<f32> {
    let [a, b, c, d] = model.layers().map(Dense::of);
    let mut out = vec![0.0; features.len() / FEATURE_WIDTH];
    reconstruction_errors(&[a, b, c, d], features, &mut out, |e| e);
    out
}

/// The autoencoder's scores, tile by tile: three ReLU layers, the linear output, and each
/// row's mean squared difference from its input through [`error_to_score`].
fn score_autoencoder(layers: &[Dense; 4], reference_error: f32, features: &[f32], out: &mut [f32]) {
    reconstruction_errors(layers, features, out, |e| {
        error_to_score(e, reference_error)
    });
}

fn reconstruction_errors(
    layers: &[Dense; 4],
    features: &[f32],
    out: &mut [f32],
    map: impl Fn(f32) -> f32,
) {
    let widest = layers.iter().map(|l| l.outputs).max().unwrap_or(0);
    let (mut a, mut b) = (vec![0.0f32; TILE * widest], vec![0.0f32; TILE * widest]);
    for (x, y) in features
        .chunks(TILE * FEATURE_WIDTH)
        .zip(out.chunks_mut(TILE))
    {
        let n = y.len();
        layers[0].forward(x, n, &mut a, true);
        layers[1].forward(&a, n, &mut b, true);
        layers[2].forward(&b, n, &mut a, true);
        layers[3].forward(&a, n, &mut b, false);
        for ((input, output), y) in x
            .chunks_exact(FEATURE_WIDTH)
            .zip(b.chunks_exact(FEATURE_WIDTH))
            .zip(y.iter_mut())
        {
            let error = input
                .iter()
                .zip(output)
                .map(|(i, o)| (o - i) * (o - i))
                .sum::<f32>()
                / FEATURE_WIDTH as f32;
            *y = map(error);
        }
    }
}

impl MemberWeights {
    fn from_model<B: Backend>(model: &ThreatDetector<B>) -> Self {
        let [fc1, fc2, fc3] = [&model.fc1, &model.fc2, &model.fc3].map(Dense::of);
        let parameters = [fc1.w, fc1.b, fc2.w, fc2.b, fc3.w, fc3.b];
        let avx512 = Avx512Network::new(parameters.each_ref().map(Vec::as_slice));
        MemberWeights { parameters, avx512 }
    }

    fn score_serial(&self, features: &[f32], out: &mut [f32]) {
        if let Some(kernel) = &self.avx512 {
            return kernel.score(features, out);
        }
        let network =
            HostNetwork::new(FEATURE_WIDTH, self.parameters.each_ref().map(Vec::as_slice));
        let mut work = Vec::new();
        for (x, y) in features
            .chunks(TILE * FEATURE_WIDTH)
            .zip(out.chunks_mut(TILE))
        {
            network.logits(x, y, &mut work);
            for p in y.iter_mut() {
                *p = probability(*p);
            }
        }
    }
}

/// `values` with subnormal numbers set to zero. Detectors trained before 0.2.0 could keep
/// weights that weight decay had shrunk into the subnormal range, and every product with one
/// takes a microcode assist on x86: such a detector scored about seventy times slower. A
/// subnormal weight moves no score by a float step.
fn flush_subnormals(mut values: Vec<f32>) -> Vec<f32> {
    for v in values.iter_mut().filter(|v| v.is_subnormal()) {
        *v = 0.0;
    }
    values
}
