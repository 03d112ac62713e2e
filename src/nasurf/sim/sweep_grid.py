"""What a sweep varies: parameter names, grids, samples.

Owns the names users give to sweepable/fittable parameters (``shell_D``, ``k0``,
``Gamma`` ...) and their mapping onto the simulator's batchable fields
(:func:`resolve_parameter`, with units and value checks), the text form of an axis
(``"1e-15:1e-12:log:20"``, :func:`parse_axis`), Latin-hypercube samples, and the lazy
design that addresses every parameter set of a grid or sample table by a flat index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nasurf.errors import ValidationError
from nasurf.options import choose
from nasurf.sim.model import BATCHABLE
from nasurf.sim.parameters import ParameterSet, Table1D

#: short names users type -> simulator field (any BATCHABLE field name is accepted too)
PARAMETER_ALIASES: dict[str, str] = {
    "shell_D": "shell_diffusivity",
    "D_shell": "shell_diffusivity",
    "D": "diffusivity",
    "D_core": "diffusivity",
    "k0": "rate_constant",
    "Gamma": "site_density",
    "C_dl": "double_layer_capacitance",
    "shell": "shell_thickness",
    "R": "particle_radius",
    "radius": "particle_radius",
    "sigma": "electronic_conductivity",
    "shell_sigma": "shell_conductivity",
    "E0_site": "site_potential",
    "k_site": "site_rate_constant",
    "ASR": "area_resistance",
    "asr": "area_resistance",
    "loading": "mass_loading",
    "x0": "initial_stoichiometry",
}

#: SI unit of each batchable field, for tables and help text
FIELD_UNITS: dict[str, str] = {
    "particle_radius": "m", "diffusivity": "m^2/s", "rate_constant": "m/s",
    "transfer_coefficient": "1", "j0_scale": "1", "electronic_conductivity": "S/m",
    "double_layer_capacitance": "F/m^2", "shell_thickness": "m", "shell_diffusivity": "m^2/s",
    "shell_conductivity": "S/m", "site_density": "mol/m^2", "site_potential": "V",
    "site_interaction": "1", "site_rate_constant": "1/s", "site_transfer_coefficient": "1",
    "mass_loading": "kg/m^2", "area_resistance": "ohm m^2", "counter_exchange_current": "A/m^2",
    "temperature": "K", "bonding_factor": "1", "lam_coefficient": "1", "sei_capacity": "C/kg",
    "sei_current_fraction": "1", "electrolyte_conductivity": "S/m", "volume_change": "1",
    "initial_stoichiometry": "1",
}

# fields that may be zero (all others must be > 0)
_MAY_BE_ZERO = {"double_layer_capacitance", "shell_thickness", "site_density", "area_resistance",
                "site_interaction", "bonding_factor", "lam_coefficient", "sei_capacity",
                "sei_current_fraction", "electrolyte_conductivity", "volume_change",
                "site_potential"}
_UNIT_INTERVAL = {"transfer_coefficient", "site_transfer_coefficient", "bonding_factor",
                  "sei_current_fraction", "initial_stoichiometry"}


def resolve_parameter(name: str) -> str:
    """The simulator field behind a user name (``shell_D`` -> ``shell_diffusivity``)."""
    field_name = PARAMETER_ALIASES.get(name, name)
    if field_name not in BATCHABLE:
        known = sorted(set(PARAMETER_ALIASES) | set(BATCHABLE))
        raise ValidationError(f"unknown or non-sweepable parameter {name!r}; known: "
                              f"{', '.join(known)}", field=name)
    return field_name


def is_table_factor(params: ParameterSet, field_name: str) -> bool:
    """True when the field is tabulated (D(c), k(c)): a value then scales the whole table."""
    value = getattr(params, field_name, None)
    if field_name == "shell_diffusivity" and not isinstance(value, Table1D):
        return False
    return isinstance(value, Table1D)


def nominal_value(params: ParameterSet, field_name: str) -> float:
    """The value a field has in ``params`` (1.0 for a tabulated field: the table factor)."""
    if is_table_factor(params, field_name):
        return 1.0
    if field_name == "shell_diffusivity":
        sd = params.shell_D
        return 1.0 if isinstance(sd, Table1D) else float(sd)
    if field_name == "shell_conductivity":
        return float(params.shell_sigma)
    return float(getattr(params, field_name))


def check_values(field_name: str, values: np.ndarray) -> np.ndarray:
    """Reason strings ('' when fine) for each value of a field, vectorised."""
    v = np.asarray(values, dtype=float)
    reason = np.full(v.shape, "", dtype=object)
    bad = ~np.isfinite(v)
    reason[bad] = f"{field_name} is not a finite number"
    if field_name in _MAY_BE_ZERO:
        neg = ~bad & (v < 0)
        reason[neg] = f"{field_name} must be >= 0"
    else:
        nonpos = ~bad & (v <= 0)
        reason[nonpos] = f"{field_name} must be > 0"
    if field_name in _UNIT_INTERVAL:
        out = ~bad & ((v < 0) | (v > 1) | ((field_name == "initial_stoichiometry")
                                           & ((v <= 0) | (v >= 1))))
        reason[out & (reason == "")] = f"{field_name} must lie in [0, 1]"
    return reason



_AXIS = re.compile(r"^\s*(?P<lo>[^:]+):(?P<hi>[^:]+):(?P<kind>lin|log):(?P<n>\d+)\s*$", re.I)


def parse_axis(text: str, *, name: str = "param") -> np.ndarray:
    """``"1e-15:1e-12:log:20"`` (or ``lin``), or a comma list ``"1e-15,1e-14"``, to values."""
    m = _AXIS.match(text)
    try:
        if m:
            lo, hi, n = float(m.group("lo")), float(m.group("hi")), int(m.group("n"))
            if n < 1:
                raise ValueError
            from nasurf.limits import MAX_AXIS_POINTS

            if n > MAX_AXIS_POINTS:
                raise ValidationError(f"{n} points on one axis; at most {MAX_AXIS_POINTS}",
                                      field=name)
            if m.group("kind").lower() == "log":
                if lo <= 0 or hi <= 0:
                    raise ValidationError("a log axis needs positive bounds", field=name)
                return np.geomspace(lo, hi, n)
            return np.linspace(lo, hi, n)
        values = np.array([float(v) for v in text.split(",") if v.strip()], dtype=float)
    except ValueError:
        raise ValidationError(f"cannot read axis {text!r}; expected 'lo:hi:log:n', "
                              "'lo:hi:lin:n' or a comma-separated list", field=name) from None
    if values.size == 0:
        raise ValidationError("empty axis", field=name)
    return values


def parse_param_option(text: str) -> tuple[str, np.ndarray]:
    """``"shell_D=1e-15:1e-12:log:20"`` -> (``"shell_D"``, values)."""
    if "=" not in text:
        raise ValidationError(f"expected NAME=lo:hi:log:n, got {text!r}", field="--param")
    name, spec = text.split("=", 1)
    name = name.strip()
    resolve_parameter(name)
    return name, parse_axis(spec, name=name)


def latin_hypercube(bounds: Mapping[str, tuple[float, float, str]], n: int, *,
                    seed: int | None = 0) -> pd.DataFrame:
    """``n`` Latin-hypercube samples; bounds ``{name: (lo, hi, "log"|"lin")}``."""
    from scipy.stats import qmc

    names = list(bounds)
    if n < 1 or not names:
        raise ValidationError("need n >= 1 and at least one parameter", field="samples")
    u = qmc.LatinHypercube(d=len(names), seed=seed).random(n)
    cols = {}
    for j, name in enumerate(names):
        lo, hi, kind = bounds[name]
        kind = choose("scale", kind, ("log", "lin"), where=f"latin_hypercube bounds of {name}")
        if kind == "log":
            cols[name] = np.exp(np.log(lo) + u[:, j] * (np.log(hi) - np.log(lo)))
        else:
            cols[name] = lo + u[:, j] * (hi - lo)
    return pd.DataFrame(cols)


@dataclass(frozen=True)
class _Design:
    """Parameter sets addressed by a flat index, generated lazily chunk by chunk."""

    names: tuple[str, ...]
    axes: tuple[np.ndarray, ...] | None = None
    samples: np.ndarray | None = None

    @property
    def size(self) -> int:
        if self.samples is not None:
            return int(self.samples.shape[0])
        return int(np.prod([a.size for a in self.axes or ()]))

    def rows(self, start: int, stop: int) -> np.ndarray:
        if self.samples is not None:
            return self.samples[start:stop]
        assert self.axes is not None
        idx = np.unravel_index(np.arange(start, stop), tuple(a.size for a in self.axes))
        return np.column_stack([a[i] for a, i in zip(self.axes, idx, strict=True)])


def _design(grid_or_samples: Mapping[str, Sequence[float] | np.ndarray] | pd.DataFrame
            ) -> _Design:
    if isinstance(grid_or_samples, pd.DataFrame):
        names = tuple(str(c) for c in grid_or_samples.columns)
        for n in names:
            resolve_parameter(n)
        try:
            values = grid_or_samples.to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise ValidationError("sample values must be numbers", field="samples") from None
        return _Design(names, samples=values)
    if not isinstance(grid_or_samples, Mapping) or not grid_or_samples:
        raise ValidationError("give a grid {name: values} or a DataFrame of samples",
                              field="grid")
    names = tuple(grid_or_samples)
    axes = []
    for n in names:
        resolve_parameter(n)
        a = np.atleast_1d(np.asarray(grid_or_samples[n], dtype=float))
        if a.ndim != 1 or a.size == 0:
            raise ValidationError("grid values must be a non-empty 1-D list", field=n)
        axes.append(a)
    return _Design(names, axes=tuple(axes))

