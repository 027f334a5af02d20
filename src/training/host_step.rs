//! The training loss of the notebook's network (one or several stacked), with its gradients,
//! computed in one pass on the host: one autodiff operation in place of about forty.
//!
//! At batch 64 a training step of this network is tiny next to what burn's autodiff spends per
//! operation: every elementwise operation and matrix product records a graph node, allocates,
//! and hashes its gradients into maps on the way back (perf, flex, full-size synthetic splits:
//! graph bookkeeping, allocation and hashing outweighed the matrix products). On the CPU
//! backends the forward pass, the loss and every parameter gradient are a few loops and five
//! small matrix products per network over host memory, done here in one call. burn's graph
//! sees one operation whose parents are the six parameter tensors; its backward pass scales
//! the gradients already computed by the incoming gradient of the loss. The Learner, the
//! optimiser and everything after the loss are unchanged.
//!
//! The arithmetic is the tensor path's ([`crate::models::mlp::ThreatDetector::forward_logits`],
//! [`crate::models::ensemble::ThreatEnsemble::mean_member_loss`] and
//! [`bce_with_logits`](crate::models::mlp::bce_with_logits)), and the dropout masks are the
//! same masks drawn from the same generator ([`crate::models::dropout::mask`]); only the order
//! of float additions inside the matrix products differs. Other backends (wgpu) keep the
//! tensor path: there, reading the parameters back every step would cost more than it saves.
//! burn has no public way to ask a generic `B: AutodiffBackend` for its graph nodes, so the
//! backend is recognised by type (`Autodiff<Flex>`, `Autodiff<NdArray>`) and its tensors are
//! taken as that type's; any other backend takes the tensor path.

use std::any::Any;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{CheckpointStrategy, NoCheckpointing};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{TensorData, TensorMetadata, TensorPrimitive};

use super::batch::BethBatch;
use crate::backend::{computes_on_host, same_type};
use crate::models::dropout;
use crate::models::mlp::f32_values;

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
}

/// The mean over members and rows of BCE-with-logits (positive rows weighted by
/// `positive_weight`), and its gradient with respect to each parameter.
#[derive(Debug, Clone)]
pub struct LossAndGradients {
    /// The loss, as the tensor path's `mean_member_loss` (or the single network's BCE).
    pub loss: f32,
    /// Gradients in the layout of the parameters (`w1, b1, w2, b2, w3, b3`).
    pub gradients: [Vec<f32>; 6],
}

/// The loss and its gradients for `shape.members` networks on one batch.
///
/// `parameters` are `w1, b1, w2, b2, w3, b3` in [`NetworkShape::parameter_sizes`] layout;
/// `features` is `[rows, inputs]` row-major, `targets` holds 0/1 per row, and `masks` is the
/// dropout mask after the first hidden layer, `[members, rows, hidden1]` (0 or `1 / (1 − p)`),
/// or `None` without dropout.
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
    let share = shape.parameter_sizes().map(|size| size / members);
    let mut gradient_parts = {
        let mut share = share.into_iter();
        gradients
            .each_mut()
            .map(|g| g.chunks_exact_mut(share.next().expect("six parameters")))
    };
    let jobs: Vec<Member<'_>> = (0..members)
        .map(|m| Member {
            parameters: std::array::from_fn(|i| &parameters[i][m * share[i]..][..share[i]]),
            gradients: gradient_parts
                .each_mut()
                .map(|parts| parts.next().expect("a part per member")),
            mask: masks.map(|masks| &masks[m * rows * h1..][..rows * h1]),
        })
        .collect();
    let batch = Batch {
        shape,
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
    LossAndGradients {
        loss: losses.into_iter().sum::<f32>() * batch.scale,
        gradients,
    }
}

/// Rows over all members from which members run on the cores side by side. Below it, handing
/// a member to another core (waking a sleeping thread, twice) costs more than it saves:
/// two members on flex, full-size synthetic splits, one epoch, best of three, rows/s serial
/// against side by side: batch 128 896 k / 654 k, 256 1,118 k / 975 k, 512 1,216 k / 1,288 k.
const ROWS_WORTH_A_CORE: usize = 1024;

/// One batch, as every member sees it.
#[derive(Clone, Copy)]
struct Batch<'a> {
    shape: NetworkShape,
    features: &'a [f32],
    targets: &'a [f32],
    positive_weight: f32,
    /// `1 / (members · rows)`: each member's share of the mean loss, per row.
    scale: f32,
}

/// One member's parameters and the parts of the gradients it owns (`w1, b1, w2, b2, w3, b3`,
/// as [`loss_and_gradients`] takes them), and its dropout mask.
struct Member<'a> {
    parameters: [&'a [f32]; 6],
    gradients: [&'a mut [f32]; 6],
    mask: Option<&'a [f32]>,
}

impl Batch<'_> {
    /// The member's summed loss over the batch (unscaled); its gradients (scaled) written
    /// into its parts.
    fn member_loss(&self, member: Member<'_>) -> f32 {
        // The loops below compiled for the widest vectors the CPU has (checked at run time;
        // the same float operations in the same order on every path, so the same values).
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F.
                return unsafe { with_avx512(self, member) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                return unsafe { with_avx2(self, member) };
            }
        }
        compute(self, member)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn with_avx512(batch: &Batch<'_>, member: Member<'_>) -> f32 {
    compute(batch, member)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn with_avx2(batch: &Batch<'_>, member: Member<'_>) -> f32 {
    compute(batch, member)
}

#[inline(always)]
fn compute(batch: &Batch<'_>, member: Member<'_>) -> f32 {
    let Batch {
        shape:
            NetworkShape {
                inputs,
                hidden1: h1,
                hidden2: h2,
                ..
            },
        features,
        targets,
        positive_weight,
        scale,
    } = *batch;
    let rows = targets.len();
    let Member {
        parameters: [w1, b1, w2, b2, w3, b3],
        gradients: [gw1, gb1, gw2, gb2, gw3, gb3],
        mask,
    } = member;
    let b3 = b3[0];
    let no_mask;
    let mask = match mask {
        Some(mask) => mask,
        None => {
            no_mask = vec![1.0f32; rows * h1];
            &no_mask
        }
    };
    let mut loss_sum = 0.0f32;
    // Work buffers, kept by each thread from step to step: at batch 1024 they are a few hundred
    // kilobytes, which the allocator maps and unmaps on every call. Every elementwise loop
    // below runs over whole slices with selects, not branches, so it vectorises: a ReLU's
    // sign is a coin flip that a branch would mispredict half the time.
    WORKSPACE.with_borrow_mut(|workspace| {
        workspace.resize(4 * rows * h1 + 3 * rows * h2 + rows, 0.0);
        let (a1, rest) = workspace.split_at_mut(rows * h1);
        // d(d1)/d(a1): the mask where the unit fired, else 0.
        let (f1, rest) = rest.split_at_mut(rows * h1);
        let (d1, rest) = rest.split_at_mut(rows * h1);
        let (g1, rest) = rest.split_at_mut(rows * h1);
        let (a2, rest) = rest.split_at_mut(rows * h2);
        let (r2, rest) = rest.split_at_mut(rows * h2);
        let (g2, dz) = rest.split_at_mut(rows * h2);
        // Forward: a1 = x·w1 + b1, d1 = relu(a1) ∘ mask, a2 = d1·w2 + b2, r2 = relu(a2),
        // z = r2·w3 + b3.
        fill_rows(a1, b1);
        let x = rows_of(features, inputs);
        product(rows, inputs, h1, x, rows_of(w1, h1), a1);
        for (((f, d), &a), &keep) in f1.iter_mut().zip(d1.iter_mut()).zip(a1.iter()).zip(mask) {
            *f = if a > 0.0 { keep } else { 0.0 };
            *d = a.max(0.0) * keep;
        }
        fill_rows(a2, b2);
        product(rows, h1, h2, rows_of(d1, h1), rows_of(w2, h2), a2);
        for (r, &a) in r2.iter_mut().zip(a2.iter()) {
            *r = a.max(0.0);
        }
        for ((dz, r2), &y) in dz.iter_mut().zip(r2.chunks_exact(h2)).zip(targets) {
            let z = b3 + r2.iter().zip(w3).map(|(r, w)| r * w).sum::<f32>();
            // softplus(z)·(1 + (w − 1)·y) − w·y·z, as `bce_with_logits`; its derivative in z
            // is σ(z)·(1 + (w − 1)·y) − w·y.
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
        column_sums(g2, h2, gb2);
        product(h1, rows, h2, columns_of(d1, h1), rows_of(g2, h2), gw2);
        g1.fill(0.0);
        product(rows, h2, h1, rows_of(g2, h2), columns_of(w2, h2), g1);
        for (g, &f) in g1.iter_mut().zip(f1.iter()) {
            *g *= f;
        }
        column_sums(g1, h1, gb1);
        let x = columns_of(features, inputs);
        product(inputs, rows, h1, x, rows_of(g1, h1), gw1);
    });
    loss_sum
}

thread_local! {
    /// [`compute`]'s work buffers on this thread.
    static WORKSPACE: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A matrix in a slice: `(values, row stride, column stride)`.
type Matrix<'a> = (&'a [f32], usize, usize);

/// `values` read as a row-major matrix with `width` columns.
fn rows_of(values: &[f32], width: usize) -> Matrix<'_> {
    (values, width, 1)
}

/// The transpose of `values` read as a row-major matrix with `width` columns.
fn columns_of(values: &[f32], width: usize) -> Matrix<'_> {
    (values, 1, width)
}

/// `out[m×n] += a[m×k] · b[k×n]`, `out` row-major.
fn product(m: usize, k: usize, n: usize, a: Matrix<'_>, b: Matrix<'_>, out: &mut [f32]) {
    let last = |(values, rs, cs): Matrix<'_>, r: usize, c: usize| {
        assert!((r - 1) * rs + (c - 1) * cs < values.len(), "matrix bounds");
    };
    if m == 0 || k == 0 || n == 0 {
        return;
    }
    last(a, m, k);
    last(b, k, n);
    assert!(out.len() >= m * n, "matrix bounds");
    // SAFETY: the asserts above keep every index sgemm reads or writes inside its slice.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.0.as_ptr(),
            a.1 as isize,
            a.2 as isize,
            b.0.as_ptr(),
            b.1 as isize,
            b.2 as isize,
            1.0,
            out.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// `out += scale · values`.
#[inline(always)]
fn add_scaled(out: &mut [f32], scale: f32, values: &[f32]) {
    for (o, &v) in out.iter_mut().zip(values) {
        *o += scale * v;
    }
}

/// Every row of `matrix` set to `row`.
#[inline(always)]
fn fill_rows(matrix: &mut [f32], row: &[f32]) {
    for chunk in matrix.chunks_exact_mut(row.len()) {
        chunk.copy_from_slice(row);
    }
}

/// `sums[j] = Σ_r matrix[r][j]`.
#[inline(always)]
fn column_sums(matrix: &[f32], width: usize, sums: &mut [f32]) {
    sums.fill(0.0);
    for row in matrix.chunks_exact(width) {
        for (s, v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
}

/// Whether [`training_loss`] runs on `B`: burn's autodiff over a CPU backend
/// ([`computes_on_host`]).
fn runs_on<B: AutodiffBackend>() -> bool {
    computes_on_host::<B::InnerBackend>() && same_type::<B, Autodiff<B::InnerBackend>>()
}

/// A network's parameters as the host step reads them.
pub struct HostParameters<B: Backend> {
    /// The networks' widths.
    pub shape: NetworkShape,
    /// Dropout probability after the first hidden layer.
    pub dropout: f64,
    /// `w1, b1, w2, b2, w3, b3`, each holding every member in
    /// [`NetworkShape::parameter_sizes`] layout (any rank).
    pub tensors: [FloatTensor<B>; 6],
}

/// The training loss of the networks on `batch`, as one autodiff operation computed on the
/// host; `None` unless [`runs_on::<B>`](runs_on).
pub fn training_loss<B: AutodiffBackend>(
    parameters: HostParameters<B>,
    batch: &BethBatch<B>,
) -> Option<Tensor<B, 1>> {
    runs_on::<B>().then(|| training_loss_on::<B, B::InnerBackend>(parameters, batch))
}

/// [`training_loss`] when `B` is `Autodiff<I>`.
fn training_loss_on<B: AutodiffBackend, I: Backend>(
    parameters: HostParameters<B>,
    batch: &BethBatch<B>,
) -> Tensor<B, 1> {
    let HostParameters {
        shape,
        dropout,
        tensors,
    } = parameters;
    let rows = batch.features.dims()[0];
    // The masks the tensor path would draw, from the same generator, in the same order.
    let masks = (dropout > 0.0).then(|| {
        let elements = shape.members * rows * shape.hidden1;
        dropout::mask::<B>(elements, dropout, &batch.features.device())
    });
    let features = f32_values(batch.features.clone());
    let targets = f32_values(batch.targets.clone());
    let tensors =
        tensors.map(|p| cast::<_, FloatTensor<Autodiff<I>>>(p).expect("B is Autodiff<I>"));
    let loss = host_loss::<I, NoCheckpointing>(
        shape,
        tensors,
        &features,
        &targets,
        batch.positive_weight as f32,
        masks.as_deref(),
    );
    let loss: FloatTensor<B> = cast(loss).expect("B is Autodiff<I>");
    Tensor::from_primitive(TensorPrimitive::Float(loss))
}

/// `value` as a `U`, when `T` is `U`.
fn cast<T: 'static, U: 'static>(value: T) -> Option<U> {
    (Box::new(value) as Box<dyn Any>)
        .downcast::<U>()
        .ok()
        .map(|boxed| *boxed)
}

/// The autodiff operation: parents are the six parameters; the state is their gradients.
#[derive(Debug)]
struct HostLoss;

/// Each parameter's gradient with its shape.
type GradientState = [(Vec<f32>, burn::tensor::Shape); 6];

impl<I: Backend> Backward<I, 6> for HostLoss {
    type State = GradientState;

    fn backward(self, ops: Ops<GradientState, 6>, grads: &mut Gradients, _: &mut Checkpointer) {
        let upstream = grads.consume::<I>(&ops.node);
        let device = I::float_device(&upstream);
        let upstream = f32_values(Tensor::<I, 1>::from_primitive(TensorPrimitive::Float(
            upstream,
        )))[0];
        for (parent, (gradient, shape)) in ops.parents.into_iter().zip(ops.state) {
            let Some(parent) = parent else { continue };
            let scaled: Vec<f32> = gradient.into_iter().map(|g| g * upstream).collect();
            let tensor = I::float_from_data(TensorData::new(scaled, shape), &device);
            grads.register::<I>(parent.id, tensor);
        }
    }
}

/// Runs [`loss_and_gradients`] on the parameters' host values and records it as one operation.
fn host_loss<I: Backend, C: CheckpointStrategy>(
    shape: NetworkShape,
    parameters: [FloatTensor<Autodiff<I, C>>; 6],
    features: &[f32],
    targets: &[f32],
    positive_weight: f32,
    masks: Option<&[f32]>,
) -> FloatTensor<Autodiff<I, C>> {
    let device = I::float_device(&parameters[0].primitive);
    let shapes = parameters.each_ref().map(|p| p.primitive.shape());
    let values = parameters.each_ref().map(|p| {
        let flat = I::float_reshape(
            p.primitive.clone(),
            [p.primitive.shape().num_elements()].into(),
        );
        f32_values(Tensor::<I, 1>::from_primitive(TensorPrimitive::Float(flat)))
    });
    let result = loss_and_gradients(
        shape,
        values.each_ref().map(Vec::as_slice),
        features,
        targets,
        positive_weight,
        masks,
    );
    let loss = I::float_from_data(TensorData::new(vec![result.loss], [1]), &device);
    let nodes = parameters.map(|p| p.node);
    match HostLoss.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let mut gradients = result.gradients.into_iter();
            let state = shapes.map(|shape| (gradients.next().expect("six gradients"), shape));
            prep.finish(state, loss)
        }
        OpsKind::UnTracked(prep) => prep.finish(loss),
    }
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
    /// the gradients it gets alone, on one core, halved: the mean is over both members, and
    /// halving a float is exact.
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
                let halved: Vec<f32> = gradient.iter().map(|g| g * 0.5).collect();
                assert_eq!(side_by_side, halved.as_slice(), "member {m}, parameter {i}");
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
}
