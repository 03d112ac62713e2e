"""The frozen results of the cycling analyses (:class:`CyclingResult`, :class:`Retention`,
:class:`RateCapability`): column arrays with their units and conventions, tables built on
first access, JSON and CSV export."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.analysis.cycling._shared import _frame_from_columns


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Retention:
    """Capacity retention R_n = Q_desod,n / Q_ref and how Q_ref was chosen."""

    convention: str                  # e.g. "after_formation(1)", "second", "first_at_current"
    reference_cycle: int | None      # None for first_at_current (one reference per step)
    reference_capacity: float | None
    final_cycle: int | None
    final: float | None              # retention of the last complete cycle (fraction)
    unit: str

    def to_dict(self) -> dict[str, Any]:
        return {"convention": self.convention, "reference_cycle": self.reference_cycle,
                "reference_capacity": self.reference_capacity, "final_cycle": self.final_cycle,
                "final": self.final, "capacity_unit": self.unit, "unit": "1 (fraction)"}


# Consecutive rate steps whose currents differ by less than this factor are read as
# current wander, not as a change of rate (rate tests step by ×2 or more).
_DISTINCT_LEVEL_FACTOR = 1.25
#: below this share of its charge in constant current a half cycle has no set point
_MIN_CC_SHARE = 0.1


@dataclass(frozen=True)
class RateCapability:
    """Rate-capability steps detected from the per-cycle currents (methods.md §7).

    ``steps`` is a DataFrame built on first access from ``step_columns``.
    """

    step_columns: dict[str, Any] = field(repr=False)
    recovery_ratio: float | None
    recovery_step: int | None
    basis_mAh_g: float | None
    excluded_first_cycle: bool
    warnings: tuple[str, ...] = ()
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False, compare=False)

    @property
    def steps(self) -> pd.DataFrame:
        if "steps" not in self._frames:
            self._frames["steps"] = pd.DataFrame(self.step_columns)
        return self._frames["steps"]

    @property
    def rate_set_by(self) -> str | None:
        """The direction whose current changes between steps (sodiation, desodiation or
        both); None when neither does."""
        col = self.step_columns.get("rate_set_by")
        return (str(col[0]) or None) if col is not None and len(col) else None

    @property
    def n_steps(self) -> int:
        return len(self.step_columns.get("step", ()))

    @property
    def detected(self) -> bool:
        """A rate protocol: at least 2 steps, mostly held for 2 or more cycles, with at
        least two levels so held that differ by ×/÷ 1.25 or more; or, with one cycle per
        step, clearly distinct current levels (every change of step at least ×/÷ 1.25).

        Cycle-to-cycle current wander (e.g. CC-CV cells) gives many 1-cycle "steps" a few
        per cent apart; those are kept in ``steps`` but not reported as a rate test. A rate
        test with one cycle per current (common in simulations and quick screens) changes
        its current by a factor of 2 or more at each step, so it is reported.
        """
        if self.n_steps < 2:
            return False
        current = np.abs(np.asarray(self.step_columns["current_A"], float))
        n_cyc = np.asarray(self.step_columns["n_cycles"])
        if float(np.median(n_cyc)) >= 2:
            # sustained levels: at least two distinct currents each held >= 2 cycles (a
            # single check-up cycle at another current in a long test is not a rate test)
            held = current[(n_cyc >= 2) & np.isfinite(current) & (current > 0)]
            return bool(held.size >= 2
                        and held.max() / held.min() >= _DISTINCT_LEVEL_FACTOR)
        if not np.all(np.isfinite(current)) or np.any(current == 0):
            return False
        ratio = current[1:] / current[:-1]
        return bool(np.all(np.maximum(ratio, 1 / ratio) >= _DISTINCT_LEVEL_FACTOR))

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "recovery_ratio": self.recovery_ratio,
                "recovery_step": self.recovery_step, "c_rate_basis_mAh_g": self.basis_mAh_g,
                "excluded_first_cycle_of_each_step": self.excluded_first_cycle,
                "rate_set_by": self.rate_set_by,
                "warnings": list(self.warnings)}


@dataclass(frozen=True)
class CyclingResult:
    """Per-half-cycle and per-cycle galvanostatic metrics with their conventions.

    ``half_cycles`` and ``cycles`` are DataFrames built on first access from the column
    arrays (most callers need one of them, long tests have many half cycles).
    """

    half_cycle_columns: dict[str, np.ndarray] = field(repr=False)
    cycle_columns: dict[str, np.ndarray] = field(repr=False)
    initial_coulombic_efficiency: float | None
    mean_ce: float | None
    cumulative_irreversible: float | None
    retention: Retention
    rate: RateCapability
    capacity_unit: str                 # "mAh/g" with a mass, else "mAh"
    active_mass_g: float | None
    area_cm2: float | None
    units: dict[str, str]
    conventions: dict[str, Any]
    warnings: tuple[str, ...]
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # named plausibility flags: {"flag", "cycle", "half_cycle", "value", "message"}
    flags: tuple[dict[str, Any], ...] = ()
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False, compare=False)

    @property
    def all_warnings(self) -> tuple[str, ...]:
        """``warnings`` plus the step model's (the step-by-step cross-check with the
        instrument's charge counter, computed on first use: the CLI, JSON and report
        show these)."""
        steps = self.extra.get("steps")
        return self.warnings + (tuple(steps.warnings) if steps is not None else ())

    @property
    def flagged_cycles(self) -> dict[int, list[str]]:
        """Cycle number -> names of the flags raised on it (for tables and figures)."""
        out: dict[int, list[str]] = {}
        for f in self.flags:
            if f.get("cycle") is not None:
                out.setdefault(int(f["cycle"]), []).append(str(f["flag"]))
        return out

    @property
    def half_cycles(self) -> pd.DataFrame:
        if "half_cycles" not in self._frames:
            self._frames["half_cycles"] = _frame_from_columns(self.half_cycle_columns)
        return self._frames["half_cycles"]

    @property
    def cycles(self) -> pd.DataFrame:
        if "cycles" not in self._frames:
            self._frames["cycles"] = _frame_from_columns(self.cycle_columns)
        return self._frames["cycles"]

    @property
    def rate_steps(self) -> pd.DataFrame:
        return self.rate.steps

    @property
    def cumulative_irreversible_mAh_g(self) -> float | None:
        return self.cumulative_irreversible if self.capacity_unit == "mAh/g" else None

    def to_dict(self) -> dict[str, Any]:
        cycles = self.cycles.copy()
        if self.active_mass_g is None:
            # the JSON contract always carries the specific keys; null + warning, not NaN
            for col in ("sodiation_mAh_g", "desodiation_mAh_g"):
                cycles[col] = None
        return {
            "source": self.source,
            "initial_coulombic_efficiency": self.initial_coulombic_efficiency,
            "mean_coulombic_efficiency": self.mean_ce,
            **{k: self.extra.get(k) for k in (
                "initial_coulombic_efficiency_with_holds",
                "initial_coulombic_efficiency_without_holds",
                "mean_coulombic_efficiency_with_holds",
                "mean_coulombic_efficiency_without_holds", "electrode")},
            "flags": list(self.flags),
            "cumulative_irreversible_capacity": self.cumulative_irreversible,
            "capacity_unit": self.capacity_unit,
            "active_mass_g": self.active_mass_g,
            "area_cm2": self.area_cm2,
            "loading_mg_cm2": self.extra.get("loading_mg_cm2"),
            "retention": self.retention.to_dict(),
            "cycles": cycles,
            "half_cycles": self.half_cycles,
            "rate_steps": self.rate.steps if self.rate.detected else [],
            "rate_capability": self.rate.to_dict() if self.rate.detected else None,
            "units": self.units,
            "conventions": self.conventions,
            "steps": (self.extra["steps"].to_dict() if "steps" in self.extra else None),
            "warnings": list(self.all_warnings),
        }

    def to_csv(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write cycles.csv, half_cycles.csv, rate_steps.csv and summary.json.

        Each file is written to a temporary name and renamed, so a failure never leaves
        a half-written file behind.
        """
        from nasurf.jsonio import dumps
        from nasurf.outputs import atomic_write_text

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        payload = {
            "cycles.csv": self.cycles.to_csv(index=False),
            "half_cycles.csv": self.half_cycles.to_csv(index=False),
            "rate_steps.csv": self.rate.steps.to_csv(index=False),
            "summary.json": dumps({k: v for k, v in self.to_dict().items()
                                   if k not in ("cycles", "half_cycles")}, indent=2),
        }
        return [atomic_write_text(out / name, text, newline="")
                for name, text in payload.items()]
