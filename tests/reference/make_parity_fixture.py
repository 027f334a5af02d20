"""PyTorch parity fixture: the original notebook's network, step for step.

Builds the notebook's nn.Sequential (7 -> 64 -> 32 -> 1) with a fixed seed and dropout
disabled (p = 0: both sides are then deterministic), runs 100 Adam steps (lr 1e-3, batch 64,
PyTorch's defaults otherwise) on 6,400 fixed rows, and writes into tests/fixtures/pytorch/:

  parity.json        initial weights (state_dict keys 0/3/5), the 6,656 scaled feature rows
                     (the first 6,400 train, the last 256 are held out), labels, the batch
                     order, the loss of every step, the final weights, and the final
                     predictions on the 256 held rows;
  model.pt           the final state_dict, saved with torch.save;
  model.safetensors  the same tensors, saved with safetensors.torch.save_file;
  scaler.json        {"features", "mean", "std"}: the StandardScaler the rows were scaled with;
  real_predictions.json  the final model's probabilities on the 300 real DataCamp sample rows
                     (tests/fixtures/beth/datacamp_projection), scaled with that scaler.

Rows: the 300 real DataCamp sample rows plus 6,356 SYNTHETIC rows drawn here with numpy.

Run from the repository root:
  pip install -r tests/reference/requirements.txt
  python3 tests/reference/make_parity_fixture.py
"""
import json
import os

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file
from sklearn.preprocessing import StandardScaler
from torch import nn

OUT = "tests/fixtures/pytorch"
SEED = ["processId", "threadId", "parentProcessId", "userId", "mountNamespace", "argsNum", "returnValue"]
STEPS, BATCH, HELD = 100, 64, 256

torch.manual_seed(2021)
rng = np.random.default_rng(2021)

real = pd.concat([pd.read_csv(f"tests/fixtures/beth/datacamp_projection/labelled_{s}.csv")
                  for s in ("train", "validation", "test")], ignore_index=True)
n_syn = STEPS * BATCH + HELD - len(real)
sus = rng.random(n_syn) < 0.3
syn = pd.DataFrame({
    "processId": np.where(sus, rng.integers(1000, 60000, n_syn), rng.integers(1, 900, n_syn)),
    "threadId": np.where(sus, rng.integers(1000, 60000, n_syn), rng.integers(1, 900, n_syn)),
    "parentProcessId": np.where(sus, rng.integers(600, 60000, n_syn), rng.integers(0, 2, n_syn)),
    "userId": np.where(sus, rng.choice([0, 1000], n_syn), rng.choice([0, 100, 101], n_syn)),
    "mountNamespace": rng.choice([4026531840, 4026532232, 4026532231], n_syn),
    "argsNum": rng.integers(0, 6, n_syn),
    "returnValue": np.where(rng.random(n_syn) < 0.2, -rng.integers(1, 14, n_syn), rng.integers(0, 40, n_syn)),
    "sus_label": sus.astype(int),
})
rows = pd.concat([real, syn], ignore_index=True)
order = rng.permutation(len(rows))  # mix real and synthetic rows before holding some out
rows = rows.iloc[order].reset_index(drop=True)

scaler = StandardScaler().fit(rows[SEED].values.astype("float64"))
x = torch.tensor(scaler.transform(rows[SEED].values.astype("float64")), dtype=torch.float32)
y = torch.tensor(rows["sus_label"].values, dtype=torch.float32).reshape(-1, 1)
x_train, y_train, x_held = x[:STEPS * BATCH], y[:STEPS * BATCH], x[STEPS * BATCH:]

model = nn.Sequential(nn.Linear(7, 64), nn.ReLU(), nn.Dropout(0.0),
                      nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())


def weights(m):
    return {k: v.detach().tolist() for k, v in m.state_dict().items()}


initial = weights(model)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)  # betas (0.9, 0.999), eps 1e-8
loss_fn = nn.BCELoss()
batches = torch.randperm(STEPS * BATCH).reshape(STEPS, BATCH)
losses = []
model.train()
for idx in batches:
    opt.zero_grad()
    loss = loss_fn(model(x_train[idx]), y_train[idx])
    loss.backward()
    opt.step()
    losses.append(loss.item())
model.eval()
with torch.no_grad():
    held = model(x_held).reshape(-1).tolist()

os.makedirs(OUT, exist_ok=True)
with open(f"{OUT}/parity.json", "w") as f:
    json.dump({
        "source": "tests/reference/make_parity_fixture.py; rows: 300 real DataCamp sample rows + SYNTHETIC rows",
        "torch_version": torch.__version__,
        "initial": initial,
        "features": [[float(f"{v:.9g}") for v in row] for row in x.tolist()],
        "labels": y.reshape(-1).int().tolist(),
        "batches": batches.tolist(),
        "losses": losses,
        "final": weights(model),
        "held_predictions": held,
    }, f, separators=(",", ":"))
state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
torch.save(state, f"{OUT}/model.pt")
save_file(state, f"{OUT}/model.safetensors")
with open(f"{OUT}/scaler.json", "w") as f:
    json.dump({"features": SEED, "mean": scaler.mean_.tolist(), "std": scaler.scale_.tolist()}, f, indent=1)
real_x = torch.tensor(scaler.transform(real[SEED].values.astype("float64")), dtype=torch.float32)
with torch.no_grad():
    real_p = model(real_x).reshape(-1).tolist()
with open(f"{OUT}/real_predictions.json", "w") as f:
    json.dump({"files": ["labelled_train.csv", "labelled_validation.csv", "labelled_test.csv"],
               "predictions": real_p}, f)
