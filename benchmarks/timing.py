"""Timing protocol shared by the benchmarks and their peer-side scripts.

Standard library only, so that the scripts in ``benchmarks/peers/`` can import it from
the peers' own virtual environments (they add ``benchmarks/`` to ``sys.path``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> tuple[list[float], Any]:
    """Wall times in seconds of ``repeats`` calls after ``warmup`` untimed ones, and the
    last result (so the caller can check what was computed)."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out
