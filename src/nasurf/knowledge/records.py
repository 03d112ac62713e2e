"""One reported number as a validated record, and reading records from CSV/YAML/JSON files.

Owns the :class:`Observation` dataclass, the row -> record validation (units through
:mod:`nasurf.units`, ranges from :mod:`nasurf.knowledge.vocabulary`, citation required) and
the file readers that keep the line number of every row so that an error names the file,
the line and the field.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from nasurf.errors import FileFormatError, NasurfError, UnitError, ValidationError
from nasurf.knowledge.vocabulary import (
    ALL_STRATEGIES,
    CURRENT_UNIT,
    MATERIAL_CLASSES,
    QUANTITIES,
    RECORD_COLUMNS,
    SAMPLE_ROLES,
    USER_COLUMNS,
)
from nasurf.units import convert, parse_quantity, parse_unit

USER_ID_PREFIX = "U."
"""User record ids live in their own namespace so they can never overwrite curated ids."""

ORIGINS = ("curated", "user")

# Columns a record file may carry besides the record fields: ``current`` (a quantity with
# its unit, e.g. "1 A g-1") and the bookkeeping columns of our own exports.
_EXTRA_INPUT_COLUMNS = ("current", "origin", "current_source", "added_at", "duplicate_of")
ACCEPTED_COLUMNS: frozenset[str] = frozenset((*RECORD_COLUMNS, *USER_COLUMNS,
                                              *_EXTRA_INPUT_COLUMNS))


@dataclass(frozen=True)
class Observation:
    """One number reported for one sample, in canonical units.

    ``value`` is in ``unit`` (the canonical unit of ``quantity``: mA h g^-1 for capacities,
    % for retention and efficiencies, S cm^-1, eV, nm ...). Currents are specific currents
    in mA g^-1; ``current_source`` says whether the current was printed as mA g^-1
    (``"printed"``) or derived from a C-rate and its basis (``"c_rate"``). ``origin`` is
    ``"curated"`` (the packaged review data) or ``"user"``.
    """

    id: str
    material: str
    material_key: str
    host: str
    material_class: str
    strategy: str
    sample_role: str
    quantity: str
    value: float
    unit: str
    raw_text: str | None = None
    approximate: bool = False
    current_mA_g: float | None = None
    c_rate: float | None = None
    c_rate_basis_mAh_g: float | None = None
    cycles: int | None = None
    temperature_C: float | None = None
    ref: int | None = None
    location: str | None = None
    note: str | None = None
    citation: str | None = None
    doi: str | None = None
    origin: str = "user"
    current_source: str | None = None

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValidationError(f"origin must be one of {ORIGINS}, got {self.origin!r}",
                                  field="origin")
        if not math.isfinite(self.value):
            raise ValidationError("value must be a finite number", field="value")
        if self.ref is None and not self.citation:
            raise ValidationError("a citation is required (the review's ref number or a "
                                  "citation text)", field="citation")

    def identity(self) -> tuple:
        """What makes two records the same measurement: sample, quantity and conditions."""
        return identity_key(self.material_key, self.quantity, self.sample_role,
                            self.current_mA_g, self.c_rate, self.cycles, self.temperature_C)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Observation))


def identity_key(material_key: str, quantity: str, sample_role: str,
                 current_mA_g: float | None, c_rate: float | None, cycles: int | None,
                 temperature_C: float | None) -> tuple:
    """Normalised identity tuple; currents compared to 4 significant figures."""

    def sig(x: float | None) -> float | None:
        return None if x is None else float(f"{x:.4g}")

    return (material_key, quantity, sample_role, sig(current_mA_g), sig(c_rate), cycles,
            sig(temperature_C))


# --------------------------------------------------------------------------- row parsing


@lru_cache(maxsize=512)
def _factor(unit_text: str, canonical: str, dimension: str) -> float:
    """Multiplier from ``unit_text`` to ``canonical`` (pint parsing is slow; cache it)."""
    return convert(1.0, unit_text, canonical, expect=dimension)


_TRUE = {"true", "yes", "y", "1", "t", "~"}
_FALSE = {"false", "no", "n", "0", "f", ""}


def _blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()


def _text(v: Any) -> str | None:
    return None if _blank(v) else str(v).strip()


_SPACES = re.compile(r"[\s\u2009\u202f\u00a0,_]")


def _number_text(v: Any) -> tuple[str, bool]:
    """Strip thousands separators ("10 000") and a leading "~"; return (text, approximate)."""
    s = str(v).strip().replace("\u2212", "-")
    approx = s.startswith("~") or s.startswith("≈")
    s = s.lstrip("~≈").strip()
    return _SPACES.sub("", s), approx


def slugify(text: str) -> str:
    """A lower-case ascii key: "SnO2-x/C nanofibres" -> "sno2-x-c-nanofibres"."""
    s = re.sub(r"[^0-9a-zA-Z]+", "-", text.strip().lower())
    return s.strip("-") or "record"


class _RowErrors:
    """Collects the problems of one row; each names file, line and field."""

    def __init__(self, file: str | None, line: int | None) -> None:
        self.file, self.line = file, line
        self.errors: list[NasurfError] = []

    def add(self, field: str, message: str, cls: type[NasurfError] = ValidationError) -> None:
        self.errors.append(cls(message, file=self.file, line=self.line, field=field))

    def where(self, field: str) -> str:
        return str(ValidationError("", file=self.file, line=self.line, field=field)).rstrip(": ")


def parse_record(row: Mapping[str, Any], *, origin: str = "user", file: str | None = None,
                 line: int | None = None, known_refs: Iterable[int] | None = None,
                 c_rate_to_current=None) -> Observation:
    """Validate one input row and return an :class:`Observation` in canonical units.

    Raises :class:`ValidationError` (or :class:`UnitError`) naming file, line and field;
    when several fields are wrong the message lists them all.
    """
    err = _RowErrors(file, line)
    get = {k.strip() if isinstance(k, str) else k: v for k, v in row.items()}
    unknown = sorted(k for k in get if k not in ACCEPTED_COLUMNS and k is not None)
    for k in unknown:
        err.add(str(k), f"unknown column; expected one of {', '.join(sorted(ACCEPTED_COLUMNS))}")
    if None in get and not _blank(get[None]):
        err.add("(extra)", f"row has more fields than the header: {get[None]!r}")

    def required(name: str) -> str | None:
        v = _text(get.get(name))
        if v is None:
            err.add(name, "required field is empty")
        return v

    def choice(name: str, allowed: Iterable[str], default: str | None = None) -> str | None:
        v = _text(get.get(name)) or default
        if v is None:
            err.add(name, f"required field is empty; expected one of {', '.join(allowed)}")
            return None
        v = v.lower()
        if v not in allowed:
            err.add(name, f"'{v}' is not one of {', '.join(allowed)}")
        return v

    def number(name: str, *, integer: bool = False) -> float | None:
        raw = get.get(name)
        if _blank(raw):
            return None
        s, _ = _number_text(raw)
        try:
            x = float(s)
        except ValueError:
            err.add(name, f"'{raw}' is not a number")
            return None
        if not math.isfinite(x):
            err.add(name, f"'{raw}' is not a finite number")
            return None
        if integer and x != int(x):
            err.add(name, f"'{raw}' is not a whole number")
            return None
        return x

    material = required("material")
    material_key = _text(get.get("material_key"))
    if material_key is None:
        if origin == "curated":
            err.add("material_key", "required field is empty")
        elif material:
            material_key = slugify(material)
    host = required("host")
    material_class = choice("material_class", MATERIAL_CLASSES)
    strategy = choice("strategy", ALL_STRATEGIES)
    sample_role = choice("sample_role", SAMPLE_ROLES,
                         default="treated" if origin == "user" else None)
    quantity = _text(get.get("quantity"))
    spec = None
    if quantity is None:
        err.add("quantity", "required field is empty")
    else:
        quantity = quantity.lower()
        spec = QUANTITIES.get(quantity)
        if spec is None and origin == "user":
            err.add("quantity", f"unknown quantity '{quantity}'; expected one of "
                                f"{', '.join(sorted(QUANTITIES))}")

    # value (may carry its unit: "250 mA h g-1") and unit
    approximate = False
    value: float | None = None
    unit_text = _text(get.get("unit"))
    raw_value = get.get("value")
    if _blank(raw_value):
        err.add("value", "required field is empty")
    else:
        s, approximate = _number_text(raw_value)
        try:
            value = float(s)
        except ValueError:
            if unit_text is None:
                try:
                    q = parse_quantity(str(raw_value).lstrip("~≈ "),
                                       spec.dimension if spec else None,
                                       where=err.where("value"))
                    value, unit_text = float(q.magnitude), f"{q.units:~}"
                except UnitError as exc:
                    err.errors.append(exc)
            else:
                err.add("value", f"'{raw_value}' is not a number")
        if value is not None and not math.isfinite(value):
            err.add("value", f"'{raw_value}' is not a finite number")
            value = None
    stored_unit: str | None = None
    if value is not None:
        if unit_text is None:
            err.add("unit", "required field is empty; give a unit such as 'mA h g-1'")
        elif spec is not None:
            try:
                try:
                    if spec.dimension == "temperature":  # offset units: no plain factor
                        value = convert(value, unit_text, spec.canonical_unit,
                                        expect=spec.dimension)
                    else:
                        value = value * _factor(unit_text, spec.canonical_unit, spec.dimension)
                except UnitError:  # redo uncached to get the message with file/line/field
                    convert(value, unit_text, spec.canonical_unit, expect=spec.dimension,
                            where=err.where("unit"))
                    raise
                stored_unit = spec.canonical_unit
            except UnitError as exc:
                err.errors.append(exc)
                value = None
            if value is not None and not spec.in_range(value):
                err.add("value", f"{value:g} {spec.canonical_unit} is outside the allowed range "
                                 f"{spec.range_text()} for {quantity}")
        else:
            try:
                parse_unit(unit_text, where=err.where("unit"))
                stored_unit = unit_text
            except UnitError as exc:
                err.errors.append(exc)

    approx_field = _text(get.get("approximate"))
    if approx_field is not None:
        if approx_field.lower() in _TRUE:
            approximate = True
        elif approx_field.lower() not in _FALSE:
            err.add("approximate", f"'{approx_field}' is not true/false")
    raw_text = _text(get.get("raw_text"))
    if raw_text and raw_text.lstrip().startswith("~") and origin == "user":
        approximate = True

    # conditions
    current = number("current_mA_g")
    if _text(get.get("current_source")) == "c_rate":
        current = None  # derived in an earlier export: derive it again from C-rate x basis
    current_text = _text(get.get("current"))
    if current_text is not None:
        if current is not None:
            err.add("current", "give either 'current' (with a unit) or 'current_mA_g', not both")
        else:
            try:
                q = parse_quantity(current_text, "specific_current", where=err.where("current"))
                current = float(q.to(parse_unit(CURRENT_UNIT)).magnitude)
            except UnitError as exc:
                err.errors.append(exc)
    c_rate_raw = get.get("c_rate")
    c_rate: float | None = None
    if not _blank(c_rate_raw):
        s, _ = _number_text(c_rate_raw)
        s = s.rstrip("Cc")
        try:
            c_rate = float(s)
        except ValueError:
            err.add("c_rate", f"'{c_rate_raw}' is not a C-rate (expected e.g. 10 or '10C')")
    basis = number("c_rate_basis_mAh_g")
    current_source: str | None = "printed" if current is not None else None
    if current is not None and current <= 0:
        err.add("current_mA_g", f"current density must be > 0 mA g-1, got {current:g}")
    if c_rate is not None and c_rate <= 0:
        err.add("c_rate", f"C-rate must be > 0, got {c_rate:g}")
    if basis is not None and not 0 < basis <= 5000:
        err.add("c_rate_basis_mAh_g",
                f"capacity basis must be in (0, 5000] mA h g-1, got {basis:g}")
    if basis is not None and c_rate is None:
        err.add("c_rate", "a C-rate basis was given without a C-rate")
    if (current is None and c_rate is not None and basis is not None and c_rate > 0
            and 0 < basis <= 5000):
        # xC means I = x * Q_ref (methods.md section 7); derive mA g-1 only with a known basis
        current = float(c_rate_to_current(c_rate, basis)) if c_rate_to_current else c_rate * basis
        current_source = "c_rate"

    cycles_f = number("cycles", integer=True)
    cycles = None if cycles_f is None else int(cycles_f)
    if cycles is not None and cycles < 1:
        err.add("cycles", f"cycle count must be an integer >= 1, got {cycles}")
    temperature = number("temperature_C")
    if temperature is not None and not -100 <= temperature <= 300:
        err.add("temperature_C", f"temperature {temperature:g} degC is outside [-100, 300]")

    ref_f = number("ref", integer=True)
    ref = None if ref_f is None else int(ref_f)
    citation = _text(get.get("citation"))
    doi = _text(get.get("doi"))
    if ref is not None and known_refs is not None and ref not in set(known_refs):
        err.add("ref", f"reference {ref} is not in the review's reference list")
    if origin == "curated" and ref is None:
        err.add("ref", "required field is empty (the review's reference number)")
    if origin == "user" and ref is None and citation is None:
        err.add("citation", "a citation is required: give 'citation' (and 'doi') or the "
                            "review's reference number in 'ref'")

    rid = _text(get.get("id"))
    if origin == "curated":
        if rid is None:
            err.add("id", "required field is empty")
        elif rid.startswith(USER_ID_PREFIX):
            err.add("id", f"ids starting with '{USER_ID_PREFIX}' are reserved for user records")

    if err.errors:
        raise _combine(err.errors)

    if origin == "user":
        if rid is None:
            digest = hashlib.sha1(repr(identity_key(
                material_key, quantity, sample_role, current, c_rate, cycles, temperature,
            )).encode()).hexdigest()[:8]
            rid = f"{material_key}.{quantity}.{digest}"
        if not rid.startswith(USER_ID_PREFIX):
            rid = USER_ID_PREFIX + rid
    return Observation(
        id=rid, material=material, material_key=material_key, host=host,
        material_class=material_class, strategy=strategy, sample_role=sample_role,
        quantity=quantity, value=float(value), unit=stored_unit, raw_text=raw_text,
        approximate=approximate, current_mA_g=current, c_rate=c_rate,
        c_rate_basis_mAh_g=basis, cycles=cycles, temperature_C=temperature, ref=ref,
        location=_text(get.get("location")), note=_text(get.get("note")),
        citation=citation, doi=doi, origin=origin, current_source=current_source,
    )


def _combine(errors: list[NasurfError]) -> NasurfError:
    """One exception for several problems: the first one's location, all messages listed."""
    first = errors[0]
    if len(errors) == 1:
        return first
    others = "; ".join(str(e) for e in errors[1:6])
    more = f" (+{len(errors) - 6} more)" if len(errors) > 6 else ""
    kinds = {type(e) for e in errors}
    if len(kinds) == 1:
        cls = kinds.pop()
    else:
        cls = UnitError if all(isinstance(e, UnitError) for e in errors) else ValidationError
    return cls(f"{first.reason}; also: {others}{more}", file=first.file, line=first.line,
               field=first.field)


def combine_errors(errors: list[NasurfError]) -> NasurfError:
    """Public wrapper of the error combiner used for whole files."""
    return _combine(errors)


# --------------------------------------------------------------------------- file readers


def read_rows(path: str | Path) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    """Read a CSV, TSV, YAML or JSON records file into ``(file, [(line, row), ...])``.

    A Frictionless ``datapackage.json`` is read through its ``observations`` resource, and
    ``file`` is then that resource's CSV (so errors name the file the row is in).
    Raises :class:`FileFormatError` naming the file and line for malformed files.
    """
    p = Path(path)
    if not p.is_file():
        raise FileFormatError("no such file", file=str(p))
    suffix = p.suffix.lower()
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                              file=str(p)) from None
    if not text.strip():
        raise FileFormatError("file is empty", file=str(p))
    if suffix in (".csv", ".tsv", ".txt"):
        return str(p), _read_csv(text, str(p), delimiter="\t" if suffix == ".tsv" else ",")
    if suffix in (".yaml", ".yml"):
        return str(p), _read_yaml(text, str(p))
    if suffix == ".json":
        data_package = _read_datapackage(text, p)
        if data_package is not None:
            return data_package
        return str(p), _read_json(text, str(p))
    raise FileFormatError(f"unsupported file type '{suffix}'; expected .csv, .tsv, .yaml, "
                          ".yml, .json or a datapackage.json", file=str(p))


def _read_csv(text: str, file: str, delimiter: str = ",") -> list[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise FileFormatError(f"malformed CSV header ({exc})", file=file, line=1) from None
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise FileFormatError(f"duplicate column(s) {', '.join(dup)} in the header",
                              file=file, line=1)
    if "value" not in header and "quantity" not in header:
        raise FileFormatError("header has neither 'quantity' nor 'value': not a records file "
                              f"(columns found: {', '.join(header)})", file=file, line=1)
    rows: list[tuple[int, dict[str, Any]]] = []
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise FileFormatError(f"malformed CSV ({exc})", file=file,
                                  line=reader.line_num) from None
        # a cell nasurf's CSV export made inert ("'=...") reads back as written
        fields = [f[1:] if f[:1] == "'" and f[1:2] in ("=", "+", "-", "@", "\t", "\r") else f
                  for f in fields]
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) > len(header):
            raise FileFormatError(
                f"row has {len(fields)} fields but the header has {len(header)} "
                "(an unquoted comma?)", file=file, line=start)
        if len(fields) < len(header):
            raise FileFormatError(
                f"row has {len(fields)} fields but the header has {len(header)}; first "
                f"missing field is '{header[len(fields)]}'", file=file, line=start,
                field=header[len(fields)])
        rows.append((start, dict(zip(header, fields, strict=True))))
    if not rows:
        raise FileFormatError("no records after the header", file=file)
    return rows


def _read_yaml(text: str, file: str) -> list[tuple[int, dict[str, Any]]]:
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise FileFormatError(f"malformed YAML ({getattr(exc, 'problem', exc)})", file=file,
                              line=None if mark is None else mark.line + 1) from None
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]
        root = next(v for k, v in root.value if k.value == "records")
    if isinstance(data, dict):
        data, root_nodes = [data], [root]
    elif isinstance(data, list):
        root_nodes = root.value
    else:
        raise FileFormatError("expected a list of records (or a mapping with 'records')",
                              file=file, line=1)
    out = []
    for item, node in zip(data, root_nodes, strict=True):
        line = node.start_mark.line + 1
        if not isinstance(item, dict):
            raise FileFormatError("each record must be a mapping of field: value",
                                  file=file, line=line)
        out.append((line, {str(k): v for k, v in item.items()}))
    if not out:
        raise FileFormatError("no records", file=file)
    return out


def _read_json(text: str, file: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"malformed JSON ({exc.msg})", file=file, line=exc.lineno) from None
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        start = text.index("[", text.index('"records"'))
        data = data["records"]
    elif isinstance(data, list):
        start = text.index("[")
    elif isinstance(data, dict):
        return [(1, data)]
    else:
        raise FileFormatError("expected a list of records (or an object with 'records')",
                              file=file, line=1)
    # Find each element's starting line by decoding the array element by element.
    decoder = json.JSONDecoder()
    pos, out = start + 1, []
    for item in data:
        while text[pos] in " \t\r\n,":
            pos += 1
        line = text.count("\n", 0, pos) + 1
        _, pos = decoder.raw_decode(text, pos)
        if not isinstance(item, dict):
            raise FileFormatError("each record must be a JSON object", file=file, line=line)
        out.append((line, item))
    if not out:
        raise FileFormatError("no records", file=file)
    return out


def _read_datapackage(text: str, p: Path) -> tuple[str, list[tuple[int, dict[str, Any]]]] | None:
    try:
        desc = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not (isinstance(desc, dict) and isinstance(desc.get("resources"), list)):
        return None
    for res in desc["resources"]:
        if isinstance(res, dict) and res.get("name") == "observations":
            path = res.get("path")
            if not isinstance(path, str) or ".." in Path(path).parts or Path(path).is_absolute():
                raise FileFormatError("resource 'observations' has no safe relative 'path'",
                                      file=str(p), field="resources.observations.path")
            target = p.parent / path
            if not target.is_file():
                raise FileFormatError(f"data package resource file '{path}' is missing",
                                      file=str(p), field="resources.observations.path")
            return str(target), _read_csv(target.read_text(encoding="utf-8-sig"), str(target))
    raise FileFormatError("data package has no 'observations' resource", file=str(p),
                          field="resources")


@dataclass(frozen=True)
class ParsedFile:
    """The validated records of one file, where each came from, and rows skipped."""

    records: tuple[Observation, ...]
    sources: tuple[tuple[str, int], ...]
    skipped: tuple[str, ...] = ()


def read_records(path: str | Path, *, origin: str = "user",
                 known_refs: Iterable[int] | None = None,
                 c_rate_to_current=None) -> ParsedFile:
    """Read and validate every row of a records file; all-or-nothing.

    Every row is validated before anything is returned; if any row fails, one
    :class:`ValidationError` lists the problems (first one's file, line and field first).
    Duplicate ids, and for user files duplicate identities, within the file are refused.
    Rows marked ``origin=curated`` (from our own exports) are skipped in user files: the
    curated data already hold them.
    """
    file, rows = read_rows(path)
    refs = None if known_refs is None else set(known_refs)
    errors: list[NasurfError] = []
    out: list[Observation] = []
    sources: list[tuple[str, int]] = []
    skipped: list[str] = []
    seen: dict[tuple, int] = {}
    seen_ids: dict[str, int] = {}
    for line, row in rows:
        if origin == "user" and _text(row.get("origin")) == "curated":
            skipped.append(str(_text(row.get("id"))))
            continue
        try:
            obs = parse_record(row, origin=origin, file=file, line=line, known_refs=refs,
                               c_rate_to_current=c_rate_to_current)
        except NasurfError as exc:
            errors.append(exc)
            continue
        key = obs.identity()
        if obs.id in seen_ids:
            errors.append(_dup(file, line, "id", f"id '{obs.id}' repeats line {seen_ids[obs.id]}"))
        elif key in seen and origin == "user":
            errors.append(_dup(file, line, "quantity",
                               f"same material_key, quantity and conditions as line {seen[key]}"))
        seen.setdefault(key, line)
        seen_ids.setdefault(obs.id, line)
        out.append(obs)
        sources.append((file, line))
    if errors:
        raise _combine(errors)
    return ParsedFile(tuple(out), tuple(sources), tuple(skipped))


def parse_file(path: str | Path, *, origin: str = "user",
               known_refs: Iterable[int] | None = None,
               c_rate_to_current=None) -> list[Observation]:
    """The validated records of a file (see :func:`read_records`)."""
    return list(read_records(path, origin=origin, known_refs=known_refs,
                             c_rate_to_current=c_rate_to_current).records)


def _dup(file: str, line: int, field: str, message: str) -> NasurfError:
    from nasurf.errors import DuplicateRecordError

    return DuplicateRecordError(f"duplicate record: {message}", file=file, line=line, field=field)
