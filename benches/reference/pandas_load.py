"""Reference: pandas reading the same raw BETH training split that benches/loading.rs reads.

Usage: python3 benches/reference/pandas_load.py target/bench-data/raw-scale-1/labelled_training_data.csv
Prints rows/s for a full read and for the fastest path (usecols = the 8 columns the features
and labels need). Best of 3 runs each.
"""
import sys
import time

import pandas as pd

NEEDED = ["processId", "threadId", "parentProcessId", "userId", "mountNamespace",
          "eventId", "argsNum", "returnValue", "sus"]


def best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        rows = fn()
        times.append(time.perf_counter() - t)
    return rows, min(times)


def main(path):
    rows, t = best(lambda: len(pd.read_csv(path)))
    print(f"pandas full read:    {rows} rows in {t:.3f} s = {rows / t / 1e6:.2f} M rows/s")
    rows, t = best(lambda: len(pd.read_csv(path, usecols=NEEDED)))
    print(f"pandas usecols read: {rows} rows in {t:.3f} s = {rows / t / 1e6:.2f} M rows/s")


if __name__ == "__main__":
    main(sys.argv[1])
