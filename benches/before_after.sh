#!/usr/bin/env bash
# Two builds of beth-detect side by side with PyTorch, interleaved, on the same files: the
# whole job (CSV -> 1 epoch -> reports) at batch 64 (one, two and five networks) and 1024 (one
# and two). Prints every run's wall time; read the best of each row.
#
#   benches/before_after.sh BEFORE_BIN AFTER_BIN [DIR] [ROUNDS]
#
# Build the "before" binary from a git worktree of the older commit (`cargo build --release`),
# copy it out, then build this tree. DIR defaults to the full-size SYNTHETIC split files.
set -uo pipefail
cd "$(dirname "$0")/.."
BEFORE=$1; AFTER=$2; DIR=${3:-target/bench-data/raw-scale-1}; ROUNDS=${4:-3}
if [ ! -f "$DIR/labelled_training_data.csv" ]; then
  "$AFTER" synth --out "$DIR" --scale 1 --seed 42
fi
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
t() { local s e; s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
for batch in 64 1024; do
  for ens in 1 2 5; do
    [ "$batch" = 1024 ] && [ "$ens" = 5 ] && continue
    b=(); a=()
    for _ in $(seq "$ROUNDS"); do
      b+=("$(t "$BEFORE" train --data "$DIR" --epochs 1 --batch-size "$batch" --ensemble "$ens" --out "$out/b")")
      a+=("$(t "$AFTER" train --data "$DIR" --epochs 1 --batch-size "$batch" --ensemble "$ens" --out "$out/a")")
    done
    echo "batch $batch ensemble $ens before ${b[*]} after ${a[*]}"
  done
  p=()
  for _ in $(seq "$ROUNDS"); do
    p+=("$(t python3 benches/reference/pytorch_mlp.py "$DIR" --end-to-end --batch-size "$batch")")
  done
  echo "batch $batch pytorch ${p[*]}"
done
