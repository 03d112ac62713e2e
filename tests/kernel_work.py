"""The compiled march's own work counters, for tests that pin how much work a rule saves.

:func:`count_kernel_work` wraps :func:`nasurf.sim.march_kernel.march_current` so that each
call's work array (members × ``STAT_*``: accepted, rejected and failed steps, Newton
iterations, cut-off trials) is kept; the results are the kernel's own.
"""

from __future__ import annotations

import numpy as np

from nasurf.sim import march_kernel as mk


def count_kernel_work(monkeypatch) -> list[np.ndarray]:
    """The list that receives a copy of every kernel call's work array (members, N_STAT)."""
    work: list[np.ndarray] = []
    kernel = mk.march_current

    def counting(*args):
        out = kernel(*args)
        work.append(args[-1].copy())
        return out

    monkeypatch.setattr(mk, "march_current", counting)
    return work


def total_work(work: list[np.ndarray]) -> np.ndarray:
    """The counters summed over every call and member (N_STAT,)."""
    return sum(w.sum(axis=0) for w in work)
