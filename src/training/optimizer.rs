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
//! [`FLUSH_EVERY`] steps, parameters smaller than [`NEGLIGIBLE_WEIGHT`], first moments smaller
//! than [`NEGLIGIBLE`] and second moments in the subnormal range are set to zero. None of these
//! moves a pre-activation or an Adam update by anything a float of its size can hold; the
//! flush is a fixed step count, so a seed still gives the same bytes; and the state is Adam's
//! own, so checkpoints keep their format.
//!
//! The parameters' floor is higher than the moments' because the host training step
//! (`training::host_step`) multiplies weights by weights on the way back (the gradient reaching
//! the first layer passes through the second and third): two weights of 1e-20 make a
//! subnormal, two of 1e-15 do not. Raising it took a batch-64 step of one network from about
//! 68 to 60 µs (flex, `examples`-style loop, best of five).

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, SimpleOptimizer,
};
use burn::prelude::*;
use burn::record::{PrecisionSettings, Record};
use burn::tensor::TensorData;
use burn::tensor::backend::AutodiffBackend;

use crate::backend::computes_on_host;
use crate::models::mlp::f32_values;

/// Steps between flushes (flushing every step measured slower on the tensor path: the cost
/// is the flush's own tensor operations).
pub const FLUSH_EVERY: usize = 16;

/// First moments below this are set to zero: a first moment of 1e-20 moves Adam's update
/// (divided by at least ε = 1e-8) by less than 1e-12 of the learning rate. Second moments are
/// flushed only below the smallest normal `f32`: their square root sits beside ε in the
/// denominator.
pub const NEGLIGIBLE: f32 = 1e-20;

/// Parameters below this are set to zero: a weight of 1e-15 moves a pre-activation of scaled
/// features (|x| well under 1e3) by less than 1e-12, below a float's resolution at any
/// pre-activation above 1e-4, and weight decay is pulling it to zero anyway.
pub const NEGLIGIBLE_WEIGHT: f32 = 1e-15;

/// Adam's settings, readable (burn's `AdamConfig` keeps them private).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamSettings {
    /// Decay of the first moment.
    pub beta_1: f32,
    /// Decay of the second moment.
    pub beta_2: f32,
    /// Added to the second moment's square root.
    pub epsilon: f32,
    /// L2 penalty added to the gradient (`penalty · w`), if any.
    pub weight_decay: Option<f32>,
}

impl AdamSettings {
    /// burn's configuration of the same Adam.
    pub fn config(&self) -> AdamConfig {
        AdamConfig::new()
            .with_beta_1(self.beta_1)
            .with_beta_2(self.beta_2)
            .with_epsilon(self.epsilon)
            .with_weight_decay(self.weight_decay.map(WeightDecayConfig::new))
    }
}

/// burn's Adam with vanishing parameters and moments set to zero every [`FLUSH_EVERY`] steps.
///
/// On the CPU backends ([`computes_on_host`]) a step is one loop over the parameter's values
/// in host memory, with burn's arithmetic in burn's order (the same values, bit for bit, but
/// for a squared gradient too small to matter, taken as zero):
/// burn's Adam spends about fifteen tensor operations per parameter per step, each dearer
/// than the loop for tensors this small. Elsewhere it is burn's Adam.
#[derive(Clone)]
pub struct FlushingAdam {
    adam: Adam,
    settings: AdamSettings,
}

impl FlushingAdam {
    /// The optimiser for a module (gradient clipping is not used).
    pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(
        settings: AdamSettings,
    ) -> OptimizerAdaptor<Self, M, B> {
        OptimizerAdaptor::from(FlushingAdam {
            adam: settings.config().build(),
            settings,
        })
    }

    /// One step through burn's tensor operations.
    fn step_with_tensors<B: Backend, const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<AdamState<B, D>>,
    ) -> (Tensor<B, D>, Option<AdamState<B, D>>) {
        let (tensor, state) = self.adam.step(lr, tensor, grad, state);
        match state {
            Some(mut state) if state.momentum.time % FLUSH_EVERY == 0 => {
                let momentum = &mut state.momentum;
                momentum.moment_1 = flush_below(momentum.moment_1.clone(), NEGLIGIBLE);
                momentum.moment_2 = flush_below(momentum.moment_2.clone(), f32::MIN_POSITIVE);
                (flush_below(tensor, NEGLIGIBLE_WEIGHT), Some(state))
            }
            state => (tensor, state),
        }
    }

    /// The same step as [`step_with_tensors`](Self::step_with_tensors), in one loop over host
    /// values.
    fn step_on_host<B: Backend, const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<HostMoments>,
    ) -> (Tensor<B, D>, HostMoments) {
        let AdamSettings {
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
        } = self.settings;
        let device = tensor.device();
        let shape = tensor.shape();
        let mut values = f32_values(tensor);
        let mut grad = f32_values(grad);
        // As burn's `WeightDecay::transform`, `AdaptiveMomentum::transform` and `Adam::step`,
        // operation for operation (but one, below); each pass a plain loop over slices, so
        // that it vectorises.
        if let Some(penalty) = weight_decay {
            for (g, &w) in grad.iter_mut().zip(&values) {
                *g += w * penalty;
            }
        }
        let (keep_1, keep_2) = (1.0 - beta_1, 1.0 - beta_2);
        // The one departure from burn's arithmetic: a squared gradient whose share of the
        // second moment would be subnormal counts as zero, as a CPU in flush-to-zero mode
        // takes it (a vanishing weight's decay gradient squares into that range every step;
        // the microcode assists cost a quarter of the optimiser's time).
        let square_floor = (f32::MIN_POSITIVE / keep_2).sqrt();
        let square = |g: f32| if g.abs() < square_floor { 0.0 } else { g * g };
        let (time, mut moment_1, mut moment_2) = match state {
            Some(HostMoments {
                time,
                mut moment_1,
                mut moment_2,
            }) => {
                for ((m1, m2), &g) in moment_1.iter_mut().zip(&mut moment_2).zip(&grad) {
                    *m1 = *m1 * beta_1 + g * keep_1;
                    *m2 = *m2 * beta_2 + square(g) * keep_2;
                }
                (time + 1, moment_1, moment_2)
            }
            None => {
                let moment_1: Vec<f32> = grad.iter().map(|&g| g * keep_1).collect();
                let moment_2: Vec<f32> = grad.iter().map(|&g| square(g) * keep_2).collect();
                (1, moment_1, moment_2)
            }
        };
        let correction_2 = (1.0 - beta_2.powi(time as i32)).sqrt();
        let combined = correction_2 / (1.0 - beta_1.powi(time as i32));
        let floor = epsilon * correction_2;
        let lr = lr as f32;
        for ((w, &m1), &m2) in values.iter_mut().zip(&moment_1).zip(&moment_2) {
            *w -= m1 * combined / (m2.sqrt() + floor) * lr;
        }
        if time % FLUSH_EVERY == 0 {
            for m1 in &mut moment_1 {
                *m1 = flushed(*m1, NEGLIGIBLE);
            }
            for m2 in &mut moment_2 {
                *m2 = flushed(*m2, f32::MIN_POSITIVE);
            }
            for w in &mut values {
                *w = flushed(*w, NEGLIGIBLE_WEIGHT);
            }
        }
        let tensor = Tensor::from_data(TensorData::new(values, shape), &device);
        let moments = HostMoments {
            time,
            moment_1,
            moment_2,
        };
        (tensor, moments)
    }
}

/// Adam's state for one parameter: burn's tensors on the tensor path; on the host path the
/// moments stay in host memory from step to step (reading them back and rebuilding them as
/// tensors every step was a third of the optimiser's time). Either saves as burn's
/// `AdamState`, so checkpoints keep their format.
#[derive(Clone)]
pub enum FlushingAdamState<B: Backend, const D: usize> {
    /// burn's state, as the tensor path (and a loaded checkpoint) has it.
    Tensors(AdamState<B, D>),
    /// The host path's moments, with the parameter's shape and device for saving.
    Host(HostMoments, Shape, B::Device),
}

/// Adam's step count and moments, in host memory.
#[derive(Debug, Clone)]
pub struct HostMoments {
    time: usize,
    moment_1: Vec<f32>,
    moment_2: Vec<f32>,
}

impl<B: Backend, const D: usize> FlushingAdamState<B, D> {
    /// burn's state.
    fn into_tensors(self) -> AdamState<B, D> {
        match self {
            FlushingAdamState::Tensors(state) => state,
            FlushingAdamState::Host(moments, shape, device) => {
                let tensor = |values: Vec<f32>| {
                    Tensor::from_data(TensorData::new(values, shape.clone()), &device)
                };
                let (m1, m2) = (tensor(moments.moment_1), tensor(moments.moment_2));
                AdamState::new(AdaptiveMomentumState::new(moments.time, m1, m2))
            }
        }
    }

    /// The moments in host memory.
    fn into_host(self) -> HostMoments {
        match self {
            FlushingAdamState::Host(moments, ..) => moments,
            FlushingAdamState::Tensors(state) => HostMoments {
                time: state.momentum.time,
                moment_1: f32_values(state.momentum.moment_1),
                moment_2: f32_values(state.momentum.moment_2),
            },
        }
    }
}

impl<B: Backend, const D: usize> Record<B> for FlushingAdamState<B, D> {
    type Item<S: PrecisionSettings> = <AdamState<B, D> as Record<B>>::Item<S>;

    fn into_item<S: PrecisionSettings>(self) -> Self::Item<S> {
        self.into_tensors().into_item()
    }

    fn from_item<S: PrecisionSettings>(item: Self::Item<S>, device: &B::Device) -> Self {
        FlushingAdamState::Tensors(AdamState::from_item(item, device))
    }
}

/// `tensor` with every entry smaller in magnitude than `floor` set to zero.
pub fn flush_below<B: Backend, const D: usize>(tensor: Tensor<B, D>, floor: f32) -> Tensor<B, D> {
    let negligible = tensor.clone().abs().lower_elem(floor);
    tensor.mask_fill(negligible, 0.0)
}

/// `value`, or zero if it is smaller in magnitude than `floor`.
fn flushed(value: f32, floor: f32) -> f32 {
    if value.abs() < floor { 0.0 } else { value }
}

impl<B: Backend> SimpleOptimizer<B> for FlushingAdam {
    type State<const D: usize> = FlushingAdamState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        if computes_on_host::<B>() {
            let (shape, device) = (tensor.shape(), tensor.device());
            let state = state.map(FlushingAdamState::into_host);
            let (tensor, moments) = self.step_on_host(lr, tensor, grad, state);
            (
                tensor,
                Some(FlushingAdamState::Host(moments, shape, device)),
            )
        } else {
            let state = state.map(FlushingAdamState::into_tensors);
            let (tensor, state) = self.step_with_tensors(lr, tensor, grad, state);
            (tensor, state.map(FlushingAdamState::Tensors))
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        match state {
            FlushingAdamState::Host(moments, shape, _) => {
                FlushingAdamState::Host(moments, shape, device.clone())
            }
            FlushingAdamState::Tensors(state) => {
                FlushingAdamState::Tensors(<Adam as SimpleOptimizer<B>>::to_device(state, device))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    fn values<const D: usize>(t: Tensor<NdArray, D>) -> Vec<f32> {
        t.into_data().into_vec::<f32>().unwrap()
    }

    /// `steps` steps of the host loop and of the tensor path (burn's Adam, weight decay on)
    /// from the same sixty values with gradient `grad(step, i)`: each side's parameters, first
    /// and second moments.
    fn both(start: &[f32], steps: usize, grad: impl Fn(usize, usize) -> f32) -> [[Vec<f32>; 3]; 2] {
        let device = Default::default();
        let settings = AdamSettings {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            weight_decay: Some(1e-2),
        };
        let adam = FlushingAdam {
            adam: settings.config().build(),
            settings,
        };
        let param =
            || Tensor::<NdArray, 2>::from_data(TensorData::new(start.to_vec(), [6, 10]), &device);
        let (mut a, mut b) = (param(), param());
        let (mut state_a, mut state_b) = (None, None);
        for step in 0..steps {
            let g: Vec<f32> = (0..60).map(|i| grad(step, i)).collect();
            let g = Tensor::<NdArray, 2>::from_data(TensorData::new(g, [6, 10]), &device);
            (a, state_a) = adam.step_with_tensors(1e-3, a, g.clone(), state_a);
            let moments;
            (b, moments) = adam.step_on_host(1e-3, b, g, state_b);
            state_b = Some(moments);
        }
        let (sa, sb) = (state_a.unwrap().momentum, state_b.unwrap());
        assert_eq!((sa.time, sb.time), (steps, steps));
        [
            [values(a), values(sa.moment_1), values(sa.moment_2)],
            [values(b), sb.moment_1, sb.moment_2],
        ]
    }

    /// Away from the floors the host loop is burn's Adam, value for value.
    #[test]
    fn the_host_step_is_burns_adam_bit_for_bit_on_ordinary_values() {
        let start: Vec<f32> = (0..60).map(|i| (i as f32 - 29.5) / 30.0).collect();
        let [burn, host] = both(&start, 40, |step, i| ((i * 7 + step) % 11) as f32 - 5.5);
        assert_eq!(burn, host);
    }

    /// Values from 1 down to 1e-29, half of them pulled by weight decay alone (a dead unit's),
    /// one step: parameters and first moments are burn's bit for bit; second moments too,
    /// except where burn's holds a subnormal number (decay gradients of weights between about
    /// 1e-19 and 3e-16 square into that range), which the host's squared-gradient floor leaves
    /// at zero.
    #[test]
    fn the_host_step_keeps_squared_vanishing_gradients_out_of_the_subnormal_range() {
        let start: Vec<f32> = (0..60)
            .map(|i| (-1.0f32).powi(i) * 10f32.powi(-(i / 2)))
            .collect();
        let [burn, host] = both(&start, 1, |step, i| match i % 2 {
            0 => 0.0,
            _ => ((i * 7 + step) % 11) as f32 - 5.0,
        });
        assert_eq!(burn[..2], host[..2]);
        let subnormal = |v: f32| v != 0.0 && v.abs() < f32::MIN_POSITIVE;
        let mut replaced = 0;
        for (&x, &y) in burn[2].iter().zip(&host[2]) {
            if subnormal(x) {
                assert_eq!(y, 0.0);
                replaced += 1;
            } else {
                assert_eq!(x, y);
            }
        }
        // The case arose: burn's Adam left subnormal second moments behind.
        assert!(replaced > 0);
    }

    /// The host state saves as burn's `AdamState` (the checkpoint format) and loads back to
    /// the same moments.
    #[test]
    fn the_host_state_saves_as_burns_adam_state() {
        use burn::record::FullPrecisionSettings;
        let device = Default::default();
        let moments = HostMoments {
            time: 7,
            moment_1: vec![0.5, -0.25, 1e-3, 2.0, 0.0, 3.5],
            moment_2: vec![0.25, 0.0625, 1e-6, 4.0, 0.0, 12.25],
        };
        let state = FlushingAdamState::<NdArray, 2>::Host(moments.clone(), [2, 3].into(), device);
        let item = state.into_item::<FullPrecisionSettings>();
        let burns =
            AdamState::<NdArray, 2>::from_item::<FullPrecisionSettings>(item.clone(), &device);
        assert_eq!(burns.momentum.time, 7);
        assert_eq!(burns.momentum.moment_1.dims(), [2, 3]);
        assert_eq!(values(burns.momentum.moment_2), moments.moment_2);
        let loaded =
            FlushingAdamState::<NdArray, 2>::from_item::<FullPrecisionSettings>(item, &device);
        let back = loaded.into_host();
        assert_eq!(
            (back.time, back.moment_1, back.moment_2),
            (7, moments.moment_1, moments.moment_2)
        );
    }
}
