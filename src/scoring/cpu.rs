//! The CPU scorer behind every scoring path. It lives with the networks it runs
//! ([`crate::models::host`]); this path is kept for code written against earlier releases.

pub use crate::models::host::scorer::{CpuScorer, autoencoder_errors};
