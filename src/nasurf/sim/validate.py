"""Literature validation of the packaged hosts and strategy presets.

For every knowledge-base capacity record whose host has a packaged material
(``data/validation.yaml``), simulate host + the record's strategy preset + the record's
morphology at the record's current (and cycle count) and compare with the reported value.
Every record is listed: simulated ones with their relative error and the assumptions made,
the others with the reason the model cannot produce the number. Medians and worst errors
are reported per host, per strategy and overall.

Protocol per record, 0.01-3.0 V: a formation cycle (sodiate, desodiate) at the sample's
first-discharge current, then one cycle at the record's current. The papers read their
rate steps and long-cycling capacities after the first cycles, when the first-cycle loss is
spent; a record's first sodiation is its own formation cycle. A sample without a
first-discharge current is formed at the host's lowest cited current; never above the
record's own current.

* ``first_discharge_capacity`` = cycle-1 sodiation at the record's current (includes the
  first-cycle irreversible capacity of the host);
* ``rate_capacity`` / ``reversible_capacity`` = cycle-2 desodiation × the connected
  fraction the fade law leaves after the formation cycle
  (:func:`~nasurf.sim.protocol.lam_factor`, the rule the simulator applies between
  repetitions);
* ``cycling_capacity`` after N cycles = that × the law applied N − 2 more times at the
  cycle-2 depth (:func:`~nasurf.sim.protocol.lam_retention`; the N cycles are not
  integrated).

The sample enters with its size (``validation.yaml`` morphology, printed under
``assumptions``) and the first-cycle loss of that size
(:func:`~nasurf.sim.parameters.at_particle_radius`). A host/carbon composite's current and
capacity are per composite mass: capacity = f × host + (1 − f) × carbon partner, where the
partner is the cited plateau-free carbon of ``validation.yaml`` (``carbon_partner``) and
the current I splits at equal C-rate, host I·Q_h/(f·Q_h + (1 − f)·Q_c) per gram of host
(Q: low-rate capacities), areal loading f × the electrode's. A record without a current gets
one only from a cited ``conditions`` entry of ``validation.yaml``. A record measured away
from room temperature (outside 15-35 degC) is listed as not simulated: the packaged
parameters carry no activation energies.
A record that is another record's measurement once its cited current is filled in (same
sample, quantity, current, cycles, temperature: the knowledge base's distinct rule) is
listed as ``duplicate`` and counted once, under the Table 1 row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nasurf.constants import ROOM_TEMPERATURE_K
from nasurf.errors import ValidationError
from nasurf.units import convert

CAPACITY_QUANTITIES = ("rate_capacity", "reversible_capacity", "cycling_capacity",
                       "first_discharge_capacity")
TARGET_MEDIAN = 0.25  # issue 13: median |relative error| <= 25 %
LOWER_V, UPPER_V = 0.01, 3.0
ROOM_TEMPERATURE_C = ROOM_TEMPERATURE_K - 273.15  # the reference temperature, in degC
TEMPERATURE_TOLERANCE_C = 10.0  # records within 15-35 degC count as room temperature


@dataclass(frozen=True)
class ValidationRow:
    """One knowledge-base record against the simulator."""

    record_id: str
    host: str
    material: str | None          # packaged host material, None when the host has none
    strategy: str
    sample: str
    quantity: str
    current_mA_g: float
    cycles: int | None
    reported_mAh_g: float
    simulated_mAh_g: float        # nan when not simulated
    relative_error: float         # (simulated − reported) / reported; nan when not simulated
    citation: str
    status: str                   # within | outside | beyond_host | not_simulated | duplicate
    reason: str                   # why the model misses or cannot reach the number ('' if within)
    assumptions: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("simulated_mAh_g", "relative_error", "current_mA_g"):
            if not math.isfinite(d[k]):
                d[k] = None
        d["assumptions"] = list(self.assumptions)
        d["warnings"] = list(self.warnings)
        return d


@dataclass(frozen=True)
class ErrorStats:
    n: int
    median_abs: float
    worst: float                  # signed relative error of largest magnitude
    worst_record: str

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "median_abs_relative_error": _none(self.median_abs),
                "worst_relative_error": _none(self.worst), "worst_record": self.worst_record}


@dataclass(frozen=True)
class ValidationReport:
    rows: tuple[ValidationRow, ...]
    overall: ErrorStats
    per_host: Mapping[str, ErrorStats]
    per_strategy: Mapping[str, ErrorStats]
    per_quantity: Mapping[str, ErrorStats]
    within_host_limit: ErrorStats    # rows whose reported value the host can reach at all
    hosts_without_preset: Mapping[str, int]
    target_median: float = TARGET_MEDIAN
    conventions: Mapping[str, str] = field(default_factory=lambda: {
        "relative_error": "(simulated - reported) / reported",
        "capacity": "mAh per g of the record's basis: the host, or for host/carbon "
                    "composites f x host + (1 - f) x the cited carbon partner (no binder)",
        "protocol": f"{LOWER_V}-{UPPER_V} V: a formation cycle at the sample's "
                    "first-discharge current, then one cycle at the record's current; "
                    "cycling records extrapolate with the model's LAM law",
    })

    @property
    def meets_target(self) -> bool:
        return math.isfinite(self.overall.median_abs) and \
            self.overall.median_abs <= self.target_median

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": {"records": len(self.rows),
                        "simulated": sum(math.isfinite(r.simulated_mAh_g) for r in self.rows),
                        "overall": self.overall.to_dict(),
                        "reachable_only": self.within_host_limit.to_dict(),
                        "target_median_abs_relative_error": self.target_median,
                        "meets_target": self.meets_target},
            "per_host": {k: v.to_dict() for k, v in self.per_host.items()},
            "per_strategy": {k: v.to_dict() for k, v in self.per_strategy.items()},
            "per_quantity": {k: v.to_dict() for k, v in self.per_quantity.items()},
            "hosts_without_preset": dict(self.hosts_without_preset),
            "conventions": dict(self.conventions),
            "rows": [r.to_dict() for r in self.rows],
        }


def _none(v: float) -> float | None:
    return v if math.isfinite(v) else None


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping: PyYAML keeps the
    last one silently, so a second entry for a sample would replace the first unseen."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ValidationError(f"key {key!r} given twice (lines {seen[key]} and {line}); "
                                  "expected each key once", file=loader.name, field=str(key))
        seen[key] = line
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _unique_mapping)


def load_unique_yaml(text: str, file: str) -> Any:
    """Parse YAML ``text`` (named ``file`` in errors), refusing duplicate mapping keys."""
    loader = _UniqueKeyLoader(text)
    loader.name = file
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


@lru_cache(maxsize=1)
def validation_config() -> dict[str, Any]:
    """The packaged host map and per-sample morphology (``data/validation.yaml``)."""
    res = resources.files("nasurf.sim") / "data" / "validation.yaml"
    doc = load_unique_yaml(res.read_text(encoding="utf-8"), "validation.yaml")
    morph: dict[str, tuple[float, str, float | None, str]] = {}
    fractions: dict[str, tuple[float, str]] = {}
    for key, entry in doc["morphology"].items():
        where = f"validation.yaml, morphology '{key}'"
        r = convert(float(entry["radius"]), str(entry.get("unit", "m")), "m", expect="length",
                    where=where)
        load = None if "mass_loading" not in entry else convert(
            float(entry["mass_loading"]), "mg/cm^2", "kg/m^2", expect="areal_mass", where=where)
        morph[key] = (r, str(entry["basis"]), load, str(entry.get("loading_basis", "")))
        if "active_fraction" in entry:
            f = float(entry["active_fraction"])
            if not 0.0 < f <= 1.0:
                raise ValidationError(f"active_fraction must lie in (0, 1], got {f}",
                                      file="validation.yaml", field=key)
            fractions[key] = (f, str(entry["fraction_basis"]))
    conditions: dict[str, tuple[float, str]] = {}
    for rid, entry in (doc.get("conditions") or {}).items():
        where = f"validation.yaml, conditions '{rid}'"
        if not isinstance(entry, dict) or "current_mA_g" not in entry or not str(
                entry.get("basis", "")).strip():
            raise ValidationError("expected {current_mA_g, basis}", file="validation.yaml",
                                  field=str(rid))
        cur = float(entry["current_mA_g"])
        if not (math.isfinite(cur) and cur > 0):
            raise ValidationError(f"current_mA_g must be positive, got {cur}",
                                  file="validation.yaml", field=str(rid))
        conditions[str(rid)] = (cur, str(entry["basis"]))
    partner = doc.get("carbon_partner") or {}
    pc = np.asarray(partner.get("current_mA_g", []), dtype=float)
    pq = np.asarray(partner.get("capacity_mAh_g", []), dtype=float)
    if pc.size < 2 or pc.shape != pq.shape or not (np.all(np.diff(pc) > 0) and np.all(pc > 0)
                                                 and np.all(pq > 0)) \
            or not str(partner.get("source", "")).strip():
        raise ValidationError("expected {current_mA_g: [>= 2 increasing], capacity_mAh_g: "
                              "[same length, > 0], source}", file="validation.yaml",
                              field="carbon_partner")
    return {"hosts": dict(doc["hosts"]), "morphology": morph, "active_fraction": fractions,
            "conditions": conditions,
            "carbon_partner": (tuple(pc), tuple(pq), str(partner["source"]))}


def carbon_partner_capacity(current_mA_g: float) -> tuple[float, str]:
    """Desodiation capacity [mAh/g of carbon] of a composite's carbon partner at a specific
    current [mA/g of carbon], and how it was read (``interpolated``/``held``/
    ``extrapolated``): linear in log(current) through the cited points of
    ``validation.yaml``, held below the first, continued along the last slope above the
    last and floored at 0."""
    cur, cap, _ = validation_config()["carbon_partner"]
    lc, q = np.log(np.asarray(cur)), np.asarray(cap)
    x = math.log(max(float(current_mA_g), 1e-12))
    if x <= lc[0]:
        return float(q[0]), "held"
    if x <= lc[-1]:
        return float(np.interp(x, lc, q)), "interpolated"
    slope = (q[-1] - q[-2]) / (lc[-1] - lc[-2])
    return max(0.0, float(q[-1] + slope * (x - lc[-1]))), "extrapolated"


def _stats(rows: Iterable[ValidationRow]) -> ErrorStats:
    rows = [r for r in rows if math.isfinite(r.relative_error)]
    if not rows:
        return ErrorStats(0, math.nan, math.nan, "")
    errs = np.array([r.relative_error for r in rows])
    i = int(np.argmax(np.abs(errs)))
    return ErrorStats(len(rows), float(np.median(np.abs(errs))), float(errs[i]),
                      rows[i].record_id)


def _record_current(rec: Mapping[str, Any]) -> float:
    cur = rec.get("current_mA_g")
    if cur is not None and np.isfinite(float(cur)):
        return float(cur)
    return math.nan


def _same_measurement(df: Any, conditions: Mapping[str, tuple[float, str]]
                      ) -> dict[str, str]:
    """Records that are another record's measurement once a cited ``conditions`` current
    fills their missing one: {duplicate id: kept id}, by the knowledge base's rule
    (:func:`~nasurf.knowledge.query.distinct_measurements`: same sample, quantity, sample
    role, current, cycles and temperature; the Table 1 row kept, then the lowest id)."""
    from nasurf.knowledge.query import MEASUREMENT_KEY, distinct_measurements

    if df.empty:
        return {}
    filled = df.drop(columns="duplicate_of", errors="ignore").copy()
    filled["current_mA_g"] = [
        cur if math.isfinite(cur := _record_current(r)) else conditions.get(
            str(r["id"]), (math.nan, ""))[0] for r in filled.to_dict("records")]
    kept = set(distinct_measurements(filled)["id"])
    out: dict[str, str] = {}
    for _, grp in filled.groupby(list(MEASUREMENT_KEY), dropna=False, sort=False):
        first = [i for i in grp["id"] if i in kept]
        out.update({str(i): str(first[0]) for i in grp["id"] if i not in kept and first})
    return out


def _reason(quantity: str, reported: float, simulated: float, limit: float,
            warnings: list[str], err: float, lam_keep: float = 1.0,
            composite: bool = True) -> tuple[str, str]:
    if reported > limit * 1.02:
        what = "incl. first-cycle loss" if quantity == "first_discharge_capacity" \
            else "host + surface sites; conversion hosts: their accessible fraction"
        return "beyond_host", (
            f"reported {reported:g} mAh/g exceeds what the host can store ({limit:.0f} mAh/g "
            f"{what}): "
            "the sample's carbon/second phase or extra surface storage contributes, which the "
            "single-host model does not include")
    if quantity == "cycling_capacity" and lam_keep < 0.5:
        return ("within" if abs(err) <= TARGET_MEDIAN else "outside"), (
            f"the model's LAM law (volume change x depth x (1 - bonding)) keeps only "
            f"{lam_keep:.1%} of the host over the record's cycles: the sample's buffering "
            "(carbon matrix, voids) is stronger than the preset states")
    if simulated == 0.0 or any("ended at once" in w or "after only" in w for w in warnings):
        return "outside", ("a step reached its cut-off (almost) at once: the ohmic + kinetic "
                           "drop at this current exceeds the voltage window, or the solver "
                           "could not move a filled/emptied surface (see the row's warnings)")
    if abs(err) <= TARGET_MEDIAN:
        return "within", ""
    if err > 0 and not composite:
        return "outside", ("model over-predicts (not a composite): the sample loses or never "
                           "reaches capacity by mechanisms the host lacks (fading beyond the "
                           "LAM law such as pulverisation, coarsening or contact loss; a "
                           "first-cycle loss other than the host's), or its size/loading "
                           "differ from the assumed ones")
    if err > 0:
        return "outside", ("model over-predicts: a composite's host fraction is an assumption "
                           "(binder and a larger carbon share lower the per-mass capacity), and "
                           "fading mechanisms beyond the LAM law (pulverisation, SEI growth) "
                           "are absent")
    return "outside", ("model under-predicts: the sample stores charge the host model lacks "
                       "(surface/defect storage beyond the preset's sites, carbon "
                       "contribution) or is faster than the assumed morphology")


def _simulate_group(material: str, strategy: str, radius: float, loading: float | None,
                    runs: list[tuple[float, float]]
                    ) -> tuple[list[dict[str, float]], list[list[str]], tuple[float, float],
                               float, float, float]:
    """Capacities of each run (formation current, measured current) [mA per g of host],
    the fade law's LAM rate and susceptible fraction, host, site and first-cycle loss
    capacities [mAh/g].

    A run is one formation cycle at the first current and one cycle at the second; the
    cycle-2 desodiation is scaled by the connected fraction the fade law leaves after the
    formation cycle (:func:`~nasurf.sim.protocol.lam_factor`, the rule the simulator
    applies between repetitions; the two cycles here are one repetition)."""
    from nasurf.sim.experiment import Experiment
    from nasurf.sim.parameters import F, at_particle_radius, load_material
    from nasurf.sim.protocol import lam_factor, susceptible_fraction
    from nasurf.sim.simulate import resolve_parameters, simulate

    base = load_material(material)
    changes: dict[str, Any] = {}
    if loading is not None:
        changes["mass_loading"] = loading
    if base.size_distribution is not None:
        changes["size_distribution"] = None
    # the sample's size first (with the first-cycle loss of its surface): a preset's
    # surface layer is sized against it
    sized = at_particle_radius(base.with_changes(**changes) if changes else base, radius)
    p = resolve_parameters(sized, strategy)
    sus = float(susceptible_fraction(p.volume_change, p.bonding_factor))
    host_cap = p.host_capacity_mAh_g
    out: list[dict[str, float]] = []
    warns: list[list[str]] = []
    lam = math.nan
    for form, cur in runs:
        steps = [f"Sodiate at {form:.10g} mA g-1 until {LOWER_V} V",
                 f"Desodiate at {form:.10g} mA g-1 until {UPPER_V} V",
                 f"Sodiate at {cur:.10g} mA g-1 until {LOWER_V} V",
                 f"Desodiate at {cur:.10g} mA g-1 until {UPPER_V} V"]
        exp = Experiment.from_strings(steps, lower_cutoff_V=LOWER_V, upper_cutoff_V=UPPER_V,
                                      name="validate")
        res = simulate(p, exp)
        lam = float(np.asarray(res.model.lam_rate)[0])
        cyc = res.cycle_capacities(0)
        by = {int(c): row for c, row in zip(cyc["cycle"], cyc.to_dict("records"), strict=True)}
        c1, c2 = by.get(1, {}), by.get(2, {})
        sod1 = float(c1.get("sodiation_mAh_g", 0.0))
        a2 = float(lam_factor(lam, sod1 / host_cap, 1.0, sus)) if host_cap > 0 else 1.0
        out.append({"sod1": sod1, "des2": a2 * float(c2.get("desodiation_mAh_g", 0.0)),
                    "sod2": float(c2.get("sodiation_mAh_g", 0.0))})
        warns.append(list(res.warnings))
    # what the particle can store at all: the insertion host plus its surface sites
    sites = p.site_density * 3.0 / (p.density * p.particle_radius) * F / 3600.0
    return out, warns, (lam, sus), host_cap, sites, p.sei_capacity / 3600.0


@cache
def _lowest_cited_current(material: str) -> tuple[float, str]:
    """The lowest current [mA/g] of a packaged host's cited capacities (its file's
    ``literature``) and that entry's source."""
    text = (resources.files("nasurf.sim") / "data" / "materials" / f"{material}.yaml"
            ).read_text(encoding="utf-8")
    lit = [e for e in (yaml.safe_load(text).get("literature") or [])
           if e.get("current_mA_g") is not None]
    if not lit:
        raise ValidationError("expected at least one cited capacity with its current",
                              file=f"{material}.yaml", field="literature")
    low = min(lit, key=lambda e: float(e["current_mA_g"]))
    return float(low["current_mA_g"]), str(low.get("source", ""))


def validate_literature(db: str | Path | None = None, *, hosts: Iterable[str] | None = None
                        ) -> ValidationReport:
    """Simulate every knowledge-base capacity record whose host has a packaged material.

    ``db`` is the knowledge-base database (default: the user's, synced with the curated
    rows); ``hosts`` restricts to some knowledge-base hosts (e.g. ``["TiO2"]``).
    """
    from nasurf.knowledge import KnowledgeBase, query
    from nasurf.sim.strategies import list_strategies

    cfg = validation_config()
    host_map: dict[str, str] = cfg["hosts"]
    morph: dict[str, tuple[float, str, float | None, str]] = cfg["morphology"]
    want = None if hosts is None else {h.lower() for h in hosts}
    if want is not None and not want & {h.lower() for h in host_map}:
        raise ValidationError(f"no packaged host for {sorted(want)}; known: "
                              f"{', '.join(sorted(host_map))}", field="hosts")
    with KnowledgeBase.open(db) as kb:
        df = query(kb, quantity=list(CAPACITY_QUANTITIES), distinct=True)
    recs = df.to_dict("records")
    dup_of = _same_measurement(df, cfg["conditions"])
    # each sample's first-discharge current (its formation cycle, as the paper ran it)
    first_current: dict[str, float] = {}
    for rec in recs:
        fc = _record_current(rec)
        if rec["quantity"] == "first_discharge_capacity" and math.isfinite(fc):
            key = str(rec["material_key"])
            first_current[key] = min(fc, first_current.get(key, math.inf))
    without: dict[str, int] = {}
    strategies = set(list_strategies())
    pending: dict[tuple[str, str, float, float | None], list[int]] = {}
    rows: list[dict[str, Any] | None] = [None] * len(recs)
    for i, rec in enumerate(recs):
        host = str(rec["host"])
        if want is not None and host.lower() not in want:
            continue
        mat = next((m for h, m in host_map.items() if h.lower() == host.lower()), None)
        if mat is None:
            without[host] = without.get(host, 0) + 1
            continue
        strategy = str(rec["strategy"] or "none")
        base = {"rec": rec, "material": mat, "strategy": strategy}
        cur = _record_current(rec)
        cur_basis = ""
        if not math.isfinite(cur) and str(rec["id"]) in cfg["conditions"]:
            cur, cur_basis = cfg["conditions"][str(rec["id"])]
        if not math.isfinite(cur):
            rows[i] = {**base, "status": "not_simulated",
                       "reason": "the record states no current (nor a C-rate with its basis)"}
            continue
        if str(rec["id"]) in dup_of:
            # one measurement counts once in the medians, as in the knowledge base's own
            # distinct rows; the record stays listed
            rows[i] = {**base, "current": cur, "status": "duplicate",
                       "reason": f"the same measurement as {dup_of[str(rec['id'])]} (same "
                                 "sample, quantity, cycles and temperature, and the same "
                                 f"{cur:g} mA/g once the cited condition of validation.yaml "
                                 "supplies this record's current): simulated and counted "
                                 "there, once"}
            continue
        if strategy not in strategies:
            rows[i] = {**base, "status": "not_simulated",
                       "reason": f"no preset for strategy {strategy!r}"}
            continue
        temp = rec.get("temperature_C")
        if temp is not None and np.isfinite(float(temp)) and \
                abs(float(temp) - ROOM_TEMPERATURE_C) > TEMPERATURE_TOLERANCE_C:
            # the packaged D, k0 and conductivities are room-temperature values without
            # activation energies: simulating at 25 degC would compare unlike with unlike
            rows[i] = {**base, "current": cur, "status": "not_simulated",
                       "reason": f"measured at {float(temp):g} degC: the packaged host "
                                 "parameters (D, k0, conductivities) hold at room "
                                 "temperature and carry no activation energies"}
            continue
        key = str(rec["material_key"])
        loading: float | None = None
        if key in morph:
            radius, basis, loading, load_basis = morph[key]
        else:
            from nasurf.sim.parameters import load_material

            radius = load_material(mat).particle_radius
            basis = "no morphology stated: the packaged pristine size"
        assumptions = [f"R = {radius * 1e9:.4g} nm ({basis})",
                       f"host '{mat}' + preset '{strategy}'"]
        if loading is not None:
            assumptions.append(f"mass loading {loading * 100:.3g} mg/cm2 ({load_basis})")
        if cur_basis:
            assumptions.append(f"current {cur:g} mA/g ({cur_basis})")
        # the reversible quantities are read after the first-cycle loss is spent, as in
        # the paper (rate steps and long cycling follow the first cycles): a formation
        # cycle at the sample's first-discharge current, then the cycle at the record's
        if str(rec["quantity"]) == "first_discharge_capacity":
            form = cur
        else:
            if key in first_current:
                form = min(cur, first_current[key])
                form_basis = "the sample's own first-discharge current"
            else:
                low, low_source = _lowest_cited_current(mat)
                form = min(cur, low)
                form_basis = ("no first-discharge current for this sample: the host's lowest "
                              f"cited current, {low_source}")
            assumptions.append(f"formation cycle at {form:g} mA/g ({form_basis}), then the "
                               f"measured cycle at {cur:g} mA/g")
        frac, frac_basis = cfg["active_fraction"].get(key, (1.0, ""))
        host_cur = cur
        host_form = form
        partner = (0.0, 0.0)
        if frac < 1.0:
            # a composite's current and capacity are per composite mass; host and carbon
            # sit at one potential, so to first order each takes the current of its share
            # of the capacity (equal C-rate); the host's areal loading is frac of the
            # electrode's
            from nasurf.sim.parameters import load_material

            host = load_material(mat)
            q_h = host.host_capacity_mAh_g
            q_c = carbon_partner_capacity(0.0)[0]
            f_q = frac * q_h + (1.0 - frac) * q_c
            host_cur = cur * q_h / f_q
            host_form = form * q_h / f_q
            c_cur = cur * q_c / f_q
            c_cap, how = carbon_partner_capacity(c_cur)
            partner = (c_cap, q_c)
            loading = frac * (loading if loading is not None else host.mass_loading)
            assumptions.append(
                f"host mass fraction {frac:g} of the composite ({frac_basis}): "
                f"{host_cur:.4g} mA per g of host, host loading {loading * 100:.3g} mg/cm2")
            assumptions.append(
                f"carbon partner ({1 - frac:.2g} of the mass) at {c_cur:.4g} mA per g of "
                f"carbon: {c_cap:.0f} mAh/g ({how} from {cfg['carbon_partner'][2]}); "
                "its first-cycle loss is not added")
        rows[i] = {**base, "current": cur, "host_run": (host_form, host_cur),
                   "radius": radius, "assumptions": assumptions, "fraction": frac,
                   "partner": partner}
        pending.setdefault((mat, strategy, radius, loading), []).append(i)
    for (mat, strategy, radius, loading), idx in pending.items():
        runs = sorted({rows[i]["host_run"] for i in idx})  # type: ignore[index]
        caps, warns, lam, host_cap, site_cap, sei_cap = _simulate_group(
            mat, strategy, radius, loading, runs)
        for i in idx:
            row = rows[i]
            assert row is not None
            b = runs.index(row["host_run"])
            row["caps"], row["warnings"], row["lam"], row["host_cap"] = \
                caps[b], warns[b], lam, host_cap
            row["site_cap"], row["sei_cap"] = site_cap, sei_cap
    out: list[ValidationRow] = []
    for row in rows:
        if row is None:
            continue
        out.append(_finish(row))
    done = tuple(out)
    sim = [r for r in done if math.isfinite(r.relative_error)]
    groups: dict[str, dict[str, list[ValidationRow]]] = {"host": {}, "strategy": {},
                                                         "quantity": {}}
    for r in sim:
        groups["host"].setdefault(r.host, []).append(r)
        groups["strategy"].setdefault(r.strategy, []).append(r)
        groups["quantity"].setdefault(r.quantity, []).append(r)
    return ValidationReport(
        rows=done, overall=_stats(sim),
        per_host={k: _stats(v) for k, v in sorted(groups["host"].items())},
        per_strategy={k: _stats(v) for k, v in sorted(groups["strategy"].items())},
        per_quantity={k: _stats(v) for k, v in sorted(groups["quantity"].items())},
        within_host_limit=_stats(r for r in sim if r.status != "beyond_host"),
        hosts_without_preset=dict(sorted(without.items())))


def _finish(row: dict[str, Any]) -> ValidationRow:
    from nasurf.sim.protocol import lam_factor, lam_retention

    rec = row["rec"]
    q = str(rec["quantity"])
    reported = float(rec["value"])
    cycles = None if rec.get("cycles") is None or not np.isfinite(float(rec["cycles"])) \
        else int(rec["cycles"])
    citation = str(rec.get("citation") or f"review ref {rec.get('ref')}") + \
        f" [{rec.get('location') or ''}]"
    common = {"record_id": str(rec["id"]), "host": str(rec["host"]), "material": row["material"],
              "strategy": row["strategy"], "sample": str(rec["material"]), "quantity": q,
              "current_mA_g": row.get("current", math.nan), "cycles": cycles,
              "reported_mAh_g": reported, "citation": citation}
    if "caps" not in row:
        return ValidationRow(**common, simulated_mAh_g=math.nan, relative_error=math.nan,
                             status=row.get("status", "not_simulated"),
                             reason=row.get("reason", ""))
    caps, host_cap = row["caps"], row["host_cap"]
    assumptions = list(row["assumptions"])
    lam_keep = 1.0
    if q == "first_discharge_capacity":
        sim = caps["sod1"]
        limit = host_cap + row["site_cap"] + row["sei_cap"]
        if row["sei_cap"] > 0:
            per = " per g of host" if row.get("fraction", 1.0) < 1.0 else ""
            assumptions.append(f"first-cycle loss {row['sei_cap']:.0f} mAh/g{per} for this "
                               "size")
    else:
        sim = caps["des2"]
        limit = host_cap + row["site_cap"]
        if q == "cycling_capacity" and cycles is not None and cycles > 2:
            # the protocol's law (one owner): connected fraction in cycle 2 (after the
            # cycle-1 loss at the cycle-1 depth), then N - 2 cycles at the cycle-2 depth
            rate, sus = row["lam"]
            a2 = float(lam_factor(rate, caps["sod1"] / host_cap, 1.0, sus))
            keep = float(lam_factor(rate, caps["sod2"] / host_cap, a2, sus))
            lam_keep = float(lam_retention(rate, caps["sod2"] / host_cap, cycles - 2, a2,
                                           sus)) / a2
            sim *= lam_keep
            assumptions.append(f"cycle {cycles}: LAM factor {keep:.6f} in cycle 2, "
                               f"{lam_keep:.4f} of the cycle-2 active material kept at "
                               f"cycle {cycles} (fade law: susceptible fraction {sus:g})")
    frac = row.get("fraction", 1.0)
    c_cap, c_max = row.get("partner", (0.0, 0.0))
    sim = frac * sim + (1.0 - frac) * c_cap
    limit = frac * limit + (1.0 - frac) * c_max
    err = (sim - reported) / reported
    status, reason = _reason(q, reported, sim, limit, row["warnings"], err, lam_keep,
                             composite=frac < 1.0)
    return ValidationRow(**common, simulated_mAh_g=float(sim), relative_error=float(err),
                         status=status, reason=reason, assumptions=tuple(assumptions),
                         warnings=tuple(row["warnings"]))
