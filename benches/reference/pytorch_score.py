"""Reference: `beth-detect score` done the notebook's way (pandas + PyTorch), for the ratio.

Same job as `beth-detect score --model DIR INPUT --output OUT`: read the whole CSV (every
column, because the output keeps them), scale the seven features with the detector's own
scaler statistics, run the same network (or ensemble) on the same weights (exported with
`beth-detect export`), append `score` and `prediction`, write the CSV. Threads = cores.

Usage:
  python3 benches/reference/pytorch_score.py MODEL_DIR WEIGHTS.safetensors INPUT.csv OUTPUT.csv
Prints one JSON line: rows, seconds, rows/s. Seed feature set only (the raw columns as they are).
"""
import json
import sys
import time

import pandas as pd
import torch
from safetensors.torch import load_file
from torch import nn


def network():
    return nn.Sequential(
        nn.Linear(7, 64), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())


def main():
    model_dir, weights, source, target = sys.argv[1:5]
    torch.set_num_threads(torch.get_num_threads())
    detector = json.load(open(f"{model_dir}/detector.json"))
    scaler = detector["scaler"]
    assert scaler["feature_set"] == "seed", "this reference encodes the seed features only"
    # An ensemble's weights are an nn.ModuleList of the notebook's networks (keys `m.0.weight`,
    # ...); its score is the mean of their probabilities.
    members = detector.get("members", 1)
    model = network() if members == 1 else nn.ModuleList([network() for _ in range(members)])
    model.load_state_dict(load_file(weights))
    model.eval()
    forward = model if members == 1 else (lambda x: torch.stack([m(x) for m in model]).mean(0))
    started = time.perf_counter()
    frame = pd.read_csv(source)
    features = frame[scaler["features"]].to_numpy(dtype="float64")
    std = pd.Series(scaler["std"]).replace(0, 1).to_numpy()
    x = torch.from_numpy(((features - scaler["mean"]) / std).astype("float32"))
    scores = []
    with torch.no_grad():
        for i in range(0, len(x), 8192):
            scores.append(forward(x[i:i + 8192]).squeeze(1))
    score = torch.cat(scores).numpy()
    frame["score"] = score
    frame["prediction"] = (score >= detector["threshold"]).astype("int8")
    frame.to_csv(target, index=False)
    seconds = time.perf_counter() - started
    print(json.dumps({"job": "score", "rows": len(frame), "seconds": seconds,
                      "rows_per_s": len(frame) / seconds}))


if __name__ == "__main__":
    main()
