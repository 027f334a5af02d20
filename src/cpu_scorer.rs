//! The trained network's forward pass as three plain f32 matrix products on the CPU.
//!
//! burn's forward pass on a CPU backend pays a fixed cost per operation that dominates for a
//! 2,625-parameter network; for scoring millions of events this path multiplies tiles of rows
//! through the weights with `matrixmultiply`'s SGEMM, fuses bias, ReLU and sigmoid into the same
//! pass, and splits large inputs across threads. `tests/cpu_scorer.rs` checks it against burn's
//! `ThreatDetector::forward` on random and real inputs.

use burn::prelude::*;

use crate::features::FEATURE_WIDTH;
use crate::model::{ThreatDetector, f32_values};

/// Rows multiplied at once: small enough that both hidden activations stay in L2 cache.
const TILE: usize = 512;
/// Inputs smaller than this are scored on the calling thread.
const PARALLEL_MIN_ROWS: usize = 8192;

/// A copy of trained networks' weights, scoring rows of scaled features on the CPU (the mean
/// of the members' probabilities for an ensemble).
#[derive(Debug, Clone)]
pub struct CpuScorer {
    members: Vec<MemberWeights>,
    threads: usize,
}

/// One network's weights.
#[derive(Debug, Clone)]
struct MemberWeights {
    hidden1: usize,
    hidden2: usize,
    /// `[7, hidden1]`, row-major (burn's `Linear` layout).
    w1: Vec<f32>,
    b1: Vec<f32>,
    /// `[hidden1, hidden2]`.
    w2: Vec<f32>,
    b2: Vec<f32>,
    /// `[hidden2]`.
    w3: Vec<f32>,
    b3: f32,
}

impl CpuScorer {
    /// Copies the weights of a model (from any backend).
    pub fn from_model<B: Backend>(model: &ThreatDetector<B>) -> Self {
        CpuScorer::from_members(std::slice::from_ref(model))
    }

    /// Copies the weights of an ensemble's members (from any backend); scores are the mean of
    /// their probabilities.
    pub fn from_members<B: Backend>(members: &[ThreatDetector<B>]) -> Self {
        CpuScorer {
            members: members.iter().map(MemberWeights::from_model).collect(),
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
        if let [member] = &self.members[..] {
            member.score_serial(features, out);
            return;
        }
        out.fill(0.0);
        let mut one = vec![0.0f32; out.len()];
        for member in &self.members {
            member.score_serial(features, &mut one);
            for (o, p) in out.iter_mut().zip(&one) {
                *o += p;
            }
        }
        let n = self.members.len() as f32;
        for o in out.iter_mut() {
            *o /= n;
        }
    }
}

impl MemberWeights {
    fn from_model<B: Backend>(model: &ThreatDetector<B>) -> Self {
        let [[_, hidden1], [_, hidden2], _] = model.weight_shapes();
        let bias = |b: &Option<burn::module::Param<Tensor<B, 1>>>, n: usize| {
            b.as_ref().map_or(vec![0.0; n], |b| f32_values(b.val()))
        };
        MemberWeights {
            hidden1,
            hidden2,
            w1: f32_values(model.fc1.weight.val()),
            b1: bias(&model.fc1.bias, hidden1),
            w2: f32_values(model.fc2.weight.val()),
            b2: bias(&model.fc2.bias, hidden2),
            w3: f32_values(model.fc3.weight.val()),
            b3: bias(&model.fc3.bias, 1)[0],
        }
    }

    fn score_serial(&self, features: &[f32], out: &mut [f32]) {
        let (h1n, h2n) = (self.hidden1, self.hidden2);
        let mut h1 = vec![0.0f32; TILE * h1n];
        let mut h2 = vec![0.0f32; TILE * h2n];
        for (x, y) in features
            .chunks(TILE * FEATURE_WIDTH)
            .zip(out.chunks_mut(TILE))
        {
            let n = y.len();
            // h1 = relu(x · w1 + b1)
            for row in h1[..n * h1n].chunks_exact_mut(h1n) {
                row.copy_from_slice(&self.b1);
            }
            // SAFETY: the pointers and strides describe row-major matrices inside their slices:
            // x is n×7, w1 7×h1n, h1 n×h1n.
            unsafe {
                matrixmultiply::sgemm(
                    n,
                    FEATURE_WIDTH,
                    h1n,
                    1.0,
                    x.as_ptr(),
                    FEATURE_WIDTH as isize,
                    1,
                    self.w1.as_ptr(),
                    h1n as isize,
                    1,
                    1.0,
                    h1.as_mut_ptr(),
                    h1n as isize,
                    1,
                );
            }
            for v in &mut h1[..n * h1n] {
                *v = v.max(0.0);
            }
            // h2 = relu(h1 · w2 + b2)
            for row in h2[..n * h2n].chunks_exact_mut(h2n) {
                row.copy_from_slice(&self.b2);
            }
            // SAFETY: the pointers and strides describe row-major matrices inside their slices:
            // h1 is n×h1n, w2 h1n×h2n, h2 n×h2n.
            unsafe {
                matrixmultiply::sgemm(
                    n,
                    h1n,
                    h2n,
                    1.0,
                    h1.as_ptr(),
                    h1n as isize,
                    1,
                    self.w2.as_ptr(),
                    h2n as isize,
                    1,
                    1.0,
                    h2.as_mut_ptr(),
                    h2n as isize,
                    1,
                );
            }
            // y = sigmoid(relu(h2) · w3 + b3)
            for (row, y) in h2[..n * h2n].chunks_exact(h2n).zip(y.iter_mut()) {
                let z = row
                    .iter()
                    .zip(&self.w3)
                    .fold(self.b3, |acc, (&h, &w)| acc + h.max(0.0) * w);
                *y = 1.0 / (1.0 + (-z).exp());
            }
        }
    }
}
