"""Sample sheets: which cell is which, with its mass, group and files.

A study compares groups of replicate cells (pristine vs treated ...). The sheet is the one
place that says which measurement files belong to which cell and what that cell's active
mass is. It is validated completely when it is read, so that a wrong mass or a missing file
stops the study with one line naming the row, instead of giving a plausible wrong figure.

Formats: CSV (one row per sample; several files in one cell separated by ``;``), TOML and
YAML (a ``samples`` list of tables, plus an optional ``groups`` table of metadata shared by
a group's samples; masses are never shared: each cell is weighed). See ``docs/samples.md``.
"""

from __future__ import annotations

import csv
import glob
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasurf.errors import ValidationError

REQUIRED = ("sample", "group", "file", "mass_mg")
OPTIONAL = ("area_cm2", "loading_mg_cm2", "material", "strategy", "electrode", "electrolyte",
            "notes", "technique")
ALLOWED = (*REQUIRED, *OPTIONAL)
# group-level metadata a TOML/YAML sheet may share between a group's samples; never a mass,
# area or file, which belong to one cell
GROUP_SHARED = ("material", "strategy", "electrode", "electrolyte", "notes")
ELECTRODES = ("anode", "cathode")
TECHNIQUES = ("cycling", "eis", "cv")

# Active masses of laboratory electrodes span ~0.05 mg (thin films) to a few hundred mg
# (thick pellets). A value outside [0.01, 1000] mg is almost always a unit slip (grams or
# micrograms typed into the mg column); the range can be widened by the caller.
DEFAULT_MASS_RANGE_MG = (0.01, 1000.0)
# loading x area must reproduce the mass within this fraction (balance + punch tolerance)
LOADING_REL_TOL = 0.05

_UNIT_HINTS = {"mass_g": "g", "mass_ug": "µg", "mass": "?", "mass_kg": "kg",
               "active_mass": "?", "active_mass_mg": "mg", "mass_mg_": "mg"}
_MASS_UNITS_TO_MG = {"mg": 1.0, "g": 1e3, "ug": 1e-3, "µg": 1e-3, "μg": 1e-3, "kg": 1e6}


@dataclass(frozen=True)
class Sample:
    """One cell of a study: its name, group, files and masses (as written in the sheet)."""

    name: str
    group: str
    files: tuple[Path, ...]
    mass_mg: float
    area_cm2: float | None = None
    loading_mg_cm2: float | None = None
    material: str | None = None
    strategy: str | None = None
    electrode: str | None = None
    electrolyte: str | None = None
    notes: str | None = None
    technique: str | None = None     # force one analysis for every file of the sample
    row: str = ""                    # where the sample is in the sheet, for messages

    @property
    def mass_g(self) -> float:
        return self.mass_mg / 1e3

    def to_dict(self) -> dict[str, Any]:
        return {"sample": self.name, "group": self.group, "files": [str(f) for f in self.files],
                "mass_mg": self.mass_mg, "area_cm2": self.area_cm2,
                "loading_mg_cm2": self.loading_mg_cm2, "material": self.material,
                "strategy": self.strategy, "electrode": self.electrode,
                "electrolyte": self.electrolyte, "notes": self.notes,
                "technique": self.technique, "row": self.row}


@dataclass(frozen=True)
class SampleSheet:
    """A validated sample sheet: samples in sheet order, groups in order of appearance."""

    path: Path
    samples: tuple[Sample, ...]
    groups: tuple[str, ...]
    group_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)

    def sample(self, name: str) -> Sample:
        for s in self.samples:
            if s.name == name:
                return s
        raise KeyError(name)

    def in_group(self, group: str) -> tuple[Sample, ...]:
        return tuple(s for s in self.samples if s.group == group)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "groups": list(self.groups),
                "group_metadata": self.group_metadata,
                "samples": [s.to_dict() for s in self.samples]}


# --------------------------------------------------------------------------- reading
def read_sample_sheet(path: str | Path, *,
                      mass_range_mg: tuple[float, float] = DEFAULT_MASS_RANGE_MG) -> SampleSheet:
    """Read and validate a sample sheet (``.csv``, ``.toml``, ``.yaml``/``.yml``).

    Every problem raises :class:`~nasurf.errors.ValidationError` naming the sheet, the row
    (CSV line or ``samples[i]`` entry) and the field: unknown columns, a missing required
    value, a file or glob that matches nothing, a mass that is not a positive number in mg
    (or lies outside ``mass_range_mg``, the usual sign of grams typed as mg), loading × area
    contradicting the mass, an unknown electrode, a sample named twice. There is no default
    mass: every sample states its own.
    """
    p = Path(path)
    if not p.is_file():
        raise ValidationError("sample sheet not found", file=str(p))
    suffix = p.suffix.lower()
    if suffix == ".csv":
        entries, group_meta = _read_csv(p), {}
    elif suffix in (".toml", ".yaml", ".yml"):
        entries, group_meta = _read_nested(p, suffix)
    else:
        raise ValidationError(f"unknown sample-sheet type '{p.suffix}'; expected .csv, .toml, "
                              ".yaml or .yml", file=str(p))
    if not entries:
        raise ValidationError("the sheet lists no samples", file=str(p))
    samples: list[Sample] = []
    seen: dict[str, str] = {}
    owner: dict[Path, str] = {}
    for where, line, raw in entries:
        s = _sample(p, where, line, raw, group_meta, mass_range_mg)
        if s.name in seen:
            raise ValidationError(
                f"sample '{s.name}' is listed twice (first at {seen[s.name]}); give each cell "
                "one row and list several files in it (separated by ';' in a CSV)",
                file=str(p), line=line, field="sample")
        seen[s.name] = where
        for f in s.files:
            if f in owner:
                raise ValidationError(
                    f"file '{f.name}' is listed for sample '{s.name}' and for sample "
                    f"'{owner[f]}': one measurement belongs to one cell",
                    file=str(p), line=line, field="file")
            owner[f] = s.name
        samples.append(s)
    groups = tuple(dict.fromkeys(s.group for s in samples))
    unknown_groups = sorted(set(group_meta) - set(groups))
    if unknown_groups:
        raise ValidationError(f"groups {unknown_groups} have metadata but no samples",
                              file=str(p), field="groups")
    return SampleSheet(path=p.resolve(), samples=tuple(samples), groups=groups,
                       group_metadata=group_meta)


def _read_csv(p: Path) -> list[tuple[str, int | None, dict[str, Any]]]:
    with p.open(newline="", encoding="utf-8-sig") as fh:
        lines = [ln for ln in fh]
    # comment lines (# ...) are allowed anywhere; keep the real line numbers
    numbered = [(i + 1, ln) for i, ln in enumerate(lines)
                if ln.strip() and not ln.lstrip().startswith("#")]
    if not numbered:
        raise ValidationError("the sheet is empty", file=str(p))
    reader = csv.reader([ln for _, ln in numbered])
    rows = list(reader)
    header = [h.strip() for h in rows[0]]
    _check_columns(p, header, numbered[0][0])
    out = []
    for (line, _), values in zip(numbered[1:], rows[1:], strict=True):
        if len(values) > len(header):
            raise ValidationError(f"{len(values)} values for {len(header)} columns",
                                  file=str(p), line=line)
        raw = {h: (v.strip() if v.strip() != "" else None) for h, v in zip(header, values,
                                                                             strict=False)}
        out.append((f"line {line}", line, raw))
    return out


def _read_nested(p: Path, suffix: str
                 ) -> tuple[list[tuple[str, int | None, dict[str, Any]]], dict[str, dict]]:
    text = p.read_text(encoding="utf-8")
    try:
        if suffix == ".toml":
            import tomllib

            doc = tomllib.loads(text)
        else:
            import yaml

            doc = yaml.safe_load(text)
    except Exception as exc:  # the parser's message names the line; pass it on
        raise ValidationError(f"not valid {suffix[1:].upper()}: {exc}", file=str(p)) from None
    if not isinstance(doc, Mapping):
        raise ValidationError("expected a table with a 'samples' list", file=str(p))
    extra = sorted(set(doc) - {"samples", "groups", "study"})
    if extra:
        raise ValidationError(f"unknown top-level keys {extra}; expected samples, groups, study",
                              file=str(p))
    samples = doc.get("samples")
    if not isinstance(samples, list):
        raise ValidationError("'samples' must be a list of tables ([[samples]] in TOML)",
                              file=str(p), field="samples")
    groups = doc.get("groups") or {}
    if not isinstance(groups, Mapping):
        raise ValidationError("'groups' must be a table of group name -> metadata",
                              file=str(p), field="groups")
    group_meta: dict[str, dict] = {}
    for g, meta in groups.items():
        if not isinstance(meta, Mapping):
            raise ValidationError("group metadata must be a table", file=str(p),
                                  field=f"groups.{g}")
        bad = sorted(set(meta) - set(GROUP_SHARED))
        if bad:
            hint = (" (masses, areas and files belong to each sample, never to a group)"
                    if set(bad) & {"mass_mg", "area_cm2", "file", "loading_mg_cm2"} else "")
            raise ValidationError(f"unknown keys {bad}; a group may set {list(GROUP_SHARED)}"
                                  f"{hint}", file=str(p), field=f"groups.{g}")
        group_meta[str(g)] = {k: (None if v is None else str(v)) for k, v in meta.items()}
    out = []
    for i, entry in enumerate(samples):
        where = f"samples[{i}]"
        if not isinstance(entry, Mapping):
            raise ValidationError("each sample must be a table", file=str(p), field=where)
        raw = dict(entry)
        if "files" in raw and "file" not in raw:
            raw["file"] = raw.pop("files")
        _check_columns(p, list(raw), None, where)
        out.append((where, None, raw))
    return out, group_meta


def _check_columns(p: Path, header: list[str], line: int | None, where: str = "header") -> None:
    seen = set()
    for h in header:
        if h in seen:
            raise ValidationError(f"column '{h}' appears twice", file=str(p), line=line, field=h)
        seen.add(h)
        if h not in ALLOWED:
            hint = ""
            if h.lower() in _UNIT_HINTS or h.lower().startswith("mass"):
                hint = " (masses are given in milligrams, in a column named mass_mg)"
            raise ValidationError(f"unknown column '{h}' in {where}{hint}; allowed: "
                                  f"{', '.join(ALLOWED)}", file=str(p), line=line, field=h)
    if where == "header":
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ValidationError(f"required columns {missing} missing; a sheet needs "
                                  f"{', '.join(REQUIRED)}", file=str(p), line=line)


def _sample(p: Path, where: str, line: int | None, raw: dict[str, Any],
            group_meta: dict[str, dict], mass_range_mg: tuple[float, float]) -> Sample:
    def err(field_name: str, message: str) -> ValidationError:
        name = raw.get("sample")
        label = f"{where} (sample '{name}')" if name and where.startswith("samples") else None
        return ValidationError(f"{label + ': ' if label else ''}{message}", file=str(p),
                               line=line, field=field_name)

    for col in REQUIRED:
        if raw.get(col) in (None, "", []):
            why = (" (no default mass is ever assumed: weigh each electrode)"
                   if col == "mass_mg" else "")
            raise err(col, f"required value missing{why}")
    name = str(raw["sample"]).strip()
    group = str(raw["group"]).strip()
    mass = _mass_mg(raw["mass_mg"], err, mass_range_mg)
    area = _positive(raw.get("area_cm2"), "area_cm2", "cm²", err)
    loading = _positive(raw.get("loading_mg_cm2"), "loading_mg_cm2", "mg/cm²", err)
    if area is not None and loading is not None:
        implied = loading * area
        if abs(implied - mass) > LOADING_REL_TOL * mass:
            raise err("loading_mg_cm2",
                      f"loading {loading:g} mg/cm² × area {area:g} cm² = {implied:.4g} mg "
                      f"contradicts mass_mg {mass:g} mg (more than {LOADING_REL_TOL:.0%} apart)")
    elif area is not None:
        loading = mass / area
    elif loading is not None:
        area = mass / loading
    meta = dict(group_meta.get(group, {}))
    for k in GROUP_SHARED:
        if raw.get(k) not in (None, ""):
            meta[k] = str(raw[k]).strip()
    electrode = meta.get("electrode")
    if electrode is not None:
        electrode = electrode.lower()
        if electrode not in ELECTRODES:
            raise err("electrode", f"'{electrode}' is not an electrode; expected anode or "
                      "cathode")
    technique = raw.get("technique")
    if technique is not None:
        technique = str(technique).strip().lower()
        if technique not in TECHNIQUES:
            raise err("technique", f"unknown technique '{technique}'; expected one of "
                      f"{', '.join(TECHNIQUES)} (or leave empty to detect it per file)")
    files = _files(p, raw["file"], err)
    return Sample(name=name, group=group, files=files, mass_mg=mass, area_cm2=area,
                  loading_mg_cm2=loading, material=meta.get("material"),
                  strategy=meta.get("strategy"), electrode=electrode,
                  electrolyte=meta.get("electrolyte"), notes=meta.get("notes"),
                  technique=technique, row=where)


def _mass_mg(value: Any, err, mass_range_mg: tuple[float, float]) -> float:
    if isinstance(value, bool):
        raise err("mass_mg", f"expected a mass in mg, got {value!r}")
    if isinstance(value, int | float):
        mass = float(value)
    else:
        text = str(value).strip()
        m = re.fullmatch(r"([-+0-9.eE]+)\s*([a-zA-Zµμ]*)", text)
        if not m:
            raise err("mass_mg", f"expected a mass in mg, got '{text}'")
        try:
            mass = float(m.group(1))
        except ValueError:
            raise err("mass_mg", f"expected a mass in mg, got '{text}'") from None
        unit = m.group(2)
        if unit and unit != "mg":
            if unit in _MASS_UNITS_TO_MG:
                raise err("mass_mg", f"'{text}' is not in mg; the column is in milligrams: "
                          f"write {mass * _MASS_UNITS_TO_MG[unit]:g}")
            raise err("mass_mg", f"'{text}': unknown unit '{unit}'; give the mass in mg")
    if not math.isfinite(mass) or mass <= 0:
        raise err("mass_mg", f"mass must be a positive number of mg, got {value!r}")
    lo, hi = mass_range_mg
    if mass < lo:
        raise err("mass_mg", f"{mass:g} mg is below {lo:g} mg: is it in grams? "
                  f"({mass:g} g = {mass * 1e3:g} mg)")
    if mass > hi:
        raise err("mass_mg", f"{mass:g} mg is above {hi:g} mg: is it in micrograms? "
                  f"({mass:g} µg = {mass * 1e-3:g} mg)")
    return mass


def _positive(value: Any, name: str, unit: str, err) -> float | None:
    if value in (None, ""):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise err(name, f"expected a number in {unit}, got {value!r}") from None
    if not math.isfinite(x) or x <= 0:
        raise err(name, f"expected a positive number in {unit}, got {value!r}")
    return x


def _files(p: Path, value: Any, err) -> tuple[Path, ...]:
    if isinstance(value, list | tuple):
        patterns = [str(v).strip() for v in value]
    else:
        patterns = [s.strip() for s in str(value).split(";")]
    patterns = [s for s in patterns if s]
    if not patterns:
        raise err("file", "no file given")
    base = p.parent
    found: list[Path] = []
    for pat in patterns:
        full = Path(pat).expanduser()
        full = full if full.is_absolute() else base / full
        if glob.has_magic(str(pat)):
            matches = sorted(Path(m) for m in glob.glob(str(full), recursive=True)
                             if Path(m).is_file())
            if not matches:
                raise err("file", f"no file matches '{pat}' (relative to {base})")
            found.extend(matches)
        else:
            if not full.is_file():
                raise err("file", f"file '{pat}' not found (relative to {base})")
            found.append(full)
    # absolute but not resolved: a symlink is its own file name in the lab's archive
    return tuple(dict.fromkeys(Path(os.path.abspath(f)) for f in found))
