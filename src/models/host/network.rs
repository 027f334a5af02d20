//! The notebook's network (one, or several stacked) on the host: its forward pass, written
//! once for scoring and for training, and its backward pass with the training loss.
//!
//! burn's tensor path ([`ThreatDetector::forward_logits`](crate::models::mlp::ThreatDetector),
//! [`ThreatEnsemble::mean_member_loss`](crate::models::ensemble::ThreatEnsemble) and
//! [`bce_with_logits`](crate::models::mlp::bce_with_logits)) is the definition; this is the
//! same arithmetic as a few loops and five small matrix products per network, because for a
//! network of 2,625 parameters burn's per-operation cost (a graph node, an allocation, a hash
//! map entry per gradient) outweighs the arithmetic on a CPU. The dropout masks are the same
//! masks from the same generator ([`crate::models::dropout::mask`]); only the order of float
//! additions inside the products differs from burn's. Tests pin the two together: the
//! training step's loss and gradients in `training::step`, the scores in
//! `tests/cpu_scorer.rs`.

use super::matrix::{Matrix, add_product, add_scaled, column_sums, dense};

/// Widths of the stacked networks: `members` networks of `inputs → hidden1 → hidden2 → 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkShape {
    /// Networks trained side by side.
    pub members: usize,
    /// Input width.
    pub inputs: usize,
    /// First hidden layer.
    pub hidden1: usize,
    /// Second hidden layer.
    pub hidden2: usize,
}

impl NetworkShape {
    /// Elements of each parameter over all members, in the order `w1, b1, w2, b2, w3, b3`
    /// (weights `[in, out]` row-major, member after member).
    pub fn parameter_sizes(&self) -> [usize; 6] {
        let n = self.members;
        [
            n * self.inputs * self.hidden1,
            n * self.hidden1,
            n * self.hidden1 * self.hidden2,
            n * self.hidden2,
            n * self.hidden2,
            n,
        ]
    }

    /// One member's shape.
    fn member(self) -> NetworkShape {
        NetworkShape { members: 1, ..self }
    }
}

/// One network's parameters, `w1, b1, w2, b2, w3, b3` (weights `[in, out]` row-major).
#[derive(Debug, Clone, Copy)]
pub struct HostNetwork<'a> {
    shape: NetworkShape,
    parameters: [&'a [f32]; 6],
}

impl<'a> HostNetwork<'a> {
    /// The network with these parameters, its widths read from their lengths.
    ///
    /// # Panics
    /// If the lengths are not those of an `inputs → b1.len() → b2.len() → 1` network.
    pub fn new(inputs: usize, parameters: [&'a [f32]; 6]) -> Self {
        let shape = NetworkShape {
            members: 1,
            inputs,
            hidden1: parameters[1].len(),
            hidden2: parameters[3].len(),
        };
        for (parameter, size) in parameters.iter().zip(shape.parameter_sizes()) {
            assert_eq!(parameter.len(), size, "parameter size");
        }
        HostNetwork { shape, parameters }
    }

    /// Its widths.
    pub fn shape(&self) -> NetworkShape {
        self.shape
    }

    /// The logits of `rows` rows of `x` (row-major) into `logits`, with `work` as scratch.
    pub fn logits(&self, x: &[f32], logits: &mut [f32], work: &mut Vec<f32>) {
        let rows = logits.len();
        let layers = Layers::take(self.shape, rows, work);
        self.hidden(x, None, layers.a1, layers.d1, layers.a2, layers.r2);
        let [_, _, _, _, w3, b3] = self.parameters;
        // The output layer summed from the bias on, as the scorer always has: the scores of
        // detectors saved before this pass was shared stay the same bits. (Training sums the
        // products first, `output_layer`, and its bytes stay the same too; the two orders
        // differ by at most a float step.)
        for (z, r2) in logits
            .iter_mut()
            .zip(layers.r2.chunks_exact(self.shape.hidden2))
        {
            *z = r2.iter().zip(w3).fold(b3[0], |acc, (&h, &w)| acc + h * w);
        }
    }

    /// The hidden layers: `a1 = x·w1 + b1`, `d1 = relu(a1) ∘ mask`, `a2 = d1·w2 + b2`,
    /// `r2 = relu(a2)`, for the rows `a1` holds.
    #[inline(always)]
    fn hidden(
        &self,
        x: &[f32],
        mask: Option<&[f32]>,
        a1: &mut [f32],
        d1: &mut [f32],
        a2: &mut [f32],
        r2: &mut [f32],
    ) {
        let [w1, b1, w2, b2, _, _] = self.parameters;
        let rows = a1.len() / self.shape.hidden1;
        dense(x, rows, w1, b1, a1);
        // Elementwise loops over whole slices with selects, not branches, so they vectorise:
        // a ReLU's sign is a coin flip that a branch would mispredict half the time.
        match mask {
            Some(mask) => {
                for ((d, &a), &keep) in d1.iter_mut().zip(a1.iter()).zip(mask) {
                    *d = a.max(0.0) * keep;
                }
            }
            None => {
                for (d, &a) in d1.iter_mut().zip(a1.iter()) {
                    *d = a.max(0.0);
                }
            }
        }
        dense(d1, rows, w2, b2, a2);
        for (r, &a) in r2.iter_mut().zip(a2.iter()) {
            *r = a.max(0.0);
        }
    }

    /// The output layer as training computes it: `z = r2·w3 + b3`, the products summed first.
    #[inline(always)]
    fn output_layer(&self, r2: &[f32], z: &mut [f32]) {
        let [_, _, _, _, w3, b3] = self.parameters;
        for (z, r2) in z.iter_mut().zip(r2.chunks_exact(self.shape.hidden2)) {
            *z = b3[0] + r2.iter().zip(w3).map(|(r, w)| r * w).sum::<f32>();
        }
    }
}

/// One forward pass's activations, and the backward pass's work, in one buffer.
struct Layers<'w> {
    a1: &'w mut [f32],
    d1: &'w mut [f32],
    a2: &'w mut [f32],
    r2: &'w mut [f32],
    /// Gradients of the loss in `a1`, `a2` and the logits.
    g1: &'w mut [f32],
    g2: &'w mut [f32],
    dz: &'w mut [f32],
}

impl<'w> Layers<'w> {
    /// The layers of `rows` rows of one member, carved from `work` (grown as needed).
    fn take(shape: NetworkShape, rows: usize, work: &'w mut Vec<f32>) -> Self {
        let (h1, h2) = (rows * shape.hidden1, rows * shape.hidden2);
        work.resize(3 * h1 + 3 * h2 + rows, 0.0);
        let (a1, rest) = work.split_at_mut(h1);
        let (d1, rest) = rest.split_at_mut(h1);
        let (g1, rest) = rest.split_at_mut(h1);
        let (a2, rest) = rest.split_at_mut(h2);
        let (r2, rest) = rest.split_at_mut(h2);
        let (g2, dz) = rest.split_at_mut(h2);
        Layers {
            a1,
            d1,
            a2,
            r2,
            g1,
            g2,
            dz,
        }
    }
}

/// The mean over members and rows of BCE-with-logits (positive rows weighted by
/// `positive_weight`), and the gradient of the members' summed losses.
#[derive(Debug, Clone)]
pub struct LossAndGradients {
    /// The loss, as the tensor path's `mean_member_loss` (or the single network's BCE).
    pub loss: f32,
    /// Gradients in the layout of the parameters (`w1, b1, w2, b2, w3, b3`): with respect to
    /// a member's parameters, that member's own mean loss's gradient.
    pub gradients: [Vec<f32>; 6],
}

/// The loss and its gradients for `shape.members` networks on one batch.
///
/// `parameters` are `w1, b1, w2, b2, w3, b3` in [`NetworkShape::parameter_sizes`] layout;
/// `features` is `[rows, inputs]` row-major, `targets` holds 0/1 per row, and `masks` is the
/// dropout mask after the first hidden layer, `[members, rows, hidden1]` (0 or `1 / (1 − p)`),
/// or `None` without dropout.
///
/// The gradients are those of the members' summed losses, computed as burn's tensor path
/// computes them: the gradient of the mean over members, times the number of members.
///
/// Members share nothing but the batch, so on large batches they run on the CPU's cores side
/// by side (rayon); each member's arithmetic is the same wherever it runs, so the values do
/// not depend on the cores or the schedule.
///
/// # Panics
/// If a slice's length does not match the shape.
pub fn loss_and_gradients(
    shape: NetworkShape,
    parameters: [&[f32]; 6],
    features: &[f32],
    targets: &[f32],
    positive_weight: f32,
    masks: Option<&[f32]>,
) -> LossAndGradients {
    let NetworkShape {
        members,
        inputs,
        hidden1: h1,
        ..
    } = shape;
    let rows = targets.len();
    for (parameter, size) in parameters.iter().zip(shape.parameter_sizes()) {
        assert_eq!(parameter.len(), size, "parameter size");
    }
    assert_eq!(features.len(), rows * inputs, "features");
    if let Some(masks) = masks {
        assert_eq!(masks.len(), members * rows * h1, "dropout masks");
    }
    let mut gradients = shape.parameter_sizes().map(|size| vec![0.0f32; size]);
    // Each member's share of every parameter, and of every gradient (its own to write).
    let share = shape.member().parameter_sizes();
    let mut gradient_parts = {
        let mut share = share.into_iter();
        gradients
            .each_mut()
            .map(|g| g.chunks_exact_mut(share.next().expect("six parameters")))
    };
    let jobs: Vec<Member<'_>> = (0..members)
        .map(|m| Member {
            network: HostNetwork {
                shape: shape.member(),
                parameters: std::array::from_fn(|i| &parameters[i][m * share[i]..][..share[i]]),
            },
            gradients: gradient_parts
                .each_mut()
                .map(|parts| parts.next().expect("a part per member")),
            mask: masks.map(|masks| &masks[m * rows * h1..][..rows * h1]),
        })
        .collect();
    let batch = Batch {
        features,
        targets,
        positive_weight,
        scale: 1.0 / (members * rows) as f32,
    };
    let member_loss = |member: Member<'_>| batch.member_loss(member);
    let losses: Vec<f32> = if members > 1 && members * rows >= ROWS_WORTH_A_CORE {
        use rayon::prelude::*;
        jobs.into_par_iter().map(member_loss).collect()
    } else {
        jobs.into_iter().map(member_loss).collect()
    };
    if members > 1 {
        // From the mean over members to their sum, as burn's backward pass of `n · mean`
        // scales the mean's gradient: the same float products, so the same trained bytes.
        let n = members as f32;
        for g in gradients.iter_mut().flatten() {
            *g *= n;
        }
    }
    LossAndGradients {
        loss: losses.into_iter().sum::<f32>() * batch.scale,
        gradients,
    }
}

/// Rows over all members from which members run on the cores side by side. Below it, handing
/// a member to another core (waking a sleeping thread, twice) costs more than it saves:
/// two members on flex, full-size synthetic splits, one epoch, best of three, rows/s serial
/// against side by side: batch 128 896 k / 654 k, 256 1,118 k / 975 k, 512 1,216 k / 1,288 k.
pub const ROWS_WORTH_A_CORE: usize = 1024;

/// One batch, as every member sees it.
#[derive(Clone, Copy)]
struct Batch<'a> {
    features: &'a [f32],
    targets: &'a [f32],
    positive_weight: f32,
    /// `1 / (members · rows)`: each member's share of the mean loss, per row.
    scale: f32,
}

/// One member's network, the parts of the gradients it owns (`w1, b1, w2, b2, w3, b3`), and
/// its dropout mask.
struct Member<'a> {
    network: HostNetwork<'a>,
    gradients: [&'a mut [f32]; 6],
    mask: Option<&'a [f32]>,
}

thread_local! {
    /// The member passes' work buffers on this thread, kept from step to step: at batch 1024
    /// they are a few hundred kilobytes, which the allocator would map and unmap every call.
    static WORKSPACE: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Batch<'_> {
    /// The member's summed loss over the batch (unscaled); its gradients (scaled) written
    /// into its parts.
    fn member_loss(&self, member: Member<'_>) -> f32 {
        let mut work = WORKSPACE.take();
        let loss = self.member_loss_with(member, &mut work);
        WORKSPACE.set(work);
        loss
    }

    fn member_loss_with(&self, member: Member<'_>, work: &mut Vec<f32>) -> f32 {
        // The loops compiled for the widest vectors the CPU has (checked at run time; the same
        // float operations in the same order on every path, so the same values). Everything
        // they run is inlined into these functions, so it is compiled with their features.
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F.
                return unsafe { member_loss_avx512(self, member, work) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                return unsafe { member_loss_avx2(self, member, work) };
            }
        }
        member_pass(self, member, work)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn member_loss_avx512(batch: &Batch<'_>, member: Member<'_>, work: &mut Vec<f32>) -> f32 {
    member_pass(batch, member, work)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn member_loss_avx2(batch: &Batch<'_>, member: Member<'_>, work: &mut Vec<f32>) -> f32 {
    member_pass(batch, member, work)
}

/// One member's forward pass, loss and backward pass.
#[inline(always)]
fn member_pass(batch: &Batch<'_>, member: Member<'_>, work: &mut Vec<f32>) -> f32 {
    let Batch {
        features,
        targets,
        positive_weight,
        scale,
    } = *batch;
    let Member {
        network,
        gradients: [gw1, gb1, gw2, gb2, gw3, gb3],
        mask,
    } = member;
    let NetworkShape {
        inputs,
        hidden1: h1,
        hidden2: h2,
        ..
    } = network.shape;
    let [_, _, w2, _, w3, _] = network.parameters;
    let rows = targets.len();
    let layers = Layers::take(network.shape, rows, work);
    let (a1, d1, a2, r2) = (layers.a1, layers.d1, layers.a2, layers.r2);
    let (g1, g2, dz) = (layers.g1, layers.g2, layers.dz);
    network.hidden(features, mask, a1, d1, a2, r2);
    network.output_layer(r2, dz);

    let mut loss_sum = 0.0f32;
    for (dz, &y) in dz.iter_mut().zip(targets) {
        let z = *dz;
        // softplus(z)·(1 + (w − 1)·y) − w·y·z, as `bce_with_logits`; its derivative in z is
        // σ(z)·(1 + (w − 1)·y) − w·y.
        let softplus = z.max(0.0) + (-z.abs()).exp().ln_1p();
        let (weight, pull) = if positive_weight == 1.0 {
            (1.0, y)
        } else {
            (y * (positive_weight - 1.0) + 1.0, y * positive_weight)
        };
        loss_sum += softplus * weight - z * pull;
        let sigmoid = 1.0 / (1.0 + (-z).exp());
        *dz = (sigmoid * weight - pull) * scale;
    }

    // Backward, layer by layer.
    gb3[0] = dz.iter().sum();
    for (((g2, a2), r2), &dz) in g2
        .chunks_exact_mut(h2)
        .zip(a2.chunks_exact(h2))
        .zip(r2.chunks_exact(h2))
        .zip(dz.iter())
    {
        add_scaled(gw3, dz, r2);
        for ((g, &a), &w) in g2.iter_mut().zip(a2).zip(w3) {
            *g = if a > 0.0 { dz * w } else { 0.0 };
        }
    }
    column_sums(g2, gb2);
    add_product(
        Matrix::transposed(d1, h1, rows),
        Matrix::rows(g2, rows, h2),
        gw2,
    );
    g1.fill(0.0);
    add_product(
        Matrix::rows(g2, rows, h2),
        Matrix::transposed(w2, h2, h1),
        g1,
    );
    // d(d1)/d(a1): the mask where the unit fired, else 0.
    match mask {
        Some(mask) => {
            for ((g, &a), &keep) in g1.iter_mut().zip(a1.iter()).zip(mask) {
                *g *= if a > 0.0 { keep } else { 0.0 };
            }
        }
        None => {
            for (g, &a) in g1.iter_mut().zip(a1.iter()) {
                *g *= if a > 0.0 { 1.0 } else { 0.0 };
            }
        }
    }
    column_sums(g1, gb1);
    add_product(
        Matrix::transposed(features, inputs, rows),
        Matrix::rows(g1, rows, h1),
        gw1,
    );
    loss_sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values in [-1, 1) from the crate's generator.
    fn values(count: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::data::Rng::new(seed);
        (0..count)
            .map(|_| (rng.unit() * 2.0 - 1.0) as f32)
            .collect()
    }

    /// Two members on a batch big enough to run them on two cores give each member exactly
    /// the gradients it gets alone, on one core: the sum's gradient in a member's parameters
    /// is that member's own.
    #[test]
    fn members_side_by_side_match_each_member_alone() {
        let rows = 600;
        let one = NetworkShape {
            members: 1,
            inputs: 7,
            hidden1: 64,
            hidden2: 32,
        };
        let two = NetworkShape { members: 2, ..one };
        assert!(
            two.members * rows >= ROWS_WORTH_A_CORE,
            "members run side by side"
        );
        let parameters: Vec<Vec<f32>> = (two.parameter_sizes().into_iter().enumerate())
            .map(|(i, size)| values(size, i as u64 + 1).iter().map(|v| v * 0.4).collect())
            .collect();
        let features = values(rows * 7, 99);
        let targets: Vec<f32> = (0..rows).map(|r| (r % 4 == 0) as u8 as f32).collect();
        let keep = (1.0f64 / 0.7) as f32;
        let masks: Vec<f32> = values(2 * rows * 64, 7)
            .iter()
            .map(|&v| if v < 0.4 { keep } else { 0.0 })
            .collect();
        let both = loss_and_gradients(
            two,
            std::array::from_fn(|i| parameters[i].as_slice()),
            &features,
            &targets,
            3.0,
            Some(&masks),
        );
        let mut losses = 0.0;
        for m in 0..2 {
            let sizes = one.parameter_sizes();
            let alone = loss_and_gradients(
                one,
                std::array::from_fn(|i| &parameters[i][m * sizes[i]..][..sizes[i]]),
                &features,
                &targets,
                3.0,
                Some(&masks[m * rows * 64..][..rows * 64]),
            );
            for (i, gradient) in alone.gradients.iter().enumerate() {
                let side_by_side = &both.gradients[i][m * sizes[i]..][..sizes[i]];
                // Halving, then doubling, a float is exact.
                assert_eq!(
                    side_by_side,
                    gradient.as_slice(),
                    "member {m}, parameter {i}"
                );
                assert!(gradient.iter().any(|&g| g != 0.0));
            }
            losses += alone.loss;
        }
        let mean = losses / 2.0;
        assert!(
            (both.loss - mean).abs() <= 1e-6 * mean,
            "{} vs {mean}",
            both.loss
        );
    }

    /// The forward pass by hand on a network small enough to follow: 2 → 2 → 1 → 1.
    #[test]
    fn logits_match_a_hand_computed_network() {
        // w1 = [[1, -1], [2, 0.5]], b1 = [0, 1]; w2 = [[1], [-2]], b2 = [0.5]; w3 = [[3]], b3 = [-1].
        let (w1, b1) = ([1.0, -1.0, 2.0, 0.5], [0.0, 1.0]);
        let (w2, b2, w3, b3) = ([1.0, -2.0], [0.5], [3.0], [-1.0]);
        let network = HostNetwork::new(2, [&w1, &b1, &w2, &b2, &w3, &b3]);
        // x = [1, 1]: a1 = [3, 0.5], a2 = 3 − 1 + 0.5 = 2.5, z = 7.5 − 1 = 6.5.
        // x = [-1, 0]: a1 = [-1, 2] → [0, 2], a2 = −4 + 0.5 = −3.5 → 0, z = −1.
        let mut z = [0.0; 2];
        network.logits(&[1.0, 1.0, -1.0, 0.0], &mut z, &mut Vec::new());
        assert_eq!(z, [6.5, -1.0]);
    }
}
