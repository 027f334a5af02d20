"""Tracee JSON events made of REAL parts, for the benchmarks: the DataCamp test rows
(tests/fixtures/beth/njeriw_DataCamp) written into Tracee's example event
(tests/fixtures/tracee/classic-json-example.jsonl), as tests/common/mod.rs builds them, each
with its own timestamp; rows repeat when more events than rows are asked for.

    python3 benches/reference/tracee_events.py OUT.jsonl [N]     # N: default 7,500
"""
import csv
import json
import sys

NAMES = ["processId", "threadId", "parentProcessId", "userId", "mountNamespace", "argsNum", "returnValue"]


def events(n=7500):
    template = json.loads(open("tests/fixtures/tracee/classic-json-example.jsonl").read())
    with open("tests/fixtures/beth/njeriw_DataCamp/labelled_test_head7500.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    for i in range(n):
        event = dict(template)
        for name in NAMES:
            event[name] = int(rows[i % len(rows)][name])
        event["timestamp"] = template["timestamp"] + i
        yield json.dumps(event, separators=(",", ":"))


if __name__ == "__main__":
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 7500
    with open(sys.argv[1], "w") as out:
        for line in events(n):
            out.write(line + "\n")
