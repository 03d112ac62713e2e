"""A study: every file of a sample sheet analysed, then per-group statistics and differences.

Per sample, each file is analysed by its own technique with the sample's mass
(:func:`nasurf.samples.measure.analyze_measurement`). The sample's metrics come from its
first successful file of each kind in sheet order (formation/cycling file first, then a
rate test, an EIS file ...): per-cycle capacities and CE, ICE, retention, the rate table,
and EIS fit parameters. Group statistics (n, mean, SD, 95 % t-interval) are computed per
metric, per cycle and per rate; each group is compared with the reference group (the
first in the sheet, or ``reference_group``) by Welch's interval.

Nothing is dropped silently: a failed file is listed in ``failures``; an incomplete cycle
or an unsuccessful fit keeps its value in ``metrics`` with a ``flag`` and is left out of
the statistics, and the group rows count such values in ``n_flagged``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nasurf.errors import ValidationError
from nasurf.jsonio import finite_or_none
from nasurf.progress import ProgressCallback, progress_callback
from nasurf.samples.execute import dask_client, run_tasks
from nasurf.samples.measure import analyze_cv_set, analyze_measurement
from nasurf.samples.sheet import Sample, SampleSheet
from nasurf.samples.stats import summarize, welch_difference

# the sheet's mass and the file's own may differ by rounding in the sheet (0.01 mg on a
# balance) and float32 storage in the file; 1 % or 0.01 mg, whichever is larger
MASS_REL_TOL = 0.01
MASS_ABS_TOL_MG = 0.01

METRIC_COLUMNS = ["sample", "group", "metric", "key", "key_unit", "value", "unit", "file",
                  "flag"]
GROUP_COLUMNS = ["group", "metric", "key", "key_unit", "n", "n_flagged", "mean", "sd",
                 "ci95_low", "ci95_high", "unit"]
DIFF_COLUMNS = ["group", "reference_group", "metric", "key", "key_unit", "n_group",
                "n_reference", "difference", "se", "df", "ci95_low", "ci95_high", "unit"]

# metric name -> human description (docs, figure labels)
METRICS: dict[str, str] = {
    "initial_coulombic_efficiency": "initial Coulombic efficiency (cycle 1)",
    "mean_coulombic_efficiency": "mean Coulombic efficiency (cycles 2..N)",
    "first_sodiation_capacity": "sodiation capacity of cycle 1",
    "first_desodiation_capacity": "desodiation capacity of cycle 1",
    "last_desodiation_capacity": "desodiation capacity of the last complete cycle",
    "retention": "capacity retention of the last complete cycle",
    "sodiation_capacity": "sodiation capacity per cycle",
    "desodiation_capacity": "desodiation capacity per cycle",
    "coulombic_efficiency": "Coulombic efficiency per cycle",
    "rate_capacity": "mean desodiation capacity per rate step",
    "rate_recovery": "capacity back at the first rate / first-step capacity",
    "eis_R_ct": "charge-transfer resistance (EIS fit)",
    "eis_R_s": "series resistance (EIS fit)",
    "capacitive_fraction": "Dunn capacitive charge fraction per scan rate",
    "gitt_D": "GITT diffusion coefficient per pulse (Weppner-Huggins, D = 4L²/(πτ)·(ΔEs/ΔEτ)²)",
    "gitt_log10_D_median": "median log10 D over the unflagged GITT pulses",
    "dunn_k1": "median Dunn k1 (capacitive coefficient) over the anodic potential grid",
    "b_value": "power-law exponent b of a tracked CV peak (i_p = a v^b)",
}


def nominal_rate(x: float | None) -> float | None:
    """A rate rounded to 2 significant figures: replicates' currents per gram differ by
    their weighing (e.g. 99.6 and 100.4 mA/g) but belong to the same nominal rate."""
    if x is None or not math.isfinite(x) or x == 0:
        return None
    return float(f"{x:.2g}")


@dataclass(frozen=True)
class StudyResult:
    """Everything a study computed: per-file records, long metric table, group statistics,
    group differences, failures and warnings (all metric values carry their unit)."""

    sheet: SampleSheet
    files: tuple[dict[str, Any], ...] = field(repr=False)
    metrics: pd.DataFrame = field(repr=False)
    groups: pd.DataFrame = field(repr=False)
    differences: pd.DataFrame = field(repr=False)
    reference_group: str
    failures: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()

    def files_of(self, sample: str) -> list[dict[str, Any]]:
        names = {str(f) for f in self.sheet.sample(sample).files}
        return [r for r in self.files if r["file"] in names]

    def values(self, metric: str, key: Any = None, group: str | None = None,
               *, include_flagged: bool = False) -> pd.DataFrame:
        """The per-sample rows of one metric (all its keys, or one cycle/rate ``key``)."""
        m = self.metrics
        sel = m["metric"] == metric
        if key is not None:
            sel &= m["key"] == key
        if group is not None:
            sel &= m["group"] == group
        if not include_flagged:
            sel &= m["flag"].isna()
        return m[sel]

    def to_dict(self) -> dict[str, Any]:
        samples = []
        for s in self.sheet.samples:
            rows = self.metrics[self.metrics["sample"] == s.name]
            samples.append({
                **s.to_dict(),
                "analysed_files": [{k: r.get(k) for k in ("file", "status", "kind", "format",
                                                           "technique", "error", "warnings")}
                                   for r in self.files_of(s.name)],
                "metrics": _records(rows.drop(columns=["sample", "group"])),
            })
        return {
            "sheet": str(self.sheet.path),
            "reference_group": self.reference_group,
            "samples": samples,
            "groups": _records(self.groups),
            "differences": _records(self.differences),
            "failures": list(self.failures),
            "warnings": list(self.warnings),
            "conventions": {
                "sd": "sample standard deviation (ddof = 1)",
                "ci95": "two-sided 95 % Student-t interval of the mean (n - 1 dof)",
                "difference": "group mean minus reference-group mean; 95 % Welch interval",
                "rate key": "nominal current per gram (2 significant figures)",
                "flagged values": "kept in samples[].metrics with a flag, left out of the "
                                  "statistics and counted in n_flagged",
                "ratios": "efficiencies and retention are fractions (unit 1)",
            },
            "metric_descriptions": METRICS,
        }


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: finite_or_none(v) if isinstance(v, float) else v
                    for k, v in rec.items()})
    return out


# --------------------------------------------------------------------------- analysis
def analyze_samples(sheet: SampleSheet, *, scheduler: Any = None, n_workers: int = 2,
                    reference_group: str | None = None, show_progress: bool = False,
                    check_file_mass: bool = True,
                    on_progress: ProgressCallback | None = None) -> StudyResult:
    """Analyse every file of ``sheet`` and compute per-group statistics.

    ``scheduler``: None (serial, this process), ``"local"`` (a Dask LocalCluster of
    ``n_workers`` processes), a scheduler address, or a ``distributed.Client``; results
    are identical whichever runs them. ``reference_group`` (default: the sheet's first
    group) is subtracted in ``differences``. With ``check_file_mass`` a sheet mass that
    contradicts the mass stored in the file raises :class:`ValidationError` naming the row.
    ``on_progress(done, total, label)`` follows :mod:`nasurf.progress` (two runs: "files",
    then "CV sets").
    """
    if reference_group is None:
        reference_group = sheet.groups[0]
    elif reference_group not in sheet.groups:
        raise ValidationError(f"reference group '{reference_group}' is not in the sheet; "
                              f"groups: {list(sheet.groups)}", field="reference_group")
    tasks, owners = [], []
    for s in sheet.samples:
        for j, f in enumerate(s.files):
            tasks.append({"path": str(f), "mass_g": s.mass_g, "area_cm2": s.area_cm2,
                          "technique": s.technique_of(j),
                          "diffusion_length_cm": None if s.diffusion_length_um is None
                          else s.diffusion_length_um * 1e-4})
            owners.append(s)
    if scheduler is None or not isinstance(scheduler, str):
        records, cv_results = _run(tasks, owners, sheet, scheduler, n_workers,
                                      progress_callback(on_progress, show_progress))
    else:
        # one cluster for both rounds (files, then each sample's CV set)
        with dask_client(scheduler, n_workers) as client:
            records, cv_results = _run(tasks, owners, sheet, client, n_workers,
                                          progress_callback(on_progress, show_progress))
    warnings: list[str] = []
    if check_file_mass:
        for s, r in zip(owners, records, strict=True):
            _check_mass(sheet, s, r)
    failures = [{"sample": s.name, "group": s.group, "file": r["file"],
                 "error": r.get("error")}
                for s, r in zip(owners, records, strict=True) if r["status"] != "ok"]
    for name, r in cv_results.items():
        if r["status"] != "ok":
            s = sheet.sample(name)
            failures.append({"sample": name, "group": s.group, "file": r["files"][0],
                             "error": r["error"]})
    records = [*records, *({**r, "kind": "cv_set", "sample": n, "file": r["files"][0]}
                           for n, r in cv_results.items())]
    rows: list[dict[str, Any]] = []
    for s in sheet.samples:
        mine = [r for o, r in zip(owners, records, strict=False) if o is s]
        got = _sample_metrics(s, mine, cv_results.get(s.name))
        if not got:
            warnings.append(f"sample '{s.name}' ({s.row}): no file gave a metric")
        rows.extend(got)
    metrics = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    # keys are cycle numbers (int), nominal rates (float) or None: keep each as it is
    metrics["key"] = pd.Series([r["key"] for r in rows], dtype=object)
    groups = _group_table(metrics, sheet.groups)
    diffs = _difference_table(metrics, sheet.groups, reference_group)
    for g in sheet.groups:
        n = len(sheet.in_group(g))
        if n < 2:
            warnings.append(f"group '{g}' has {n} sample: no spread or interval can be given")
    return StudyResult(sheet=sheet, files=tuple(records), metrics=metrics, groups=groups,
                       differences=diffs, reference_group=reference_group,
                       failures=tuple(failures), warnings=tuple(warnings))


def _run(tasks: list[dict[str, Any]], owners: list[Sample], sheet: SampleSheet,
         scheduler: Any, n_workers: int, on_progress: ProgressCallback | None
         ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    records = run_tasks(analyze_measurement, tasks, scheduler=scheduler, n_workers=n_workers,
                        on_progress=on_progress, label="files")
    # CV kinetics need all of a sample's CV files together: a second round of tasks
    cv_tasks, cv_owner = [], []
    for s in sheet.samples:
        paths = [r["file"] for o, r in zip(owners, records, strict=True)
                 if o is s and r["status"] == "ok" and r.get("kind") == "cv"]
        if paths:
            cv_tasks.append({"paths": paths, "mass_g": s.mass_g})
            cv_owner.append(s.name)
    cv = run_tasks(analyze_cv_set, cv_tasks, scheduler=scheduler, n_workers=n_workers,
                   label="CV sets", on_progress=on_progress) if cv_tasks else []
    return records, dict(zip(cv_owner, cv, strict=True))


def _check_mass(sheet: SampleSheet, s: Sample, r: dict[str, Any]) -> None:
    fm = r.get("file_mass_g")
    if fm is None or fm <= 0:
        return
    fm_mg = fm * 1e3
    if abs(fm_mg - s.mass_mg) > max(MASS_REL_TOL * s.mass_mg, MASS_ABS_TOL_MG):
        raise ValidationError(
            f"{s.row} (sample '{s.name}'): mass_mg {s.mass_mg:g} mg contradicts the active "
            f"mass {fm_mg:.4g} mg stored in '{r['file']}'; correct the sheet or the file",
            file=str(sheet.path), field="mass_mg")


def _sample_metrics(s: Sample, records: list[dict[str, Any]],
                    cv: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(metric: str, value: Any, unit: str, file: str, key: Any = None,
            key_unit: str | None = None, flag: str | None = None) -> None:
        v = None if value is None else float(value)
        if v is not None and not math.isfinite(v):
            v, flag = None, flag or "not finite"
        rows.append({"sample": s.name, "group": s.group, "metric": metric, "key": key,
                     "key_unit": key_unit, "value": v, "unit": unit, "file": file,
                     "flag": flag})

    ok = [r for r in records if r["status"] == "ok"]
    cyc = [r for r in ok if r.get("kind") == "cycling"]
    if cyc:
        r = cyc[0]
        c = r["cycling"]
        u, f = c["capacity_unit"], r["file"]
        flags = c.get("flags") or []
        ice_flag = ",".join(fl["flag"] for fl in flags
                            if fl["flag"] in ("ice_above_one", "not_cycling_data")) or None
        ce_flag = ",".join(sorted({fl["flag"] for fl in flags if fl["flag"] in (
            "ce_above_one", "ce_below_floor", "not_cycling_data")})) or None
        add("initial_coulombic_efficiency", c["initial_coulombic_efficiency"], "1", f,
            flag=ice_flag)
        add("mean_coulombic_efficiency", c["mean_coulombic_efficiency"], "1", f,
            flag=ce_flag)
        add("retention", c["retention_final"], "1", f)
        cy = c["cycles"]
        complete = [i for i, ok_ in enumerate(cy["complete"]) if ok_]
        if cy["cycle"]:
            add("first_sodiation_capacity", cy["sodiation"][0], u, f,
                flag=None if cy["complete"][0] else "incomplete cycle")
            add("first_desodiation_capacity", cy["desodiation"][0], u, f,
                flag=None if cy["complete"][0] else "incomplete cycle")
        if complete:
            add("last_desodiation_capacity", cy["desodiation"][complete[-1]], u, f)
        for i, n in enumerate(cy["cycle"]):
            flag = None if cy["complete"][i] else "incomplete cycle"
            cycle_flags = ",".join(fl["flag"] for fl in flags if fl.get("cycle") == n
                                   and fl["flag"] in ("ice_above_one", "ce_above_one",
                                                      "ce_below_floor"))
            add("sodiation_capacity", cy["sodiation"][i], u, f, n, "cycle", flag)
            add("desodiation_capacity", cy["desodiation"][i], u, f, n, "cycle", flag)
            add("coulombic_efficiency", cy["coulombic_efficiency"][i], "1", f, n, "cycle",
                flag or cycle_flags or None)
    rate = [r for r in cyc if r["cycling"].get("rate_steps")]
    if rate:
        r = rate[0]
        st = r["cycling"]["rate_steps"]
        u = r["cycling"]["capacity_unit"]
        cur = st["current_mA_g"] or [None] * len(st["step"])
        seen: set[float] = set()
        for i in range(len(st["step"])):
            key = nominal_rate(cur[i])
            flag = None
            if key is None:
                flag = "no current per gram"
            elif st["is_recovery"][i] or key in seen:
                # a return to an earlier rate is the recovery step, not a second replicate
                continue
            if key is not None:
                seen.add(key)
            add("rate_capacity", st["mean_capacity"][i], u, r["file"], key, "mA/g", flag)
        rec = _recovery(st)
        if rec is not None:
            add("rate_recovery", rec, "1", r["file"])
    eis = [r for r in ok if r.get("kind") == "eis"]
    if eis:
        r = eis[0]
        e = r["eis"]
        flag = None if e["success"] else "fit did not converge"
        for name, v in e["parameters"].items():
            add(f"eis_{name}", v, e["units"].get(name, ""), r["file"], flag=flag)
        add("eis_R_ct", e["R_ct_Ohm"], "Ohm", r["file"], flag=flag)
        add("eis_R_s", e["R_s_Ohm"], "Ohm", r["file"], flag=flag)
    gitt = [r for r in ok if r.get("kind") == "gitt"]
    if gitt:
        r = gitt[0]
        gi = r["gitt"]
        good = []
        for n, d, fl, why in zip(gi["pulse"], gi["D_cm2_s"], gi["flagged"], gi["flags"],
                                 strict=True):
            add("gitt_D", d, "cm^2/s", r["file"], n, "pulse", f"GITT: {why}" if fl else None)
            if not fl and d is not None and d > 0:
                good.append(math.log10(d))
        # D spans decades across a titration: its centre is taken in log space
        add("gitt_log10_D_median", float(np.median(good)) if good else None, "log10(cm^2/s)",
            r["file"], flag=None if good else "no unflagged pulse")
    if cv is not None and cv["status"] == "ok":
        f = cv["files"][0]
        d = cv["dunn"]
        for v, frac in zip(d["scan_rate_V_s"], d["capacitive_fraction"], strict=True):
            add("capacitive_fraction", frac, "1", f, nominal_rate(v * 1e3), "mV/s")
        add("dunn_k1", d["k1_median"], d["k1_unit"] or "", f)
        if cv.get("b_values"):
            b = cv["b_values"]
            for pid, val in zip(b["peak_id"], b["b"], strict=True):
                add("b_value", val, "1", f, pid, "peak")
    return rows


def _recovery(st: dict[str, Any]) -> float | None:
    caps = st["mean_capacity"]
    for i, is_rec in enumerate(st["is_recovery"]):
        if is_rec and caps[i] is not None and caps[0]:
            return caps[i] / caps[0]
    return None


def _key_groups(metrics: pd.DataFrame):
    m = metrics.assign(_k=metrics["key"].astype(object).where(metrics["key"].notna(), None))
    order = list(dict.fromkeys(zip(m["metric"], m["_k"], strict=True)))
    return m, order


def _group_table(metrics: pd.DataFrame, groups: tuple[str, ...]) -> pd.DataFrame:
    if metrics.empty:
        return pd.DataFrame(columns=GROUP_COLUMNS)
    m, order = _key_groups(metrics)
    out = []
    for g in groups:
        mg = m[m["group"] == g]
        for metric, key in order:
            sel = mg[(mg["metric"] == metric)
                     & (mg["_k"].isna() if key is None else mg["_k"] == key)]
            if sel.empty:
                continue
            good = sel[sel["flag"].isna()]
            st = summarize(good["value"].tolist())
            out.append({"group": g, "metric": metric, "key": key,
                        "key_unit": sel["key_unit"].iloc[0], "n": st.n,
                        "n_flagged": int(sel["flag"].notna().sum()), "mean": st.mean,
                        "sd": st.sd, "ci95_low": st.ci_low, "ci95_high": st.ci_high,
                        "unit": sel["unit"].iloc[0]})
    table = pd.DataFrame(out, columns=GROUP_COLUMNS)
    table["key"] = pd.Series([r["key"] for r in out], dtype=object)
    return table


def _difference_table(metrics: pd.DataFrame, groups: tuple[str, ...],
                      reference: str) -> pd.DataFrame:
    if metrics.empty:
        return pd.DataFrame(columns=DIFF_COLUMNS)
    m, order = _key_groups(metrics)
    m = m[m["flag"].isna()]
    out = []
    for g in groups:
        if g == reference:
            continue
        for metric, key in order:
            sel = m[(m["metric"] == metric) & (m["_k"].isna() if key is None else m["_k"] == key)]
            a = sel[sel["group"] == reference]["value"].tolist()
            b = sel[sel["group"] == g]["value"].tolist()
            if not a or not b:
                continue
            d = welch_difference(a, b)
            na = sum(v is not None and math.isfinite(v) for v in a)
            nb = sum(v is not None and math.isfinite(v) for v in b)
            out.append({"group": g, "reference_group": reference, "metric": metric, "key": key,
                        "key_unit": sel["key_unit"].iloc[0], "n_group": nb, "n_reference": na,
                        "difference": d.estimate, "se": d.se, "df": d.df,
                        "ci95_low": d.ci_low, "ci95_high": d.ci_high,
                        "unit": sel["unit"].iloc[0]})
    table = pd.DataFrame(out, columns=DIFF_COLUMNS)
    table["key"] = pd.Series([r["key"] for r in out], dtype=object)
    return table
