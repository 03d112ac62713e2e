"""Consistency findings over the knowledge base (``nasurf kb check``).

Five families, each finding naming the reference(s), the material and the values:

``text_vs_table``
    The review's text and its Table 1 give different values for what reads as the same
    quantity of the same sample under the same conditions. A condition the text does not
    state is matched only when the table has exactly one candidate, and the message says
    how the text was read. Text figures under other conditions are separate measurements
    and are not flagged.
``internal_contradiction``
    Numbers of one record that contradict each other: a retention implying a reference
    capacity above the first sodiation (discharge) capacity, a first desodiation above the
    first sodiation, an initial coulombic efficiency that does not match its capacities.
``above_theoretical``
    A capacity above the host's theoretical capacity (methods.md section 8). A first
    sodiation includes SEI formation, so exceeding it is ``info``; a reversible capacity
    above it is a ``warning``.
``c_rate_mismatch``
    A C-rate whose mA g^-1 value does not follow from its stated basis (or, if no basis is
    stated, from the host's theoretical capacity).
``theoretical_quote``
    A theoretical capacity quoted in the text that does not follow from the host's
    full-sodiation reaction (e.g. SnO2 "1398" vs 1378; Na2Ti3O7 "310" needs 3.49 Na).

Comparisons honour the printed precision: a value printed as "99" stands for [98.5, 99.5];
a value printed with "~" is given an extra +/-5 % (:data:`APPROX_RTOL`). The curated data
stay as printed: findings are reported, never "fixed".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd

from nasurf.errors import NasurfError, ValidationError
from nasurf.knowledge.store import KnowledgeBase
from nasurf.knowledge.vocabulary import CAPACITY_QUANTITIES, REVERSIBLE_CAPACITY_QUANTITIES

KINDS: tuple[str, ...] = (
    "text_vs_table", "internal_contradiction", "above_theoretical", "c_rate_mismatch",
    "theoretical_quote",
)
SEVERITIES: tuple[str, ...] = ("warning", "info")

APPROX_RTOL = 0.05
"""Relative half-width given to a value printed with "~" (read off a graph, typically)."""
CURRENT_RTOL = 0.03
"""Two printed currents are "the same condition" within 3 % ("10 A g-1" vs "10 000",
"0.1C" printed as 33.5 or 33.6 mA g-1)."""
C_RATE_RTOL = 0.05
"""A C-rate matches its mA g-1 value within 5 % (bases are often rounded: 335 vs 335.6)."""
THEORY_RTOL = 0.005
"""A quoted theoretical capacity matches its reaction within 0.5 % beyond its rounding."""


@dataclass(frozen=True)
class HostReaction:
    """The accepted full-sodiation reaction of a host (methods.md section 8)."""

    formula: str
    sodium: float
    reaction: str
    upper_bound_sodium: float | None = None
    upper_bound_reason: str | None = None


# Source: docs/methods.md §8 (values verified there with IUPAC weights).
HOST_REACTIONS: dict[str, HostReaction] = {
    "P": HostReaction("P", 3, "P + 3 Na -> Na3P"),
    "Sn": HostReaction("Sn", 3.75, "4 Sn + 15 Na -> Na15Sn4"),
    "Sb": HostReaction("Sb", 3, "Sb + 3 Na -> Na3Sb"),
    "Bi": HostReaction("Bi", 3, "Bi + 3 Na -> Na3Bi"),
    "SnO2": HostReaction("SnO2", 7.75, "SnO2 + 7.75 Na -> Na3.75Sn + 2 Na2O "
                                       "(conversion 4 e- + alloying 3.75 e-)"),
    "SnS2": HostReaction("SnS2", 7.75, "SnS2 + 7.75 Na -> Na3.75Sn + 2 Na2S"),
    "Sb2S3": HostReaction("Sb2S3", 12, "Sb2S3 + 12 Na -> 3 Na2S + 2 Na3Sb"),
    "Sn4P3": HostReaction("Sn4P3", 24, "Sn4P3 + 24 Na -> 4 Na3.75Sn + 3 Na3P"),
    "SnSb": HostReaction("SnSb", 6.75, "SnSb + 6.75 Na -> Na3.75Sn + Na3Sb"),
    "Na2Ti3O7": HostReaction("Na2Ti3O7", 2, "Na2Ti3O7 + 2 Na -> Na4Ti3O7", 3,
                             "all Ti4+ -> Ti3+ (3 Na per formula unit)"),
    "TiO2": HostReaction("TiO2", 1, "TiO2 (anatase) + Na -> NaTiO2"),
    "MoS2": HostReaction("MoS2", 4, "MoS2 + 4 Na -> Mo + 2 Na2S", None, None),
}

_CARBON_HOSTS = {"carbon", "hard carbon", "c", "graphite", "graphene", "soft carbon"}


@dataclass(frozen=True)
class Finding:
    """One consistency finding.

    ``values`` holds the numbers involved (capacities in mA h g^-1, currents in mA g^-1,
    retention in %); ``reading`` says how an ambiguous text was read, when it matters.
    """

    kind: str
    severity: str
    refs: tuple[int, ...]
    material: str
    material_key: str
    record_ids: tuple[str, ...]
    values: Mapping[str, Any]
    message: str
    reading: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "severity": self.severity, "refs": list(self.refs),
            "material": self.material, "material_key": self.material_key,
            "record_ids": list(self.record_ids), "values": dict(self.values),
            "message": self.message, "reading": self.reading,
        }


@dataclass(frozen=True)
class CheckReport:
    """All findings plus what could not be checked."""

    findings: tuple[Finding, ...]
    warnings: tuple[str, ...] = ()
    conventions: Mapping[str, Any] = field(default_factory=lambda: {
        "approx_rtol": APPROX_RTOL, "current_rtol": CURRENT_RTOL,
        "c_rate_rtol": C_RATE_RTOL, "theory_rtol": THEORY_RTOL,
        "capacity_unit": "mA h g^-1", "current_unit": "mA g^-1", "retention_unit": "%",
        "theoretical_source": "methods.md section 8 reactions via nasurf.materials",
    })

    def to_dict(self) -> dict[str, Any]:
        counts = {k: sum(f.kind == k for f in self.findings) for k in KINDS}
        return {"findings": [f.to_dict() for f in self.findings], "counts": counts,
                "warnings": list(self.warnings), "conventions": dict(self.conventions)}


# --------------------------------------------------------------------------- helpers


def half_unit(value: float) -> float:
    """Half a unit in the last printed digit: 99 -> 0.5, 98.9 -> 0.05, 1.2e-4 -> 5e-6."""
    exponent = Decimal(f"{value:.10g}").normalize().as_tuple().exponent
    # "10 000" normalises to 1E+4; printed integers are at least precise to units
    return 0.5 * 10.0 ** min(int(exponent), 0)


def interval(value: float, approximate: bool, *, with_approx: bool = True) -> tuple[float, float]:
    """The range a printed number stands for."""
    h = half_unit(value)
    if approximate and with_approx:
        h = max(h, APPROX_RTOL * abs(value))
    return value - h, value + h


def _fmt(x: float | None, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    s = f"{x:,.4g}".replace(",", " ") if abs(x) >= 1e4 else f"{x:.4g}"
    return f"{s} {unit}".strip()


def _isnum(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _group(quantity: str, cycles: Any) -> str:
    """Which printed quantities read as the same thing."""
    if quantity == "reversible_capacity":
        return "cycling" if _isnum(cycles) else "rate"
    return {"first_discharge_capacity": "first_discharge", "cycling_capacity": "cycling",
            "rate_capacity": "rate", "capacity_retention": "retention"}.get(quantity, quantity)


def _is_table(location: Any) -> bool:
    return isinstance(location, str) and location.strip().lower().startswith("table")


def _where(rec: Mapping[str, Any]) -> str:
    loc = rec.get("location") or (rec.get("citation") and "user record") or "?"
    return f"{loc} ('{rec['raw_text']}')" if rec.get("raw_text") else str(loc)


def _conditions(rec: Mapping[str, Any]) -> str:
    parts = []
    if _isnum(rec.get("cycles")):
        parts.append(f"after {int(rec['cycles'])} cycles")
    if _isnum(rec.get("current_mA_g")):
        src = " (from its C-rate)" if rec.get("current_source") == "c_rate" else ""
        parts.append(f"at {_fmt(rec['current_mA_g'], 'mA g-1')}{src}")
    elif _isnum(rec.get("c_rate")):
        parts.append(f"at {rec['c_rate']:g}C")
    if _isnum(rec.get("temperature_C")):
        parts.append(f"at {rec['temperature_C']:g} degC")
    return " ".join(parts) or "with no conditions stated"


_THEORY_CACHE: dict[tuple[str, float], Any] = {}


def theoretical(host: str, *, upper: bool = False):
    """``CapacityResult`` of the host's accepted reaction (or its upper bound), or None."""
    hr = HOST_REACTIONS.get(host)
    if hr is None:
        return None
    sodium = hr.upper_bound_sodium if upper else hr.sodium
    if sodium is None:
        return None
    key = (hr.formula, float(sodium))
    if key not in _THEORY_CACHE:
        from nasurf.materials import host_capacity

        _THEORY_CACHE[key] = host_capacity(hr.formula, sodium)
    return _THEORY_CACHE[key]


# --------------------------------------------------------------------------- families


def _text_vs_table(df: pd.DataFrame) -> list[Finding]:
    out: list[Finding] = []
    cur = df[df["origin"] == "curated"]
    for key, g in cur.groupby("material_key"):
        table = g[g["location"].map(_is_table)]
        text = g[~g["location"].map(_is_table)]
        if table.empty or text.empty:
            continue
        for _, t in text.iterrows():
            grp = _group(t["quantity"], t["cycles"])
            cands = [r for _, r in table.iterrows()
                     if _group(r["quantity"], r["cycles"]) == grp
                     and r["sample_role"] == t["sample_role"]]
            matched: list[tuple[pd.Series, list[str]]] = []
            for r in cands:
                ok, assumed = _same_conditions(t, r, grp)
                if ok:
                    matched.append((r, assumed))
            if not matched:
                continue
            if len(matched) > 1 and len({m[0]["value"] for m in matched}) > 1:
                continue  # ambiguous: several table figures fit the text's conditions
            r, assumed = matched[0]
            if assumed and len(cands) > 1:
                continue  # an unstated condition matched one of several table figures
            lo_t, hi_t = interval(t["value"], bool(t["approximate"]))
            lo_r, hi_r = interval(r["value"], bool(r["approximate"]))
            if hi_t >= lo_r and hi_r >= lo_t:
                continue
            reading = (f"the text's {_fmt(t['value'], t['unit'])} read as the "
                       f"{t['quantity'].replace('_', ' ')} {_conditions(t)}")
            if assumed:
                reading += ("; the text states no " + " or ".join(assumed)
                            + f", so it was matched to the table's only {grp.replace('_', ' ')}"
                            " figure for this sample")
            if isinstance(t.get("note"), str) and t["note"]:
                reading += f" (curator's note: {t['note']})"
            diff = t["value"] - r["value"]
            out.append(Finding(
                kind="text_vs_table", severity="warning", refs=_refs(t, r),
                material=r["material"], material_key=key,
                record_ids=(t["id"], r["id"]),
                values={"text_value": t["value"], "table_value": r["value"],
                        "unit": t["unit"], "difference": diff,
                        "current_mA_g": _num(r["current_mA_g"]), "cycles": _int(r["cycles"])},
                message=(f"{_refstr(t, r)}, {r['material']}: the text gives "
                         f"{t['quantity'].replace('_', ' ')} {_fmt(t['value'], t['unit'])} "
                         f"[{_where(t)}] but {r['location']} gives "
                         f"{_fmt(r['value'], r['unit'])} [{r['raw_text']}] "
                         f"{_conditions(r)} ({diff:+.4g} {t['unit']})"),
                reading=reading))
    return out


def _same_conditions(t: pd.Series, r: pd.Series, grp: str) -> tuple[bool, list[str]]:
    assumed: list[str] = []
    tc, rc = t["current_mA_g"], r["current_mA_g"]
    if _isnum(tc) and _isnum(rc):
        tol = C_RATE_RTOL if t.get("current_source") == "c_rate" else CURRENT_RTOL
        if abs(tc - rc) > tol * max(abs(tc), abs(rc)):
            return False, []
    elif _isnum(t["c_rate"]) and _isnum(rc):
        th = theoretical(t["host"])
        if th is None:
            return False, []
        implied = t["c_rate"] * th.capacity_mAh_g
        if abs(implied - rc) > 2 * C_RATE_RTOL * rc:
            return False, []
        assumed.append(f"C-rate basis (assumed the theoretical {th.capacity_mAh_g:.1f})")
    elif not _isnum(tc) or not _isnum(rc):
        # an unstated current is matched only for unique per-sample quantities
        unique = grp in ("first_discharge", "first_charge", "initial_coulombic_efficiency")
        tied = grp in ("cycling", "retention") and _isnum(t["cycles"]) and _isnum(r["cycles"])
        if not (unique or tied):
            return False, []
        assumed.append("current density")
    tn, rn = t["cycles"], r["cycles"]
    if _isnum(tn) and _isnum(rn):
        if int(tn) != int(rn):
            return False, []
    elif _isnum(tn) != _isnum(rn) and grp in ("cycling", "retention"):
        assumed.append("cycle number")
    tt, rt = t["temperature_C"], r["temperature_C"]
    if _isnum(tt) != _isnum(rt) or (_isnum(tt) and abs(tt - rt) > 0.5):
        return False, []
    return True, assumed


def _internal(df: pd.DataFrame) -> list[Finding]:
    out: list[Finding] = []
    for (key, loc), g in df.groupby(["material_key", df["location"].fillna("")]):
        by_q = {q: sub for q, sub in g.groupby("quantity")}
        fd = by_q.get("first_discharge_capacity")
        fc = by_q.get("first_charge_capacity")
        for _, ret in by_q.get("capacity_retention", pd.DataFrame()).iterrows():
            caps = by_q.get("cycling_capacity")
            if caps is None or fd is None:
                continue
            for _, cap in caps.iterrows():
                if not _same_point(cap, ret):
                    continue
                for _, first in fd.iterrows():
                    if (_isnum(first["current_mA_g"]) and _isnum(cap["current_mA_g"])
                            and first["current_mA_g"] > cap["current_mA_g"] * (1 + CURRENT_RTOL)):
                        continue  # a faster first cycle may legitimately give less
                    f = _retention_vs_first(key, cap, ret, first)
                    if f is not None:
                        out.append(f)
        if fd is not None and fc is not None:
            for _, a in fd.iterrows():
                for _, b in fc.iterrows():
                    lo_b, _ = interval(b["value"], bool(b["approximate"]))
                    _, hi_a = interval(a["value"], bool(a["approximate"]))
                    if lo_b > hi_a:
                        out.append(Finding(
                            "internal_contradiction", "warning", _refs(a, b), a["material"],
                            key, (a["id"], b["id"]),
                            {"first_sodiation_mAh_g": a["value"],
                             "first_desodiation_mAh_g": b["value"]},
                            f"{_refstr(a, b)}, {a['material']}: first desodiation "
                            f"{_fmt(b['value'], 'mA h g-1')} exceeds first sodiation "
                            f"{_fmt(a['value'], 'mA h g-1')} ({loc}): an initial coulombic "
                            "efficiency above 100 % in an anode half cell"))
        ice = by_q.get("initial_coulombic_efficiency")
        if ice is not None and fd is not None and fc is not None:
            for _, e in ice.iterrows():
                a, b = fd.iloc[0], fc.iloc[0]
                lo = interval(b["value"], bool(b["approximate"]))[0] / interval(
                    a["value"], bool(a["approximate"]))[1] * 100
                hi = interval(b["value"], bool(b["approximate"]))[1] / interval(
                    a["value"], bool(a["approximate"]))[0] * 100
                elo, ehi = interval(e["value"], bool(e["approximate"]))
                if ehi < lo or elo > hi:
                    out.append(Finding(
                        "internal_contradiction", "warning", _refs(e, a, b), a["material"], key,
                        (e["id"], a["id"], b["id"]),
                        {"ice_pct": e["value"], "implied_ice_pct": b["value"] / a["value"] * 100},
                        f"{_refstr(e)}, {a['material']}: initial coulombic efficiency "
                        f"{_fmt(e['value'], '%')} but {_fmt(b['value'])}/{_fmt(a['value'])} "
                        f"mA h g-1 gives {b['value'] / a['value'] * 100:.1f} % ({loc})"))
    return out


def _same_point(a: pd.Series, b: pd.Series) -> bool:
    if _isnum(a["cycles"]) != _isnum(b["cycles"]):
        return False
    if _isnum(a["cycles"]) and int(a["cycles"]) != int(b["cycles"]):
        return False
    ca, cb = a["current_mA_g"], b["current_mA_g"]
    if _isnum(ca) and _isnum(cb):
        return abs(ca - cb) <= CURRENT_RTOL * max(ca, cb)
    return _isnum(ca) == _isnum(cb)


def _retention_vs_first(key: str, cap: pd.Series, ret: pd.Series,
                        first: pd.Series) -> Finding | None:
    def bounds(with_approx: bool) -> tuple[float, float]:
        cap_lo = interval(cap["value"], bool(cap["approximate"]), with_approx=with_approx)[0]
        ret_hi = interval(ret["value"], bool(ret["approximate"]), with_approx=with_approx)[1]
        first_hi = interval(first["value"], bool(first["approximate"]),
                            with_approx=with_approx)[1]
        return cap_lo / (ret_hi / 100), first_hi

    ref_lo_strict, first_hi_strict = bounds(False)
    if ref_lo_strict <= first_hi_strict:
        return None
    ref_lo_approx, first_hi_approx = bounds(True)
    severity = "warning" if ref_lo_approx > first_hi_approx else "info"
    implied = cap["value"] / (ret["value"] / 100)
    approx_note = ""
    if severity == "info":
        approx_note = (f"; consistent only if the values printed with '~' are off by more "
                       f"than {APPROX_RTOL:.0%}")
    first_txt = ("~" if first["approximate"] else "") + _fmt(first["value"], "mA h g-1")
    return Finding(
        "internal_contradiction", severity, _refs(cap, ret, first), cap["material"], key,
        (cap["id"], ret["id"], first["id"]),
        {"cycling_capacity_mAh_g": cap["value"], "retention_pct": ret["value"],
         "implied_reference_capacity_mAh_g": implied,
         "first_discharge_mAh_g": first["value"], "cycles": _int(cap["cycles"]),
         "current_mA_g": _num(cap["current_mA_g"])},
        f"{_refstr(cap)}, {cap['material']}: {_fmt(cap['value'])} mA h g-1 "
        f"{_conditions(cap)} with {_fmt(ret['value'])} % retention implies a reference "
        f"capacity of {_fmt(cap['value'])} / {ret['value'] / 100:g} = {implied:.0f} mA h g-1, "
        f"above the first sodiation (discharge) capacity of {first_txt} "
        f"[{first['location']}]{approx_note}",
        reading="retention read as the capacity after the stated cycles divided by the "
                "reference (early-cycle) capacity, which cannot exceed the first sodiation")


def _above_theoretical(df: pd.DataFrame) -> list[Finding]:
    out: list[Finding] = []
    caps = df[df["quantity"].isin(CAPACITY_QUANTITIES)]
    for _, r in caps.iterrows():
        th = theoretical(r["host"])
        if th is None:
            continue
        lo, _ = interval(r["value"], bool(r["approximate"]))
        if lo <= th.capacity_mAh_g:
            continue
        hr = HOST_REACTIONS[r["host"]]
        upper = theoretical(r["host"], upper=True)
        values = {"value_mAh_g": r["value"], "theoretical_mAh_g": th.capacity_mAh_g,
                  "reaction": hr.reaction, "ratio": r["value"] / th.capacity_mAh_g}
        extra = ""
        if upper is not None:
            values["upper_bound_mAh_g"] = upper.capacity_mAh_g
            above = "also above" if lo > upper.capacity_mAh_g else "below"
            extra = (f"; {above} the upper bound {upper.capacity_mAh_g:.1f} mA h g-1 "
                     f"({hr.upper_bound_reason})")
        if r["quantity"] == "first_discharge_capacity":
            severity = "info"
            why = ("a first sodiation includes SEI formation and electrolyte decomposition, "
                   "so it may exceed the theoretical capacity; it is not a reversible capacity")
        elif r["quantity"] in REVERSIBLE_CAPACITY_QUANTITIES:
            severity = "warning"
            why = ("a reversible capacity above the host's theoretical capacity needs extra "
                   "storage (carbon or other phases in a composite, capacitive surface "
                   "storage) or a mass basis that excludes part of the active material")
        else:
            continue
        out.append(Finding(
            "above_theoretical", severity, _refs(r), r["material"], r["material_key"], (r["id"],),
            values,
            f"{_refstr(r)}, {r['material']}: {r['quantity'].replace('_', ' ')} "
            f"{_fmt(r['value'], 'mA h g-1')} {_conditions(r)} [{_where(r)}] is "
            f"{r['value'] / th.capacity_mAh_g:.2f}x the theoretical "
            f"{th.capacity_mAh_g:.1f} mA h g-1 of {r['host']} ({hr.reaction}){extra}: {why}",
            reading=(r["note"] if isinstance(r.get("note"), str) and r["note"] else None)))
    return out


def _c_rate(df: pd.DataFrame) -> list[Finding]:
    out: list[Finding] = []
    rated = df[df["c_rate"].notna()]
    for _, r in rated.iterrows():
        basis = r["c_rate_basis_mAh_g"]
        basis_txt = "stated basis"
        severity = "warning"
        if not _isnum(basis):
            th = theoretical(r["host"])
            if th is None:
                continue
            basis, basis_txt, severity = th.capacity_mAh_g, "theoretical capacity", "info"
        # (a) both the C-rate and the mA g-1 value printed
        if r.get("current_source") == "printed" and _isnum(r["current_mA_g"]):
            implied = r["c_rate"] * basis
            if abs(implied - r["current_mA_g"]) > C_RATE_RTOL * r["current_mA_g"]:
                out.append(_c_rate_finding(r, r, implied, basis, basis_txt, severity))
            continue
        # (b) the same figure printed elsewhere at a current: does that current fit?
        same = df[(df["material_key"] == r["material_key"]) & (df["id"] != r["id"])
                  & (df["current_source"] == "printed") & df["current_mA_g"].notna()
                  & (df["value"] == r["value"])
                  & (df["quantity"].map(lambda q: _group(q, None))
                     == _group(r["quantity"], None))]
        for _, s in same.iterrows():
            implied = r["c_rate"] * basis
            if abs(implied - s["current_mA_g"]) > C_RATE_RTOL * s["current_mA_g"]:
                out.append(_c_rate_finding(r, s, implied, basis, basis_txt, severity))
    return out


def _c_rate_finding(r: pd.Series, s: pd.Series, implied: float, basis: float, basis_txt: str,
                    severity: str) -> Finding:
    where = "" if s is r else f" where {s['location']} prints the same figure"
    return Finding(
        "c_rate_mismatch", severity, _refs(r, s), r["material"], r["material_key"],
        tuple(dict.fromkeys((r["id"], s["id"]))),
        {"c_rate": r["c_rate"], "basis_mAh_g": basis, "implied_current_mA_g": implied,
         "printed_current_mA_g": s["current_mA_g"],
         "implied_basis_mAh_g": s["current_mA_g"] / r["c_rate"]},
        f"{_refstr(r, s)}, {r['material']}: {r['c_rate']:g}C on the {basis_txt} "
        f"{basis:.1f} mA h g-1 is {implied:.0f} mA g-1, but {_fmt(s['current_mA_g'], 'mA g-1')}"
        f" is printed{where} (that current implies a 1C basis of "
        f"{s['current_mA_g'] / r['c_rate']:.1f} mA h g-1)")


_CARBON_PER_NA = re.compile(r"NaC\s*(\d+)", re.IGNORECASE)


def _theoretical_quotes(df: pd.DataFrame) -> list[Finding]:
    from nasurf.materials import electrons_from_capacity, host_capacity

    out: list[Finding] = []
    for _, r in df[df["quantity"] == "theoretical_capacity"].iterrows():
        host = str(r["host"])
        lo, hi = interval(r["value"], bool(r["approximate"]))
        if host.lower() in _CARBON_HOSTS:
            out.extend(_carbon_quote(r))
            continue
        th = theoretical(host)
        if th is None:
            continue
        q = th.capacity_mAh_g
        if lo * (1 - THEORY_RTOL) <= q <= hi * (1 + THEORY_RTOL):
            continue
        hr = HOST_REACTIONS[host]
        n_back = electrons_from_capacity(r["value"], th.molar_mass_g_mol)
        msg = (f"{_refstr(r)}: the text quotes a theoretical capacity of "
               f"{_fmt(r['value'], 'mA h g-1')} for {host} [{_where(r)}], but {hr.reaction} "
               f"({hr.sodium:g} e- per {th.molar_mass_g_mol:.3f} g/mol) gives {q:.1f} mA h g-1; "
               f"the quoted value back-calculates to {n_back:.2f} Na per {host}")
        values: dict[str, Any] = {"quoted_mAh_g": r["value"], "computed_mAh_g": q,
                                  "electrons": hr.sodium, "back_calculated_electrons": n_back,
                                  "molar_mass_g_mol": th.molar_mass_g_mol,
                                  "reaction": hr.reaction}
        if hr.upper_bound_sodium is not None:
            ub = host_capacity(hr.formula, hr.upper_bound_sodium).capacity_mAh_g
            values["upper_bound_mAh_g"] = ub
            if n_back > hr.upper_bound_sodium:
                msg += (f", more than the {hr.upper_bound_sodium:g}-electron limit "
                        f"({hr.upper_bound_reason}: {ub:.1f} mA h g-1), so it is not an "
                        f"allowed insertion capacity; the accepted value is {q:.1f}")
        out.append(Finding("theoretical_quote", "warning", _refs(r), r["material"],
                           r["material_key"], (r["id"],), values, msg,
                           reading=("no reaction is printed with the figure; compared with "
                                    f"the accepted full-sodiation reaction {hr.reaction}")))
    return out


def _carbon_quote(r: pd.Series) -> list[Finding]:
    """Carbon has no stoichiometric capacity: say which NaC_n a quoted figure is."""
    from nasurf.materials import host_capacity

    value = float(r["value"])
    n_c = None
    for n in (6, 8, 64):
        q = host_capacity(f"C{n}", 1).capacity_mAh_g
        lo, hi = interval(value, bool(r["approximate"]))
        if lo * (1 - THEORY_RTOL) <= q <= hi * (1 + THEORY_RTOL):
            n_c = n
    stated = None
    for field_ in ("raw_text", "note"):
        m = _CARBON_PER_NA.search(str(r.get(field_) or ""))
        if m:
            stated = int(m.group(1))
            break
    c6 = host_capacity("C6", 1).capacity_mAh_g
    if n_c is not None and stated is not None and stated != n_c:
        severity = "warning"
        msg = (f"{_fmt(value, 'mA h g-1')} is NaC{n_c}, not NaC{stated} "
               f"(NaC{stated} would be {host_capacity(f'C{stated}', 1).capacity_mAh_g:.1f})")
    elif n_c is not None:
        severity = "info"
        msg = f"{_fmt(value, 'mA h g-1')} corresponds to NaC{n_c}"
    else:
        severity = "info"
        msg = (f"{_fmt(value, 'mA h g-1')} matches no simple NaC_n (NaC6 = {c6:.1f}, "
               f"NaC8 = {host_capacity('C8', 1).capacity_mAh_g:.1f})")
    return [Finding(
        "theoretical_quote", severity, _refs(r), r["material"], r["material_key"], (r["id"],),
        {"quoted_mAh_g": value, "nac6_mAh_g": c6, "matching_nac_n": n_c, "stated_nac_n": stated},
        f"{_refstr(r)}, {r['material']}: {msg}; carbons have no stoichiometric theoretical "
        "capacity (storage depends on microstructure), so a 'theoretical capacity' needs an "
        "explicit NaC_n")]


# --------------------------------------------------------------------------- entry point


def _num(x: Any) -> float | None:
    return float(x) if _isnum(x) else None


def _int(x: Any) -> int | None:
    return int(x) if _isnum(x) else None


def _refs(*recs: Mapping[str, Any]) -> tuple[int, ...]:
    return tuple(sorted({int(r["ref"]) for r in recs if _isnum(r.get("ref"))}))


def _refstr(*recs: Mapping[str, Any]) -> str:
    refs = _refs(*recs)
    if refs:
        return "ref " + ", ".join(str(r) for r in refs)
    cites = {str(r.get("citation")) for r in recs if r.get("citation")}
    return "; ".join(sorted(cites)) or "uncited"


_FAMILIES = {
    "text_vs_table": _text_vs_table,
    "internal_contradiction": _internal,
    "above_theoretical": _above_theoretical,
    "c_rate_mismatch": _c_rate,
    "theoretical_quote": _theoretical_quotes,
}


def check_frame(df: pd.DataFrame, *, kinds: Iterable[str] | None = None,
                min_severity: str = "info") -> CheckReport:
    """Run the checks on a DataFrame of records (the columns of ``KnowledgeBase.frame``)."""
    wanted = list(KINDS) if kinds is None else list(kinds)
    bad = [k for k in wanted if k not in KINDS]
    if bad:
        raise ValidationError(f"unknown check kind(s) {', '.join(bad)}; expected "
                              f"{', '.join(KINDS)}", field="kind")
    if min_severity not in SEVERITIES:
        raise ValidationError(f"severity must be one of {', '.join(SEVERITIES)}",
                              field="severity")
    findings: list[Finding] = []
    warnings: list[str] = []
    if not df.empty:
        df = df.astype({"value": float})
        for kind in wanted:
            try:
                findings.extend(_FAMILIES[kind](df))
            except (ImportError, NasurfError) as exc:
                warnings.append(f"{kind} not checked: {exc}")
    if min_severity == "warning":
        findings = [f for f in findings if f.severity == "warning"]
    order = {k: i for i, k in enumerate(KINDS)}
    findings.sort(key=lambda f: (order[f.kind], f.severity != "warning",
                                 f.refs[0] if f.refs else 10**9, f.record_ids))
    return CheckReport(tuple(findings), tuple(warnings))


def check(kb: KnowledgeBase, *, kinds: Iterable[str] | None = None,
          include_user: bool = True, min_severity: str = "info") -> CheckReport:
    """All consistency findings of the knowledge base (see the module docstring)."""
    df = kb.frame("" if include_user else "origin = 'curated'")
    return check_frame(df, kinds=kinds, min_severity=min_severity)
