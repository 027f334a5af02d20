//! Choosing a burn backend at run time.
//!
//! Everything in the crate is generic over `B: Backend`; this module only names the backends
//! the crate is built with, so a command line (or an example) can pick one by name:
//!
//! ```
//! use beth_detect::backend::BackendChoice;
//! use beth_detect::models::mlp::ThreatDetectorConfig;
//! use burn::prelude::*;
//!
//! fn width<B: Backend>() -> usize {
//!     let model = ThreatDetectorConfig::new().init::<B>(&Default::default());
//!     model.weight_shapes()[0][0]
//! }
//!
//! let choice: BackendChoice = "ndarray".parse()?;
//! let w = beth_detect::with_backend!(choice, |B| Ok::<_, beth_detect::Error>(width::<B>()))?;
//! assert_eq!(w, 7);
//! # Ok::<(), beth_detect::Error>(())
//! ```

use std::fmt;

use crate::error::{Error, Result};

pub use burn::backend::NdArray;

#[cfg(feature = "flex")]
pub use burn::backend::Flex;

#[cfg(feature = "wgpu")]
pub use burn::backend::Wgpu;

/// The backends `beth-detect` can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendChoice {
    /// burn-ndarray: pure-Rust CPU backend; bit-for-bit reproducible training.
    NdArray,
    /// burn-flex: pure-Rust CPU backend, the fastest here for this small network (cargo
    /// feature `flex`, on by default).
    Flex,
    /// burn-wgpu: GPU through Vulkan, Metal or DX12 (cargo feature `wgpu`); runs without a GPU
    /// on Mesa's lavapipe software Vulkan driver.
    Wgpu,
}

impl BackendChoice {
    /// The CPU backend used when none is named.
    pub const DEFAULT: BackendChoice = if cfg!(feature = "flex") {
        BackendChoice::Flex
    } else {
        BackendChoice::NdArray
    };

    /// The backend's name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            BackendChoice::NdArray => "ndarray",
            BackendChoice::Flex => "flex",
            BackendChoice::Wgpu => "wgpu",
        }
    }

    /// Whether this build of the crate has the backend.
    pub const fn is_available(self) -> bool {
        match self {
            BackendChoice::NdArray => true,
            BackendChoice::Flex => cfg!(feature = "flex"),
            BackendChoice::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// An error saying how to get the backend, if this build lacks it.
    pub fn check_available(self) -> Result<()> {
        if self.is_available() {
            Ok(())
        } else {
            Err(Error::BackendUnavailable {
                backend: self.name(),
                feature: self.name(),
            })
        }
    }
}

/// Whether `B` is one of the CPU backends (flex, ndarray), whose tensors live in host memory:
/// reading one back is a copy, not a device round trip. Training uses host loops for the
/// small network there (`training::host_step`, the optimiser), where burn's per-operation
/// cost would outweigh the arithmetic.
pub fn computes_on_host<B: burn::prelude::Backend>() -> bool {
    #[cfg(feature = "flex")]
    if same_type::<B, Flex>() {
        return true;
    }
    same_type::<B, NdArray>()
}

/// Whether `B` keeps its tensors in host memory: a CPU backend ([`computes_on_host`]) or
/// burn's autodiff over one. Code generic over `B: Backend` (a model's forward pass) asks this
/// where `B` may be either.
pub fn tensors_on_host<B: burn::prelude::Backend>() -> bool {
    use burn::backend::Autodiff;
    #[cfg(feature = "flex")]
    if same_type::<B, Autodiff<Flex>>() {
        return true;
    }
    computes_on_host::<B>() || same_type::<B, Autodiff<NdArray>>()
}

/// Whether `T` is `U`: how the crate recognises a backend where burn gives a generic `B` no
/// way to ask.
pub(crate) fn same_type<T: 'static, U: 'static>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<U>()
}

/// A tensor's f32 values copied straight from its memory, when `B` is burn-ndarray and the
/// tensor is an f32 array in standard layout; `None` otherwise.
///
/// burn-ndarray 0.21's `into_data` copies an array whose memory is shared (a parameter the
/// module still holds, say) element by element through a dynamic-rank iterator, about a
/// nanosecond an element: in ndarray's training step of the default detector that was a third
/// of the time (perf, full-size synthetic splits, batch 64). A contiguous array is one copy.
pub(crate) fn ndarray_f32_values<B: burn::prelude::Backend, const D: usize>(
    tensor: &burn::prelude::Tensor<B, D>,
) -> Option<Vec<f32>> {
    use burn::tensor::TensorPrimitive;
    use burn_ndarray::NdArrayTensor;
    if !same_type::<B, NdArray>() {
        return None;
    }
    let TensorPrimitive::Float(primitive) = tensor.clone().into_primitive() else {
        return None;
    };
    match (&primitive as &dyn std::any::Any).downcast_ref::<NdArrayTensor>()? {
        NdArrayTensor::F32(storage) => storage.view().as_slice().map(<[f32]>::to_vec),
        _ => None,
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for BackendChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ndarray" => Ok(BackendChoice::NdArray),
            "flex" => Ok(BackendChoice::Flex),
            "wgpu" => Ok(BackendChoice::Wgpu),
            other => Err(Error::InvalidConfig {
                name: "backend",
                expected: "`ndarray`, `flex` or `wgpu`",
                found: other.to_string(),
            }),
        }
    }
}

/// Runs `body` with the type alias `B` set to the chosen backend. `body` must evaluate to a
/// `Result` whose error type converts from [`crate::Error`]: a backend this build lacks gives
/// [`Error::BackendUnavailable`](crate::Error::BackendUnavailable), which says which cargo
/// feature to enable.
#[macro_export]
macro_rules! with_backend {
    ($choice:expr, |$B:ident| $body:expr) => {{
        match $choice {
            $crate::backend::BackendChoice::NdArray => {
                #[allow(dead_code)]
                type $B = $crate::backend::NdArray;
                $body
            }
            $crate::backend::BackendChoice::Flex => $crate::__with_flex!($B, $body),
            $crate::backend::BackendChoice::Wgpu => $crate::__with_wgpu!($B, $body),
        }
    }};
}

#[cfg(feature = "flex")]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_flex {
    ($B:ident, $body:expr) => {{
        #[allow(dead_code)]
        type $B = $crate::backend::Flex;
        $body
    }};
}

#[cfg(not(feature = "flex"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_flex {
    ($B:ident, $body:expr) => {{
        Err($crate::backend::BackendChoice::Flex
            .check_available()
            .unwrap_err()
            .into())
    }};
}

#[cfg(feature = "wgpu")]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_wgpu {
    ($B:ident, $body:expr) => {{
        #[allow(dead_code)]
        type $B = $crate::backend::Wgpu;
        $body
    }};
}

#[cfg(not(feature = "wgpu"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_wgpu {
    ($B:ident, $body:expr) => {{
        Err($crate::backend::BackendChoice::Wgpu
            .check_available()
            .unwrap_err()
            .into())
    }};
}

/// Held by a unit test while it seeds and draws from a backend's generator: burn-ndarray's
/// is global to the process, and the test harness runs tests on several threads.
#[cfg(test)]
pub(crate) fn generator_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::Tensor;
    use burn::tensor::TensorData;

    /// The host backends and autodiff over them keep tensors in host memory (the host
    /// dropout mask and the host training step are chosen by this); wgpu does not.
    #[test]
    fn host_backends_are_recognised_with_and_without_autodiff() {
        use burn::backend::Autodiff;
        assert!(tensors_on_host::<NdArray>());
        assert!(tensors_on_host::<Autodiff<NdArray>>());
        #[cfg(feature = "flex")]
        {
            assert!(tensors_on_host::<Flex>());
            assert!(tensors_on_host::<Autodiff<Flex>>());
            assert!(!computes_on_host::<Autodiff<Flex>>());
        }
        #[cfg(feature = "wgpu")]
        {
            assert!(!tensors_on_host::<Wgpu>());
            assert!(!tensors_on_host::<Autodiff<Wgpu>>());
        }
    }

    /// The direct read gives the values of an array whose memory is shared, and stands aside
    /// (`None`) for a view in another layout, for the generic read.
    #[test]
    fn ndarray_values_are_read_from_shared_memory() {
        let values: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
        let device = Default::default();
        let tensor =
            Tensor::<NdArray, 3>::from_data(TensorData::new(values.clone(), [2, 3, 4]), &device);
        let held = tensor.clone();
        assert_eq!(ndarray_f32_values(&tensor), Some(values.clone()));
        let swapped = held.swap_dims(1, 2);
        assert_eq!(ndarray_f32_values(&swapped), None);
    }
}
