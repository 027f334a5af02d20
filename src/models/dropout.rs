//! Dropout as burn's `Dropout` computes it, with the mask drawn on the host by a small
//! generator where tensors live in host memory.
//!
//! burn 0.21 draws a dropout mask through `Tensor::random_like(Bernoulli)`, which on the CPU
//! backends samples every element through its generic distribution sampler: at batch 1024
//! that was about half of a training step of the default detector (perf, flex, full-size
//! synthetic splits). Here each call takes two draws from the backend's seeded generator (so
//! `B::seed` still decides every mask, and a seed still gives the same bytes) and expands
//! them with SplitMix64, 32 bits per element. The result is burn's: each element kept with
//! probability `1 − p` and scaled by `1 / (1 − p)`, dropped to zero otherwise, and the input
//! returned as it is outside training (no autodiff) or when `p` is 0. On a GPU backend (wgpu)
//! burn's own `Dropout` draws the mask on the device: a host mask there would read the
//! generator back and upload the mask on every step.

use burn::nn::DropoutConfig;
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};

use crate::backend::tensors_on_host;
use crate::data::split_mix64_at;

/// Dropout with probability `prob` of zeroing an element, as `burn::nn::Dropout::forward`
/// (which it is, off the host).
pub fn dropout<B: Backend, const D: usize>(input: Tensor<B, D>, prob: f64) -> Tensor<B, D> {
    if !tensors_on_host::<B>() {
        return DropoutConfig::new(prob).init().forward(input);
    }
    if !B::ad_enabled(&input.device()) || prob == 0.0 {
        return input;
    }
    let device = input.device();
    let shape = input.shape();
    let mask = mask::<B>(shape.num_elements(), prob, &device);
    input * Tensor::from_data(TensorData::new(mask, shape), &device)
}

/// The next dropout mask of `elements` values from `B`'s generator: each `1 / (1 − prob)` with
/// probability `1 − prob`, else 0. Two draws from the generator, whatever `elements` is.
pub fn mask<B: Backend>(elements: usize, prob: f64, device: &B::Device) -> Vec<f32> {
    let seed = Tensor::<B, 1>::random([2], Distribution::Default, device)
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("two f32 draws");
    // 24 bits from each draw in [0, 1).
    let state = ((seed[0] * 16_777_216.0) as u64) << 24 | (seed[1] * 16_777_216.0) as u64;
    let keep = 1.0 - prob;
    let scale = (1.0 / keep) as f32;
    // An element is kept when its 32 random bits fall below keep · 2³².
    let threshold = (keep * 4_294_967_296.0) as u64;
    let mut mask = vec![0u32; elements];
    let (scale_bits, threshold) = (scale.to_bits(), threshold);
    // With AVX-512 (checked at run time) the loop runs eight 64-bit draws per instruction;
    // integer arithmetic, so every path gives the same mask.
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512dq") {
        // SAFETY: the CPU has AVX-512DQ (and so AVX-512F).
        unsafe { fill_avx512(&mut mask, state, threshold, scale_bits) };
        return mask.into_iter().map(f32::from_bits).collect();
    }
    fill(&mut mask, state, threshold, scale_bits);
    mask.into_iter().map(f32::from_bits).collect()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
fn fill_avx512(mask: &mut [u32], state: u64, threshold: u64, scale_bits: u32) {
    fill(mask, state, threshold, scale_bits);
}

/// Element `2i` takes the low and `2i + 1` the high 32 bits of SplitMix64's `(i + 1)`-th
/// output from `state`: `scale_bits` if they fall below `threshold`, else 0.
#[inline(always)]
fn fill(mask: &mut [u32], state: u64, threshold: u64, scale_bits: u32) {
    // SplitMix64's state after `i + 1` calls is `state + (i + 1)·γ`, so the i-th draw is a
    // pure function of `i`: written that way the loop has no carried dependency, and without a
    // branch (which a random mask mispredicts a third of the time) it vectorises. The choice
    // is made on integers: a float select compiles to a branch.
    let draw = |i: usize| split_mix64_at(state, i as u64 + 1);
    let pick = |half: u64| std::hint::select_unpredictable(half < threshold, scale_bits, 0);
    let whole_pairs = mask.len() / 2;
    let mut pairs = mask.chunks_exact_mut(2);
    for (i, pair) in pairs.by_ref().enumerate() {
        let bits = draw(i);
        pair[0] = pick(bits & 0xffff_ffff);
        pair[1] = pick(bits >> 32);
    }
    if let Some(last) = pairs.into_remainder().first_mut() {
        *last = pick(draw(whole_pairs) & 0xffff_ffff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};

    type Train = Autodiff<NdArray>;

    #[test]
    fn keeps_one_minus_p_of_the_elements_scaled_by_its_inverse() {
        let _generator = crate::backend::generator_lock();
        let device = Default::default();
        Train::seed(&device, 3);
        let n = 200_000;
        let x = Tensor::<Train, 2>::ones([n / 100, 100], &device);
        let y: Vec<f32> = dropout(x, 0.3).into_data().into_vec().unwrap();
        let kept = y.iter().filter(|&&v| v != 0.0).count();
        // Every kept element is 1 / 0.7 in f32, as burn's `x · 1 · (1 / 0.7)` gives.
        assert!(y.iter().all(|&v| v == 0.0 || v == (1.0f64 / 0.7) as f32));
        // Binomial(200,000, 0.7): standard deviation √(n·0.7·0.3) ≈ 205; allow 5 of them.
        let expected = 0.7 * n as f64;
        assert!((kept as f64 - expected).abs() < 5.0 * 205.0, "{kept}");
        // Neighbouring halves of one 64-bit draw are independent: P(both kept) = 0.49.
        let both = y
            .chunks_exact(2)
            .filter(|p| p[0] != 0.0 && p[1] != 0.0)
            .count() as f64;
        // Binomial(100,000, 0.49): standard deviation ≈ 158.
        assert!((both - 0.49 * (n / 2) as f64).abs() < 5.0 * 158.0, "{both}");
    }

    #[test]
    fn the_seed_decides_the_mask() {
        let _generator = crate::backend::generator_lock();
        let device = Default::default();
        let mask = |seed| -> Vec<f32> {
            Train::seed(&device, seed);
            let x = Tensor::<Train, 2>::ones([64, 64], &device);
            dropout(x, 0.3).into_data().into_vec().unwrap()
        };
        assert_eq!(mask(11), mask(11));
        assert_ne!(mask(11), mask(12));
    }

    #[test]
    fn outside_training_or_at_zero_the_input_passes_unchanged() {
        let device = Default::default();
        let values = vec![1.5f32, -2.0, 0.25, 4.0];
        let x = Tensor::<NdArray, 1>::from_floats(values.as_slice(), &device);
        let y: Vec<f32> = dropout(x, 0.3).into_data().into_vec().unwrap();
        assert_eq!(y, values);
        let x = Tensor::<Train, 1>::from_floats(values.as_slice(), &device);
        let y: Vec<f32> = dropout(x, 0.0).into_data().into_vec().unwrap();
        assert_eq!(y, values);
    }

    /// The AVX-512 loop and the portable one write the same mask, for every tail length.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn every_path_draws_the_same_mask() {
        if !std::arch::is_x86_feature_detected!("avx512dq") {
            return;
        }
        let threshold = (0.7 * 4_294_967_296.0) as u64;
        for len in [0, 1, 2, 3, 15, 16, 17, 31, 4096, 4097] {
            let (mut portable, mut wide) = (vec![7u32; len], vec![9u32; len]);
            fill(&mut portable, 0x1234_5678_9abc, threshold, 1);
            // SAFETY: checked above.
            unsafe { fill_avx512(&mut wide, 0x1234_5678_9abc, threshold, 1) };
            assert_eq!(portable, wide);
        }
    }
}
