#!/usr/bin/env bash
# What an ensemble costs through the whole training job (burn-train's Learner, batch 64):
# `beth-detect train` on the full-size SYNTHETIC training split for one epoch with 1, 3 and 5
# members, per backend, best of three; and the real rows' default job (20 epochs, carved
# validation) the same way.
#
#   benches/ensemble.sh [DIR]      # DIR: split files; default: full-size synthetic
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/timing.sh
DIR=${1:-target/bench-data/raw-scale-1}
cargo build --release --quiet --bin beth-detect
if [ ! -f "$DIR/labelled_training_data.csv" ]; then
  ./target/release/beth-detect synth --out "$DIR" --scale 1 --seed 42
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for backend in flex ndarray; do
  one=""
  for n in 1 3 5; do
    t=$(best_of ./target/release/beth-detect train --data "$DIR" --epochs 1 --ensemble "$n" --backend "$backend" --out "$out/m")
    one=${one:-$t}
    echo "synthetic full-size, 1 epoch, $backend, ensemble $n: $t s ($(echo "$t / $one" | bc -l | xargs printf '%.2f')x)"
  done
done
REAL=tests/fixtures/beth/njeriw_DataCamp
one=""
for n in 1 3 5; do
  t=$(best_of ./target/release/beth-detect train --data "$REAL" --ensemble "$n" --out "$out/m")
  one=${one:-$t}
  echo "real rows (12,500 + 7,500), 20 epochs, flex, ensemble $n: $t s ($(echo "$t / $one" | bc -l | xargs printf '%.2f')x)"
done
