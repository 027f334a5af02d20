//! The optimiser the Learner steps: burn's Adam, with vanishing numbers set to zero.
//!
//! With weight decay (the default), a ReLU unit that stops firing gets no gradient but the
//! decay's `penalty · w`, and Adam's `m / (√v + ε)` turns that into a multiplicative shrink:
//! its weights and moments slide towards zero through ever smaller magnitudes for thousands of
//! steps. Products of those weights with small gradients land in the subnormal range (below
//! 1.2e-38), and x86 cores take a microcode assist on every subnormal operand. The default
//! detector's whole batch-64 job (`train --epochs 1`, full-size synthetic splits, flex) took
//! 12.6 s with decay against 7.1 s without, nearly all of the difference in the backward
//! pass's matrix products; flushing only true subnormals did not close it, flushing below
//! [`NEGLIGIBLE`] did (7.0 s with decay). A detector saved with subnormal weights also scored
//! about seventy times slower (see `scoring::cpu`).
//! Setting the CPU's flush-to-zero flag would be undefined behaviour in Rust; instead, every
//! [`FLUSH_EVERY`] steps, parameters and first moments smaller than [`NEGLIGIBLE`] and second
//! moments in the subnormal range are set to zero. None of these moves a pre-activation or an
//! Adam update by anything a float of its size can hold; the flush is a fixed step count, so
//! a seed still gives the same bytes; and the state is Adam's own, so checkpoints keep their
//! format.

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, AdamState, LearningRate, SimpleOptimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

/// Steps between flushes (flushing every step measured slower: the cost is the flush's
/// own tensor operations).
pub const FLUSH_EVERY: usize = 16;

/// Parameters and first moments below this are set to zero: a weight of 1e-20 moves a
/// pre-activation of scaled features (|x| well under 1e3) by less than 1e-17, and a first
/// moment of 1e-20 moves Adam's update (divided by at least ε = 1e-8) by less than 1e-12 of
/// the learning rate. Second moments are flushed only below the smallest normal `f32`: their
/// square root sits beside ε in the denominator.
pub const NEGLIGIBLE: f32 = 1e-20;

/// burn's Adam with vanishing parameters and moments set to zero every [`FLUSH_EVERY`] steps.
#[derive(Clone)]
pub struct FlushingAdam {
    adam: Adam,
}

impl FlushingAdam {
    /// The optimiser for a module, from Adam's settings (gradient clipping is not used).
    pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(
        config: &AdamConfig,
    ) -> OptimizerAdaptor<Self, M, B> {
        OptimizerAdaptor::from(FlushingAdam {
            adam: config.build(),
        })
    }
}

/// `tensor` with every entry smaller in magnitude than `floor` set to zero.
pub fn flush_below<B: Backend, const D: usize>(tensor: Tensor<B, D>, floor: f32) -> Tensor<B, D> {
    let negligible = tensor.clone().abs().lower_elem(floor);
    tensor.mask_fill(negligible, 0.0)
}

impl<B: Backend> SimpleOptimizer<B> for FlushingAdam {
    type State<const D: usize> = AdamState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let (tensor, state) = self.adam.step(lr, tensor, grad, state);
        match state {
            Some(mut state) if state.momentum.time % FLUSH_EVERY == 0 => {
                let momentum = &mut state.momentum;
                momentum.moment_1 = flush_below(momentum.moment_1.clone(), NEGLIGIBLE);
                momentum.moment_2 = flush_below(momentum.moment_2.clone(), f32::MIN_POSITIVE);
                (flush_below(tensor, NEGLIGIBLE), Some(state))
            }
            state => (tensor, state),
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        <Adam as SimpleOptimizer<B>>::to_device(state, device)
    }
}
