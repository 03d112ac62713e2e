"""navani side of the cycle-summary benchmark; runs inside the peers venv (.venv-peers).

    .venv-peers/bin/python benchmarks/peers/navani_summary.py TASKS.json

TASKS.json holds {"tasks": [...]}; each task is either

* ``{"kind": "file", "path": ..., "repeats": n}``: navani.echem.echem_file_loader(path)
  (untimed), then ``cycle_summary`` timed;
* ``{"kind": "npz", "path": ..., "repeats": n, "warmup": 0|1}``: arrays ``t`` (s), ``V`` (V),
  ``I`` (A) of a synthetic test; the navani-format frame is built the way navani's loaders
  build it (state from the current sign, half cycle = count of state changes among
  non-rest rows, Capacity = charge in mAh reset at each half cycle, Current in mA), all
  untimed; then ``cycle_summary`` timed.

Only ``cycle_summary`` is timed (time.perf_counter in this process): interpreter start-up,
imports, file parsing and frame construction do not count. Prints one JSON document with
the timings and navani's per-cycle Discharge/Charge Capacity (mAh) for the equality check.
"""

from __future__ import annotations

import json
import statistics
import sys
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

import navani.echem as ec  # noqa: E402

# benchmarks/timing.py (standard library only) is shared with the nasurf side
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from timing import timed  # noqa: E402


def navani_frame(t: np.ndarray, v: np.ndarray, i: np.ndarray) -> pd.DataFrame:
    code = np.where(i > 0, 0, np.where(i < 0, 1, 2)).astype(np.int8)
    active = code != 2
    change = np.zeros(len(code), bool)
    idx = np.flatnonzero(active)
    change[idx] = np.concatenate(([True], code[idx][1:] != code[idx][:-1]))
    half = np.cumsum(change)
    dq = np.abs(i) * np.diff(t, prepend=t[0]) / 3.6           # mAh, right-point rule
    starts = np.flatnonzero(np.diff(half, prepend=-1) != 0)
    cap = np.cumsum(dq)
    base = np.repeat(cap[starts] - dq[starts], np.diff(np.append(starts, len(cap))))
    capacity = cap - base
    state = np.array([0, 1, "R"], dtype=object)[code]
    return pd.DataFrame({"Time": t, "Voltage": v, "Current": i * 1e3, "Capacity": capacity,
                         "state": state, "cycle change": change, "half cycle": half,
                         "full cycle": np.ceil(half / 2)})




def main(path: str) -> None:
    with open(path, encoding="utf-8") as fh:
        tasks = json.load(fh)["tasks"]
    results = []
    for task in tasks:
        if task["kind"] == "file":
            df = ec.echem_file_loader(task["path"])
        else:
            arr = np.load(task["path"])
            df = navani_frame(arr["t"], arr["V"], arr["I"])
            del arr
        times, summary = timed(lambda df=df: ec.cycle_summary(df.copy(deep=False)),
                               task.get("repeats", 5), task.get("warmup", 1))
        results.append({
            "path": task["path"], "rows": len(df), "times_s": times,
            "median_s": statistics.median(times), "min_s": min(times),
            "full_cycle": summary.index.to_numpy(float).tolist(),
            "discharge_mAh": summary["Discharge Capacity"].to_numpy(float).tolist(),
            "charge_mAh": summary["Charge Capacity"].to_numpy(float).tolist(),
        })
        del df, summary
    json.dump({"navani": ec.__name__, "results": results}, sys.stdout, allow_nan=True)


if __name__ == "__main__":
    main(sys.argv[1])
