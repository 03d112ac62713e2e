"""Sweep protocols and their metrics.

:class:`SweepProtocol` names what each parameter set is put through (``rate``,
``discharge``, ``cycling``, ``cv``) and turns a batch run into metrics (capacity at each
rate, retention, fade, coulombic efficiency, the model's own capacitive fraction, the
b-value of a CV set).

Conventions: capacities in mAh per g of active material as positive magnitudes per
process (sodiation / desodiation); currents anodic (desodiation) positive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from nasurf.errors import ValidationError
from nasurf.options import choose
from nasurf.sim.batch import run_batch
from nasurf.sim.experiment import Experiment
from nasurf.sim.model import MeshSpec
from nasurf.sim.parameters import ParameterSet

PROTOCOL_KINDS = ("rate", "discharge", "cycling", "cv")
DEFAULT_RATE_CURRENTS_mA_g = (50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)
DEFAULT_SCAN_RATES_mV_s = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def _label(x: float) -> str:
    return f"{x:g}".replace("+", "")


@dataclass(frozen=True)
class SweepProtocol:
    """What each parameter set is put through, and which metrics come out.

    * ``rate``: sodiate to ``lower_V`` and desodiate to ``upper_V`` at each current in turn
      (``currents_mA_g``, or ``c_rates`` against the material's capacity basis), then once
      more at the first; metrics ``sodiation_mAh_g@<rate>``, ``desodiation_mAh_g@<rate>``,
      ``retention`` (last rate / first rate, desodiation), ``recovery`` (return to the first
      rate / first), ``first_cycle_ce``.
    * ``discharge``: one sodiation (and desodiation) at ``currents_mA_g[0]`` or
      ``c_rates[0]``; metrics ``sodiation_mAh_g``, ``desodiation_mAh_g``, ``first_cycle_ce``,
      ``capacitive_fraction`` (share of the sodiation charge stored in the double layer and
      surface-redox sites: neither inserted into the host nor spent on SEI).
    * ``cycling``: ``cycles`` sodiation/desodiation cycles at the first current; metrics
      ``desodiation_mAh_g_first``, ``desodiation_mAh_g_last``, ``fade_percent``,
      ``first_cycle_ce``.
    * ``cv``: one cyclic-voltammetry cycle ``upper_V -> lower_V -> upper_V`` at each of
      ``scan_rates_mV_s`` (equilibrated at ``upper_V``); metrics
      ``capacitive_fraction@<v>`` (model's own split of the cathodic charge: stored in the
      double layer and surface-redox sites / passed), ``sodiation_mAh_g@<v>``,
      ``peak_sodiation_A_g@<v>``, ``b_value`` (slope of log |i_peak| on log v).
    """

    kind: str = "rate"
    currents_mA_g: tuple[float, ...] = ()
    c_rates: tuple[float, ...] = ()
    scan_rates_mV_s: tuple[float, ...] = ()
    cycles: int = 10
    lower_V: float = 0.01
    upper_V: float = 3.0

    def __post_init__(self) -> None:
        # frozen: the checked spelling replaces what was given ("Rate" -> "rate")
        object.__setattr__(self, "kind", choose("protocol", self.kind, PROTOCOL_KINDS,
                                                where="sweep"))
        for name in ("currents_mA_g", "c_rates", "scan_rates_mV_s"):
            vals = getattr(self, name)
            if any(not (math.isfinite(v) and v > 0) for v in vals):
                raise ValidationError("values must be positive numbers", field=name)
        if self.currents_mA_g and self.c_rates:
            raise ValidationError("give currents_mA_g or c_rates, not both", field="c_rates")
        if not self.lower_V < self.upper_V:
            raise ValidationError("lower_V must be below upper_V", field="lower_V")
        if self.cycles < 1:
            raise ValidationError("must be >= 1", field="cycles")

    # --------------------------------------------------------------------------------
    def _rates(self) -> list[str]:
        if self.c_rates:
            return [f"{_label(c)}C" for c in self.c_rates]
        cur = self.currents_mA_g or (DEFAULT_RATE_CURRENTS_mA_g if self.kind == "rate"
                                     else (100.0,))
        return [f"{_label(c)} mA g-1" for c in cur]

    def rate_labels(self) -> list[str]:
        """Column suffixes for the rates: ``100mA_g`` or ``2C``."""
        return [r.replace(" mA g-1", "mA_g") for r in self._rates()]

    def experiment(self) -> Experiment:
        """The galvanostatic experiment of this protocol (not for ``cv``)."""
        lo, hi = self.lower_V, self.upper_V
        rates = self._rates()
        if self.kind == "rate":
            seq = [*rates, rates[0]]
            steps = [s for r in seq for s in (f"Sodiate at {r} until {lo} V",
                                               f"Desodiate at {r} until {hi} V")]
            return Experiment.from_strings(steps, lower_cutoff_V=lo, upper_cutoff_V=hi,
                                           name="rate_capability")
        if self.kind in ("discharge", "cycling"):
            r = rates[0]
            return Experiment.from_strings(
                [f"Sodiate at {r} until {lo} V", f"Desodiate at {r} until {hi} V"],
                cycles=self.cycles if self.kind == "cycling" else 1,
                lower_cutoff_V=lo, upper_cutoff_V=hi, name=self.kind)
        raise ValidationError("a CV protocol has no galvanostatic experiment",
                              field="protocol")

    def metric_names(self) -> list[str]:
        if self.kind == "rate":
            labels = self.rate_labels()
            return ([f"sodiation_mAh_g@{r}" for r in labels]
                    + [f"desodiation_mAh_g@{r}" for r in labels]
                    + ["retention", "recovery", "first_cycle_ce"])
        if self.kind == "discharge":
            return ["sodiation_mAh_g", "desodiation_mAh_g", "first_cycle_ce",
                    "capacitive_fraction"]
        if self.kind == "cycling":
            return ["desodiation_mAh_g_first", "desodiation_mAh_g_last", "fade_percent",
                    "first_cycle_ce"]
        rates = [_label(v) for v in self._scan_rates()]
        return ([f"capacitive_fraction@{v}mV_s" for v in rates]
                + [f"sodiation_mAh_g@{v}mV_s" for v in rates]
                + [f"peak_sodiation_A_g@{v}mV_s" for v in rates] + ["b_value"])

    def _scan_rates(self) -> tuple[float, ...]:
        return self.scan_rates_mV_s or DEFAULT_SCAN_RATES_mV_s

    # --------------------------------------------------------------------------------
    def evaluate(self, params: ParameterSet, overrides: Mapping[str, np.ndarray], B: int,
                 mesh: MeshSpec | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Metrics (each an array of length B) and per-member failure reasons."""
        if self.kind == "cv":
            return self._evaluate_cv(params, overrides, B, mesh)
        run = run_batch(params, self.experiment(), overrides=overrides, batch_size=B,
                        mesh=mesh, failures="mark")
        sod = -run.charge_mAh_g   # positive for sodiation steps
        des = run.charge_mAh_g
        out: dict[str, np.ndarray] = {}
        if self.kind == "rate":
            labels = self.rate_labels()
            for j, r in enumerate(labels):
                out[f"sodiation_mAh_g@{r}"] = sod[2 * j]
                out[f"desodiation_mAh_g@{r}"] = des[2 * j + 1]
            first = des[1]
            with np.errstate(all="ignore"):
                out["retention"] = des[2 * len(labels) - 1] / first
                out["recovery"] = des[2 * len(labels) + 1] / first
                out["first_cycle_ce"] = des[1] / sod[0]
        elif self.kind == "discharge":
            out["sodiation_mAh_g"] = sod[0]
            out["desodiation_mAh_g"] = des[1]
            with np.errstate(all="ignore"):
                out["first_cycle_ce"] = des[1] / sod[0]
                out["capacitive_fraction"] = run.capacitive_fraction(0)
        else:
            n = len(run.steps) // 2
            out["desodiation_mAh_g_first"] = des[1]
            out["desodiation_mAh_g_last"] = des[2 * n - 1]
            with np.errstate(all="ignore"):
                out["fade_percent"] = 100.0 * (1.0 - des[2 * n - 1] / des[1])
                out["first_cycle_ce"] = des[1] / sod[0]
        return out, run.problem

    def _evaluate_cv(self, params: ParameterSet, overrides: Mapping[str, np.ndarray], B: int,
                     mesh: MeshSpec | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        rates = np.asarray(self._scan_rates(), dtype=float) * 1e-3
        R = rates.size
        # members ordered (set, rate): every set meets every scan rate in one batch
        tiled = {k: np.repeat(np.broadcast_to(np.asarray(v, dtype=float), (B,)), R)
                 for k, v in overrides.items()}
        exp = Experiment.from_strings(
            [f"Sweep from {self.upper_V} V to {self.lower_V} V at 1 mV/s",
             f"Sweep from {self.lower_V} V to {self.upper_V} V at 1 mV/s"],
            initial_voltage=self.upper_V, lower_cutoff_V=self.lower_V - 1.0,
            upper_cutoff_V=self.upper_V + 1.0, name="cv")
        run = run_batch(params, exp, overrides=tiled, batch_size=B * R,
                        sweep_rates_V_s=np.tile(rates, B), keep_trace=True, failures="mark")
        tr = run.trace or {}
        cath = (tr["step"] == run.steps[0].count)[:, None]
        I = np.where(cath, tr["I"], np.nan)
        with np.errstate(all="ignore"):
            peak = -np.nanmin(I, axis=0) / 1e3                     # A/kg -> A/g, positive
            frac = run.capacitive_fraction(0)
        peak = peak.reshape(B, R)
        frac = frac.reshape(B, R)
        sodq = (-run.charge_mAh_g[0]).reshape(B, R)
        out: dict[str, np.ndarray] = {}
        for j, v in enumerate(self._scan_rates()):
            out[f"capacitive_fraction@{_label(v)}mV_s"] = frac[:, j]
            out[f"sodiation_mAh_g@{_label(v)}mV_s"] = sodq[:, j]
            out[f"peak_sodiation_A_g@{_label(v)}mV_s"] = peak[:, j]
        lv = np.log(rates)
        with np.errstate(all="ignore"):
            lp = np.log(peak)
            lvc = lv - lv.mean()
            out["b_value"] = ((lp - lp.mean(axis=1, keepdims=True)) @ lvc) / (lvc @ lvc) \
                if R > 1 else np.full(B, np.nan)
        prob = run.problem.reshape(B, R)
        problem = np.array([next((s for s in row if s), "") for row in prob], dtype=object)
        return out, problem


def make_protocol(kind: str | SweepProtocol, **kw: Any) -> SweepProtocol:
    """A :class:`SweepProtocol` from a kind name and options (or pass one through)."""
    if isinstance(kind, SweepProtocol):
        return kind
    return SweepProtocol(kind=str(kind), **{k: (tuple(v) if isinstance(v, list | tuple |
                                                                      np.ndarray) else v)
                                           for k, v in kw.items() if v is not None})

