"""Reference for `beth-detect benchmark`: the same three detector kinds, the same protocol, in
PyTorch and scikit-learn, timed per seed on the same files.

Per seed 1..N, each kind is fitted as beth-detect fits it by default and scored on the test
split (AUROC, and the seconds spent fitting, data loading excluded):
  - mlp: two of the notebook's networks (7 -> 64 -> 32 -> 1, dropout 0.3) trained side by side,
    BCE, Adam lr 1e-3 with weight decay 1e-2, batch 64, 20 epochs, the epoch with the lowest
    validation loss kept, probabilities averaged;
  - autoencoder: 7 -> 8 -> 2 -> 8 -> 7 (ReLU), MSE, the same Adam, batch 64, up to 20 epochs,
    stopping after 3 without a lower validation loss, fitted on benign rows;
  - iforest: scikit-learn's IsolationForest (100 trees, 256 samples) on benign rows.
Features are the notebook's 7 columns, scaled with the (benign, for the label-free kinds)
training rows' mean and standard deviation. Threads = cores.

Usage:
  python3 benches/reference/benchmark_kinds.py DIR [--seeds 5] [--kinds mlp,autoencoder,iforest]
where DIR holds the Kaggle split names (labelled_training_data.csv, ...). Prints JSON lines.
"""
import argparse
import json
import time

import numpy as np
import pandas as pd
import torch
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from torch import nn

SEED = ["processId", "threadId", "parentProcessId", "userId", "mountNamespace", "argsNum", "returnValue"]
NAMES = ["labelled_training_data.csv", "labelled_validation_data.csv", "labelled_testing_data.csv"]


def mlp():
    return nn.Sequential(
        nn.Linear(7, 64), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1))


def autoencoder():
    return nn.Sequential(
        nn.Linear(7, 8), nn.ReLU(), nn.Linear(8, 2), nn.ReLU(),
        nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 7))


def fit_networks(models, loss_of, x, y, xv, yv, patience=None, epochs=20, batch=64):
    params = [p for m in models for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3, weight_decay=1e-2)
    best, best_state, since = float("inf"), None, 0
    for _ in range(epochs):
        for m in models:
            m.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            sum(loss_of(m, x[idx], y[idx]) for m in models).backward()
            opt.step()
        for m in models:
            m.eval()
        with torch.no_grad():
            v = sum(float(loss_of(m, xv, yv)) for m in models) / len(models)
        if v < best:
            best, best_state, since = v, [{k: t.clone() for k, t in m.state_dict().items()} for m in models], 0
        else:
            since += 1
            if patience is not None and since >= patience:
                break
    for m, s in zip(models, best_state):
        m.load_state_dict(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--kinds", default="mlp,autoencoder,iforest")
    args = ap.parse_args()
    train, valid, test = (pd.read_csv(f"{args.dir}/{n}", usecols=SEED + ["sus"]) for n in NAMES)
    bce = nn.BCEWithLogitsLoss()
    for kind in args.kinds.split(","):
        for seed in range(1, args.seeds + 1):
            torch.manual_seed(seed)
            started = time.perf_counter()
            fit_rows = train if kind == "mlp" else train[train.sus == 0]
            fit_valid = valid if kind == "mlp" else valid[valid.sus == 0]
            mean = fit_rows[SEED].mean()
            std = fit_rows[SEED].std(ddof=0).replace(0, 1)
            t = lambda d: torch.tensor(((d[SEED] - mean) / std).to_numpy(np.float32))
            x, xv, xt = t(fit_rows), t(fit_valid), t(test)
            y = torch.tensor(fit_rows.sus.to_numpy(np.float32)).unsqueeze(1)
            yv = torch.tensor(fit_valid.sus.to_numpy(np.float32)).unsqueeze(1)
            with torch.no_grad():
                if kind == "mlp":
                    models = [mlp(), mlp()]
                    with torch.enable_grad():
                        fit_networks(models, lambda m, a, b: bce(m(a), b), x, y, xv, yv)
                    score = sum(torch.sigmoid(m(xt)) for m in models).squeeze(1).numpy() / 2
                elif kind == "autoencoder":
                    models = [autoencoder()]
                    mse = lambda m, a, _: ((m(a) - a) ** 2).mean()
                    with torch.enable_grad():
                        fit_networks(models, mse, x, y, xv, yv, patience=3)
                    score = ((models[0](xt) - xt) ** 2).mean(dim=1).numpy()
                else:
                    forest = IsolationForest(random_state=seed).fit(x.numpy())
                    score = -forest.score_samples(xt.numpy())
            fit_seconds = time.perf_counter() - started
            auroc = roc_auc_score(test.sus.to_numpy(), score)
            print(json.dumps({"detector": kind, "seed": seed, "fit_seconds": fit_seconds, "test_auroc": auroc}), flush=True)


if __name__ == "__main__":
    main()
