//! PyTorch interop and step-for-step parity with the original notebook's training, against
//! fixtures written by tests/reference/make_parity_fixture.py (PyTorch 2.15, committed).

mod common;
use common::max_difference;

use std::path::{Path, PathBuf};

use beth_detect::detector::interop::{
    from_state_dict, imported_detector, load_pytorch, load_safetensors, load_sklearn_scaler,
    pytorch_state_dict, save_safetensors,
};
use beth_detect::models::mlp::bce_with_logits;
use beth_detect::training::TrainingConfig;
use beth_detect::{Error, ThreatDetector};
use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use burn::nn::DropoutConfig;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use serde_json::Value;

type B = NdArray;
type AB = Autodiff<NdArray>;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn parity() -> Value {
    serde_json::from_slice(&std::fs::read(fixture("pytorch/parity.json")).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        other => panic!("not a number: {other}"),
    }
}

fn shape(v: &Value) -> Vec<usize> {
    match v {
        Value::Array(items) => {
            let mut s = vec![items.len()];
            s.extend(shape(&items[0]));
            s
        }
        _ => vec![],
    }
}

fn state_dict(v: &Value) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, t)| (k.clone(), shape(t), floats(t)))
        .collect()
}

#[test]
fn hundred_adam_steps_match_pytorch() {
    let p = parity();
    adam_steps_match(&p, &p, 0.0);
}

/// burn's Adam weight decay adds `penalty · w` to the gradient, as PyTorch's Adam does (not
/// AdamW's decoupled decay): the crate's default recipe, step for step against PyTorch.
#[test]
fn hundred_adam_steps_with_weight_decay_match_pytorch() {
    let p = parity();
    let decayed: Value = serde_json::from_slice(
        &std::fs::read(fixture("pytorch/parity_weight_decay.json")).unwrap(),
    )
    .unwrap();
    let weight_decay = decayed["weight_decay"].as_f64().unwrap();
    assert_eq!(
        weight_decay,
        TrainingConfig::new().weight_decay,
        "the default recipe"
    );
    adam_steps_match(&p, &decayed, weight_decay);
}

/// Trains from `p`'s initial weights on its batches and compares with `expected`'s losses,
/// final weights and held-out predictions.
fn adam_steps_match(p: &Value, expected: &Value, weight_decay: f64) {
    let device = Default::default();
    let mut model: ThreatDetector<AB> =
        from_state_dict(Path::new("initial"), state_dict(&p["initial"]), &device).unwrap();
    model.dropout = DropoutConfig::new(0.0).init(); // the fixture disables dropout
    let features = floats(&p["features"]);
    let labels: Vec<f32> = p["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_f64().unwrap() as f32)
        .collect();
    let torch_losses = floats(&expected["losses"]);
    let batches = p["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 100);
    // PyTorch's Adam: β = (0.9, 0.999), ε = 1e-8 (burn's default ε is 1e-5).
    let mut optim = TrainingConfig::new()
        .with_weight_decay(weight_decay)
        .optimizer()
        .init();
    let mut losses = Vec::new();
    for batch in batches {
        let idx: Vec<usize> = batch
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_u64().unwrap() as usize)
            .collect();
        let x: Vec<f32> = idx
            .iter()
            .flat_map(|&i| features[i * 7..i * 7 + 7].to_vec())
            .collect();
        let y: Vec<f32> = idx.iter().map(|&i| labels[i]).collect();
        let x = Tensor::<AB, 2>::from_data(TensorData::new(x, [idx.len(), 7]), &device);
        let y = Tensor::<AB, 2>::from_data(TensorData::new(y, [idx.len(), 1]), &device);
        let loss = bce_with_logits(model.forward_logits(x), y, 1.0);
        losses.push(loss.clone().into_scalar());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
    let loss_diff = max_difference(&losses, &torch_losses);
    eprintln!("largest per-step loss difference: {loss_diff:e}");
    assert!(loss_diff <= 1e-4, "{loss_diff}");

    let model = model.valid();
    let held: Vec<f32> = features[6400 * 7..].to_vec();
    let x = Tensor::<B, 2>::from_data(TensorData::new(held, [256, 7]), &device);
    let ours = model.forward(x).into_data().into_vec::<f32>().unwrap();
    let prediction_diff = max_difference(&ours, &floats(&expected["held_predictions"]));
    eprintln!("largest held-out prediction difference: {prediction_diff:e}");
    assert!(prediction_diff <= 1e-4, "{prediction_diff}");
    // And the weights themselves.
    let final_torch = state_dict(&expected["final"]);
    for (key, _, ours) in pytorch_state_dict(&model) {
        let theirs = &final_torch.iter().find(|(k, _, _)| *k == key).unwrap().2;
        assert!(max_difference(&ours, theirs) <= 1e-4, "{key}");
    }
}

#[test]
fn imported_pytorch_model_predicts_like_pytorch_on_the_real_samples() {
    let device = Default::default();
    let model = load_pytorch::<B>(fixture("pytorch/model.pt"), &device).unwrap();
    let scaler = load_sklearn_scaler(fixture("pytorch/scaler.json")).unwrap();
    let detector = imported_detector(model, scaler, 0.5, &fixture("pytorch/model.pt")).unwrap();
    let (ours, theirs) = common::scores_beside_pytorch(&detector);
    let diff = max_difference(&ours, &theirs);
    eprintln!("largest imported-model prediction difference on the real samples: {diff:e}");
    assert!(diff <= 1e-5, "{diff}");
    // The same weights arrive from PyTorch's safetensors file, and from the fixture's JSON.
    let st = load_safetensors::<B>(fixture("pytorch/model.safetensors"), &device).unwrap();
    let json =
        from_state_dict::<B>(Path::new("final"), state_dict(&parity()["final"]), &device).unwrap();
    for other in [&st, &json] {
        for ((k1, s1, v1), (k2, s2, v2)) in pytorch_state_dict(detector.model().unwrap())
            .into_iter()
            .zip(pytorch_state_dict(other))
        {
            assert_eq!((k1.as_str(), &s1), (k2.as_str(), &s2));
            assert_eq!(v1, v2, "{k1}");
        }
    }
}

#[test]
fn exported_safetensors_match_pytorchs_own_file() {
    let device = Default::default();
    let model = load_pytorch::<B>(fixture("pytorch/model.pt"), &device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("exported.safetensors");
    save_safetensors(&model, &out).unwrap();
    // Same keys, shapes, dtype and values as the file PyTorch wrote for the same state_dict,
    // so PyTorch's load_state_dict accepts it as it accepts its own.
    let ours_bytes = std::fs::read(&out).unwrap();
    let theirs_bytes = std::fs::read(fixture("pytorch/model.safetensors")).unwrap();
    let ours = safetensors::SafeTensors::deserialize(&ours_bytes).unwrap();
    let theirs = safetensors::SafeTensors::deserialize(&theirs_bytes).unwrap();
    let mut names = ours.names();
    names.sort();
    let mut expected = theirs.names();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(
        names,
        [
            "0.bias", "0.weight", "3.bias", "3.weight", "5.bias", "5.weight"
        ]
    );
    for name in names {
        let (a, b) = (ours.tensor(name).unwrap(), theirs.tensor(name).unwrap());
        assert_eq!((a.dtype(), a.shape()), (b.dtype(), b.shape()), "{name}");
        assert_eq!(a.data(), b.data(), "{name}");
    }
    // Round trip.
    let back = load_safetensors::<B>(&out, &device).unwrap();
    let x = Tensor::<B, 2>::from_data(TensorData::new(vec![0.5f32; 70], [10, 7]), &device);
    assert_eq!(
        model
            .forward(x.clone())
            .into_data()
            .into_vec::<f32>()
            .unwrap(),
        back.forward(x).into_data().into_vec::<f32>().unwrap()
    );
}

#[test]
fn missing_keys_wrong_shapes_and_bad_scalers_are_named() {
    let device = Default::default();
    let mut entries = state_dict(&parity()["final"]);
    entries.retain(|(k, _, _)| k != "3.bias");
    let e = from_state_dict::<B>(Path::new("ckpt"), entries, &device).unwrap_err();
    assert!(e.to_string().contains("missing key `3.bias`"), "{e}");
    let mut entries = state_dict(&parity()["final"]);
    for (k, shape, _) in entries.iter_mut() {
        if k == "0.weight" {
            *shape = vec![7, 64];
        }
    }
    let e = from_state_dict::<B>(Path::new("ckpt"), entries, &device).unwrap_err();
    assert!(
        e.to_string()
            .contains("key `0.weight`: expected shape [64, 7], found [7, 64]"),
        "{e}"
    );
    let mut entries = state_dict(&parity()["final"]);
    entries.push(("6.weight".into(), vec![1], vec![0.0]));
    let e = from_state_dict::<B>(Path::new("ckpt"), entries, &device).unwrap_err();
    assert!(e.to_string().contains("unexpected key `6.weight`"), "{e}");
    let e = load_pytorch::<B>(fixture("pytorch/scaler.json"), &device).unwrap_err();
    assert!(matches!(e, Error::Artifact { .. }), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let scaler = std::fs::read_to_string(fixture("pytorch/scaler.json")).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let e =
        load_sklearn_scaler(write("a.json", scaler.replace("\"userId\"", "\"uid\""))).unwrap_err();
    assert!(e.to_string().contains("uid"), "{e}");
    let v: Value = serde_json::from_str(&scaler).unwrap();
    let mut short = v.clone();
    short["mean"].as_array_mut().unwrap().pop();
    let e = load_sklearn_scaler(write("b.json", short.to_string())).unwrap_err();
    assert!(e.to_string().contains("7 means"), "{e}");
}
