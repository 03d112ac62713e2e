"""Run every benchmark in this folder, one process each, and print their reports.

Each ``bench_*.py`` is standalone (``.venv/bin/python benchmarks/bench_X.py``) and times
nasurf next to the peer tool in the same run, printing ratios. Peer tools that cannot
share nasurf's environment (navani pins numpy<2) run from ``.venv-peers``, which
``make bench`` creates from ``benchmarks/requirements-peers.txt``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    selected = set(argv)
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not selected or p.stem in selected)
    failures: list[str] = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)
        print(f"--- {script.name}: exit {proc.returncode} in {time.perf_counter() - start:.1f} s",
              flush=True)
        if proc.returncode != 0:
            failures.append(script.name)
    if failures:
        print(f"\nbenchmarks that failed: {', '.join(failures)}")
        return 1
    print(f"\nall {len(scripts)} benchmarks ran")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
