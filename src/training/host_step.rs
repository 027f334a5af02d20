//! The training step of the notebook's network (one or several stacked) on the CPU backends:
//! the loss and every gradient computed by the host pass ([`crate::models::host::network`]),
//! handed to the Learner as burn's `GradientsParams`, with no autodiff graph.
//!
//! At batch 64 a training step of this network is tiny next to what burn's autodiff spends per
//! operation: every elementwise operation and matrix product records a graph node, allocates,
//! and hashes its gradients into maps on the way back (perf, flex, full-size synthetic splits:
//! graph bookkeeping, allocation and hashing outweighed the matrix products). burn-train's
//! `TrainOutput` carries `GradientsParams`, which `register` fills by parameter id, so this
//! step reads the parameters' values (`Tensor::inner`), computes, and registers each gradient:
//! the Learner, the optimiser and everything after the step are unchanged. On other backends
//! (wgpu) the step takes burn's tensor path: there, reading the parameters back every step
//! would cost more than it saves.

use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::backend::AutodiffBackend;

use super::batch::BethBatch;
use crate::backend::computes_on_host;
use crate::models::dropout;
use crate::models::ensemble::ThreatEnsemble;
use crate::models::host::{LossAndGradients, NetworkShape, loss_and_gradients};
use crate::models::mlp::f32_values;

/// Whether training on `B` takes the host step: burn's autodiff over a CPU backend (flex,
/// ndarray; [`computes_on_host`]).
pub fn engages<B: AutodiffBackend>() -> bool {
    computes_on_host::<B::InnerBackend>()
}

/// A network's parameters as the host step reads them.
#[derive(Debug, Clone)]
pub struct HostParameters {
    /// The networks' widths.
    pub shape: NetworkShape,
    /// Dropout probability after the first hidden layer.
    pub dropout: f64,
    /// `w1, b1, w2, b2, w3, b3`, each holding every member in
    /// [`NetworkShape::parameter_sizes`] layout.
    pub values: [Vec<f32>; 6],
}

/// The ensemble's parameters as the host step reads them (values read without touching the
/// autodiff graph).
pub fn parameters_of<B: AutodiffBackend>(ensemble: &ThreatEnsemble<B>) -> HostParameters {
    let [members, inputs, hidden1] = ensemble.w1.dims();
    HostParameters {
        shape: NetworkShape {
            members,
            inputs,
            hidden1,
            hidden2: ensemble.w2.dims()[2],
        },
        dropout: ensemble.dropout_probability(),
        values: ensemble
            .parameters()
            .map(|parameter| f32_values(parameter.val().inner())),
    }
}

/// The ensemble's step on `batch`: the loss (the mean over members), and the gradients of the
/// members' summed losses registered by parameter, as burn-train's `TrainOutput` takes them.
/// The dropout masks are those the tensor path would draw (same generator, same order).
pub fn step<B: AutodiffBackend>(
    ensemble: &ThreatEnsemble<B>,
    batch: &BethBatch<B>,
) -> (f32, GradientsParams) {
    let HostParameters {
        shape,
        dropout,
        values,
    } = parameters_of(ensemble);
    let rows = batch.features.dims()[0];
    let masks = (dropout > 0.0).then(|| {
        let elements = shape.members * rows * shape.hidden1;
        dropout::mask::<B>(elements, dropout, &batch.features.device())
    });
    let LossAndGradients { loss, gradients } = loss_and_gradients(
        shape,
        values.each_ref().map(Vec::as_slice),
        &f32_values(batch.features.clone().inner()),
        &f32_values(batch.targets.clone().inner()),
        batch.positive_weight as f32,
        masks.as_deref(),
    );
    let mut registered = GradientsParams::new();
    for (parameter, gradient) in ensemble.parameters().into_iter().zip(gradients) {
        let data = TensorData::new(gradient, parameter.shape());
        let tensor = Tensor::<B::InnerBackend, 3>::from_data(data, &parameter.device());
        registered.register(parameter.id, tensor);
    }
    (loss, registered)
}
