//! The notebook's network shape (7 → 64 → 32 → 1) scored with AVX-512, eight rows at a time.
//!
//! Hand-written because no maintained crate does this well at these shapes: `matrixmultiply`
//! has no AVX-512 kernels, and a general SGEMM pays for packing and for three separate passes
//! over activations that here fit in registers. This kernel keeps each block of rows' hidden
//! activations in L1 (first layer) and in registers (second layer), fuses bias, ReLU, the
//! output dot product and the sigmoid, and is chosen at run time only where the CPU has
//! AVX-512F; everywhere else the host forward pass ([`super::network`]) scores. The sums run
//! in a different order from the forward pass's, so the two agree to float rounding (`tests`
//! below, against the forward pass and the definition in f64, and `tests/cpu_scorer.rs`
//! against burn's forward pass).

use crate::models::mlp::probability;

/// Input features per row.
pub(super) const INPUTS: usize = 7;
/// First hidden layer's width.
pub(super) const HIDDEN1: usize = 64;
/// Second hidden layer's width.
pub(super) const HIDDEN2: usize = 32;

/// One network's weights for the kernel, row-major `[in, out]` as the SGEMM path keeps them.
#[derive(Debug, Clone)]
pub(super) struct Avx512Network {
    w1: Box<[f32; INPUTS * HIDDEN1]>,
    b1: [f32; HIDDEN1],
    w2: Box<[f32; HIDDEN1 * HIDDEN2]>,
    b2: [f32; HIDDEN2],
    w3: [f32; HIDDEN2],
    b3: f32,
}

impl Avx512Network {
    /// The kernel for these layers, if the CPU has AVX-512F and the network has the
    /// notebook's shape (`w1` `[7, 64]`, `w2` `[64, 32]`, `w3` `[32, 1]`).
    pub(super) fn new([w1, b1, w2, b2, w3, b3]: [&[f32]; 6]) -> Option<Self> {
        if !available() {
            return None;
        }
        Some(Avx512Network {
            w1: Box::new(w1.try_into().ok()?),
            b1: b1.try_into().ok()?,
            w2: Box::new(w2.try_into().ok()?),
            b2: b2.try_into().ok()?,
            w3: w3.try_into().ok()?,
            b3: *<&[f32; 1]>::try_from(b3).ok()?.first()?,
        })
    }

    /// Probabilities of rows of scaled features (row-major, 7 per row) into `out` (one per
    /// row).
    pub(super) fn score(&self, features: &[f32], out: &mut [f32]) {
        assert!(features.len() >= out.len() * INPUTS);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: an `Avx512Network` exists only where `available()` said AVX-512F is there.
        unsafe {
            self.score_avx512(features, out)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("the kernel is never built off x86-64")
    }
}

/// Whether this CPU runs the kernel.
fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Rows per block: the second layer's activations for them are 16 of the 32 vector registers.
#[cfg(target_arch = "x86_64")]
const ROWS: usize = 8;

#[cfg(target_arch = "x86_64")]
impl Avx512Network {
    #[target_feature(enable = "avx512f")]
    fn score_avx512(&self, features: &[f32], out: &mut [f32]) {
        let blocks = out.len() / ROWS;
        for (x, y) in features
            .chunks_exact(ROWS * INPUTS)
            .zip(out.chunks_exact_mut(ROWS))
            .take(blocks)
        {
            self.block(x.try_into().expect("a block of rows"), y);
        }
        let done = blocks * ROWS;
        let rest = out.len() - done;
        if rest > 0 {
            // The last rows, padded with zeros to a block; only theirs are kept.
            let mut x = [0.0f32; ROWS * INPUTS];
            x[..rest * INPUTS].copy_from_slice(&features[done * INPUTS..][..rest * INPUTS]);
            let mut y = [0.0f32; ROWS];
            self.block(&x, &mut y);
            out[done..].copy_from_slice(&y[..rest]);
        }
    }

    #[target_feature(enable = "avx512f")]
    fn block(&self, x: &[f32; ROWS * INPUTS], out: &mut [f32]) {
        use std::arch::x86_64::*;
        const LANES: usize = 16;
        let zero = _mm512_setzero_ps();
        // SAFETY (every load): `$at + 16` is within the array it reads (w1 7×64, b1 64,
        // w2 64×32, b2 and w3 32), checked by the slice index.
        macro_rules! load {
            ($p:expr, $at:expr) => {
                unsafe { _mm512_loadu_ps($p[$at..$at + LANES].as_ptr()) }
            };
        }

        // First layer, four rows at a time (16 accumulators), kept in L1 for the second.
        let mut h1 = [0.0f32; ROWS * HIDDEN1];
        for r0 in (0..ROWS).step_by(4) {
            let bias = [
                load!(self.b1, 0),
                load!(self.b1, LANES),
                load!(self.b1, 2 * LANES),
                load!(self.b1, 3 * LANES),
            ];
            let mut acc = [bias; 4];
            for k in 0..INPUTS {
                let at = k * HIDDEN1;
                let w = [
                    load!(self.w1, at),
                    load!(self.w1, at + LANES),
                    load!(self.w1, at + 2 * LANES),
                    load!(self.w1, at + 3 * LANES),
                ];
                for (r, row) in acc.iter_mut().enumerate() {
                    let v = _mm512_set1_ps(x[(r0 + r) * INPUTS + k]);
                    for (a, w) in row.iter_mut().zip(&w) {
                        *a = _mm512_fmadd_ps(v, *w, *a);
                    }
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (j, a) in row.iter().enumerate() {
                    let at = (r0 + r) * HIDDEN1 + j * LANES;
                    let dest = &mut h1[at..at + LANES];
                    // SAFETY: `dest` is 16 floats.
                    unsafe { _mm512_storeu_ps(dest.as_mut_ptr(), _mm512_max_ps(*a, zero)) };
                }
            }
        }

        // Second layer, all eight rows at once (16 accumulators), then the output layer.
        let mut acc = [[load!(self.b2, 0), load!(self.b2, LANES)]; ROWS];
        for k in 0..HIDDEN1 {
            let w = [
                load!(self.w2, k * HIDDEN2),
                load!(self.w2, k * HIDDEN2 + LANES),
            ];
            for (r, row) in acc.iter_mut().enumerate() {
                let v = _mm512_set1_ps(h1[r * HIDDEN1 + k]);
                row[0] = _mm512_fmadd_ps(v, w[0], row[0]);
                row[1] = _mm512_fmadd_ps(v, w[1], row[1]);
            }
        }
        let w3 = [load!(self.w3, 0), load!(self.w3, LANES)];
        for (row, y) in acc.iter().zip(out.iter_mut()) {
            let products = _mm512_fmadd_ps(
                _mm512_max_ps(row[0], zero),
                w3[0],
                _mm512_mul_ps(_mm512_max_ps(row[1], zero), w3[1]),
            );
            let z = self.b3 + _mm512_reduce_add_ps(products);
            *y = probability(z);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniform draws in [-1, 1) from a fixed LCG: the test needs no generator crate.
    fn draws(n: usize, seed: &mut u64) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The network's definition, summed in f64 in the plainest order.
    fn reference(p: &[Vec<f32>; 6], x: &[f32]) -> f32 {
        let [w1, b1, w2, b2, w3, b3] = p;
        let h1: Vec<f64> = (0..HIDDEN1)
            .map(|j| {
                let z = (0..INPUTS).fold(b1[j] as f64, |a, k| {
                    a + x[k] as f64 * w1[k * HIDDEN1 + j] as f64
                });
                z.max(0.0)
            })
            .collect();
        let h2: Vec<f64> = (0..HIDDEN2)
            .map(|j| {
                let z =
                    (0..HIDDEN1).fold(b2[j] as f64, |a, k| a + h1[k] * w2[k * HIDDEN2 + j] as f64);
                z.max(0.0)
            })
            .collect();
        let z = (0..HIDDEN2).fold(b3[0] as f64, |a, k| a + h2[k] * w3[k] as f64);
        (1.0 / (1.0 + (-z).exp())) as f32
    }

    /// Elements of `w1, b1, w2, b2, w3, b3`.
    const SIZES: [usize; 6] = [
        INPUTS * HIDDEN1,
        HIDDEN1,
        HIDDEN1 * HIDDEN2,
        HIDDEN2,
        HIDDEN2,
        1,
    ];

    #[test]
    fn matches_the_definition_on_every_tail_length() {
        let mut seed = 7;
        // Weights on the scale a network of this shape has (PyTorch's initialisation,
        // uniform ±1/√fan_in), so that f32 rounding stays within the bound below.
        let fan_in = [INPUTS, INPUTS, HIDDEN1, HIDDEN1, HIDDEN2, HIDDEN2];
        let p: [Vec<f32>; 6] = std::array::from_fn(|i| {
            let bound = 1.0 / (fan_in[i] as f32).sqrt();
            draws(SIZES[i], &mut seed)
                .iter()
                .map(|w| w * bound)
                .collect()
        });
        let kernel = Avx512Network::new([&p[0], &p[1], &p[2], &p[3], &p[4], &p[5]]);
        let Some(kernel) = kernel else {
            assert!(!available(), "the kernel refused the notebook's shape");
            return;
        };
        for rows in (0..=17).chain([1000]) {
            let x: Vec<f32> = draws(rows * INPUTS, &mut seed)
                .iter()
                .map(|v| v * 3.0)
                .collect();
            let mut out = vec![f32::NAN; rows];
            kernel.score(&x, &mut out);
            for (i, y) in out.iter().enumerate() {
                let want = reference(&p, &x[i * INPUTS..][..INPUTS]);
                assert!(
                    (y - want).abs() <= 1e-6,
                    "{rows} rows, row {i}: {y} against {want}"
                );
            }
        }
    }

    /// The kernel scores what the host forward pass scores, to float rounding.
    #[test]
    fn matches_the_host_forward_pass() {
        let mut seed = 11;
        let p: [Vec<f32>; 6] = SIZES.map(|n| draws(n, &mut seed).iter().map(|w| w * 0.3).collect());
        let parameters = [&p[0][..], &p[1], &p[2], &p[3], &p[4], &p[5]];
        let Some(kernel) = Avx512Network::new(parameters) else {
            assert!(!available(), "the kernel refused the notebook's shape");
            return;
        };
        let network = super::super::network::HostNetwork::new(INPUTS, parameters);
        let rows = 1003;
        let x: Vec<f32> = draws(rows * INPUTS, &mut seed)
            .iter()
            .map(|v| v * 3.0)
            .collect();
        let (mut fast, mut logits) = (vec![f32::NAN; rows], vec![f32::NAN; rows]);
        kernel.score(&x, &mut fast);
        network.logits(&x, &mut logits, &mut Vec::new());
        for (i, (y, z)) in fast.iter().zip(&logits).enumerate() {
            let want = probability(*z);
            assert!((y - want).abs() <= 1e-6, "row {i}: {y} against {want}");
        }
    }

    #[test]
    fn refuses_other_shapes() {
        let mut seed = 1;
        let sizes = [INPUTS * 32, 32, 32 * HIDDEN2, HIDDEN2, HIDDEN2, 1];
        let p: [Vec<f32>; 6] = sizes.map(|n| draws(n, &mut seed));
        assert!(Avx512Network::new([&p[0], &p[1], &p[2], &p[3], &p[4], &p[5]]).is_none());
    }
}
