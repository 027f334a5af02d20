#!/usr/bin/env bash
# Side by side, on the same machine and the same files: beth-detect (burn) against the original
# notebook's stack (PyTorch + pandas). Prints a table of rows/s and the ratio ours ÷ PyTorch.
# Like with like: PyTorch trains the notebook's one network, so the ratio rows are ours with one
# network (`--ensemble 1`); the default detector (two networks) gets rows of its own, its ratio
# still against PyTorch's one network (what a user switching over would see).
#
#   pip install -r benches/reference/requirements.txt   # once (PyTorch CPU, pandas, scikit-learn)
#   benches/compare.sh [DIR]                            # DIR: split files; default: full-size synthetic
#
# Everything measured on the default data is measured on SYNTHETIC data.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/timing.sh
DIR=${1:-target/bench-data/raw-scale-1}
BACKENDS=${BACKENDS:-"ndarray flex"}

cargo build --release --quiet --bin beth-detect --example throughput
if [ ! -f "$DIR/labelled_training_data.csv" ]; then
  ./target/release/beth-detect synth --out "$DIR" --scale 1 --seed 42
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for b in $BACKENDS; do
  for members in 1 2; do
    ./target/release/examples/throughput "$DIR" --backend "$b" --ensemble "$members" \
      --batch-sizes 64,1024 >> "$out/ours.jsonl"
  done
done
python3 benches/reference/pytorch_mlp.py "$DIR" --batch-sizes 64,1024 > "$out/torch.jsonl"

# The user's whole job: load CSVs, fit the scaler, one epoch, validate, test report; at batch
# 64 and 1024.
: > "$out/e2e.txt"
for batch in 64 1024; do
  ours=$(best_of ./target/release/beth-detect train --data "$DIR" --epochs 1 --batch-size "$batch" --ensemble 1 --out "$out/model")
  default=$(best_of ./target/release/beth-detect train --data "$DIR" --epochs 1 --batch-size "$batch" --out "$out/model")
  torch=$(best_of python3 benches/reference/pytorch_mlp.py "$DIR" --end-to-end --batch-size "$batch")
  echo "$batch $ours $default $torch" >> "$out/e2e.txt"
done

python3 - "$out" <<'PY'
import json, os, platform, sys
out = sys.argv[1]
ours = [json.loads(l) for l in open(os.path.join(out, "ours.jsonl"))]
torch = {(r["job"], r["batch_size"]): r for r in map(json.loads, open(os.path.join(out, "torch.jsonl")))}
print(f"machine: {platform.machine()}, {os.cpu_count()} cores; torch threads = cores")
print("PyTorch: the notebook's one network. ours: 1 network (like with like), then the default, 2")
print(f"{'job':<15} {'batch':>6} {'backend':<8} {'networks':>8} {'ours rows/s':>12} {'pytorch rows/s':>15} {'ours/pytorch':>13}")
for members in (1, 2):
    for r in (r for r in ours if r.get("members", 2) == members):
        t = torch[(r["job"].replace("inference_burn", "inference"), r["batch_size"])]
        label = f"{members}" + (" (default)" if members == 2 else "")
        print(f"{r['job']:<15} {r['batch_size']:>6} {r['backend']:<8} {label:>8} {r['rows_per_s']:>12,.0f} {t['rows_per_s']:>15,.0f} {r['rows_per_s'] / t['rows_per_s']:>13.2f}")
for line in open(os.path.join(out, "e2e.txt")):
    batch, ours_e2e, default_e2e, torch_e2e = line.split()
    ours_e2e, default_e2e, torch_e2e = float(ours_e2e), float(default_e2e), float(torch_e2e)
    print(f"end-to-end train --epochs 1 --batch-size {batch}: pytorch+pandas {torch_e2e:.2f} s; "
          f"ours, 1 network {ours_e2e:.2f} s (speed-up {torch_e2e / ours_e2e:.2f}x); "
          f"ours, the default (2 networks) {default_e2e:.2f} s (speed-up {torch_e2e / default_e2e:.2f}x)")
PY
