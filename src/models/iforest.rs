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
///
/// Serialised (the detector's `forest.json`, `beth-detect export`) as its configuration, ψ and
/// each tree's nodes in preorder (`{"feature", "threshold", "left", "right"}` or `{"size"}`);
/// a file whose nodes do not form trees of at most [`MAX_DEPTH`] levels is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ForestFile", into = "ForestFile")]
pub struct IsolationForest {
    config: IsolationForestConfig,
    /// Rows each tree was grown on (ψ).
    samples: usize,
    trees: Vec<Vec<Node>>,
    /// The trees as perfect binary trees, for scoring.
    compiled: CompiledForest,
}

/// Rows walked through a tree side by side when scoring.
const LANES: usize = 8;

/// The deepest tree a forest may hold (ψ up to 2²⁰ rows): bounds what a file can make us
/// allocate.
pub const MAX_DEPTH: usize = 20;
/// The most padded leaves (trees × 2^depth) a forest may hold: 16 Mi, 64 MiB of path lengths.
const MAX_LEAVES: u64 = 1 << 24;

#[derive(Serialize, Deserialize)]
struct ForestFile {
    config: IsolationForestConfig,
    samples: usize,
    trees: Vec<Vec<Node>>,
}

impl From<IsolationForest> for ForestFile {
    fn from(f: IsolationForest) -> Self {
        ForestFile {
            config: f.config,
            samples: f.samples,
            trees: f.trees,
        }
    }
}

impl TryFrom<ForestFile> for IsolationForest {
    type Error = String;
    fn try_from(file: ForestFile) -> std::result::Result<Self, String> {
        if file.trees.is_empty() || file.trees.len() != file.config.trees {
            return Err(format!(
                "expected {} trees (the config's), found {}",
                file.config.trees,
                file.trees.len()
            ));
        }
        if file.samples < 2 {
            return Err(format!(
                "expected ψ of at least 2 rows, found {}",
                file.samples
            ));
        }
        let mut depth = 0;
        for (t, tree) in file.trees.iter().enumerate() {
            depth = depth.max(check_tree(tree).map_err(|e| format!("tree {t}: {e}"))?);
        }
        if (file.trees.len() as u64) << depth > MAX_LEAVES {
            return Err(format!(
                "{} trees of depth {depth} would need more than {MAX_LEAVES} leaves",
                file.trees.len()
            ));
        }
        Ok(IsolationForest::new(file.config, file.samples, file.trees))
    }
}

/// Checks that `tree`'s nodes form one tree rooted at 0 (children after their parent, each
/// node reached once), splitting on real features, at most [`MAX_DEPTH`] deep; returns its
/// depth.
fn check_tree(tree: &[Node]) -> std::result::Result<usize, String> {
    if tree.is_empty() {
        return Err("no nodes".into());
    }
    let mut depth = vec![usize::MAX; tree.len()];
    depth[0] = 0;
    for (i, node) in tree.iter().enumerate() {
        if depth[i] == usize::MAX {
            return Err(format!("node {i} is not reached from the root"));
        }
        if let Node::Split {
            feature,
            threshold,
            left,
            right,
        } = *node
        {
            if feature as usize >= FEATURE_WIDTH || threshold.is_nan() {
                return Err(format!(
                    "node {i}: expected a feature below {FEATURE_WIDTH} and a threshold, found feature {feature}, threshold {threshold}"
                ));
            }
            for child in [left as usize, right as usize] {
                if child <= i || child >= tree.len() || depth[child] != usize::MAX {
                    return Err(format!(
                        "node {i}: child {child} is not a fresh node after it"
                    ));
                }
                depth[child] = depth[i] + 1;
                if depth[child] > MAX_DEPTH {
                    return Err(format!("deeper than {MAX_DEPTH} levels"));
                }
            }
        }
    }
    Ok(depth.into_iter().max().unwrap_or(0))
}

/// Trees padded to perfect binary trees of one depth `D`, laid out breadth first: node `i`'s
/// children are `2i + 1` and `2i + 2`, and every row takes exactly `D` steps, without a
/// data-dependent branch, to one of `2^D` leaves holding `h(x)`. A leaf above depth `D` becomes
/// a subtree of always-left splits whose leaves all hold its value.
#[derive(Debug, Clone, PartialEq)]
struct CompiledForest {
    depth: usize,
    /// Per tree, `2^D − 1` `(threshold, feature)` pairs.
    splits: Vec<(f32, u32)>,
    /// Per tree, `2^D` path lengths.
    leaves: Vec<f32>,
    /// `c(ψ)`.
    norm: f64,
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
        let leaves =
            (self.trees as u64).saturating_mul(self.max_samples.next_power_of_two() as u64);
        if self.trees == 0
            || self.max_samples < 2
            || self.max_samples > 1 << MAX_DEPTH
            || leaves > MAX_LEAVES
        {
            return Err(Error::InvalidConfig {
                name: "isolation forest",
                expected: "at least 1 tree, 2 to 2^20 samples per tree, trees × samples (rounded up to a power of 2) at most 2^24",
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
        Ok(IsolationForest::new(*self, samples, trees))
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
    fn new(config: IsolationForestConfig, samples: usize, trees: Vec<Vec<Node>>) -> Self {
        let compiled = CompiledForest::of(&trees, samples);
        IsolationForest {
            config,
            samples,
            trees,
            compiled,
        }
    }

    /// The configuration it was grown with.
    pub fn config(&self) -> &IsolationForestConfig {
        &self.config
    }

    /// Anomaly scores in (0, 1] for rows of (scaled) features: higher is more unusual.
    pub fn score(&self, rows: &[[f32; FEATURE_WIDTH]]) -> Vec<f32> {
        let mut out = vec![0.0; rows.len()];
        self.score_flat(rows.as_flattened(), &mut out);
        out
    }

    /// [`score`](Self::score) for row-major features (7 per row) into `out`, one per row.
    pub fn score_flat(&self, features: &[f32], out: &mut [f32]) {
        // Tiles of rows, trees outermost within a tile: one tree's few kilobytes stay in L1
        // while every row of the tile walks it, and the rows' walks are independent chains
        // the CPU overlaps.
        const TILE: usize = 256;
        let c = &self.compiled;
        let internal = (1usize << c.depth) - 1;
        let mut total = [0.0f32; TILE];
        for (x, y) in features
            .chunks(TILE * FEATURE_WIDTH)
            .zip(out.chunks_mut(TILE))
        {
            let n = y.len();
            total[..n].fill(0.0);
            for (splits, leaves) in c
                .splits
                .chunks_exact(internal.max(1))
                .zip(c.leaves.chunks_exact(internal + 1))
            {
                // LANES rows walk the tree in lockstep: each step of one row waits on two
                // loads (its node, then its feature), so independent rows side by side keep
                // the core busy while those loads land.
                let mut rows = x.chunks_exact(LANES * FEATURE_WIDTH);
                let mut totals = total[..n].chunks_exact_mut(LANES);
                for (group, t) in (&mut rows).zip(&mut totals) {
                    let mut i = [0usize; LANES];
                    for _ in 0..c.depth {
                        step(splits, group, &mut i);
                    }
                    for (t, i) in t.iter_mut().zip(i) {
                        *t += leaves[i - internal];
                    }
                }
                for (row, t) in rows
                    .remainder()
                    .chunks_exact(FEATURE_WIDTH)
                    .zip(totals.into_remainder())
                {
                    let mut i = [0usize];
                    for _ in 0..c.depth {
                        step(splits, row, &mut i);
                    }
                    *t += leaves[i[0] - internal];
                }
            }
            let scale = -1.0 / (c.norm * self.trees.len() as f64);
            for (y, &t) in y.iter_mut().zip(&total[..n]) {
                *y = (t as f64 * scale).exp2() as f32;
            }
        }
    }
}

/// One level down for each row of `rows` (row-major, 7 per row) at node `at[row]`: left
/// (2i + 1) when `x <= t`, else right — a NaN goes right, as in the trees.
#[inline(always)]
fn step<const N: usize>(splits: &[(f32, u32)], rows: &[f32], at: &mut [usize; N]) {
    for (lane, i) in at.iter_mut().enumerate() {
        let (threshold, feature) = splits[*i];
        let value = rows[lane * FEATURE_WIDTH + feature as usize];
        *i = 2 * *i + 2 - usize::from(value <= threshold);
    }
}

impl CompiledForest {
    fn of(trees: &[Vec<Node>], samples: usize) -> Self {
        let depth = trees.iter().map(|t| tree_depth(t, 0)).max().unwrap_or(0);
        let internal = (1usize << depth) - 1;
        let mut splits = vec![(f32::INFINITY, 0u32); internal.max(1) * trees.len()];
        let mut leaves = vec![0.0f32; (internal + 1) * trees.len()];
        for (t, tree) in trees.iter().enumerate() {
            let splits = &mut splits[t * internal.max(1)..][..internal.max(1)];
            let leaves = &mut leaves[t * (internal + 1)..][..internal + 1];
            place(tree, 0, 0, 0, depth, splits, leaves);
        }
        CompiledForest {
            depth,
            splits,
            leaves,
            norm: average_path_length(samples),
        }
    }
}

fn tree_depth(tree: &[Node], node: usize) -> usize {
    match tree[node] {
        Node::Split { left, right, .. } => {
            1 + tree_depth(tree, left as usize).max(tree_depth(tree, right as usize))
        }
        Node::Leaf { .. } => 0,
    }
}

/// Writes `tree`'s `node`, found at position `at` of level `level` in the perfect layout.
fn place(
    tree: &[Node],
    node: usize,
    at: usize,
    level: usize,
    depth: usize,
    splits: &mut [(f32, u32)],
    leaves: &mut [f32],
) {
    match tree[node] {
        Node::Split {
            feature,
            threshold,
            left,
            right,
        } => {
            splits[at] = (threshold, feature as u32);
            for (child, position) in [(left, 2 * at + 1), (right, 2 * at + 2)] {
                place(
                    tree,
                    child as usize,
                    position,
                    level + 1,
                    depth,
                    splits,
                    leaves,
                );
            }
        }
        Node::Leaf { size } => {
            // Every leaf of the padded subtree under `at` (its splits stay always-left).
            let value = (level as f64 + average_path_length(size as usize)) as f32;
            let below = depth - level;
            let first = ((at + 1) << below) - 1 - ((1usize << depth) - 1);
            leaves[first..first + (1 << below)].fill(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trees walked node by node, as the paper describes.
    fn walked(forest: &IsolationForest, x: &[f32; FEATURE_WIDTH]) -> f32 {
        let total: f64 = forest
            .trees
            .iter()
            .map(|tree| {
                let (mut node, mut depth) = (0usize, 0.0);
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
                        Node::Leaf { size } => break depth + average_path_length(size as usize),
                    }
                }
            })
            .sum();
        let mean = total / forest.trees.len() as f64;
        2f64.powf(-mean / average_path_length(forest.samples)) as f32
    }

    #[test]
    fn padded_trees_score_as_the_trees_walked() {
        let rows: Vec<[f32; FEATURE_WIDTH]> = (0..3003)
            .map(|i| {
                let t = i as f32;
                let far = if i % 97 == 0 { 40.0 } else { 0.0 };
                [
                    t.sin(),
                    (t * 0.3).cos() + far,
                    t % 5.0,
                    1.0,
                    0.0,
                    (t * 0.01).sin(),
                    -t / 3000.0,
                ]
            })
            .collect();
        for max_samples in [5, 256, 1000] {
            let forest = IsolationForestConfig {
                trees: 30,
                max_samples,
                seed: 9,
            }
            .fit(&rows)
            .unwrap();
            let fast = forest.score(&rows);
            for (x, s) in rows.iter().zip(fast) {
                assert!((walked(&forest, x) - s).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn broken_forest_files_are_refused() {
        let forest = IsolationForestConfig {
            trees: 2,
            max_samples: 8,
            seed: 1,
        }
        .fit(&[[0.0; 7], [1.0; 7], [2.0; 7], [3.0; 7]])
        .unwrap();
        let json = serde_json::to_string(&forest).unwrap();
        let back: IsolationForest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, forest);
        for (from, to) in [
            ("\"left\":1", "\"left\":0"),      // a cycle to the root
            ("\"feature\":", "\"feature\":9"), // no such feature
            ("\"trees\":2", "\"trees\":3"),    // fewer trees than the config says
        ] {
            let broken = json.replacen(from, to, 1);
            assert_ne!(broken, json, "{from}");
            assert!(
                serde_json::from_str::<IsolationForest>(&broken).is_err(),
                "{broken}"
            );
        }
    }
}
