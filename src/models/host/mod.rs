//! The networks on the host: the notebook's network written once, outside burn, for the two
//! places where burn's per-operation cost outweighs the arithmetic of so small a network.
//!
//! - [`network`]: the forward pass, and the backward pass with the training loss, of one
//!   network or several stacked. Scoring runs the forward pass; training on the CPU backends
//!   (flex, ndarray) runs both, through `training::host_step`. burn's tensor operations
//!   (`ThreatDetector::forward`, `ThreatEnsemble`) remain the definition, and what trains on
//!   the GPU (wgpu); tests pin the two together.
//! - [`scorer`]: every detector kind's scores on the CPU ([`CpuScorer`]), tile by tile and on
//!   every core, with an AVX-512 kernel for the notebook's shape (checked against
//!   [`network`]).
//! - [`matrix`]: the one matrix product (SGEMM) both use, over views that check their bounds.

mod avx512;
pub mod matrix;
pub mod network;
pub mod scorer;

pub use network::{HostNetwork, LossAndGradients, NetworkShape, loss_and_gradients};
pub use scorer::CpuScorer;
