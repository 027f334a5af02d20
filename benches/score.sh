#!/usr/bin/env bash
# End-to-end `beth-detect score` (read CSV, featurise, score, write CSV) against the same job done
# with pandas + PyTorch (benches/reference/pytorch_score.py), on the same machine and file, same
# weights. Also checks that both wrote the same scores, and (MEMORY=1) that peak memory does
# not grow with the input: 100 k events against 10 M. Then `score --explain` on a file where
# every event is an alert, and every detector kind's end-to-end throughput.
#
#   pip install -r benches/reference/requirements.txt   # once
#   benches/score.sh [FILE]      # default: the full-size SYNTHETIC raw training split (763,144 rows)
#   MEMORY=1 benches/score.sh    # also the 100 k / 10 M peak-RSS comparison (writes ~4 GB)
#
# The default data is SYNTHETIC; throughput does not depend on what the events mean.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/timing.sh
DATA=target/bench-data
FILE=${1:-$DATA/raw-scale-1/labelled_training_data.csv}

cargo build --release --quiet --bin beth-detect
BIN=./target/release/beth-detect
if [ ! -f "$FILE" ]; then
  $BIN synth --out "$(dirname "$FILE")" --scale 1 --seed 42
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Throughput does not depend on model quality: a small, quickly trained detector will do.
$BIN train --synthetic --scale 0.02 --epochs 1 --out "$out/model" > /dev/null 2>&1
$BIN export --model "$out/model" --out "$out/weights.safetensors" > /dev/null

rows=$(($(wc -l < "$FILE") - 1))
ours=$(best_of $BIN score --model "$out/model" "$FILE" --output "$out/ours.csv")
theirs=$(best_of python3 benches/reference/pytorch_score.py "$out/model" "$out/weights.safetensors" "$FILE" "$out/torch.csv")

python3 - "$out" "$rows" "$ours" "$theirs" <<'PY'
import os, sys
import pandas as pd
out, rows, ours, theirs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
a = pd.read_csv(os.path.join(out, "ours.csv"), usecols=["score", "prediction"])
b = pd.read_csv(os.path.join(out, "torch.csv"), usecols=["score", "prediction"])
assert len(a) == len(b) == rows, (len(a), len(b), rows)
diff = (a["score"] - b["score"]).abs().max()
flips = int((a["prediction"] != b["prediction"]).sum())
print(f"machine: {os.cpu_count()} cores; {rows:,} rows; best of 3 wall times")
print(f"beth-detect score  {ours:7.3f} s  {rows / ours:>12,.0f} events/s")
print(f"pandas + PyTorch   {theirs:7.3f} s  {rows / theirs:>12,.0f} events/s")
print(f"ratio ours/pytorch (events/s): {theirs / ours:.2f}x; max |score difference| {diff:.2e}, "
      f"prediction flips {flips}")
PY

# `score --explain` on an all-alert file: the same detector with threshold 0, so every event
# is explained (seven occluded copies of each scored in the same batch).
python3 - "$out/model/detector.json" "$out/all-alert" <<'PY'
import json, os, shutil, sys
src, dst = os.path.dirname(sys.argv[1]), sys.argv[2]
shutil.copytree(src, dst)
detector = json.load(open(sys.argv[1]))
detector["threshold"] = 0.0
json.dump(detector, open(os.path.join(dst, "detector.json"), "w"))
PY
plain=$(best_of $BIN score --model "$out/all-alert" "$FILE" --output /dev/null)
explained=$(best_of $BIN score --model "$out/all-alert" --explain "$FILE" --output /dev/null)
printf 'all-alert file: score %.3f s (%.0f events/s); score --explain %.3f s (%.0f alerts explained/s)\n' \
  "$plain" "$(echo "$rows / $plain" | bc -l)" "$explained" "$(echo "$rows / $explained" | bc -l)"

# Every detector kind, end to end on the same file (the label-free ones trained quickly on a
# small synthetic set: the cost of scoring does not depend on how well they were trained).
for kind in autoencoder iforest; do
  $BIN train --synthetic --scale 0.02 --epochs 1 --detector "$kind" --out "$out/$kind" > /dev/null 2>&1
done
for kind in model autoencoder iforest; do
  t=$(best_of $BIN score --model "$out/$kind" "$FILE" --output /dev/null)
  printf 'score with %-11s %.3f s  %12.0f events/s\n' "${kind/model/mlp}" "$t" "$(echo "$rows / $t" | bc -l)"
done

if [ "${MEMORY:-0}" = 1 ]; then
  # Peak RSS of `score` on 100 k and on 10 M events (the synthetic training split at two scales).
  for scale in 0.131 13.1; do
    dir="$DATA/raw-scale-$scale"
    [ -f "$dir/labelled_training_data.csv" ] || $BIN synth --out "$dir" --scale "$scale" --seed 7
    f="$dir/labelled_training_data.csv"
    n=$(($(wc -l < "$f") - 1))
    /usr/bin/time -f "%M" -o "$out/rss" $BIN score --model "$out/model" "$f" --output /dev/null 2> /dev/null
    printf '%12s events: peak RSS %6.1f MB\n' "$n" "$(echo "$(cat "$out/rss") / 1024" | bc -l)"
  done
fi
