"""Questions asked of the knowledge base: filter and rank, per-strategy summaries, placing
a user's own result among the literature, and the Table 1 export.

Filtering runs in SQL on indexed columns; summaries and percentiles use pandas/scipy on
the (small) filtered set. Every result says its conventions (units, which quantity, which
sample roles, the current-density window).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nasurf.errors import ValidationError
from nasurf.knowledge.store import COLUMNS, KnowledgeBase
from nasurf.knowledge.vocabulary import (
    ALL_STRATEGIES,
    CAPACITY_UNIT,
    CURRENT_UNIT,
    MATERIAL_CLASSES,
    QUANTITIES,
    SAMPLE_ROLES,
    STRATEGIES,
)
from nasurf.options import choose

SORTABLE = frozenset(COLUMNS)


def _as_list(v: str | Iterable[str] | None) -> list[str] | None:
    if v is None:
        return None
    if isinstance(v, str):
        return [s.strip() for s in v.split(",") if s.strip()]
    return [str(s) for s in v]


def _check_choices(name: str, values: list[str] | None, allowed: Iterable[str]) -> None:
    if values is None:
        return
    allowed = tuple(allowed)
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValidationError(f"unknown {name} {', '.join(bad)}; expected one of "
                              f"{', '.join(allowed)}", field=name)


def query(kb: KnowledgeBase, *, strategy: str | Iterable[str] | None = None,
          material_class: str | Iterable[str] | None = None,
          host: str | Iterable[str] | None = None,
          quantity: str | Iterable[str] | None = None,
          sample_role: str | Iterable[str] | None = None,
          min_current_mA_g: float | None = None, max_current_mA_g: float | None = None,
          min_cycles: int | None = None, ref: int | Iterable[int] | None = None,
          origin: str | None = None, material: str | None = None,
          sort: str | None = None, descending: bool = False,
          limit: int | None = None, distinct: bool = False) -> pd.DataFrame:
    """Records matching every given filter, as a DataFrame in canonical units.

    ``strategy``, ``material_class``, ``host``, ``quantity`` and ``sample_role`` accept one
    value, a comma-separated string or a list. ``host`` matching is case-insensitive
    (``TiO2``, ``Na2Ti3O7``, ``SnO2``, ``P``, ``Sb``, ``Sn``, ``MoS2``, ``carbon`` ...).
    ``material`` is a case-insensitive substring of the printed material name. Current
    bounds are inclusive and in mA g^-1; records with no current are excluded when a bound
    is given. ``sort`` names a column (``value``, ``current_mA_g``, ``cycles`` ...);
    ``descending`` reverses it; ``limit`` keeps the first rows. ``distinct=True`` counts
    each measurement once (skips text figures that restate a Table 1 row).
    """
    clauses: list[str] = []
    params: list[Any] = []

    def member(col: str, values: list[str] | None, *, nocase: bool = False) -> None:
        if values:
            marks = ", ".join("?" for _ in values)
            clauses.append(f"{col} {'COLLATE NOCASE ' if nocase else ''}IN ({marks})")
            params.extend(values)

    strategies = _as_list(strategy)
    classes = _as_list(material_class)
    roles = _as_list(sample_role)
    quantities = _as_list(quantity)
    _check_choices("strategy", strategies, ALL_STRATEGIES)
    _check_choices("material_class", classes, MATERIAL_CLASSES)
    _check_choices("sample_role", roles, SAMPLE_ROLES)
    member("strategy", strategies)
    member("material_class", classes)
    member("host", _as_list(host), nocase=True)
    member("quantity", quantities)
    member("sample_role", roles)
    if min_current_mA_g is not None:
        clauses.append("current_mA_g >= ?")
        params.append(float(min_current_mA_g))
    if max_current_mA_g is not None:
        clauses.append("current_mA_g <= ?")
        params.append(float(max_current_mA_g))
    if (min_current_mA_g is not None and max_current_mA_g is not None
            and min_current_mA_g > max_current_mA_g):
        raise ValidationError(f"min current {min_current_mA_g:g} is above max current "
                              f"{max_current_mA_g:g} mA g-1", field="current")
    if min_cycles is not None:
        clauses.append("cycles >= ?")
        params.append(int(min_cycles))
    if ref is not None:
        refs = [ref] if isinstance(ref, int) else [int(r) for r in ref]
        clauses.append(f"ref IN ({', '.join('?' for _ in refs)})")
        params.extend(refs)
    if origin is not None:
        origin = choose("origin", origin, ("curated", "user"), where="kb query")
        clauses.append("origin = ?")
        params.append(origin)
    if distinct:
        clauses.append("duplicate_of IS NULL")
    if material:
        clauses.append("material LIKE ? ESCAPE '\\'")
        escaped = material.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.append(f"%{escaped}%")
    order = "id"
    if sort:
        # case-sensitive: the name goes into the SQL, so only the exact column names pass
        sort = choose("sort", sort, sorted(SORTABLE), where="kb query", case_sensitive=True)
        # NULLs last whatever the direction
        order = f"{sort} IS NULL, {sort} {'DESC' if descending else 'ASC'}, id"
    if limit is not None:
        if limit < 1:
            raise ValidationError(f"limit must be >= 1, got {limit}", field="limit")
        order += f" LIMIT {int(limit)}"
    return kb.frame(" AND ".join(clauses), params, order_by=order)


# --------------------------------------------------------------------------- summary


def _median(conn, where: str, params: list[Any], strategy: str) -> tuple[int, float | None]:
    """Count and median of ``value`` for one strategy, read off the sorted index (SQLite has
    no MEDIAN; walking the (quantity, strategy, value) index avoids fetching every row)."""
    n = conn.execute(f"SELECT COUNT(*) FROM observations INDEXED BY ix_obs_qsv "
                     f"WHERE strategy = ? AND {where}", [strategy, *params]).fetchone()[0]
    if n == 0:
        return 0, None
    middle = conn.execute(
        f"SELECT value FROM observations INDEXED BY ix_obs_qsv WHERE strategy = ? AND {where} "
        f"ORDER BY value LIMIT {1 if n % 2 else 2} OFFSET {(n - 1) // 2}",
        [strategy, *params]).fetchall()
    return int(n), float(np.mean([v for (v,) in middle]))


# the columns that make two rows one measurement (distinct_measurements; also used by
# nasurf.sim.validate once a cited condition has filled a row's missing current)
MEASUREMENT_KEY = ("material_key", "quantity", "sample_role", "current_mA_g", "cycles",
                   "temperature_C")


def distinct_measurements(df: pd.DataFrame) -> pd.DataFrame:
    """One row per measurement: the review's text often restates a Table 1 number.

    Rows with the same material_key, quantity, sample role, current, cycles and temperature
    count once, the Table 1 row preferred (then the lowest id). Text figures under other
    conditions are distinct measurements and are kept.
    """
    if df.empty:
        return df
    if "duplicate_of" in df.columns:
        return df[df["duplicate_of"].isna()].reset_index(drop=True)
    key = list(MEASUREMENT_KEY)
    from_table = df["location"].fillna("").str.lower().str.startswith("table")
    ordered = df.assign(_t=~from_table).sort_values(["_t", "id"], kind="stable")
    # rows without a current (C-rate only, or none printed) are kept: nothing to match on
    has_current = ordered["current_mA_g"].notna()
    kept = pd.concat([ordered[has_current].drop_duplicates(subset=key), ordered[~has_current]])
    return kept.drop(columns="_t").sort_values("id").reset_index(drop=True)



@dataclass(frozen=True)
class StrategySummary:
    """Per-strategy comparison (the review's Section 8 made quantitative).

    ``table`` has one row per strategy: ``materials`` (distinct samples), ``rate_records``
    (rate capacities at >= ``min_current_mA_g``), ``median_rate_capacity_mAh_g``,
    ``best_rate_capacity_mAh_g`` with its material/current/ref, ``median_retention_pct``,
    ``longest_cycling`` (cycles) with its material and ref.
    """

    table: pd.DataFrame
    min_current_mA_g: float
    sample_roles: tuple[str, ...]
    capacity_unit: str = CAPACITY_UNIT
    current_unit: str = CURRENT_UNIT
    retention_reference: str = "as printed by each paper (reference cycle not reported)"
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_current_mA_g": self.min_current_mA_g,
            "sample_roles": list(self.sample_roles),
            "capacity_unit": self.capacity_unit,
            "current_unit": self.current_unit,
            "retention_reference": self.retention_reference,
            "warnings": list(self.warnings),
            "strategies": self.table.to_dict(orient="records"),
        }


def strategy_summary(kb: KnowledgeBase, *, min_current_mA_g: float = 1000.0,
                     sample_roles: Iterable[str] = ("treated",),
                     include_user: bool = True) -> StrategySummary:
    """Count, median and best rate capacity above a current, median retention and longest
    cycling, per strategy (the six strategies in the review's order, then others)."""
    roles = tuple(sample_roles)
    _check_choices("sample_role", list(roles), SAMPLE_ROLES)
    if min_current_mA_g < 0 or not math.isfinite(min_current_mA_g):
        raise ValidationError(f"min current must be a finite number >= 0, got "
                              f"{min_current_mA_g}", field="min_current_mA_g")
    marks = ", ".join("?" for _ in roles)
    where = f"sample_role IN ({marks})"
    params: list[Any] = list(roles)
    if not include_user:
        where += " AND origin = 'curated'"
    conn = kb.connection
    materials = dict(conn.execute(
        f"SELECT strategy, COUNT(DISTINCT material_key) FROM observations WHERE {where} "
        "GROUP BY strategy", params).fetchall())
    distinct = f"{where} AND duplicate_of IS NULL"
    present = list(STRATEGIES) + sorted(set(materials) - set(STRATEGIES))
    rate_where = f"quantity = 'rate_capacity' AND current_mA_g >= ? AND {distinct}"
    rate_params = [float(min_current_mA_g), *params]
    ret_where = f"quantity = 'capacity_retention' AND {distinct}"
    out = []
    for strat in present:
        n_rate, median_rate = _median(conn, rate_where, rate_params, strat)
        n_ret, median_ret = _median(conn, ret_where, params, strat)
        row: dict[str, Any] = {
            "strategy": strat,
            "materials": int(materials.get(strat, 0)),
            "rate_records": n_rate,
            "median_rate_capacity_mAh_g": median_rate,
            "best_rate_capacity_mAh_g": None, "best_rate_material": None,
            "best_rate_current_mA_g": None, "best_rate_ref": None,
            "median_retention_pct": median_ret,
            "retention_records": n_ret,
            "longest_cycling": None, "longest_cycling_material": None,
            "longest_cycling_ref": None,
        }
        if n_rate:
            # walk the (quantity, strategy, value) index from the top: no sort needed
            best = conn.execute(
                f"SELECT value, material, current_mA_g, ref FROM observations "
                f"INDEXED BY ix_obs_qsv WHERE strategy = ? AND {rate_where} "
                "ORDER BY value DESC LIMIT 1", [strat, *rate_params]).fetchone()
            row.update(best_rate_capacity_mAh_g=best[0], best_rate_material=best[1],
                       best_rate_current_mA_g=best[2], best_rate_ref=best[3])
        longest = conn.execute(
            f"SELECT cycles, material, ref FROM observations WHERE strategy = ? "
            f"AND cycles IS NOT NULL AND {where} ORDER BY cycles DESC, id LIMIT 1",
            [strat, *params]).fetchone()
        # "over 10 000 cycles" is printed as a cycle life (the value is the cycle count)
        life = conn.execute(
            f"SELECT CAST(value AS INTEGER), material, ref FROM observations "
            f"WHERE quantity = 'cycle_life' AND strategy = ? AND {where} "
            "ORDER BY value DESC, id LIMIT 1", [strat, *params]).fetchone()
        candidates = [c for c in (longest, life) if c is not None]
        if candidates:
            cycles, material, ref_ = max(candidates, key=lambda c: c[0])
            row.update(longest_cycling=int(cycles), longest_cycling_material=material,
                       longest_cycling_ref=ref_)
        out.append(row)
    table = pd.DataFrame(out)
    warnings = []
    if table.empty or table["rate_records"].sum() == 0:
        warnings.append(f"no rate capacities at >= {min_current_mA_g:g} mA g-1")
    return StrategySummary(table, float(min_current_mA_g), roles, warnings=tuple(warnings))


# --------------------------------------------------------------------------- place


@dataclass(frozen=True)
class Placement:
    """Where a user's capacity sits among comparable literature records.

    ``percentile`` is the percentage of comparable records with a lower capacity (ties
    count half, ``scipy.stats.percentileofscore(kind="mean")``); ``None`` when nothing is
    comparable. Comparable: same material class, one of ``quantities``, current within a
    factor ``current_factor`` of ``current_mA_g``.
    """

    capacity_mAh_g: float
    current_mA_g: float
    material_class: str
    percentile: float | None
    n_comparable: int
    rank: int | None
    current_window_mA_g: tuple[float, float]
    quantities: tuple[str, ...]
    neighbours: pd.DataFrame = field(repr=False)
    comparable: pd.DataFrame = field(repr=False)
    warnings: tuple[str, ...] = ()
    capacity_unit: str = CAPACITY_UNIT
    current_unit: str = CURRENT_UNIT

    def to_dict(self) -> dict[str, Any]:
        keep = ["id", "material", "strategy", "value", "current_mA_g", "cycles", "ref",
                "citation", "distance"]
        return {
            "capacity_mAh_g": self.capacity_mAh_g,
            "current_mA_g": self.current_mA_g,
            "material_class": self.material_class,
            "percentile": self.percentile,
            "n_comparable": self.n_comparable,
            "rank": self.rank,
            "current_window_mA_g": list(self.current_window_mA_g),
            "quantities": list(self.quantities),
            "capacity_unit": self.capacity_unit,
            "current_unit": self.current_unit,
            "warnings": list(self.warnings),
            "neighbours": self.neighbours[[c for c in keep if c in self.neighbours]]
            .to_dict(orient="records"),
        }


def place(kb: KnowledgeBase, *, capacity_mAh_g: float, current_mA_g: float,
          material_class: str, current_factor: float = 2.0,
          quantities: Iterable[str] = ("rate_capacity", "reversible_capacity"),
          sample_roles: Iterable[str] = ("treated",), n_neighbours: int = 5,
          exclude_ids: Iterable[str] = ()) -> Placement:
    """Percentile of a capacity among comparable records, and its nearest neighbours.

    Nearest neighbours are ranked by distance in (log10 current, log10 capacity).
    """
    if not (math.isfinite(capacity_mAh_g) and capacity_mAh_g > 0):
        raise ValidationError(f"capacity must be > 0 mA h g-1, got {capacity_mAh_g}",
                              field="capacity")
    if not (math.isfinite(current_mA_g) and current_mA_g > 0):
        raise ValidationError(f"current density must be > 0 mA g-1, got {current_mA_g}",
                              field="current")
    if not current_factor > 1:
        raise ValidationError(f"current factor must be > 1, got {current_factor}",
                              field="current_factor")
    _check_choices("material_class", [material_class], MATERIAL_CLASSES)
    qs = tuple(quantities)
    _check_choices("quantity", list(qs), QUANTITIES)
    lo, hi = current_mA_g / current_factor, current_mA_g * current_factor
    comparable = query(kb, material_class=material_class, quantity=qs,
                       sample_role=tuple(sample_roles), min_current_mA_g=lo,
                       max_current_mA_g=hi, distinct=True)
    excluded = set(exclude_ids)
    if excluded and not comparable.empty:
        comparable = comparable[~comparable["id"].isin(excluded)].reset_index(drop=True)
    warnings: list[str] = []
    if comparable.empty:
        warnings.append(f"no {material_class} records of {', '.join(qs)} between {lo:g} and "
                        f"{hi:g} mA g-1")
        empty = comparable.assign(distance=pd.Series(dtype=float))
        return Placement(float(capacity_mAh_g), float(current_mA_g), material_class, None, 0,
                         None, (lo, hi), qs, empty, empty, tuple(warnings))
    from scipy.stats import percentileofscore

    values = comparable["value"].to_numpy(dtype=float)
    pct = float(percentileofscore(values, capacity_mAh_g, kind="mean"))
    rank = int(np.sum(values > capacity_mAh_g)) + 1
    if len(values) < 5:
        warnings.append(f"only {len(values)} comparable record(s): the percentile is coarse")
    dist = np.hypot(np.log10(comparable["current_mA_g"].to_numpy(dtype=float) / current_mA_g),
                    np.log10(values / capacity_mAh_g))
    comparable = comparable.assign(distance=dist)
    neighbours = comparable.sort_values(["distance", "id"]).head(n_neighbours)
    return Placement(float(capacity_mAh_g), float(current_mA_g), material_class, pct,
                     len(values), rank, (lo, hi), qs, neighbours.reset_index(drop=True),
                     comparable, tuple(warnings))


# --------------------------------------------------------------------------- Table 1

TABLE1_COLUMNS: tuple[str, ...] = (
    "ref", "strategy", "material", "first_discharge_mAh_g", "first_discharge_current_mA_g",
    "cycling_capacity_mAh_g", "cycles", "cycling_current_mA_g", "retention_pct",
    "rate_capacity_mAh_g", "rate_current_mA_g",
)
"""The export contract's columns, in order; extra columns follow them."""

TABLE1_EXTRA_COLUMNS: tuple[str, ...] = (
    "table_row", "material_key", "host", "material_class", "approximate_fields",
)

_ROW_RE = re.compile(r"table\s*1\D*?(\d+)", re.IGNORECASE)


def table1_row_number(location: str | None) -> int | None:
    """``"Table 1, row 31"`` -> 31."""
    if not location:
        return None
    m = _ROW_RE.search(location)
    return int(m.group(1)) if m else None


def export_table1(kb: KnowledgeBase) -> pd.DataFrame:
    """One row per Table 1 material (curated rows located in "Table 1, row N").

    Columns :data:`TABLE1_COLUMNS` then :data:`TABLE1_EXTRA_COLUMNS`; empty (NaN) where
    the review reports nothing. ``approximate_fields`` lists the columns printed with "~".
    """
    df = kb.frame("origin = 'curated' AND location LIKE 'Table 1%'")
    if df.empty:
        return pd.DataFrame(columns=[*TABLE1_COLUMNS, *TABLE1_EXTRA_COLUMNS])
    df["table_row"] = df["location"].map(table1_row_number)
    rows = []
    for (table_row, key), g in df.groupby(["table_row", "material_key"], sort=True,
                                          dropna=False):
        treated = g[g["sample_role"] == "treated"]
        g = treated if not treated.empty else g
        first = g.iloc[0]
        out: dict[str, Any] = {
            "ref": int(first["ref"]), "strategy": first["strategy"],
            "material": first["material"],
            "table_row": None if pd.isna(table_row) else int(table_row),
            "material_key": key, "host": first["host"],
            "material_class": first["material_class"],
        }
        approx: list[str] = []

        def pick(quantity: str, value_col: str, extra: dict[str, str], g=g, out=out,
                 approx=approx) -> None:
            sel = g[g["quantity"] == quantity]
            if sel.empty:
                out[value_col] = None
                for col in extra:
                    out[col] = None
                return
            rec = sel.iloc[0]
            out[value_col] = float(rec["value"])
            if rec["approximate"]:
                approx.append(value_col)
            for col, src in extra.items():
                v = rec[src]
                out[col] = None if pd.isna(v) else (int(v) if src == "cycles" else float(v))

        pick("first_discharge_capacity", "first_discharge_mAh_g",
             {"first_discharge_current_mA_g": "current_mA_g"})
        pick("cycling_capacity", "cycling_capacity_mAh_g",
             {"cycles": "cycles", "cycling_current_mA_g": "current_mA_g"})
        pick("capacity_retention", "retention_pct", {})
        if out["cycles"] is None:  # a retention printed without a capacity still has cycles
            ret = g[g["quantity"] == "capacity_retention"]
            if not ret.empty and pd.notna(ret.iloc[0]["cycles"]):
                out["cycles"] = int(ret.iloc[0]["cycles"])
                if pd.notna(ret.iloc[0]["current_mA_g"]):
                    out["cycling_current_mA_g"] = float(ret.iloc[0]["current_mA_g"])
        pick("rate_capacity", "rate_capacity_mAh_g", {"rate_current_mA_g": "current_mA_g"})
        out["approximate_fields"] = ";".join(approx)
        rows.append(out)
    table = pd.DataFrame(rows, columns=[*TABLE1_COLUMNS, *TABLE1_EXTRA_COLUMNS])
    table = table.sort_values(["table_row", "ref"], na_position="last").reset_index(drop=True)
    table["ref"] = table["ref"].astype("Int64")
    table["cycles"] = table["cycles"].astype("Int64")
    table["table_row"] = table["table_row"].astype("Int64")
    return table
