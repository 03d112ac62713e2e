"""Readable protocol steps for the half-cell simulator (in the spirit of PyBaMM experiments).

Grammar (case-insensitive; currents in specific units through :mod:`nasurf.units`, or
C-rates against the material's stated capacity basis):

* ``Sodiate at 100 mA g-1 until 0.01 V`` / ``Desodiate at 1C until 3.0 V``
* ``Sodiate at 20 mA g-1 for 10 minutes`` (optionally ``... for 10 minutes or until 0.01 V``)
* ``Rest for 1 hour``
* ``Hold at 0.01 V until 10 mA g-1`` / ``Hold at 0.01 V for 1 hour``
* ``Sweep from 3.0 V to 0.01 V at 0.5 mV/s`` (one branch of a cyclic voltammogram)

An :class:`Experiment` repeats its steps ``cycles`` times, applying degradation between
repetitions. Helpers build the common protocols: :func:`rate_capability`,
:func:`cyclic_voltammetry`, :func:`gitt`, :func:`galvanostatic_cycling`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from nasurf.errors import ValidationError
from nasurf.units import parse_quantity

_C_RATE = re.compile(r"^\s*(?:(?P<x>[0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*C"
                     r"|C\s*/\s*(?P<d>[0-9]*\.?[0-9]+))\s*$")
_GALV = re.compile(r"^(?P<kind>sodiate|desodiate)\s+at\s+(?P<rate>.+?)"
                   r"(?:\s+for\s+(?P<dur>.+?))?(?:\s+(?:or\s+)?until\s+(?P<cut>.+?))?\s*$", re.I)
_REST = re.compile(r"^rest\s+for\s+(?P<dur>.+?)\s*$", re.I)
_HOLD = re.compile(r"^hold\s+at\s+(?P<v>.+?)(?:\s+for\s+(?P<dur>.+?))?"
                   r"(?:\s+(?:or\s+)?until\s+(?P<lim>.+?))?\s*$", re.I)
_SWEEP = re.compile(r"^sweep\s+from\s+(?P<a>.+?)\s+to\s+(?P<b>.+?)\s+at\s+(?P<v>.+?)\s*$", re.I)


@dataclass(frozen=True)
class Step:
    """One parsed protocol step (SI units; currents as magnitudes in A/kg or a C-rate)."""

    kind: str                      # sodiate | desodiate | rest | hold | sweep
    text: str = ""
    current_A_kg: float = math.nan  # magnitude; nan when given as a C-rate
    c_rate: float = math.nan
    duration_s: float = math.inf
    cutoff_V: float = math.nan
    hold_V: float = math.nan
    current_limit_A_kg: float = 0.0
    v_from: float = math.nan
    v_to: float = math.nan
    scan_rate_V_s: float = math.nan

    def current_magnitude(self, capacity_basis_C_kg: float) -> float:
        """|I| in A/kg; a C-rate uses the given capacity basis (C/kg)."""
        if math.isfinite(self.c_rate):
            return self.c_rate * capacity_basis_C_kg / 3600.0
        return self.current_A_kg


def _where(text: str) -> str:
    return f"step '{text}'"


def _specific_current(s: str, text: str) -> tuple[float, float]:
    m = _C_RATE.match(s)
    if m:
        rate = float(m.group("x")) if m.group("x") else 1.0 / float(m.group("d"))
        if rate <= 0:
            raise ValidationError(f"{_where(text)}: C-rate must be positive")
        return math.nan, rate
    q = parse_quantity(s, "specific_current", where=_where(text))
    val = float(q.to("A/kg").magnitude)
    if val <= 0:
        raise ValidationError(f"{_where(text)}: give the current as a positive magnitude; "
                              "the direction comes from 'Sodiate'/'Desodiate'")
    return val, math.nan


def _duration(s: str, text: str) -> float:
    q = parse_quantity(s, "time", where=_where(text))
    val = float(q.to("s").magnitude)
    if val <= 0:
        raise ValidationError(f"{_where(text)}: duration must be positive")
    return val


def _voltage(s: str, text: str) -> float:
    return float(parse_quantity(s, "potential", where=_where(text)).to("V").magnitude)


def parse_step(text: str) -> Step:
    """Parse one readable step; errors name the step and the expected form."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("empty protocol step; expected e.g. 'Sodiate at 100 mA g-1 "
                              "until 0.01 V'")
    return _parse_normalised(" ".join(text.strip().split()))


# Steps are immutable and a protocol repeats a handful of texts (a sweep or fit re-runs
# them thousands of times): the pint conversions are done once per distinct text.
@functools.lru_cache(maxsize=4096)
def _parse_normalised(t: str) -> Step:
    if m := _GALV.match(t):
        cur, rate = _specific_current(m.group("rate"), t)
        dur = _duration(m.group("dur"), t) if m.group("dur") else math.inf
        cut = _voltage(m.group("cut"), t) if m.group("cut") else math.nan
        if not math.isfinite(dur) and not math.isfinite(cut):
            raise ValidationError(f"{_where(t)}: needs 'until <voltage>' or 'for <duration>'")
        return Step(m.group("kind").lower(), t, cur, rate, dur, cut)
    if m := _REST.match(t):
        return Step("rest", t, duration_s=_duration(m.group("dur"), t))
    if m := _HOLD.match(t):
        v = _voltage(m.group("v"), t)
        dur = _duration(m.group("dur"), t) if m.group("dur") else math.inf
        lim = 0.0
        if m.group("lim"):
            lim, rate = _specific_current(m.group("lim"), t)
            if math.isfinite(rate):
                raise ValidationError(f"{_where(t)}: give the end current of a hold in mA g-1")
        if not math.isfinite(dur) and lim <= 0:
            raise ValidationError(f"{_where(t)}: needs 'until <current>' or 'for <duration>'")
        return Step("hold", t, hold_V=v, duration_s=dur, current_limit_A_kg=lim)
    if m := _SWEEP.match(t):
        a, b = _voltage(m.group("a"), t), _voltage(m.group("b"), t)
        v = float(parse_quantity(m.group("v"), "scan_rate", where=_where(t)).to("V/s").magnitude)
        if v <= 0 or a == b:
            raise ValidationError(f"{_where(t)}: needs distinct potentials and a positive "
                                  "scan rate")
        return Step("sweep", t, v_from=a, v_to=b, scan_rate_V_s=v)
    raise ValidationError(
        f"cannot parse step '{t}'; expected one of: 'Sodiate|Desodiate at <current or C-rate> "
        "until <V> | for <duration>', 'Rest for <duration>', 'Hold at <V> until <current> | "
        "for <duration>', 'Sweep from <V> to <V> at <scan rate>'")


@dataclass(frozen=True)
class Experiment:
    """Steps repeated ``cycles`` times; ``initial_voltage`` equilibrates the start.

    ``lower_cutoff_V`` / ``upper_cutoff_V`` guard every galvanostatic step (a step's own
    ``until`` wins); a step given both a duration and a cut-off that ends at the cut-off
    ends the experiment when ``stop_at_cutoff`` (GITT).
    """

    steps: tuple[Step, ...]
    cycles: int = 1
    initial_voltage: float | None = None
    lower_cutoff_V: float = 0.0
    upper_cutoff_V: float = 3.0
    stop_at_cutoff: bool = False
    name: str = "custom"

    @classmethod
    def from_strings(cls, steps: Sequence[str], **kw: object) -> Experiment:
        if isinstance(steps, str):
            steps = [steps]
        parsed = tuple(parse_step(s) for s in steps)
        if not parsed:
            raise ValidationError("an experiment needs at least one step")
        exp = cls(parsed, **kw)  # type: ignore[arg-type]
        if exp.cycles < 1:
            raise ValidationError("cycles must be >= 1", field="cycles")
        return exp


def as_experiment(experiment: Experiment | Sequence[str]) -> Experiment:
    """``experiment`` itself, or the experiment of these step texts with the defaults
    (:meth:`Experiment.from_strings`): the same immutable object for the same texts, so
    a sweep or fit that passes its steps as strings does not rebuild it every call."""
    if isinstance(experiment, Experiment):
        return experiment
    texts = tuple(experiment)
    if all(type(t) is str for t in texts):
        return _of_texts(texts)
    return Experiment.from_strings(list(texts))   # says what is wrong with the steps


@functools.lru_cache(maxsize=256)
def _of_texts(texts: tuple[str, ...]) -> Experiment:
    return Experiment.from_strings(list(texts))


def _fmt_current(mA_g: float) -> str:
    return f"{mA_g:g} mA g-1"


def rate_capability(currents_mA_g: Sequence[float] = (50, 100, 200, 500, 1000, 2000, 5000),
                    *, cycles_per_rate: int = 1, lower_V: float = 0.01, upper_V: float = 3.0,
                    return_to_first: bool = True) -> Experiment:
    """The 7-rate protocol: sodiate/desodiate at each current, then back to the first."""
    seq = list(currents_mA_g) + ([currents_mA_g[0]] if return_to_first else [])
    steps: list[str] = []
    for cur in seq:
        for _ in range(cycles_per_rate):
            steps += [f"Sodiate at {_fmt_current(cur)} until {lower_V} V",
                      f"Desodiate at {_fmt_current(cur)} until {upper_V} V"]
    return Experiment.from_strings(steps, lower_cutoff_V=lower_V, upper_cutoff_V=upper_V,
                                   name="rate_capability")


def galvanostatic_cycling(current: str = "100 mA g-1", *, cycles: int = 100,
                          lower_V: float = 0.01, upper_V: float = 3.0) -> Experiment:
    """Long cycling at one current (degradation applied between cycles)."""
    return Experiment.from_strings(
        [f"Sodiate at {current} until {lower_V} V", f"Desodiate at {current} until {upper_V} V"],
        cycles=cycles, lower_cutoff_V=lower_V, upper_cutoff_V=upper_V, name="cycling")


def cyclic_voltammetry(scan_rate_mV_s: float, *, high_V: float = 3.0, low_V: float = 0.01,
                       cycles: int = 2) -> Experiment:
    """CV cycles starting at ``high_V`` (equilibrated there): down to ``low_V`` and back."""
    return Experiment.from_strings(
        [f"Sweep from {high_V} V to {low_V} V at {scan_rate_mV_s} mV/s",
         f"Sweep from {low_V} V to {high_V} V at {scan_rate_mV_s} mV/s"],
        cycles=cycles, initial_voltage=high_V, lower_cutoff_V=min(low_V, 0.0) - 1.0,
        upper_cutoff_V=high_V + 1.0, name="cv")


def gitt(current: str = "20 mA g-1", *, pulse: str = "10 minutes", rest: str = "1 hour",
         pulses: int = 50, direction: str = "sodiate", cutoff_V: float | None = None
         ) -> Experiment:
    """Galvanostatic intermittent titration: pulses and rests until the cut-off."""
    cut = cutoff_V if cutoff_V is not None else (0.01 if direction == "sodiate" else 3.0)
    verb = "Sodiate" if direction == "sodiate" else "Desodiate"
    return Experiment.from_strings(
        [f"{verb} at {current} for {pulse} or until {cut} V", f"Rest for {rest}"],
        cycles=pulses, stop_at_cutoff=True, name="gitt")
