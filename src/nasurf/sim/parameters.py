"""Parameter sets of the half-cell simulator: materials as cited data, SI inside.

This module owns :class:`ParameterSet` (one working electrode material in a Na-metal half
cell, with its optional surface shell and surface pseudocapacitive store), the functions of
state it carries (:class:`OCP`, :class:`Table1D`), and the loaders of the packaged YAML
materials and of user files. Every numeric value in a file carries a unit (parsed through
:mod:`nasurf.units`) and a ``source``; loading converts it to SI and keeps the source so a
result can say where each number came from.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nasurf.errors import ValidationError
from nasurf.units import convert

F = 96485.33212  # C/mol (CODATA 2018, methods.md §0)
R_GAS = 8.314462618  # J/(mol K)

# ---------------------------------------------------------------------------------------
# Functions of state
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table1D:
    """A tabulated function y(x), evaluated by linear interpolation.

    Outside the table the end segments are extrapolated linearly (as PyBaMM's linear
    interpolants do), so a model driven past the data keeps a finite slope instead of a
    silent plateau. ``x_kind`` says what x is: ``"stoichiometry"`` (c/c_max) or
    ``"concentration"`` (mol m-3).
    """

    x: tuple[float, ...]
    y: tuple[float, ...]
    x_kind: str = "stoichiometry"

    def __post_init__(self) -> None:
        xs = np.asarray(self.x, dtype=float)
        if xs.size < 2 or xs.size != len(self.y) or np.any(np.diff(xs) <= 0):
            raise ValidationError("a table needs >= 2 points with strictly increasing x")

    # numpy copies of the table, built once (frozen dataclass: cached in __dict__)
    @functools.cached_property
    def _xa(self) -> np.ndarray:
        return np.asarray(self.x, dtype=float)

    @functools.cached_property
    def _ya(self) -> np.ndarray:
        return np.asarray(self.y, dtype=float)

    @functools.cached_property
    def _slopes(self) -> np.ndarray:
        return np.diff(self._ya) / np.diff(self._xa)

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        xs, ys = self._xa, self._ya
        x = np.asarray(x, dtype=float)
        y = np.interp(x, xs, ys)
        lo = x < xs[0]
        hi = x > xs[-1]
        if np.any(lo) or np.any(hi):
            s = self._slopes
            y = np.where(lo, ys[0] + s[0] * (x - xs[0]), y)
            y = np.where(hi, ys[-1] + s[-1] * (x - xs[-1]), y)
        return y

    def derivative(self, x: np.ndarray | float) -> np.ndarray:
        slopes = self._slopes
        idx = np.clip(np.searchsorted(self._xa, np.asarray(x, dtype=float), side="right") - 1,
                      0, len(slopes) - 1)
        return slopes[idx]

    def scaled(self, factor: float) -> Table1D:
        return replace(self, y=tuple(float(v) * factor for v in self.y))


@dataclass(frozen=True)
class OCP:
    """Open-circuit potential of the host versus Na+/Na as a function of stoichiometry x.

    ``kind="table"``: linear interpolation of ``table``. ``kind="lattice_gas"``:
    U(x) = E0 + n·(RT/F)·ln((x_max − x)/x), an interaction-free lattice gas broadened by
    the slope factor n (n = 1 is ideal Nernstian insertion, larger n a sloping profile,
    smaller n a flatter plateau) whose sites are exhausted at x = x_max.
    """

    kind: str
    table: Table1D | None = None
    E0: float = 0.0
    slope_factor: float = 1.0
    x_max: float = 1.0
    temperature: float = 298.15

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        if self.kind == "table":
            assert self.table is not None
            return self.table(x)
        xm = self.x_max
        xc = np.clip(np.asarray(x, dtype=float), 1e-290 * xm, xm * (1 - 1e-15))
        return self.E0 + self.slope_factor * R_GAS * self.temperature / F * np.log((xm - xc) / xc)

    def derivative(self, x: np.ndarray | float) -> np.ndarray:
        if self.kind == "table":
            assert self.table is not None
            return self.table.derivative(x)
        xm = self.x_max
        xc = np.clip(np.asarray(x, dtype=float), 1e-290 * xm, xm * (1 - 1e-15))
        return -self.slope_factor * R_GAS * self.temperature / F * (1.0 / (xm - xc) + 1.0 / xc)

    def stoichiometry_at(self, voltage: float) -> float:
        """Stoichiometry where U(x) = voltage (the OCP falls with x)."""
        return float(self.inverse(np.asarray(voltage, dtype=float)))

    def inverse(self, voltage: np.ndarray) -> np.ndarray:
        """Stoichiometry where U(x) = voltage, elementwise (inverse of a falling OCP).

        Lattice gas: closed form. Table: inverse linear interpolation, clamped to the
        table's stoichiometry range.
        """
        v = np.asarray(voltage, dtype=float)
        if self.kind == "lattice_gas":
            n_f = self.slope_factor * R_GAS * self.temperature / F
            # x_max / (1 + e^z) written with expit's stable form
            z = np.clip((v - self.E0) / n_f, -745.0, 745.0)
            return self.x_max * np.exp(-np.logaddexp(0.0, z))
        assert self.table is not None
        xs = np.asarray(self.table.x)
        us = np.asarray(self.table.y)
        return np.interp(v, us[::-1], xs[::-1])

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "table":
            assert self.table is not None
            return {"kind": "table", "stoichiometry": list(self.table.x),
                    "voltage": list(self.table.y)}
        return {"kind": self.kind, "E0": self.E0, "slope_factor": self.slope_factor,
                "x_max": self.x_max}


# ---------------------------------------------------------------------------------------
# Parameter set
# ---------------------------------------------------------------------------------------

# field -> (SI unit, dimension key for nasurf.units, default or None if required, meaning)
SCALAR_FIELDS: dict[str, tuple[str, str, float | None, str]] = {
    "molar_mass": ("kg/mol", "[mass]/[substance]", None, "molar mass of the host formula unit"),
    "density": ("kg/m^3", "[mass]/[length]**3", None, "density of the active material"),
    "electrons": ("", "dimensionless", 1.0, "Na stored per formula unit at x = 1"),
    "max_concentration": ("mol/m^3", "[substance]/[length]**3", math.nan,
                          "c_max; default electrons·density/molar_mass"),
    "particle_radius": ("m", "length", None, "particle radius"),
    "diffusivity": ("m^2/s", "diffusivity", None, "Na diffusivity in the core"),
    "rate_constant": ("m/s", "[length]/[time]", None, "k0 of the insertion reaction"),
    "transfer_coefficient": ("", "dimensionless", 0.5, "alpha_a (alpha_c = 1 − alpha_a)"),
    "j0_scale": ("", "dimensionless", 1.0, "prefactor of j0 (0.5 for Chayambuka's form)"),
    "electronic_conductivity": ("S/m", "conductivity", None, "electronic conductivity of the core"),
    "volume_change": ("", "dimensionless", 0.0, "ΔV/V0 on full sodiation (methods.md §9)"),
    "initial_stoichiometry": ("", "dimensionless", None, "x at the start (desodiated state)"),
    "double_layer_capacitance": ("F/m^2", "[capacitance]/[length]**2", 0.2,
                                 "double-layer capacitance per particle surface"),
    "sei_capacity": ("C/kg", "specific_capacity", 0.0,
                     "charge consumed by SEI formation in the first sodiation"),
    "sei_current_fraction": ("", "dimensionless", 0.3,
                             "fraction of the sodiation current going to SEI while it forms"),
    "sei_area_capacity": ("C/m^2", "[current] * [time] / [length] ** 2", 0.0,
                          "first-cycle irreversible charge per particle surface (the part of "
                          "sei_capacity that scales with the specific surface area)"),
    "lam_coefficient": ("", "dimensionless", 1.7e-3,
                        "active material lost per cycle per unit ΔV/V0 per unit depth"),
    "bonding_factor": ("", "dimensionless", 0.0,
                       "fraction of the volume-change damage prevented by bonding/buffer"),
    # shell
    "shell_thickness": ("m", "length", 0.0, "thickness of the surface shell"),
    "shell_diffusivity": ("m^2/s", "diffusivity", math.nan, "Na diffusivity in the shell"),
    "shell_conductivity": ("S/m", "conductivity", math.nan, "electronic conductivity of the shell"),
    # surface pseudocapacitive store
    "site_density": ("mol/m^2", "[substance]/[length]**2", 0.0,
                     "Γ, surface-redox sites per particle surface"),
    "site_potential": ("V", "potential", 0.5, "E0 of the surface-redox sites vs Na+/Na"),
    "site_interaction": ("", "dimensionless", 0.0, "Frumkin g (0 = Langmuir, > 0 repulsive)"),
    "site_rate_constant": ("1/s", "[time]**-1", 10.0, "k_s of the surface-redox reaction"),
    "site_transfer_coefficient": ("", "dimensionless", 0.5, "alpha of the surface redox"),
    # half cell
    "mass_loading": ("kg/m^2", "areal_mass", None, "active mass per electrode area"),
    "area_resistance": ("ohm*m^2", "[resistance]*[length]**2", None,
                        "ohmic area-specific resistance (electrolyte, contacts)"),
    "counter_exchange_current": ("A/m^2", "areal_current", None,
                                 "Na-metal counter-electrode exchange current density"),
    "temperature": ("K", "temperature", 298.15, "temperature"),
    "electrolyte_concentration": ("mol/m^3", "[substance]/[length]**3", 1000.0,
                                  "electrolyte salt concentration"),
    "reference_electrolyte_concentration": ("mol/m^3", "[substance]/[length]**3", 1000.0,
                                            "c_e at which k0 is given"),
    # SPMe-class electrolyte correction (off when electrolyte_conductivity is 0)
    "electrolyte_conductivity": ("S/m", "conductivity", 0.0, "bulk electrolyte conductivity"),
    "electrolyte_diffusivity": ("m^2/s", "diffusivity", 2.5e-10, "salt diffusivity"),
    "transference_number": ("", "dimensionless", 0.45, "cation transference number"),
    "electrode_thickness": ("m", "length", 50e-6, "working-electrode thickness"),
    "electrode_porosity": ("", "dimensionless", 0.4, "working-electrode porosity"),
    "separator_thickness": ("m", "length", 25e-6, "separator thickness"),
    "separator_porosity": ("", "dimensionless", 0.5, "separator porosity"),
    "bruggeman": ("", "dimensionless", 1.5, "Bruggeman exponent"),
}
FUNCTION_FIELDS = ("ocp", "diffusivity", "rate_constant")


@dataclass(frozen=True)
class ParticleSizeDistribution:
    """A few radius classes sharing the electrode potential: radii [m] and mass fractions."""

    radii: tuple[float, ...]
    mass_fractions: tuple[float, ...]


@dataclass(frozen=True)
class ParameterSet:
    """One working-electrode material in a Na-metal half cell (SI units throughout).

    ``diffusivity``, ``rate_constant`` are floats or :class:`Table1D` (concentration
    dependence); ``ocp`` is an :class:`OCP`; ``shell_ocp`` (optional) gives the shell its own
    OCP on the same c/c_max scale (the core/shell interface then holds equal chemical
    potential, U_core(x_core) = U_shell(x_shell)). ``exchange_current_law`` is
    ``"consistent"`` (j0 follows the lattice-gas activity of the OCP the surface sees; see
    docs/simulation.md) or ``"standard"`` (j0 ∝ c_s^α_c (c_max − c_s)^α_a whatever the OCP).
    ``sources`` maps each field to its citation or
    stated assumption; ``notes`` carry free-text remarks (e.g. strategy changes applied).
    """

    name: str
    title: str
    reaction: str
    ocp: OCP
    molar_mass: float
    density: float
    particle_radius: float
    diffusivity: float | Table1D
    rate_constant: float | Table1D
    electronic_conductivity: float
    initial_stoichiometry: float
    mass_loading: float
    area_resistance: float
    counter_exchange_current: float
    electrons: float = 1.0
    max_concentration: float = math.nan
    transfer_coefficient: float = 0.5
    j0_scale: float = 1.0
    volume_change: float = 0.0
    double_layer_capacitance: float = 0.2
    sei_capacity: float = 0.0
    sei_current_fraction: float = 0.3
    sei_area_capacity: float = 0.0
    lam_coefficient: float = 1.7e-3
    bonding_factor: float = 0.0
    shell_thickness: float = 0.0
    shell_diffusivity: float = math.nan
    shell_conductivity: float = math.nan
    site_density: float = 0.0
    site_potential: float = 0.5
    site_interaction: float = 0.0
    site_rate_constant: float = 10.0
    site_transfer_coefficient: float = 0.5
    temperature: float = 298.15
    electrolyte_concentration: float = 1000.0
    reference_electrolyte_concentration: float = 1000.0
    electrolyte_conductivity: float = 0.0
    electrolyte_diffusivity: float = 2.5e-10
    transference_number: float = 0.45
    electrode_thickness: float = 50e-6
    electrode_porosity: float = 0.4
    separator_thickness: float = 25e-6
    separator_porosity: float = 0.5
    bruggeman: float = 1.5
    capacity_basis: str = "theoretical"
    practical_capacity: float = math.nan  # C/kg, used when capacity_basis == "practical"
    size_distribution: ParticleSizeDistribution | None = None
    shell_ocp: OCP | None = None
    exchange_current_law: str = "consistent"
    strategy: str = "none"
    sources: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    # ---- derived quantities ------------------------------------------------------------
    @property
    def c_max(self) -> float:
        """Maximum Na concentration in the host [mol m-3]."""
        if math.isfinite(self.max_concentration):
            return self.max_concentration
        return self.electrons * self.density / self.molar_mass

    @property
    def host_capacity(self) -> float:
        """Capacity of the host between x = 0 and x = 1 [C kg-1] (= c_max·F/ρ)."""
        return self.c_max * F / self.density

    @property
    def host_capacity_mAh_g(self) -> float:
        return self.host_capacity / 3600.0

    @property
    def capacity_basis_value(self) -> float:
        """The capacity that defines 1C [C kg-1]: theoretical, or a stated practical one."""
        if self.capacity_basis == "practical":
            return self.practical_capacity
        return self.host_capacity

    @property
    def shell_D(self) -> float | Table1D:
        return self.diffusivity if not math.isfinite(_as_float(self.shell_diffusivity)) \
            else self.shell_diffusivity

    @property
    def shell_sigma(self) -> float:
        s = self.shell_conductivity
        return self.electronic_conductivity if not math.isfinite(s) else s

    def with_changes(self, **changes: Any) -> ParameterSet:
        """A copy with fields replaced (validated)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValidationError(f"unknown parameter(s): {', '.join(sorted(unknown))}",
                                  field=sorted(unknown)[0])
        out = replace(self, **changes)
        validate(out)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON description (SI values + sources), for metadata and summaries."""
        out: dict[str, Any] = {"name": self.name, "title": self.title,
                               "reaction": self.reaction, "strategy": self.strategy,
                               "capacity_basis": self.capacity_basis}
        for name, (unit, _dim, _d, _m) in SCALAR_FIELDS.items():
            val = getattr(self, name)
            if isinstance(val, Table1D):
                out[name] = {"table_x": list(val.x), "table_y": list(val.y),
                             "x_kind": val.x_kind, "unit": unit}
            else:
                out[name] = {"value": float(val) if math.isfinite(val) else None, "unit": unit}
        out["ocp"] = self.ocp.to_dict()
        out["shell_ocp"] = None if self.shell_ocp is None else self.shell_ocp.to_dict()
        out["exchange_current_law"] = self.exchange_current_law
        out["host_capacity_mAh_g"] = self.host_capacity_mAh_g
        out["sources"] = dict(self.sources)
        out["notes"] = list(self.notes)
        if self.size_distribution is not None:
            out["size_distribution"] = {"radii_m": list(self.size_distribution.radii),
                                        "mass_fractions":
                                            list(self.size_distribution.mass_fractions)}
        return out


def specific_surface_area(p: ParameterSet, radius: float | None = None) -> float:
    """Geometric surface per mass of spheres of ``radius`` (default the set's) [m2 kg-1]."""
    return 3.0 / (p.density * (p.particle_radius if radius is None else radius))


def at_particle_radius(p: ParameterSet, radius: float) -> ParameterSet:
    """The same material made of particles of ``radius`` [m].

    The size-dependent part of the first-cycle loss follows the surface: with a stated
    ``sei_area_capacity`` q_A the irreversible charge becomes
    sei_capacity + q_A·(S(radius) − S(R_file)), S = 3/(ρR), so the file's own control keeps
    its value. Its share of the first-sodiation current is then set so that the loss is
    spent over the first sodiation of the accessible host, as the sloping first-sodiation
    curves of nanostructured titanates show (irreversible surface reactions run down to
    the cut-off), f = Q_irr / (Q_irr + Q_host), never below the file's own fraction.
    """
    if not (math.isfinite(radius) and radius > 0):
        raise ValidationError(f"must be a positive radius, got {radius!r}",
                              field="particle_radius")
    changes: dict[str, Any] = {"particle_radius": radius}
    if p.sei_area_capacity > 0:
        q_irr = max(0.0, p.sei_capacity + p.sei_area_capacity * (
            specific_surface_area(p, radius) - specific_surface_area(p)))
        host = p.capacity_basis_value
        if p.ocp.kind == "lattice_gas":
            host *= p.ocp.x_max
        changes["sei_capacity"] = q_irr
        changes["sei_current_fraction"] = min(0.95, max(p.sei_current_fraction,
                                                        q_irr / (q_irr + host)))
    return p.with_changes(**changes)


def _as_float(v: Any) -> float:
    return float(v) if isinstance(v, int | float) else 0.0


_POSITIVE = ("molar_mass", "density", "particle_radius", "mass_loading", "temperature",
             "counter_exchange_current", "electrons")
_NON_NEGATIVE = ("area_resistance", "volume_change", "double_layer_capacitance",
                 "sei_capacity", "sei_area_capacity", "lam_coefficient", "shell_thickness",
                 "site_density",
                 "site_rate_constant", "electrolyte_conductivity", "electronic_conductivity")
_UNIT_INTERVAL = ("transfer_coefficient", "bonding_factor", "sei_current_fraction",
                  "site_transfer_coefficient", "transference_number", "electrode_porosity",
                  "separator_porosity")


def validate(p: ParameterSet, *, file: str | None = None) -> None:
    """Check ranges and consistency; raise :class:`ValidationError` naming the field."""
    for name in _POSITIVE:
        v = getattr(p, name)
        if not (math.isfinite(v) and v > 0):
            raise ValidationError(f"must be a positive number, got {v!r}", file=file, field=name)
    for name in _NON_NEGATIVE:
        v = getattr(p, name)
        if not (math.isfinite(v) and v >= 0):
            raise ValidationError(f"must be >= 0, got {v!r}", file=file, field=name)
    for name in _UNIT_INTERVAL:
        v = getattr(p, name)
        if not (0.0 <= v <= 1.0):
            raise ValidationError(f"must lie in [0, 1], got {v!r}", file=file, field=name)
    if not 0.0 < p.transfer_coefficient < 1.0:
        raise ValidationError("must lie strictly between 0 and 1", file=file,
                              field="transfer_coefficient")
    if p.shell_thickness >= p.particle_radius:
        raise ValidationError(
            f"shell thickness {p.shell_thickness:g} m must be smaller than the particle radius "
            f"{p.particle_radius:g} m", file=file, field="shell_thickness")
    if not 0.0 < p.initial_stoichiometry < 1.0:
        raise ValidationError("must lie strictly between 0 and 1", file=file,
                              field="initial_stoichiometry")
    for name in ("diffusivity", "rate_constant"):
        v = getattr(p, name)
        vals = np.asarray(v.y if isinstance(v, Table1D) else [v], dtype=float)
        if not np.all(np.isfinite(vals)) or np.any(vals <= 0):
            raise ValidationError("values must be positive and finite", file=file, field=name)
    sd = p.shell_diffusivity
    if isinstance(sd, Table1D) or math.isfinite(sd):
        vals = np.asarray(sd.y if isinstance(sd, Table1D) else [sd], dtype=float)
        if np.any(vals <= 0):
            raise ValidationError("values must be positive", file=file, field="shell_diffusivity")
    if math.isfinite(p.shell_conductivity) and p.shell_conductivity <= 0:
        raise ValidationError("must be positive", file=file, field="shell_conductivity")
    if p.exchange_current_law not in ("consistent", "standard"):
        raise ValidationError(f"must be 'consistent' or 'standard', got "
                              f"{p.exchange_current_law!r}", file=file,
                              field="exchange_current_law")
    if p.shell_ocp is not None and not p.shell_thickness > 0:
        raise ValidationError("a shell OCP needs a shell (shell_thickness > 0)", file=file,
                              field="shell_ocp")
    if p.capacity_basis not in ("theoretical", "practical"):
        raise ValidationError("must be 'theoretical' or 'practical'", file=file,
                              field="capacity_basis")
    if p.capacity_basis == "practical" and not (
            math.isfinite(p.practical_capacity) and p.practical_capacity > 0):
        raise ValidationError("a practical capacity basis needs 'practical_capacity'",
                              file=file, field="practical_capacity")
    if p.size_distribution is not None:
        r = np.asarray(p.size_distribution.radii, dtype=float)
        w = np.asarray(p.size_distribution.mass_fractions, dtype=float)
        if r.size == 0 or r.size != w.size or np.any(r <= p.shell_thickness) or np.any(w <= 0):
            raise ValidationError("radii must exceed the shell thickness and mass fractions "
                                  "be positive, one per radius", file=file,
                                  field="size_distribution")
        if abs(w.sum() - 1.0) > 1e-6:
            raise ValidationError(f"mass fractions must sum to 1, got {w.sum():g}", file=file,
                                  field="size_distribution")


# ---------------------------------------------------------------------------------------
# Loading from files
# ---------------------------------------------------------------------------------------

_EXTRA_TEXT = ("name", "title", "reaction", "capacity_basis", "strategy",
               "exchange_current_law")


def _quantity(entry: Any, name: str, file: str) -> tuple[float | Table1D, str]:
    """Parse ``{value, unit, source}`` or a table ``{x, y, x_kind, unit, source}``."""
    si_unit, dim, _default, _meaning = SCALAR_FIELDS[name]
    if not isinstance(entry, Mapping):
        raise ValidationError(
            "expected a mapping with 'value', 'unit' and 'source' (or a table with 'x', 'y')",
            file=file, field=name)
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ValidationError("every value needs a 'source' (citation or stated assumption)",
                              file=file, field=name)
    unit = entry.get("unit", "")
    if "value" in entry:
        raw = entry["value"]
        if isinstance(raw, str):  # YAML 1.1 reads "2.5e6" (no dot) as a string
            with contextlib.suppress(ValueError):
                raw = float(raw)
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            raise ValidationError(f"'value' must be a number, got {raw!r}", file=file,
                                  field=name)
        value = float(raw)
        if si_unit:
            value = convert(value, str(unit or ""), si_unit, expect=dim,
                            where=f"{file}, field '{name}'")
        elif unit not in ("", "1", None):
            raise ValidationError(f"dimensionless field, got unit {unit!r}", file=file,
                                  field=name)
        return value, source
    if "x" in entry and "y" in entry:
        x_kind = entry.get("x_kind", "stoichiometry")
        if x_kind not in ("stoichiometry", "concentration"):
            raise ValidationError("x_kind must be 'stoichiometry' or 'concentration'",
                                  file=file, field=name)
        try:
            xs = [float(v) for v in entry["x"]]
            ys = [float(v) for v in entry["y"]]
        except (TypeError, ValueError):
            raise ValidationError("table 'x' and 'y' must be lists of numbers", file=file,
                                  field=name) from None
        factor = convert(1.0, str(unit), si_unit, expect=dim, where=f"{file}, field '{name}'")
        if x_kind == "concentration":
            xu = entry.get("x_unit", "mol/m^3")
            xf = convert(1.0, str(xu), "mol/m^3", expect="[substance]/[length]**3",
                         where=f"{file}, field '{name}'")
            xs = [v * xf for v in xs]
        # a transcribed table stays verbatim; a stated 'scale' (with its own source) adapts
        # it to another electrode, e.g. a published full-cell D(c) to half-cell GITT values
        scale = entry.get("scale", 1.0)
        if not isinstance(scale, int | float) or isinstance(scale, bool) or not scale > 0:
            raise ValidationError(f"'scale' must be a positive number, got {scale!r}",
                                  file=file, field=name)
        if scale != 1.0:
            why = entry.get("scale_source")
            if not isinstance(why, str) or not why.strip():
                raise ValidationError("a table 'scale' needs a 'scale_source'", file=file,
                                      field=name)
            source = f"{source}; scaled x{scale:g}: {why}"
            factor *= float(scale)
        try:
            table = Table1D(tuple(xs), tuple(v * factor for v in ys), x_kind)
        except ValidationError as exc:
            raise ValidationError(exc.reason, file=file, field=name) from None
        return table, source
    raise ValidationError("expected 'value' or a table ('x' and 'y')", file=file, field=name)


def _ocp(entry: Any, file: str, temperature: float, field: str = "ocp") -> tuple[OCP, str]:
    try:
        return _ocp_checked(entry, file, temperature)
    except ValidationError as exc:
        if field == "ocp":
            raise
        raise ValidationError(exc.reason, file=file, field=field) from None


def _ocp_checked(entry: Any, file: str, temperature: float) -> tuple[OCP, str]:
    if not isinstance(entry, Mapping) or "kind" not in entry:
        raise ValidationError("expected a mapping with 'kind' ('table' or 'lattice_gas')",
                              file=file, field="ocp")
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ValidationError("the OCP needs a 'source'", file=file, field="ocp")
    kind = entry["kind"]
    try:
        if kind == "table":
            xs = tuple(float(v) for v in entry["stoichiometry"])
            us = tuple(float(v) for v in entry["voltage"])
            if np.any(np.diff(us) >= 0):
                raise ValidationError("OCP voltages must fall strictly with stoichiometry",
                                      file=file, field="ocp")
            return OCP("table", table=Table1D(xs, us), temperature=temperature), source
        if kind == "lattice_gas":
            return OCP("lattice_gas", E0=float(entry["E0"]),
                       slope_factor=float(entry.get("slope_factor", 1.0)),
                       x_max=float(entry.get("x_max", 1.0)), temperature=temperature), source
    except KeyError as exc:
        raise ValidationError(f"missing key {exc.args[0]!r}", file=file, field="ocp") from None
    except (TypeError, ValueError):
        raise ValidationError("OCP entries must be numbers", file=file, field="ocp") from None
    raise ValidationError(f"unknown OCP kind {kind!r}; expected 'table' or 'lattice_gas'",
                          file=file, field="ocp")


def parameter_set_from_dict(doc: Mapping[str, Any], *, file: str = "<dict>") -> ParameterSet:
    """Build and validate a :class:`ParameterSet` from a parsed YAML/JSON document."""
    if not isinstance(doc, Mapping):
        raise ValidationError("a material file must hold a mapping", file=file)
    for key in ("name", "ocp", "parameters"):
        if key not in doc:
            raise ValidationError(f"missing top-level key '{key}'", file=file, field=key)
    params = doc["parameters"]
    if not isinstance(params, Mapping):
        raise ValidationError("'parameters' must be a mapping of field -> {value, unit, source}",
                              file=file, field="parameters")
    unknown = sorted(set(params) - set(SCALAR_FIELDS))
    if unknown:
        raise ValidationError(f"unknown parameter; known: {', '.join(sorted(SCALAR_FIELDS))}",
                              file=file, field=unknown[0])
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, entry in params.items():
        val, src = _quantity(entry, name, file)
        if isinstance(val, Table1D) and name not in (*FUNCTION_FIELDS, "shell_diffusivity"):
            raise ValidationError("this parameter cannot be a table", file=file, field=name)
        values[name] = val
        sources[name] = src
    for name, (_u, _d, default, _m) in SCALAR_FIELDS.items():
        if name not in values:
            if default is None:
                raise ValidationError("required parameter missing", file=file, field=name)
            values[name] = default
            sources.setdefault(name, "default")
    temperature = float(values["temperature"])
    ocp, ocp_src = _ocp(doc["ocp"], file, temperature)
    sources["ocp"] = ocp_src
    shell_ocp = None
    if doc.get("shell_ocp") is not None:
        shell_ocp, sources["shell_ocp"] = _ocp(doc["shell_ocp"], file, temperature,
                                               field="shell_ocp")
    psd = None
    if "size_distribution" in doc and doc["size_distribution"] is not None:
        sd = doc["size_distribution"]
        try:
            unit = sd.get("unit", "m")
            f = convert(1.0, unit, "m", expect="length", where=f"{file}, field 'size_distribution'")
            psd = ParticleSizeDistribution(tuple(float(r) * f for r in sd["radii"]),
                                           tuple(float(w) for w in sd["mass_fractions"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ValidationError("expected {radii: [...], mass_fractions: [...], unit: ...}",
                                  file=file, field="size_distribution") from None
    text = {k: str(doc.get(k, "")) for k in _EXTRA_TEXT}
    practical = math.nan
    if "practical_capacity" in doc:
        pc = doc["practical_capacity"]
        if not isinstance(pc, Mapping) or "value" not in pc:
            raise ValidationError("expected {value, unit, source}", file=file,
                                  field="practical_capacity")
        practical = convert(float(pc["value"]), str(pc.get("unit", "mA h g-1")), "C/kg",
                            expect="specific_capacity",
                            where=f"{file}, field 'practical_capacity'")
        sources["practical_capacity"] = str(pc.get("source", ""))
    p = ParameterSet(
        name=text["name"], title=text["title"] or text["name"], reaction=text["reaction"],
        ocp=ocp, capacity_basis=text["capacity_basis"] or "theoretical",
        practical_capacity=practical, size_distribution=psd, sources=sources,
        strategy=text["strategy"] or "none", shell_ocp=shell_ocp,
        exchange_current_law=text["exchange_current_law"] or "consistent", **values)
    validate(p, file=file)
    return p


def _read_doc(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        line = getattr(exc, "lineno", None) if line is None else line + 1
        raise ValidationError(f"cannot parse ({exc.__class__.__name__})", file=str(path),
                              line=line) from None


def load_material_file(path: str | Path) -> ParameterSet:
    """Load a user material (YAML or JSON, same schema as the packaged files)."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError("no such material file", file=str(path))
    return parameter_set_from_dict(_read_doc(path), file=str(path))


def _material_dir() -> Any:
    return resources.files("nasurf.sim") / "data" / "materials"


def list_materials() -> list[str]:
    """Names of the packaged materials."""
    return sorted(p.name[:-5] for p in _material_dir().iterdir() if p.name.endswith(".yaml"))


@lru_cache(maxsize=32)
def _load_packaged(name: str) -> ParameterSet:
    res = _material_dir() / f"{name}.yaml"
    doc = yaml.safe_load(res.read_text(encoding="utf-8"))
    return parameter_set_from_dict(doc, file=f"nasurf/sim/data/materials/{name}.yaml")


def load_material(name_or_path: str | Path) -> ParameterSet:
    """A packaged material by name (see :func:`list_materials`) or a user file by path."""
    s = str(name_or_path)
    if s in list_materials():
        return _load_packaged(s)
    if s.endswith((".yaml", ".yml", ".json")) or Path(s).is_file():
        return load_material_file(s)
    raise ValidationError(f"unknown material {s!r}; packaged: {', '.join(list_materials())} "
                          "(or give a .yaml/.json file)", field="material")
