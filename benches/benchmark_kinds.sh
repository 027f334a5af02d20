#!/usr/bin/env bash
# `beth-detect benchmark` (3 kinds × N seeds) timed against the same protocol in PyTorch and
# scikit-learn (benches/reference/benchmark_kinds.py), on the same files.
#
#   pip install -r benches/reference/requirements.txt   # once
#   benches/benchmark_kinds.sh [DIR] [SEEDS]             # default: full-size SYNTHETIC, 5 seeds
#   REF_SEEDS=2 benches/benchmark_kinds.sh               # fewer reference seeds (its mlp is slow);
#                                                        # fit times are compared per seed
#
# Everything measured on the default data is measured on SYNTHETIC data.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-target/bench-data/raw-scale-1}
SEEDS=${2:-5}
REF_SEEDS=${REF_SEEDS:-$SEEDS}
cargo build --release --quiet --bin beth-detect
if [ ! -f "$DIR/labelled_training_data.csv" ]; then
  ./target/release/beth-detect synth --out "$DIR" --scale 1 --seed 42
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# KEEP=DIR keeps both sides' raw output there.
[ -n "${KEEP:-}" ] && trap 'mkdir -p "$KEEP" && cp "$out"/* "$KEEP"/; rm -rf "$out"' EXIT
start=$(date +%s.%N)
./target/release/beth-detect benchmark --data "$DIR" --seeds "$SEEDS" --json > "$out/ours.json"
ours_wall=$(echo "$(date +%s.%N) - $start" | bc)
start=$(date +%s.%N)
python3 benches/reference/benchmark_kinds.py "$DIR" --seeds "$REF_SEEDS" > "$out/ref.jsonl"
ref_wall=$(echo "$(date +%s.%N) - $start" | bc)
python3 - "$out/ours.json" "$out/ref.jsonl" "$ours_wall" "$ref_wall" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))
ref = [json.loads(l) for l in open(sys.argv[2])]
print(f"data: {ours['data']['source']} ({'SYNTHETIC' if ours['data']['synthetic'] else 'real'})")
print(f"{'kind':12} {'ours fit s/seed':>16} {'ref fit s/seed':>15} {'ratio':>6} {'ours AUROC':>11} {'ref AUROC':>10}")
for d in ours["detectors"]:
    k = d["detector"]
    o = sum(r["fit_seconds"] for r in d["per_seed"]) / len(d["per_seed"])
    rs = [r for r in ref if r["detector"] == k]
    r = sum(x["fit_seconds"] for x in rs) / len(rs)
    ra = sum(x["test_auroc"] for x in rs) / len(rs)
    print(f"{k:12} {o:16.2f} {r:15.2f} {r / o:5.1f}× {d['test']['auroc_mean']:11.4f} {ra:10.4f}")
print(f"whole run: ours {float(sys.argv[3]):.0f} s for {len(ours['detectors'][0]['per_seed'])} seeds, "
      f"reference {float(sys.argv[4]):.0f} s for {len(ref) // len(ours['detectors'])} seeds")
PY
