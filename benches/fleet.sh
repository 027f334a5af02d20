#!/usr/bin/env bash
# Fleet throughput on one machine, side by side (issue 29):
#   1. offline `beth-detect score` of N Tracee JSON lines, stdout to /dev/null (best of three),
#      as it is (every event with its score) and with `--output-format falco` (the alerts with
#      their reasons, the work a fleet scorer does);
#   2. `beth-detect publish` of the same file into a fresh JetStream stream (best of three, each
#      into a new stream);
#   3. two `beth-detect score --nats` processes draining that stream together: N / (last ack −
#      first message over both), and each one's share of the events; one message per alert (the
#      default), 256 alerts a message at most (`--alerts-per-message 256`), and no alerts.
# nats-server (Debian's, `apt-get install nats-server`) runs on the same cores as everything else.
#
# The events are REAL rows written into a REAL event: the 7,500 DataCamp test rows
# (tests/fixtures/beth/njeriw_DataCamp) put into Tracee's example event
# (tests/fixtures/tracee/classic-json-example.jsonl), as tests/serve.rs builds them, repeated
# with fresh timestamps up to N (default 200,000; ~760 bytes each). The detector is the default
# one trained on the real DataCamp training rows.
#
#   benches/fleet.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
cargo build --release --quiet --bin beth-detect
BIN=./target/release/beth-detect
out=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2> /dev/null; rm -rf "$out"; }
trap cleanup EXIT

python3 benches/reference/tracee_events.py "$out/events.jsonl" "$N"
$BIN train --data tests/fixtures/beth/njeriw_DataCamp --out "$out/model" > /dev/null 2>&1

# summary FIELD: FIELD of the last JSON line on stdin.
summary() { python3 -c "import json,sys; print([json.loads(l) for l in sys.stdin if l.startswith('{')][-1]['$1'])"; }

# best_offline [OPTIONS]: the best of three offline runs, events/s.
best_offline() {
  local best=0 rate
  for _ in 1 2 3; do
    rate=$($BIN score --model "$out/model" "$out/events.jsonl" --json "$@" 2>&1 > /dev/null | summary events_per_second)
    best=$(python3 -c "print(max($best, $rate))")
  done
  echo "$best"
}
offline=$(best_offline)
offline_falco=$(best_offline --output-format falco)

start_server() {
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  rm -rf "$out/js"
  nats-server -js -sd "$out/js" -a 127.0.0.1 -p "$port" > /dev/null 2>&1 &
  server=$!
  sleep 0.3
  url="nats://127.0.0.1:$port"
}
stop_server() { kill "$server"; wait "$server" 2> /dev/null || true; server=; }

published=0
for _ in 1 2 3; do
  start_server
  rate=$($BIN publish --nats "$url" "$out/events.jsonl" --json 2>&1 | summary events_per_second)
  published=$(python3 -c "print(max($published, $rate))")
  stop_server
done

# The same detector with threshold 1: no event alerts, which shows the scoring path without
# the cost of storing one JetStream message per alert.
python3 - "$out/model" "$out/quiet" <<'PY'
import json, os, shutil, sys
shutil.copytree(sys.argv[1], sys.argv[2])
path = os.path.join(sys.argv[2], "detector.json")
detector = json.load(open(path))
detector["threshold"] = 1.0
json.dump(detector, open(path, "w"))
PY

# drain MODEL PREFIX [OPTIONS]: a fresh server, the file published, two scorers draining it
# together.
drain() {
  local model=$1 prefix=$2
  shift 2
  start_server
  $BIN publish --nats "$url" "$out/events.jsonl" > /dev/null 2>&1
  $BIN score --model "$model" --nats "$url" --until-idle 2 --json "$@" 2> "$out/$prefix-a.json" > /dev/null &
  local a=$!
  $BIN score --model "$model" --nats "$url" --until-idle 2 --json "$@" 2> "$out/$prefix-b.json" > /dev/null &
  local b=$!
  wait $a $b
  stop_server
}
drain "$out/model" alerting
drain "$out/model" packed --alerts-per-message 256
drain "$out/quiet" quiet

python3 - "$out" "$N" "$offline" "$offline_falco" "$published" <<'PY'
import json, os, sys
out, n = sys.argv[1], int(sys.argv[2])
offline, offline_falco, published = map(float, sys.argv[3:6])
print(f"machine: {os.cpu_count()} cores; {n:,} Tracee JSON events (real rows in a real event)")
print(f"offline score (best of 3)          {offline:>12,.0f} events/s")
print(f"offline score, falco (best of 3)   {offline_falco:>12,.0f} events/s")
print(f"publish (best of 3)                {published:>12,.0f} events/s")
for prefix, what in (("alerting", "an alert a message"), ("packed", "256 alerts a message"),
                     ("quiet", "threshold 1, no alerts")):
    runs = [[json.loads(l) for l in open(os.path.join(out, f"{prefix}-{x}.json")) if l.startswith("{")][-1]
            for x in ("a", "b")]
    events = sum(r["events"] for r in runs)
    assert events == n, (events, n)
    drain = max(r["last_ack_at"] for r in runs) - min(r["first_message_at"] for r in runs)
    fleet = n / drain
    print(f"two scorers, {what:<22} {fleet:>12,.0f} events/s  ({fleet / offline:.2f}x offline, "
          f"{fleet / offline_falco:.2f}x offline falco; "
          f"shares {runs[0]['events'] / n:.0%} / {runs[1]['events'] / n:.0%}; "
          f"alerts {sum(r['alerts'] for r in runs):,})")
PY
