"""Size limits for work that grows with its input: simulations, sweeps and fits.

A command estimates the size of what it was asked to do *before* starting and refuses
above a stated limit unless ``--force`` is given, so a typo (``--cycles 100000000``) ends
in a second with a message instead of hours later with the machine out of memory. The
limits are generous for research use; ``docs/robustness.md`` lists them.
"""

from __future__ import annotations

from nasurf.errors import ValidationError

#: cycles of one simulated protocol (the default cycling run is 100; 10 000 cycles of the
#: exact engine is hours and ~1 GB of output rows)
MAX_SIM_CYCLES = 10_000
#: parameter sets of one sweep (each is a full simulation of the protocol)
MAX_SWEEP_SETS = 100_000
#: cycles x parameter sets: the work of a cycling sweep
MAX_SWEEP_CYCLE_SETS = 1_000_000
#: starts of a multi-start simulator fit (each start is a least-squares run of simulations)
MAX_FIT_STARTS = 64
#: parameters of one simulator fit (more is not identifiable from one curve)
MAX_FIT_PARAMETERS = 12
#: points on one sweep axis (lo:hi:log:n) -- allocated before anything else runs
MAX_AXIS_POINTS = 1_000_000


def require_within(what: str, count: float, limit: float, *, force: bool = False,
                   field: str | None = None, unit: str = "") -> None:
    """Refuse ``count`` above ``limit`` unless ``force`` (one clear line naming the limit)."""
    if count <= limit or force:
        return
    raise ValidationError(
        f"{what}: {count:.4g}{' ' + unit if unit else ''} exceeds the limit of {limit:.4g}; "
        "this would run for hours or exhaust memory. Reduce it, or pass --force to run it "
        "anyway", field=field)
