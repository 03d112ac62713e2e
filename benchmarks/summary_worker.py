"""One side of a source-tree comparison of the cycle summary (``bench_cycling.py --baseline``).

    python benchmarks/summary_worker.py SRC TASKS.json

Imports nasurf from ``SRC`` (a ``src/`` folder of any checkout, e.g. a detached worktree of
an older commit), reads each task's file (untimed; an ``npz`` task holds arrays t, V, I)
and times ``cycling_summary(data).cycles`` ``repeats`` times after one warm-up call.
Prints {"results": [{"times_s": [...]}, ...]}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(src: str, tasks_path: str) -> None:
    sys.path.insert(0, src)
    sys.path.insert(1, str(Path(__file__).resolve().parent))
    from nasurf.analysis import cycling_summary
    from nasurf.io import read
    from timing import timed

    tasks = json.loads(Path(tasks_path).read_text())["tasks"]
    out = []
    for task in tasks:
        if task.get("kind") == "npz":
            import numpy as np
            import pandas as pd

            from nasurf.io.table import CURRENT, TIME, VOLTAGE

            a = np.load(task["path"])
            data = pd.DataFrame({TIME: a["t"], VOLTAGE: a["V"], CURRENT: a["I"]})
        else:
            data = read(task["path"])

        def run(data=data):
            res = cycling_summary(data)
            res.cycles  # noqa: B018 - force the per-cycle table, as bench_cycling does
            return res

        times, _ = timed(run, task["repeats"], task.get("warmup", 1))
        out.append({"times_s": times})
    print(json.dumps({"results": out}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
