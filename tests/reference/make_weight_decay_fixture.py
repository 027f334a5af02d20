"""PyTorch parity fixture for Adam's weight decay (the crate's default recipe).

Reads tests/fixtures/pytorch/parity.json (made by make_parity_fixture.py: initial weights,
scaled rows, labels, batch order), trains the same network from the same initial weights on the
same batches with torch.optim.Adam(lr=1e-3, weight_decay=1e-2) — PyTorch's L2 form, which adds
weight_decay * w to every parameter's gradient — and writes
tests/fixtures/pytorch/parity_weight_decay.json: every step's loss, the final weights and the
predictions on the 256 held-out rows.

Run from the repository root:
  pip install -r tests/reference/requirements.txt
  python3 tests/reference/make_weight_decay_fixture.py
"""
import json

import torch
from torch import nn

WEIGHT_DECAY = 1e-2
OUT = "tests/fixtures/pytorch"

with open(f"{OUT}/parity.json") as f:
    p = json.load(f)

model = nn.Sequential(nn.Linear(7, 64), nn.ReLU(), nn.Dropout(0.0),
                      nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
model.load_state_dict({k: torch.tensor(v, dtype=torch.float32) for k, v in p["initial"].items()})
x = torch.tensor(p["features"], dtype=torch.float32)
y = torch.tensor(p["labels"], dtype=torch.float32).reshape(-1, 1)
train_rows = len(p["batches"]) * len(p["batches"][0])
opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=WEIGHT_DECAY)
loss_fn = nn.BCELoss()
losses = []
model.train()
for idx in p["batches"]:
    idx = torch.tensor(idx)
    opt.zero_grad()
    loss = loss_fn(model(x[idx]), y[idx])
    loss.backward()
    opt.step()
    losses.append(loss.item())
model.eval()
with torch.no_grad():
    held = model(x[train_rows:]).reshape(-1).tolist()
with open(f"{OUT}/parity_weight_decay.json", "w") as f:
    json.dump({
        "source": "tests/reference/make_weight_decay_fixture.py from parity.json",
        "torch_version": torch.__version__,
        "weight_decay": WEIGHT_DECAY,
        "losses": losses,
        "final": {k: v.detach().tolist() for k, v in model.state_dict().items()},
        "held_predictions": held,
    }, f, separators=(",", ":"))
print("largest per-step loss difference from the run without decay:", max(abs(a - b) for a, b in zip(losses, p["losses"])))
