"""JSON snapshots of the main commands on real files: a restructure must not change a number.

The snapshots in ``tests/snapshots/`` were written by the code as it stood *before* the
restructure of the house (issue 12), from commit 0af734f. Every later move or merge of modules
must leave these documents equal: strings, counts and flags exactly, numbers to a relative
1e-9 (a reordering of floating-point sums may move the last bits, nothing more).

Regenerate only when a change of a number is intended and explained:
``NASURF_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_snapshot_json.py``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasurf.cli import app

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("NASURF_UPDATE_SNAPSHOTS") == "1"
REL_TOL = 1e-9
ABS_TOL = 1e-12
# keys whose values depend on where or when the command ran, not on what it computed
VOLATILE_KEYS = {"version", "nasurf_version", "elapsed_s", "runtime_s", "created", "out", "path",
                 "file", "files", "source_path", "written", "outputs", "output_dir"}

# Evaluation counts of an iterative optimiser (the EIS fit's MINPACK Levenberg-Marquardt
# runs): not a computed result but the path to it. Moving the Gamry example's impedances by
# one ulp gives nfev 53..109 and njev 39..81 for the same fit (parameters within 3e-11,
# chi2 within 1e-15); another CPU kind's numpy/BLAS rounding gave 55/41 against 53/39. They
# are compared as what they must be: positive integer counts.
COUNT_KEYS = {"nfev", "njev"}
# A confidence bound is value ± t·stderr, each known to REL_TOL: the bound is known to
# REL_TOL of max(|lower|, |upper|) (= |value| + t·stderr), not of itself. Near a cancellation
# (the PEIS fit's CPE1_1 = 1.0 ± 1.02: lower bound -0.0208) its own relative change is ~50x
# larger: 2e-9 on an AMD EPYC against the snapshot, 4e-11 of the interval.
INTERVAL_KEYS = {"ci95"}

# (snapshot name, argv with {R} for the realdata folder and {T} for a temporary folder)
CASES: list[tuple[str, list[str]]] = [
    ("read_mb", ["read", "{R}/yadg/mb.mpr", "--json"]),
    ("read_cva", ["read", "{R}/yadg/cva.issue_135.mpr", "--json"]),
    ("read_ndax", ["read", "{R}/aurora-cycler-manager/nw4-120-6-1-36.ndax", "--json"]),
    ("cycling_gcpl_hold", ["analyze", "cycling", "{R}/yadg/gcpl.pr_182.1.mpr", "--json"]),
    ("cycling_gcpl_exclude_cv",
     ["analyze", "cycling", "{R}/yadg/gcpl.pr_182.1.mpr", "--json", "--exclude-cv"]),
    ("cycling_bcd", ["analyze", "cycling", "{R}/yadg/bcd.issue_241.mpr", "--json"]),
    ("cycling_mb", ["analyze", "cycling", "{R}/yadg/mb.mpr", "--json"]),
    ("cycling_navani_cathode",
     ["analyze", "cycling",
      "{R}/navani/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr", "--json"]),
    ("cycling_maccor", ["analyze", "cycling", "{R}/cellpy/maccor_002.txt", "--json"]),
    ("cycling_nda", ["analyze", "cycling", "{R}/NewareNDA/TestFile.nda", "--json"]),
    ("cycling_ndax",
     ["analyze", "cycling", "{R}/aurora-cycler-manager/nw4-120-6-1-36.ndax", "--json"]),
    ("cycling_arbin_xlsx",
     ["analyze", "cycling",
      "{R}/navani/bs542_004_gr_li_50ua_50mv_1v_191020_Channel_11.xlsx", "--json"]),
    ("cv_cva", ["analyze", "cv", "{R}/yadg/cva.issue_135.mpr", "--json"]),
    ("cv_single_rate", ["analyze", "cv", "{R}/yadg/cv.mpt", "--json"]),
    ("gitt_mb", ["analyze", "gitt", "{R}/yadg/mb.mpr", "--length-um", "1", "--json"]),
    ("gitt_bcd", ["analyze", "gitt", "{R}/yadg/bcd.issue_241.mpr", "--length-um", "1", "--json"]),
    ("eis_gamry", ["analyze", "eis", "{R}/impedance.py/exampleDataGamry.DTA", "--json"]),
    ("eis_peis", ["analyze", "eis", "{R}/yadg/peis.mpr", "--json"]),
    ("capacity_sb", ["capacity", "Sb", "--sodium", "3", "--json"]),
    ("kb_query", ["kb", "query", "--json"]),
    ("sim_rate_default", ["simulate", "rate", "--json", "--out", "{T}/rate"]),
    ("sim_rate_na2ti3o7",
     ["simulate", "rate", "-m", "na2ti3o7", "--rates", "50,500,2000", "--json",
      "--out", "{T}/rate2"]),
    ("sim_cv_anatase",
     ["simulate", "cv", "-m", "anatase_tio2", "--scan-rates", "0.5,2", "--json",
      "--out", "{T}/cv"]),
]


def _scrub(doc):
    """Drop the keys that name places and times; keep everything computed."""
    if isinstance(doc, dict):
        return {k: _scrub(v) for k, v in doc.items() if k not in VOLATILE_KEYS}
    if isinstance(doc, list):
        return [_scrub(v) for v in doc]
    if isinstance(doc, str) and ("/tmp" in doc or "/realdata/" in doc):
        return "<path>"
    return doc


def _diff(expected, actual, where: str = "$") -> list[str]:
    """Every place where two JSON documents differ beyond REL_TOL; empty when equal."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return [] if expected is actual else [f"{where}: {expected!r} != {actual!r}"]
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        if isinstance(expected, float) and math.isnan(expected):
            return [] if isinstance(actual, float) and math.isnan(actual) else [
                f"{where}: NaN != {actual!r}"]
        ok = math.isclose(expected, actual, rel_tol=REL_TOL, abs_tol=ABS_TOL)
        return [] if ok else [f"{where}: {expected!r} != {actual!r}"]
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{where}.{k}: missing" for k in expected if k not in actual]
        out += [f"{where}.{k}: new key" for k in actual if k not in expected]
        for k in expected.keys() & actual.keys():
            if k in COUNT_KEYS:
                ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                         for v in (expected[k], actual[k]))
                out += [] if ok else [f"{where}.{k}: {expected[k]!r} != {actual[k]!r}"]
            elif k in INTERVAL_KEYS and _is_interval(expected[k]) and _is_interval(actual[k]):
                scale = max(abs(v) for v in expected[k])
                out += [f"{where}.{k}: {expected[k]!r} != {actual[k]!r}"
                        for e, a in zip(expected[k], actual[k], strict=True)
                        if not math.isclose(e, a, rel_tol=0.0,
                                            abs_tol=max(REL_TOL * scale, ABS_TOL))][:1]
            else:
                out += _diff(expected[k], actual[k], f"{where}.{k}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: length {len(expected)} != {len(actual)}"]
        out = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out += _diff(e, a, f"{where}[{i}]")
        return out
    return [] if expected == actual else [f"{where}: {expected!r} != {actual!r}"]


def _is_interval(v) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(
        isinstance(x, float) and math.isfinite(x) for x in v)


def _parse(stdout: str):
    # NaN / Infinity are allowed in the documents (json's own extension), parsed the same way
    return json.loads(stdout)


@pytest.mark.parametrize(("name", "argv"), CASES, ids=[c[0] for c in CASES])
def test_command_json_unchanged(name, argv, realdata, tmp_path):
    args = [a.replace("{R}", str(realdata)).replace("{T}", str(tmp_path)) for a in argv]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"{name}: exit {result.exit_code}\n{result.output[-2000:]}"
    stdout = result.stdout
    actual = _scrub(_parse(stdout[stdout.index("{"):]))
    path = SNAPSHOTS / f"{name}.json"
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"no snapshot {path.name}; write it with NASURF_UPDATE_SNAPSHOTS=1")
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return
    expected = json.loads(path.read_text(encoding="utf-8"))
    differences = _diff(expected, actual)
    assert not differences, f"{name}: {len(differences)} differences, first: {differences[:8]}"


def test_diff_sees_a_changed_number():
    """The comparison itself must fail on a changed number, a changed flag and a new key."""
    assert _diff({"a": 1.0}, {"a": 1.0 + 1e-12}) == []
    assert _diff({"a": 1.0}, {"a": 1.0001}) != []
    assert _diff({"f": ["x"]}, {"f": ["y"]}) != []
    assert _diff({"a": 1}, {"a": 1, "b": 2}) != []
    assert _diff({"a": True}, {"a": 1}) != []


def test_diff_counts_and_intervals():
    """An optimiser's counts are checked as counts; a confidence bound to REL_TOL of the
    interval's larger end (the AMD EPYC cases), and still fails beyond it."""
    assert _diff({"nfev": 53, "njev": 39}, {"nfev": 55, "njev": 41}) == []
    assert _diff({"nfev": 53}, {"nfev": 0}) != []
    assert _diff({"nfev": 53}, {"nfev": 53.5}) != []
    lo, hi = -0.020758780321589843, 2.0207587803215765
    assert _diff({"ci95": [lo, hi]}, {"ci95": [-0.020758780362871043, hi]}) == []
    assert _diff({"ci95": [lo, hi]}, {"ci95": [lo + 1e-8, hi]}) != []
    assert _diff({"ci95": [lo, hi]}, {"ci95": [lo, hi * (1 + 1e-8)]}) != []
