"""The notebook's recipe in PyTorch on the real BETH rows bundled with beth-detect, side by side
with `beth-detect train` (see the README's "Quality on real rows").

Trains the notebook's network (7 -> 64 -> 32 -> 1, ReLU, dropout 0.3, sigmoid; BCE, Adam lr 1e-3,
batch 64, 20 epochs) on tests/fixtures/beth/njeriw_DataCamp/labelled_train_head12500.csv with 20%
carved out as validation (stratified by sus_label, seeded), a StandardScaler fitted on the
training part only, the epoch with the lowest validation loss kept, and reports on the 7,500
test rows: AUROC, and recall / precision at 0.5. For each Adam weight decay given and seeds 1..5.
Also the probabilities of the five weight-decay-0 networks averaged (an ensemble).

  pip install -r benches/reference/requirements.txt
  python3 benches/reference/pytorch_real_rows.py [--weight-decays 0,1e-2] [--seeds 5]
"""
import argparse
import copy
import json

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

DIR = "tests/fixtures/beth/njeriw_DataCamp"
FEATURES = ["processId", "threadId", "parentProcessId", "userId", "mountNamespace", "argsNum", "returnValue"]


def network():
    return nn.Sequential(nn.Linear(7, 64), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())


def run(train, test, seed, weight_decay):
    fit, valid = train_test_split(train, test_size=0.2, stratify=train["sus_label"], random_state=seed)
    scaler = StandardScaler().fit(fit[FEATURES].values.astype("float64"))
    tensor = lambda d: torch.tensor(scaler.transform(d[FEATURES].values.astype("float64")), dtype=torch.float32)
    labels = lambda d: torch.tensor(d["sus_label"].values, dtype=torch.float32).reshape(-1, 1)
    x, y, xv, yv, xt = tensor(fit), labels(fit), tensor(valid), labels(valid), tensor(test)
    torch.manual_seed(seed)
    model = network()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=weight_decay)
    loss_fn = nn.BCELoss()
    best, best_loss = None, float("inf")
    for _ in range(20):
        model.train()
        for idx in torch.randperm(len(x)).split(64):
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            v = loss_fn(model(xv), yv).item()
        if v < best_loss:
            best, best_loss = copy.deepcopy(model.state_dict()), v
    model.load_state_dict(best)
    model.eval()
    with torch.no_grad():
        return model(xt).reshape(-1).numpy()


def report(p, truth):
    pred = p >= 0.5
    tp = int((pred & truth).sum())
    return {"auroc": round(float(roc_auc_score(truth, p)), 4),
            "recall": round(tp / int(truth.sum()), 4),
            "precision": round(tp / max(int(pred.sum()), 1), 4)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weight-decays", default="0,1e-2")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(2)
    read = lambda name: pd.read_csv(f"{DIR}/{name}", encoding="utf-8-sig")
    train, test = read("labelled_train_head12500.csv"), read("labelled_test_head7500.csv")
    truth = test["sus_label"].values.astype(bool)
    for wd in [float(w) for w in args.weight_decays.split(",")]:
        probabilities = []
        for seed in range(1, args.seeds + 1):
            p = run(train, test, seed, wd)
            probabilities.append(p)
            print(json.dumps({"weight_decay": wd, "seed": seed, **report(p, truth)}), flush=True)
        print(json.dumps({"weight_decay": wd, "seed": "mean of the networks' probabilities",
                          **report(np.mean(probabilities, axis=0), truth)}), flush=True)


if __name__ == "__main__":
    main()
