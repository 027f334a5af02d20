//! An isolation forest (Liu, Ting and Zhou, 2008) with scikit-learn's defaults: 100 trees, each
//! grown on 256 rows drawn without replacement to depth ⌈log₂ 256⌉ = 8, splitting on a feature
//! drawn at random (among those not constant in the node) at a threshold drawn uniformly
//! between its minimum and maximum there. An event's score is `2^(−E[h(x)] / c(ψ))`, where
//! `h(x)` is its path length (plus `c(n)` for the `n` training rows left in its leaf) and
//! `c(n) = 2(ln(n − 1) + γ) − 2(n − 1)/n` the mean path length of an unsuccessful search in a
//! binary search tree of `n` keys: near 1 for events isolated quickly, below 0.5 for ordinary
//! ones. Deterministic for a seed.
//!
//! Written here rather than taken from a crate: the Rust ones found (`extended-isolation-forest`,
//! `isolation_forest`, `isoforest`) either draw from an unseeded thread RNG or are unmaintained,
//! and this one is ~150 lines checked against scikit-learn (`tests/iforest.rs`).
//!
//! ```
//! use beth_detect::models::iforest::IsolationForestConfig;
//!
//! // Ordinary rows on a line, and one far away.
//! let rows: Vec<[f32; 7]> = (0..500).map(|i| [i as f32 / 500.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]).collect();
//! let forest = IsolationForestConfig::new().with_seed(7).fit(&rows)?;
//! let scores = forest.score(&[[0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [9.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0]]);
//! assert!(scores[0] < 0.5 && scores[1] > 0.6, "{scores:?}");
//! # Ok::<(), beth_detect::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::data::Rng;
use crate::error::{Error, Result};
use crate::features::FEATURE_WIDTH;

/// Euler–Mascheroni constant.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// The forest's knobs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IsolationForestConfig {
    /// Trees (scikit-learn: 100).
    pub trees: usize,
    /// Rows drawn for each tree (scikit-learn: 256, or all rows when fewer).
    pub max_samples: usize,
    /// Seed of the draws.
    pub seed: u64,
}

impl Default for IsolationForestConfig {
    fn default() -> Self {
        IsolationForestConfig {
            trees: 100,
            max_samples: 256,
            seed: 42,
        }
    }
}

/// One node of a tree, in a flat array: a split or a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Node {
    /// Rows with `x[feature] <= threshold` go to `left`, the others to `right`.
    Split {
        feature: u8,
        threshold: f32,
        left: u32,
        right: u32,
    },
    /// Training rows that reached it.
    Leaf { size: u32 },
}

/// A fitted forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolationForest {
    config: IsolationForestConfig,
    /// Rows each tree was grown on (ψ).
    samples: usize,
    trees: Vec<Vec<Node>>,
}

impl IsolationForestConfig {
    /// scikit-learn's defaults with seed 42.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the knobs.
    pub fn validate(&self) -> Result<()> {
        if self.trees == 0 || self.max_samples < 2 {
            return Err(Error::InvalidConfig {
                name: "isolation forest",
                expected: "at least 1 tree and at least 2 samples per tree",
                found: format!("{} trees, {} samples", self.trees, self.max_samples),
            });
        }
        Ok(())
    }

    /// Grows the forest on rows of (scaled) features; at least 2 rows.
    pub fn fit(&self, rows: &[[f32; FEATURE_WIDTH]]) -> Result<IsolationForest> {
        self.validate()?;
        if rows.len() < 2 {
            return Err(Error::InvalidConfig {
                name: "isolation forest training rows",
                expected: "at least 2",
                found: rows.len().to_string(),
            });
        }
        let samples = self.max_samples.min(rows.len());
        let max_depth = (samples as f64).log2().ceil() as usize;
        let mut rng = Rng::new(self.seed);
        let mut indices: Vec<usize> = (0..rows.len()).collect();
        let trees = (0..self.trees)
            .map(|_| {
                // A partial Fisher–Yates shuffle: the first `samples` are a draw without
                // replacement.
                for i in 0..samples {
                    let j = rng.range(i as u64, rows.len() as u64 - 1) as usize;
                    indices.swap(i, j);
                }
                let mut sample: Vec<usize> = indices[..samples].to_vec();
                let mut nodes = Vec::with_capacity(2 * samples);
                grow(rows, &mut sample, 0, max_depth, &mut rng, &mut nodes);
                nodes
            })
            .collect();
        Ok(IsolationForest {
            config: *self,
            samples,
            trees,
        })
    }
}

/// Grows the subtree of `rows[sample]` at `depth`, appending its nodes; returns its root.
fn grow(
    rows: &[[f32; FEATURE_WIDTH]],
    sample: &mut [usize],
    depth: usize,
    max_depth: usize,
    rng: &mut Rng,
    nodes: &mut Vec<Node>,
) -> u32 {
    let at = nodes.len() as u32;
    nodes.push(Node::Leaf {
        size: sample.len() as u32,
    });
    if depth >= max_depth || sample.len() <= 1 {
        return at;
    }
    // The features that vary in this node, in random order: the first is the draw.
    let mut features: Vec<(usize, f32, f32)> = (0..FEATURE_WIDTH)
        .filter_map(|f| {
            let (lo, hi) = sample
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &i| {
                    (lo.min(rows[i][f]), hi.max(rows[i][f]))
                });
            (lo < hi).then_some((f, lo, hi))
        })
        .collect();
    if features.is_empty() {
        return at;
    }
    let (feature, lo, hi) = features.swap_remove(rng.range(0, features.len() as u64 - 1) as usize);
    let mut threshold = lo + (hi - lo) * rng.unit() as f32;
    if threshold >= hi {
        // Rounding to f32 reached the maximum: keep at least one row on the right.
        threshold = lo;
    }
    // Partition: rows at or below the threshold first.
    let mut split = 0;
    for k in 0..sample.len() {
        if rows[sample[k]][feature] <= threshold {
            sample.swap(k, split);
            split += 1;
        }
    }
    let (left_rows, right_rows) = sample.split_at_mut(split);
    let left = grow(rows, left_rows, depth + 1, max_depth, rng, nodes);
    let right = grow(rows, right_rows, depth + 1, max_depth, rng, nodes);
    nodes[at as usize] = Node::Split {
        feature: feature as u8,
        threshold,
        left,
        right,
    };
    at
}

/// `c(n)`: the mean path length of an unsuccessful search among `n` keys (scikit-learn's
/// `_average_path_length`).
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        n => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

impl IsolationForest {
    /// The configuration it was grown with.
    pub fn config(&self) -> &IsolationForestConfig {
        &self.config
    }

    /// Anomaly scores in (0, 1] for rows of (scaled) features: higher is more unusual.
    pub fn score(&self, rows: &[[f32; FEATURE_WIDTH]]) -> Vec<f32> {
        let norm = average_path_length(self.samples);
        rows.iter()
            .map(|x| {
                let total: f64 = self.trees.iter().map(|tree| path_length(tree, x)).sum();
                let mean = total / self.trees.len() as f64;
                2f64.powf(-mean / norm) as f32
            })
            .collect()
    }
}

fn path_length(tree: &[Node], x: &[f32; FEATURE_WIDTH]) -> f64 {
    let mut node = 0usize;
    let mut depth = 0.0;
    loop {
        match tree[node] {
            Node::Split {
                feature,
                threshold,
                left,
                right,
            } => {
                node = if x[feature as usize] <= threshold {
                    left as usize
                } else {
                    right as usize
                };
                depth += 1.0;
            }
            Node::Leaf { size } => return depth + average_path_length(size as usize),
        }
    }
}
