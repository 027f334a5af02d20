#!/usr/bin/env bash
# Load on `beth-detect serve` over loopback with wrk (many concurrent clients, keep-alive):
#   1. single-event POSTs (what Tracee's webhook sends): requests/s, p50/p99 latency;
#   2. NDJSON bodies of 1,000 events: events/s;
#   3. a sustained run of at least 10 M events in NDJSON bodies, sampling the server's RSS
#      every half second (memory must stay flat) and checking /metrics counted every event.
# Client and server share this machine's cores, so the figures are a floor.
#
#   apt-get install wrk          # once
#   benches/serve_load.sh        # CONNECTIONS=16 SECONDS=15 by default
#
# The detector is the default recipe trained on the bundled real DataCamp rows; the events are
# a real Tracee event (tests/fixtures/tracee/classic-json-example.jsonl) with the fields of the
# real DataCamp test rows written in. Throughput does not depend on what the events mean.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNECTIONS=${CONNECTIONS:-16}
SECONDS_PER_RUN=${SECONDS:-15}
BATCH=1000

command -v wrk > /dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --bin beth-detect
BIN=./target/release/beth-detect
out=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2> /dev/null; rm -rf "$out"; }
trap cleanup EXIT

$BIN train --data tests/fixtures/beth/njeriw_DataCamp --out "$out/model" > /dev/null 2>&1

python3 benches/reference/tracee_events.py "$out/events.jsonl"
python3 - "$out" "$BATCH" <<'PY'
import sys
out, batch = sys.argv[1], int(sys.argv[2])
events = open(f"{out}/events.jsonl").read().splitlines()
# wrk's Lua reads one body per line: NDJSON bodies with their newlines escaped as \n.
with open(f"{out}/batches.txt", "w") as f:
    for start in range(0, len(events) - batch + 1, batch):
        f.write("\\n".join(events[start:start + batch]) + "\n")
PY

cat > "$out/post.lua" <<'LUA'
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do
  bodies[#bodies + 1] = line:gsub("\\n", "\n")
end
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/events", { ["Content-Type"] = "application/json" }, bodies[i])
end
LUA

$BIN serve --model "$out/model" --listen 127.0.0.1:0 --alerts "$out/alerts.jsonl" \
  2> "$out/serve.log" &
server=$!
for _ in $(seq 100); do grep -q listening "$out/serve.log" 2> /dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$out/serve.log")

# wrk's summary: requests, seconds, p50 and p99 latency, failures.
run() { # BODIES SECONDS
  BODIES=$1 wrk -t2 -c"$CONNECTIONS" -d"$2"s --latency -s "$out/post.lua" "$url" > "$out/wrk.txt"
  python3 - "$out/wrk.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
requests, seconds = re.search(r"(\d+) requests in ([\d.]+)(m?s)", text).group(1, 2)
unit = re.search(r"\d+ requests in [\d.]+(m?s)", text).group(1)
seconds = float(seconds) / (1000 if unit == "ms" else 1)
def latency(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", text, re.M)
    return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: (.*)", text)
print(int(requests), seconds, latency(50), latency(99), int(bad.group(1)) if bad else 0,
      (errors.group(1).strip() if errors else "none").replace(" ", "_"))
PY
}
metric() { curl -s "$url/metrics" | sed -n "s/^$1 //p"; }

echo "machine: $(nproc) cores; wrk -t2 -c$CONNECTIONS, keep-alive; detector: default recipe (2 networks) on the real rows"
echo "warming up..."
run "$out/events.jsonl" 3 > /dev/null

read -r n s p50 p99 bad errors < <(run "$out/events.jsonl" "$SECONDS_PER_RUN")
printf 'single-event POSTs : %9.0f requests/s  p50 %.3f ms  p99 %.3f ms  non-2xx %s  socket errors %s\n' \
  "$(echo "$n / $s" | bc -l)" "$p50" "$p99" "$bad" "$errors"
read -r n s p50 p99 bad errors < <(run "$out/batches.txt" "$SECONDS_PER_RUN")
rate=$(echo "$n * $BATCH / $s" | bc -l)
printf 'NDJSON x%-5d      : %9.0f events/s    p50 %.3f ms  p99 %.3f ms  non-2xx %s  socket errors %s\n' \
  "$BATCH" "$rate" "$p50" "$p99" "$bad" "$errors"

# Sustained: long enough for 10 M events at the rate just measured.
sustain=$(python3 -c "import math; print(max(10, math.ceil(10e6 / $rate * 1.5)))")
before=$(metric beth_detect_events_total)
( while kill -0 "$server" 2> /dev/null; do
    awk '/VmRSS/ {print $2}' "/proc/$server/status"; sleep 0.5
  done > "$out/rss.txt" ) &
sampler=$!
read -r n s p50 p99 bad errors < <(run "$out/batches.txt" "$sustain")
kill "$sampler" 2> /dev/null || true
after=$(metric beth_detect_events_total)
counted=$(echo "$after - $before" | bc)
sent=$((n * BATCH))
python3 - "$out/rss.txt" "$sent" "$counted" "$s" "$bad" "$errors" <<'PY'
import sys
rss = [int(x) / 1024 for x in open(sys.argv[1]).read().split()]
sent, counted, seconds, bad, errors = int(sys.argv[2]), int(float(sys.argv[3])), float(sys.argv[4]), sys.argv[5], sys.argv[6]
tenth = max(1, len(rss) // 10)
print(f"sustained          : {sent:,} events in {seconds:.1f} s ({sent / seconds:,.0f} events/s), "
      f"counted by /metrics {counted:,}, non-2xx {bad}, socket errors {errors}")
print(f"server RSS (MB)    : first tenth max {max(rss[:tenth]):.1f}, last tenth max {max(rss[-tenth:]):.1f}, "
      f"peak {max(rss):.1f} over {len(rss)} samples")
# wrk counts requests that completed; a request cut off when wrk stops may still be counted
# by the server, so the server may count up to one body per connection more, never fewer.
print("nothing lost" if counted >= sent else f"LOST {sent - counted} events")
PY
