"""Reference: the original notebook's network in PyTorch, timed on the same data as ours.

The same network (7 -> 64 -> 32 -> 1, ReLU, dropout 0.3, sigmoid; BCE; Adam lr 1e-3), the
same synthetic CSV (written by `beth-detect synth`), threads = cores. Prints, as JSON lines:
  - training rows/s for one epoch per batch size (data already in memory as tensors), and
  - inference rows/s at batch 8192,
  - and, with --end-to-end, the wall time of the user's whole job done the PyTorch + pandas way
    (read CSVs, fit scaler on train, one epoch at batch 64, validate, test report).

Usage:
  python3 benches/reference/pytorch_mlp.py DIR [--batch-sizes 64,1024] [--end-to-end [--batch-size 64]]
where DIR holds labelled_training_data.csv, labelled_validation_data.csv, labelled_testing_data.csv.
"""
import argparse
import json
import os
import time

t_import = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

SEED = ["processId", "threadId", "parentProcessId", "userId", "mountNamespace", "argsNum", "returnValue"]


def network():
    return nn.Sequential(
        nn.Linear(7, 64), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())


def load(path, usecols=SEED + ["sus"]):
    return pd.read_csv(path, usecols=usecols)


def scale(train, other):
    mean = train.mean(axis=0)
    std = train.std(axis=0, ddof=0).replace(0, 1)
    return ((other - mean) / std).astype("float32")


def train_epoch(model, x, y, batch_size):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCELoss()
    model.train()
    perm = torch.randperm(len(x))
    for i in range(0, len(x), batch_size):
        idx = perm[i:i + batch_size]
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()


def infer(model, x, batch_size=8192):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            out.append(model(x[i:i + batch_size]))
    return torch.cat(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--batch-sizes", default="64,1024")
    ap.add_argument("--end-to-end", action="store_true")
    ap.add_argument("--batch-size", type=int, default=64, help="the end-to-end job's batch size")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(42)

    if args.end_to_end:
        t0 = time.perf_counter()
        train = load(os.path.join(args.dir, "labelled_training_data.csv"))
        val = load(os.path.join(args.dir, "labelled_validation_data.csv"))
        test = load(os.path.join(args.dir, "labelled_testing_data.csv"))
        t_loaded = time.perf_counter()
        xs = [torch.from_numpy(scale(train[SEED], d[SEED]).values) for d in (train, val, test)]
        ys = [torch.from_numpy(d["sus"].values.astype("float32")).reshape(-1, 1) for d in (train, val, test)]
        model = network()
        train_epoch(model, xs[0], ys[0], args.batch_size)
        from sklearn.metrics import roc_auc_score
        reports = {}
        for name, x, y in (("validation", xs[1], ys[1]), ("test", xs[2], ys[2])):
            p = infer(model, x).numpy().ravel()
            yy = y.numpy().ravel()
            reports[name] = {"accuracy": float(((p >= 0.5) == (yy == 1)).mean()),
                             "auroc": float(roc_auc_score(yy, p))}
        t_done = time.perf_counter()
        print(json.dumps({"job": "end_to_end_pytorch_pandas", "import_s": round(t0 - t_import, 3),
                          "load_s": round(t_loaded - t0, 3), "train_validate_test_s": round(t_done - t_loaded, 3),
                          "total_s": round(t_done - t_import, 3), "reports_synthetic": reports}))
        return

    train = load(os.path.join(args.dir, "labelled_training_data.csv"))
    x = torch.from_numpy(scale(train[SEED], train[SEED]).values)
    y = torch.from_numpy(train["sus"].values.astype("float32")).reshape(-1, 1)
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        model = network()
        t = time.perf_counter()
        train_epoch(model, x, y, bs)
        dt = time.perf_counter() - t
        print(json.dumps({"job": "train_epoch", "batch_size": bs, "rows": len(x), "seconds": round(dt, 3),
                          "rows_per_s": round(len(x) / dt)}))
    model = network()
    infer(model, x[:8192])
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        infer(model, x)
        best = min(best, time.perf_counter() - t)
    print(json.dumps({"job": "inference", "batch_size": 8192, "rows": len(x), "seconds": round(best, 3),
                      "rows_per_s": round(len(x) / best)}))


if __name__ == "__main__":
    main()
