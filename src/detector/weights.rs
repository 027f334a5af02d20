//! The network's weights in PyTorch's layout: `state_dict` entries and safetensors files, read
//! and written for saved detectors ([`crate::detector`]) and for export ([`crate::detector::interop`]).
//!
//! The notebook's network is an `nn.Sequential`:
//! `Linear(7, 64), ReLU, Dropout, Linear(64, 32), ReLU, Linear(32, 1), Sigmoid`, so its
//! `state_dict` keys are `0.*`, `3.*` and `5.*`. PyTorch stores a `Linear` weight as
//! `[out, in]`; burn as `[in, out]`. The mapping is spelled out in [`PYTORCH_KEYS`] and every
//! weight is transposed on the way in and out. An ensemble's members are an `nn.ModuleList`
//! of such networks: keys `0.0.weight` … `{m}.5.bias`.

use std::collections::HashMap;
use std::path::Path;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::error::{Error, Result};
use crate::models::autoencoder::{Autoencoder, AutoencoderConfig};
use crate::models::mlp::{ThreatDetector, ThreatDetectorConfig, f32_values};

/// `(PyTorch key prefix, layer)`: which `nn.Sequential` index is which of our layers.
pub const PYTORCH_KEYS: [(&str, &str); 3] = [("0", "fc1"), ("3", "fc2"), ("5", "fc3")];

/// A tensor read from a checkpoint: its PyTorch shape and f32 values (row-major).
pub(super) struct Loaded {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

pub(super) fn artifact(path: &Path, message: String) -> Error {
    Error::Artifact {
        path: path.to_path_buf(),
        message,
    }
}

/// Builds the network from PyTorch-layout tensors, checking every key and shape.
pub(super) fn assemble<B: Backend>(
    path: &Path,
    tensors: HashMap<String, Loaded>,
    config: &ThreatDetectorConfig,
    device: &B::Device,
) -> Result<ThreatDetector<B>> {
    assemble_members(path, tensors, config, 1, device).map(|mut m| m.remove(0))
}

/// The key prefix of member `m` of `members`: none for a single network (the notebook's
/// `nn.Sequential`), `"{m}."` for an ensemble (an `nn.ModuleList` of such `Sequential`s).
fn member_prefix(m: usize, members: usize) -> String {
    if members == 1 {
        String::new()
    } else {
        format!("{m}.")
    }
}

/// Builds `members` networks from PyTorch-layout tensors, checking every key and shape.
fn assemble_members<B: Backend>(
    path: &Path,
    mut tensors: HashMap<String, Loaded>,
    config: &ThreatDetectorConfig,
    members: usize,
    device: &B::Device,
) -> Result<Vec<ThreatDetector<B>>> {
    let dims = [
        (config.input_width, config.hidden1),
        (config.hidden1, config.hidden2),
        (config.hidden2, 1),
    ];
    let mut networks = Vec::with_capacity(members);
    for m in 0..members {
        let member = member_prefix(m, members);
        let mut layers = Vec::new();
        for ((prefix, _), (inputs, outputs)) in PYTORCH_KEYS.iter().zip(dims) {
            let key = format!("{member}{prefix}");
            layers.push(take_linear(
                path,
                &mut tensors,
                &key,
                inputs,
                outputs,
                device,
            )?);
        }
        let mut layers = layers.into_iter();
        let mut model = config.init_zeroed::<B>(device);
        model.fc1 = layers.next().expect("three layers");
        model.fc2 = layers.next().expect("three layers");
        model.fc3 = layers.next().expect("three layers");
        networks.push(model);
    }
    if let Some(extra) = tensors.keys().min() {
        let prefix = if members == 1 { "" } else { "{m}." };
        return Err(artifact(
            path,
            format!(
                "unexpected key `{extra}`: expected only {}",
                PYTORCH_KEYS
                    .iter()
                    .map(|(p, _)| format!("{prefix}{p}.weight, {prefix}{p}.bias"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(networks)
}

/// Builds the network from PyTorch `state_dict` entries `(key, PyTorch shape, values)`, the
/// inverse of [`pytorch_state_dict`]. `name` is what errors call the source.
pub fn from_state_dict<B: Backend>(
    name: &Path,
    entries: Vec<(String, Vec<usize>, Vec<f32>)>,
    device: &B::Device,
) -> Result<ThreatDetector<B>> {
    let tensors = entries
        .into_iter()
        .map(|(k, shape, values)| (k, Loaded { shape, values }))
        .collect();
    assemble(name, tensors, &ThreatDetectorConfig::new(), device)
}

/// Loads the notebook's network from a safetensors file with the same keys.
pub fn load_safetensors<B: Backend>(
    path: impl AsRef<Path>,
    device: &B::Device,
) -> Result<ThreatDetector<B>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    read_safetensors(path, &bytes, &ThreatDetectorConfig::new(), device)
}

/// [`load_safetensors`] for a network of any shape, from bytes already read from `path` (a
/// saved detector's weights).
pub(super) fn read_safetensors<B: Backend>(
    path: &Path,
    bytes: &[u8],
    config: &ThreatDetectorConfig,
    device: &B::Device,
) -> Result<ThreatDetector<B>> {
    read_member_safetensors(path, bytes, config, 1, device).map(|mut m| m.remove(0))
}

/// The `members` networks of a saved detector's weights (keys as [`members_state_dict`]
/// writes them).
pub(super) fn read_member_safetensors<B: Backend>(
    path: &Path,
    bytes: &[u8],
    config: &ThreatDetectorConfig,
    members: usize,
    device: &B::Device,
) -> Result<Vec<ThreatDetector<B>>> {
    let tensors = read_tensors(path, bytes)?;
    assemble_members(path, tensors, config, members, device)
}

/// The network's weights as PyTorch `state_dict` entries: `(key, PyTorch shape, values)`.
pub fn pytorch_state_dict<B: Backend>(
    model: &ThreatDetector<B>,
) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    PYTORCH_KEYS
        .iter()
        .zip([&model.fc1, &model.fc2, &model.fc3])
        .flat_map(|((key, _), layer)| linear_entries(key, layer))
        .collect()
}

/// Every member's weights as PyTorch `state_dict` entries: a single network's keys are the
/// notebook's (`0.weight`, …); member `m` of an ensemble has them under `"{m}."` (`0.0.weight`,
/// `1.0.weight`, …), the `state_dict` of an `nn.ModuleList` of the notebook's networks.
pub fn members_state_dict<B: Backend>(
    members: &[ThreatDetector<B>],
) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let n = members.len();
    members
        .iter()
        .enumerate()
        .flat_map(|(m, model)| {
            let prefix = member_prefix(m, n);
            pytorch_state_dict(model)
                .into_iter()
                .map(move |(k, shape, v)| (format!("{prefix}{k}"), shape, v))
        })
        .collect()
}

/// Writes every member's weights as safetensors (keys as [`members_state_dict`]); one member
/// gives exactly [`save_safetensors`]'s file.
pub fn save_members_safetensors<B: Backend>(
    members: &[ThreatDetector<B>],
    path: impl AsRef<Path>,
) -> Result<()> {
    let path = path.as_ref();
    let serialized = members_safetensors_bytes(members, path)?;
    crate::atomic_files::write_file_atomically(path, |out| {
        std::io::Write::write_all(out, &serialized).map_err(|e| Error::io(path, e))
    })
}

/// Writes the weights as safetensors that PyTorch loads into the notebook's `nn.Sequential`
/// with `load_state_dict` (same keys, shapes and dtype); written to a temporary name and
/// renamed.
pub fn save_safetensors<B: Backend>(
    model: &ThreatDetector<B>,
    path: impl AsRef<Path>,
) -> Result<()> {
    save_members_safetensors(std::slice::from_ref(model), path)
}

/// The safetensors file [`save_members_safetensors`] writes, in memory.
pub(super) fn members_safetensors_bytes<B: Backend>(
    members: &[ThreatDetector<B>],
    path: &Path,
) -> Result<Vec<u8>> {
    serialize_entries(members_state_dict(members), path)
}

/// Removes `key.weight` (PyTorch's `[out, in]`) and `key.bias` from `tensors`, checking their
/// shapes, as a burn `Linear` (`[in, out]`).
fn take_linear<B: Backend>(
    path: &Path,
    tensors: &mut HashMap<String, Loaded>,
    key: &str,
    inputs: usize,
    outputs: usize,
    device: &B::Device,
) -> Result<Linear<B>> {
    let mut take = |key: String, shape: Vec<usize>| -> Result<Vec<f32>> {
        let t = tensors.remove(&key).ok_or_else(|| {
            artifact(
                path,
                format!("missing key `{key}` (expected shape {shape:?})"),
            )
        })?;
        if t.shape != shape {
            return Err(artifact(
                path,
                format!("key `{key}`: expected shape {shape:?}, found {:?}", t.shape),
            ));
        }
        Ok(t.values)
    };
    let weight = take(format!("{key}.weight"), vec![outputs, inputs])?;
    let bias = take(format!("{key}.bias"), vec![outputs])?;
    let mut transposed = vec![0.0f32; inputs * outputs];
    for o in 0..outputs {
        for i in 0..inputs {
            transposed[i * outputs + o] = weight[o * inputs + i];
        }
    }
    Ok(Linear {
        weight: Param::from_data(TensorData::new(transposed, [inputs, outputs]), device),
        bias: Some(Param::from_data(TensorData::new(bias, [outputs]), device)),
    })
}

/// Every F32 tensor of a safetensors file, by key.
fn read_tensors(path: &Path, bytes: &[u8]) -> Result<HashMap<String, Loaded>> {
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| artifact(path, format!("not a safetensors file: {e}")))?;
    let mut tensors = HashMap::new();
    for (key, view) in file.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(artifact(
                path,
                format!("key `{key}`: expected F32, found {:?}", view.dtype()),
            ));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.insert(
            key,
            Loaded {
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    Ok(tensors)
}

/// A `Linear`'s weight and bias as PyTorch `state_dict` entries under `key`.
fn linear_entries<B: Backend>(key: &str, layer: &Linear<B>) -> [(String, Vec<usize>, Vec<f32>); 2] {
    let [inputs, outputs] = layer.weight.dims();
    let w = f32_values(layer.weight.val());
    let mut transposed = vec![0.0f32; inputs * outputs];
    for i in 0..inputs {
        for o in 0..outputs {
            transposed[o * inputs + i] = w[i * outputs + o];
        }
    }
    let b = layer
        .bias
        .as_ref()
        .map_or(vec![0.0; outputs], |b| f32_values(b.val()));
    [
        (format!("{key}.weight"), vec![outputs, inputs], transposed),
        (format!("{key}.bias"), vec![outputs], b),
    ]
}

/// The safetensors bytes of `entries`.
fn serialize_entries(entries: Vec<(String, Vec<usize>, Vec<f32>)>, path: &Path) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = entries
        .into_iter()
        .map(|(k, shape, v)| (k, shape, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(k, shape, data)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .expect("shape and data agree");
            (k.clone(), view)
        })
        .collect();
    safetensors::serialize(views, None)
        .map_err(|e| artifact(path, format!("cannot serialise: {e}")))
}

/// The `nn.Sequential` indices of the autoencoder's layers (ReLUs between them).
pub const AUTOENCODER_KEYS: [&str; 4] = ["0", "2", "4", "6"];

/// The autoencoder's weights as PyTorch `state_dict` entries: the keys of
/// `nn.Sequential(Linear(7, h), ReLU(), Linear(h, b), ReLU(), Linear(b, h), ReLU(), Linear(h, 7))`.
pub fn autoencoder_state_dict<B: Backend>(
    model: &Autoencoder<B>,
) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    AUTOENCODER_KEYS
        .iter()
        .zip(model.layers())
        .flat_map(|(key, layer)| linear_entries(key, layer))
        .collect()
}

/// The autoencoder's weights as a safetensors file, in memory.
pub(super) fn autoencoder_safetensors_bytes<B: Backend>(
    model: &Autoencoder<B>,
    path: &Path,
) -> Result<Vec<u8>> {
    serialize_entries(autoencoder_state_dict(model), path)
}

/// Reads an autoencoder of shape `config` from safetensors bytes (keys as
/// [`autoencoder_state_dict`] writes them), checking every key and shape.
pub(super) fn read_autoencoder_safetensors<B: Backend>(
    path: &Path,
    bytes: &[u8],
    config: &AutoencoderConfig,
    device: &B::Device,
) -> Result<Autoencoder<B>> {
    let mut tensors = read_tensors(path, bytes)?;
    let mut layers = Vec::with_capacity(4);
    for (key, [inputs, outputs]) in AUTOENCODER_KEYS.iter().zip(config.layer_shapes()) {
        layers.push(take_linear(
            path,
            &mut tensors,
            key,
            inputs,
            outputs,
            device,
        )?);
    }
    if let Some(extra) = tensors.keys().min() {
        return Err(artifact(
            path,
            format!(
                "unexpected key `{extra}`: expected only the keys 0, 2, 4 and 6 (.weight, .bias)"
            ),
        ));
    }
    let mut model = config.init_zeroed::<B>(device);
    let mut layers = layers.into_iter();
    model.encoder1 = layers.next().expect("four layers");
    model.encoder2 = layers.next().expect("four layers");
    model.decoder1 = layers.next().expect("four layers");
    model.decoder2 = layers.next().expect("four layers");
    Ok(model)
}
