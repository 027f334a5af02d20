# Sourced by the benchmark scripts.

# best_of CMD...: the best wall time of three runs of CMD, in seconds (3 decimals); output
# discarded.
best_of() {
  local best=999999
  for _ in 1 2 3; do
    local s e t
    s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l)
    best=$(echo "if ($t < $best) $t else $best" | bc -l)
  done
  printf '%.3f' "$best"
}
