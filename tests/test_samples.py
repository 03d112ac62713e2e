"""Sample sheets and studies on real instrument files (../shared/realdata).

Truths: group statistics are recomputed here directly with numpy from the per-sample
values, intervals against scipy's own t-test interval (Welch) and the tabulated t
quantile; each bad sheet must raise one ValidationError naming the sheet row and field;
a real Dask LocalCluster (worker processes) must give the serial result bit for bit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from nasurf.clikit import to_jsonable
from nasurf.errors import ValidationError
from nasurf.samples import analyze_samples, read_sample_sheet, summarize, welch_difference

pytestmark = pytest.mark.realdata

# three "pristine" and three "treated" cells: cycling file (+ EIS file) per cell. The
# masses of files that store their own active mass are the stored values (rounded as a
# lab would write them); the others are plausible electrode masses.
STUDY = [
    ("P1", "pristine", ["yadg/gcpl.pr_182.1.mpr", "yadg/peis.mpr"], 6.52),
    ("P2", "pristine", ["aurora-cycler-manager/250116_kigr_gen6_01_02_GCPL_CD8.mpr",
                        "impedance.py/exampleDataGamry.DTA"], 17.233),
    ("P3", "pristine", ["aurora-cycler-manager/nw4-120-6-1-36.ndax",
                        "battery-data-format/PEIS-0.mpr"], 8.582),
    ("T1", "treated", ["yadg/gcpl.issue_211.mpr", "impedance.py/exampleDataBioLogic.mpt"], 0.79),
    ("T2", "treated", ["NewareNDA/TestFile.nda"], 1.5),
    ("T3", "treated", ["yadg/gcpl.issue_149.mpr"], 1.1),
]


def write_sheet(tmp_path: Path, realdata: Path, rows=STUDY, name: str = "sheet.csv",
                extra_header: str = "", extra: list[str] | None = None) -> Path:
    lines = ["sample,group,file,mass_mg" + extra_header]
    for i, (s, g, files, m) in enumerate(rows):
        tail = extra[i] if extra else ""
        lines.append(f"{s},{g},{';'.join(str(realdata / f) for f in files)},{m}{tail}")
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def study(realdata, tmp_path_factory):
    sheet = read_sample_sheet(write_sheet(tmp_path_factory.mktemp("study"), realdata))
    return analyze_samples(sheet)


# --------------------------------------------------------------------------- statistics
def test_t_interval_matches_tabulated_quantile():
    # t(0.975, 2) = 4.303 (every statistics table); mean 2, sd 1 for (1, 2, 3)
    s = summarize([1.0, 2.0, 3.0])
    assert (s.n, s.mean, s.sd) == (3, 2.0, 1.0)
    assert s.ci_high - s.mean == pytest.approx(4.303 / math.sqrt(3), abs=5e-4)
    one = summarize([5.0, None, float("nan")])
    assert one.n == 1 and one.sd is None and one.ci_low is None


def test_welch_matches_scipy():
    a, b = [401.2, 390.5, 420.0, 398.1], [455.0, 470.3, 449.9]
    d = welch_difference(a, b)
    ref = stats.ttest_ind(b, a, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert d.estimate == pytest.approx(np.mean(b) - np.mean(a), rel=1e-12)
    assert d.df == pytest.approx(ref.df, rel=1e-12)
    assert (d.ci_low, d.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-12)


def test_group_statistics_match_direct_numpy(study):
    m, g = study.metrics, study.groups
    checked = 0
    for _, row in g.iterrows():
        sel = m[(m["group"] == row["group"]) & (m["metric"] == row["metric"])
                & (m["key"].isna() if row["key"] is None else m["key"] == row["key"])
                & m["flag"].isna()]
        x = sel["value"].dropna().to_numpy(float)
        assert row["n"] == x.size
        if x.size >= 2:
            half = stats.t.ppf(0.975, x.size - 1) * np.std(x, ddof=1) / np.sqrt(x.size)
            assert row["mean"] == pytest.approx(np.mean(x), rel=1e-12)
            assert row["sd"] == pytest.approx(np.std(x, ddof=1), rel=1e-12)
            assert row["ci95_low"] == pytest.approx(np.mean(x) - half, rel=1e-9)
            checked += 1
    assert checked >= 20
    # one value traced by hand: the ICE of each pristine cell is the per-file ICE
    ice = study.values("initial_coulombic_efficiency", group="pristine", include_flagged=True)
    assert len(ice) == 3 and set(ice["unit"]) == {"1"}
    # P2's file starts part-way through a cycle and its ICE exceeds 1: the cycling analysis
    # flags it, so the study keeps it marked and out of the statistics
    p2 = ice[ice["sample"] == "P2"].iloc[0]
    assert p2["value"] > 1 and p2["flag"] == "ice_above_one"
    assert "P2" not in set(study.values("initial_coulombic_efficiency")["sample"])


def test_differences_match_scipy_welch(study):
    d = study.differences
    # a scalar metric with at least two trusted (unflagged, finite) values in each group
    row = d[d["key"].isna() & (d["n_group"] >= 2) & (d["n_reference"] >= 2)].iloc[0]
    a = study.values(row["metric"], group="pristine")["value"].dropna()
    b = study.values(row["metric"], group="treated")["value"].dropna()
    assert (len(b), len(a)) == (row["n_group"], row["n_reference"])
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert row["group"] == "treated" and row["reference_group"] == "pristine"
    assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_study_dict_has_units_and_is_strict_json(study):
    doc = study.to_dict()
    assert set(doc) >= {"samples", "groups", "differences", "failures"}
    json.dumps(to_jsonable(doc), allow_nan=False)
    assert [s["sample"] for s in doc["samples"]] == [s[0] for s in STUDY]
    for s in doc["samples"]:
        assert s["metrics"], s["sample"]
        assert all(x["unit"] is not None for x in s["metrics"])
    assert all(g["unit"] is not None for g in doc["groups"])
    # EIS fit parameters per sample (P1-P3 and T1 have a spectrum)
    r_ct = study.values("eis_R_ct")
    assert sorted(r_ct["sample"]) == ["P1", "P2", "P3", "T1"]
    assert not study.failures


def test_incomplete_cycles_are_flagged_not_dropped(study):
    m = study.metrics
    flagged = m[m["flag"] == "incomplete cycle"]
    assert len(flagged) > 0
    g = study.groups
    assert g["n_flagged"].sum() == m[m["flag"].notna() & m["metric"].isin(
        g["metric"].unique())].shape[0]


def test_a_failed_file_is_listed_and_others_still_analysed(realdata, tmp_path):
    rows = [*STUDY[:3], ("X1", "treated", ["yadg/ocv.mpr"], 1.136), *STUDY[4:]]
    res = analyze_samples(read_sample_sheet(write_sheet(tmp_path, realdata, rows)))
    assert [f["sample"] for f in res.failures] == ["X1"]
    assert "current" in res.failures[0]["error"] or "rest" in res.failures[0]["error"]
    assert any("X1" in w for w in res.warnings)
    assert len(res.values("initial_coulombic_efficiency", group="treated")) == 2


def test_rate_table_per_nominal_current(realdata, tmp_path):
    rows = [("C1", "a", ["cellpy/20160805_test001_45_cc_01.res"], 1.0),
            ("C2", "b", ["yadg/gcpl.pr_182.1.mpr"], 6.52)]
    res = analyze_samples(read_sample_sheet(write_sheet(tmp_path, realdata, rows)))
    rate = res.values("rate_capacity", include_flagged=True)
    assert len(rate) >= 2 and set(rate["key_unit"]) == {"mA/g"}
    assert rate["key"].map(lambda k: float(f"{k:.2g}") == k).all()


# --------------------------------------------------------------------------- Dask
@pytest.mark.slow
def test_dask_local_cluster_is_bit_identical_to_serial(realdata, tmp_path, study):
    from distributed import Client, LocalCluster

    sheet = read_sample_sheet(write_sheet(tmp_path, realdata))
    with (LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                       dashboard_address=None) as cluster, Client(cluster) as client):
        assert len(client.scheduler_info()["workers"]) == 2
        par = analyze_samples(sheet, scheduler=client)
    ser = study.to_dict()
    got = par.to_dict()
    # the sheets were written in different folders; everything else must be identical
    for doc in (ser, got):
        doc.pop("sheet")
    a = json.dumps(to_jsonable(ser), sort_keys=True)
    b = json.dumps(to_jsonable(got), sort_keys=True)
    assert a == b


# --------------------------------------------------------------------------- bad sheets
def _bad(tmp_path: Path, text: str, name: str = "bad.csv") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError) as exc:
        read_sample_sheet(p)
    msg = str(exc.value)
    assert "\n" not in msg and str(p) in msg
    return msg


def test_bad_sheets_each_give_one_clear_error(realdata, tmp_path):
    f = realdata / "yadg/gcpl.issue_149.mpr"
    g = realdata / "NewareNDA/TestFile.nda"
    head = "sample,group,file,mass_mg\n"
    msg = _bad(tmp_path, head.replace("mass_mg", "mass_g") + f"A,x,{f},1.2\n")
    assert "unknown column 'mass_g'" in msg and "mass_mg" in msg
    msg = _bad(tmp_path, "sample,group,file,mass_mg,colour\n" + f"A,x,{f},1.2,red\n")
    assert "colour" in msg
    msg = _bad(tmp_path, head + f"A,x,{f},1.2\nB,x,{tmp_path}/nope.mpr,1.0\n")
    assert "line 3" in msg and "not found" in msg and "'file'" in msg
    msg = _bad(tmp_path, head + f"A,x,{tmp_path}/*.nothing,1.2\n")
    assert "no file matches" in msg
    msg = _bad(tmp_path, head + f"A,x,{f},0.0012\n")
    assert "line 2" in msg and "grams" in msg
    msg = _bad(tmp_path, head + f"A,x,{f},1.2 g\n")
    assert "not in mg" in msg and "1200" in msg
    msg = _bad(tmp_path, head + f"A,x,{f},\n")
    assert "mass_mg" in msg and "no default mass" in msg
    msg = _bad(tmp_path, head + f"A,x,{f},1.2\nA,y,{g},1.0\n")
    assert "listed twice" in msg and "line 3" in msg
    msg = _bad(tmp_path, head + f"A,x,{f},1.2\nB,y,{f},1.0\n")
    assert "one measurement belongs to one cell" in msg
    msg = _bad(tmp_path, "sample,group,file,mass_mg,area_cm2,loading_mg_cm2\n"
               f"A,x,{f},1.2,1.0,2.0\n")
    assert "contradicts mass_mg" in msg
    msg = _bad(tmp_path, "sample,group,file,mass_mg,electrode\n" + f"A,x,{f},1.2,separator\n")
    assert "anode or cathode" in msg
    msg = _bad(tmp_path, "sample,group,file\n" + f"A,x,{f}\n")
    assert "mass_mg" in msg


def test_mass_contradicting_the_file_names_the_row(realdata, tmp_path):
    rows = [("A", "x", ["yadg/gcpl.issue_149.mpr"], 1.0),
            ("B", "x", ["yadg/gcpl.issue_211.mpr"], 7.9)]    # the file says 0.79 mg
    sheet = read_sample_sheet(write_sheet(tmp_path, realdata, rows))
    with pytest.raises(ValidationError) as exc:
        analyze_samples(sheet)
    msg = str(exc.value)
    assert "line 3" in msg and "sample 'B'" in msg and "0.79" in msg and "mass_mg" in msg


def test_toml_and_yaml_sheets_with_group_metadata(realdata, tmp_path):
    f1, f2 = realdata / "yadg/gcpl.issue_149.mpr", realdata / "NewareNDA/TestFile.nda"
    (tmp_path / "s.toml").write_text(f"""
[groups.pristine]
material = "hard carbon"
electrode = "anode"

[[samples]]
sample = "A"
group = "pristine"
files = ["{f1}"]
mass_mg = 1.1
area_cm2 = 1.13

[[samples]]
sample = "B"
group = "pristine"
file = "{f2}"
mass_mg = 1.5
strategy = "none"
""", encoding="utf-8")
    sh = read_sample_sheet(tmp_path / "s.toml")
    assert [s.material for s in sh.samples] == ["hard carbon"] * 2
    assert sh.samples[0].loading_mg_cm2 == pytest.approx(1.1 / 1.13)
    assert sh.samples[1].strategy == "none" and sh.samples[1].electrode == "anode"
    (tmp_path / "s.yaml").write_text(f"""
groups:
  treated: {{mass_mg: 1.0}}
samples:
  - {{sample: A, group: treated, file: "{f1}", mass_mg: 1.1}}
""", encoding="utf-8")
    with pytest.raises(ValidationError, match="never to a group"):
        read_sample_sheet(tmp_path / "s.yaml")
    (tmp_path / "t.yaml").write_text(f"""
samples:
  - {{sample: A, group: treated, file: "{f1}", mass_mg: 1.1}}
  - {{sample: B, group: treated, file: "{f2}"}}
""", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"samples\[1\] \(sample 'B'\).*no default mass"):
        read_sample_sheet(tmp_path / "t.yaml")


def test_gitt_diffusion_coefficient_per_sample(tmp_path):
    # the exact planar-slab record of methods.md §5: D = 1e-11 cm²/s with L = 1 µm
    from nasurf.analysis.known_answers import synthetic_gitt_record
    from nasurf.exports import to_bdf_csv

    to_bdf_csv(synthetic_gitt_record(), tmp_path / "g1.csv")
    to_bdf_csv(synthetic_gitt_record(tau_s=30.0), tmp_path / "g2.csv")
    (tmp_path / "s.csv").write_text(
        "sample,group,file,mass_mg,diffusion_length_um\n"
        "A,x,gitt:g1.csv,1.0,1.0\nB,x,gitt:g2.csv,1.0,1.0\n", encoding="utf-8")
    res = analyze_samples(read_sample_sheet(tmp_path / "s.csv"))
    d = res.values("gitt_D")
    assert len(d) == 16 and set(d["unit"]) == {"cm^2/s"}
    # methods.md §5 validation: D back within 2 % on the exact record
    assert np.allclose(d["value"], 1e-11, rtol=0.02)
    g = res.groups[res.groups["metric"] == "gitt_log10_D_median"].iloc[0]
    assert g["n"] == 2 and g["mean"] == pytest.approx(-11.0, abs=0.01)
    # a pulse too long for the semi-infinite assumption is kept, flagged, not averaged
    to_bdf_csv(synthetic_gitt_record(tau_s=120.0), tmp_path / "g3.csv")
    (tmp_path / "t.csv").write_text("sample,group,file,mass_mg,diffusion_length_um\n"
                                    "C,x,gitt:g3.csv,1.0,1.0\n", encoding="utf-8")
    res = analyze_samples(read_sample_sheet(tmp_path / "t.csv"))
    d = res.values("gitt_D", include_flagged=True)
    assert len(d) == 8 and d["flag"].str.contains("tau_D_L2_above_limit").all()
    assert res.groups[res.groups["metric"] == "gitt_D"]["n_flagged"].sum() == 8


def test_cli_samples_json_out_and_errors(realdata, tmp_path):
    from typer.testing import CliRunner

    from nasurf.cli import app

    sheet = write_sheet(tmp_path, realdata, STUDY[:1] + STUDY[3:4])
    run = CliRunner().invoke
    r = run(app, ["analyze", "samples", str(sheet), "--json", "--out", str(tmp_path / "o"),
                  "--no-figures"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [s["sample"] for s in doc["samples"]] == ["P1", "T1"]
    for name in ("metrics", "groups", "differences"):
        assert (tmp_path / "o" / f"{name}.csv").exists()
        assert (tmp_path / "o" / f"{name}.xlsx").exists()
    assert json.loads((tmp_path / "o" / "study.json").read_text())["groups"] == doc["groups"]
    r = run(app, ["analyze", "samples", str(sheet), "--out", str(tmp_path / "o"),
                  "--no-figures"])
    assert r.exit_code == 2 and "--force" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("sample,group,file,mass_mg\nA,x,nope.mpr,1\n")
    r = run(app, ["analyze", "samples", str(bad)])
    assert r.exit_code == 2 and "line 2" in r.output and "Traceback" not in r.output
