"""Strategy presets: the review's six surface-engineering strategies as parameter changes.

Owns ``data/strategies.yaml`` (packaged presets; keys are the knowledge base's strategy keys
plus ``none``), the loader of user strategy files (same schema) and
:func:`apply_strategy`. Each change states the review figure it rests on (reference number
and value) or the assumption it makes where the review gives no number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from nasurf.errors import ValidationError
from nasurf.sim.parameters import (
    OCP,
    SCALAR_FIELDS,
    ParameterSet,
    Table1D,
    _ocp,
    _read_doc,
    list_materials,
    load_material,
)
from nasurf.units import convert

_OPS = ("set", "multiply", "equivalent_layer")


@dataclass(frozen=True)
class Change:
    field: str
    op: str
    value: float          # SI for set, factor for multiply, thickness [m] for layers
    basis: str
    site_fraction: float = 1.0
    # the layer's sites are the host's own redox centres (a disordered host surface), so
    # they move capacity from insertion to surface redox instead of adding to it
    from_host: bool = False


@dataclass(frozen=True)
class Strategy:
    """A named set of parameter changes; ``shell_ocp`` optionally gives the shell its own OCP."""

    name: str
    title: str
    changes: tuple[Change, ...]
    shell_ocp: OCP | None = None
    shell_ocp_source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title,
                "changes": [c.__dict__ for c in self.changes],
                "shell_ocp": None if self.shell_ocp is None else
                {**self.shell_ocp.to_dict(), "source": self.shell_ocp_source}}


def _change(entry: Any, where: str) -> Change:
    if not isinstance(entry, Mapping):
        raise ValidationError("each change must be a mapping", file=where, field="changes")
    name = entry.get("field")
    if name not in SCALAR_FIELDS:
        raise ValidationError(f"unknown parameter {name!r}", file=where, field="field")
    op = entry.get("op")
    if op not in _OPS:
        raise ValidationError(f"op must be one of {', '.join(_OPS)}, got {op!r}", file=where,
                              field=f"{name}.op")
    basis = entry.get("basis")
    if not isinstance(basis, str) or not basis.strip():
        raise ValidationError("every change needs a 'basis' (review figure or assumption)",
                              file=where, field=f"{name}.basis")
    si_unit, dim, _d, _m = SCALAR_FIELDS[name]
    try:
        if op == "set":
            value = float(entry["value"])
            if si_unit:
                value = convert(value, str(entry.get("unit", si_unit)), si_unit, expect=dim,
                                where=f"{where}, field '{name}'")
            return Change(name, op, value, basis)
        if op == "multiply":
            value = float(entry["value"])
            if not value > 0:
                raise ValidationError("factor must be positive", file=where, field=name)
            return Change(name, op, value, basis)
        if name != "site_density":
            raise ValidationError("equivalent_layer applies to site_density only", file=where,
                                  field=name)
        thick = convert(float(entry["thickness"]), str(entry.get("unit", "nm")), "m",
                        expect="length", where=f"{where}, field '{name}'")
        frac = float(entry.get("site_fraction", 1.0))
        from_host = entry.get("from_host", False)
        if not isinstance(from_host, bool):
            raise ValidationError("from_host must be true or false", file=where,
                                  field=f"{name}.from_host")
        return Change(name, op, thick, basis, frac, from_host)
    except KeyError as exc:
        raise ValidationError(f"missing key {exc.args[0]!r}", file=where, field=name) from None
    except (TypeError, ValueError):
        raise ValidationError("values must be numbers", file=where, field=name) from None


def strategy_from_dict(name: str, doc: Any, *, file: str = "<dict>") -> Strategy:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("changes", []), list):
        raise ValidationError("a strategy needs 'title' and a list 'changes'", file=file,
                              field=name)
    shell_ocp, shell_src = None, ""
    if doc.get("shell_ocp") is not None:
        # the OCP's temperature is taken from the material when the strategy is applied
        shell_ocp, shell_src = _ocp(doc["shell_ocp"], file, 298.15, field="shell_ocp")
    return Strategy(name, str(doc.get("title", name)),
                    tuple(_change(c, file) for c in doc.get("changes", [])),
                    shell_ocp, shell_src)


@lru_cache(maxsize=1)
def _packaged() -> dict[str, Strategy]:
    res = resources.files("nasurf.sim") / "data" / "strategies.yaml"
    doc = yaml.safe_load(res.read_text(encoding="utf-8"))
    return {k: strategy_from_dict(k, v, file="nasurf/sim/data/strategies.yaml")
            for k, v in doc.items()}


def list_strategies() -> list[str]:
    """``none`` plus the six strategy keys of the knowledge base, in the review's order."""
    return list(_packaged())


def load_strategy(name_or_path: str | Path) -> Strategy:
    s = str(name_or_path)
    if s in _packaged():
        return _packaged()[s]
    path = Path(s)
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        if not path.is_file():
            raise ValidationError("no such strategy file", file=s)
        doc = _read_doc(path)
        if isinstance(doc, Mapping) and "changes" not in doc and len(doc) == 1:
            (key, body), = doc.items()
            return strategy_from_dict(str(key), body, file=s)
        return strategy_from_dict(path.stem, doc, file=s)
    raise ValidationError(f"unknown strategy {s!r}; known: {', '.join(list_strategies())} "
                          "(or give a .yaml/.json file)", field="strategy")


def apply_strategy(params: ParameterSet, strategy: str | Path | Strategy) -> ParameterSet:
    """``params`` with the strategy's changes applied (recorded in sources and notes)."""
    strat = strategy if isinstance(strategy, Strategy) else load_strategy(strategy)
    changes: dict[str, Any] = {}
    sources = dict(params.sources)
    notes = list(params.notes)
    for c in strat.changes:
        current = changes.get(c.field, getattr(params, c.field))
        if c.op == "set":
            new: Any = c.value
        elif c.op == "multiply":
            if c.field == "shell_diffusivity" and not _finite(current):
                current = params.diffusivity
            if c.field == "shell_conductivity" and not _finite(current):
                current = params.electronic_conductivity
            new = current.scaled(c.value) if isinstance(current, Table1D) else current * c.value
        else:
            # sites of a surface layer of thickness t, per particle surface: the layer's
            # volume in the sphere (not a flat slab, which would count more sites than a
            # nano-particle holds), Γ = f·c_max·(R³ − (R − t)³)/(3R²)
            R = params.particle_radius
            t = min(c.value, R)
            new = c.site_fraction * params.c_max * (R ** 3 - (R - t) ** 3) / (3.0 * R ** 2)
            if c.from_host:
                # the same Ti/Mo/C atoms cannot store twice: the insertion host keeps
                # c_max minus the sites' share of its volume (Γ·3/R per unit volume)
                c_host = changes.get("max_concentration", params.c_max)
                changes["max_concentration"] = c_host - 3.0 * new / R
                sources["max_concentration"] = (
                    f"strategy {strat.name}: host c_max less the {c.site_fraction:g} site "
                    f"share of the {t * 1e9:.3g} nm layer (its sites are the host's own)")
        changes[c.field] = new
        sources[c.field] = f"strategy {strat.name}: {c.op} {c.value:g} — {c.basis}"
        notes.append(f"{strat.name}: {c.field} {c.op} {c.value:g}")
    if strat.shell_ocp is not None:
        changes["shell_ocp"] = replace(strat.shell_ocp, temperature=params.temperature)
        sources["shell_ocp"] = f"strategy {strat.name}: {strat.shell_ocp_source}"
        notes.append(f"{strat.name}: shell has its own OCP ({strat.shell_ocp.kind})")
    # a shell added without its own transport keeps the untreated core values
    if "shell_thickness" in changes:
        if "shell_diffusivity" not in changes and not _finite(params.shell_diffusivity):
            changes["shell_diffusivity"] = params.diffusivity
        if "shell_conductivity" not in changes and not _finite(params.shell_conductivity):
            changes["shell_conductivity"] = params.electronic_conductivity
        if changes["shell_thickness"] >= 0.5 * params.particle_radius:
            changes["shell_thickness"] = 0.2 * params.particle_radius
            notes.append(f"{strat.name}: shell thickness capped at 20 % of the radius")
    return params.with_changes(**changes, sources=sources, notes=tuple(notes),
                               strategy=strat.name)


def _finite(v: Any) -> bool:
    return isinstance(v, Table1D) or (isinstance(v, float | int) and math.isfinite(v))


@lru_cache(maxsize=128)
def _packaged_preset(material: str, strategy: str) -> ParameterSet:
    return apply_strategy(load_material(material), strategy)


def packaged_preset(material: str, strategy: str) -> ParameterSet | None:
    """A packaged material with a packaged strategy preset applied, the same object on every
    call (both are immutable data of the package, so :func:`~nasurf.sim.simulate.simulate`
    finds the model it built for the pair last time); ``None`` unless both are packaged
    names (a user's file is read afresh every time: it may have changed)."""
    if material in list_materials() and strategy in _packaged():
        return _packaged_preset(material, strategy)
    return None

