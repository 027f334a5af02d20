#!/usr/bin/env bash
# Side by side, on the same machine and the same files: beth-detect (burn) against the original
# notebook's stack (PyTorch + pandas). Prints a table of rows/s and the ratio ours ÷ PyTorch.
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
  ./target/release/examples/throughput "$DIR" --backend "$b" --batch-sizes 64,1024 >> "$out/ours.jsonl"
done
python3 benches/reference/pytorch_mlp.py "$DIR" --batch-sizes 64,1024 > "$out/torch.jsonl"

# The user's whole job: load CSVs, fit the scaler, one epoch at batch 64, validate, test report.
ours_e2e=$(best_of ./target/release/beth-detect train --data "$DIR" --epochs 1 --batch-size 64 --out "$out/model")
torch_e2e=$(best_of python3 benches/reference/pytorch_mlp.py "$DIR" --end-to-end)

python3 - "$out" "$ours_e2e" "$torch_e2e" <<'PY'
import json, os, platform, sys
out, ours_e2e, torch_e2e = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
ours = [json.loads(l) for l in open(os.path.join(out, "ours.jsonl"))]
torch = {(r["job"], r["batch_size"]): r for r in map(json.loads, open(os.path.join(out, "torch.jsonl")))}
print(f"machine: {platform.machine()}, {os.cpu_count()} cores; torch threads = cores")
print(f"{'job':<12} {'batch':>6} {'backend':<8} {'ours rows/s':>12} {'pytorch rows/s':>15} {'ours/pytorch':>13}")
for r in ours:
    t = torch[(r["job"].replace("inference_burn", "inference"), r["batch_size"])]
    print(f"{r['job']:<12} {r['batch_size']:>6} {r['backend']:<8} {r['rows_per_s']:>12,.0f} {t['rows_per_s']:>15,.0f} {r['rows_per_s'] / t['rows_per_s']:>13.2f}")
print(f"end-to-end train --epochs 1 --batch-size 64: ours {ours_e2e:.2f} s, pytorch+pandas {torch_e2e:.2f} s, "
      f"speed-up {torch_e2e / ours_e2e:.2f}x")
PY
