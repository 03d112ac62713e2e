"""The synthetic pristine-vs-treated study against its design, and the study figures.

Truths: the demo files are built with exactly known capacities and noise-free spectra
(nasurf.samples.demo), so each cell's ICE, per-cycle capacity and rate capacity must come
back to 1e-6 and its fitted R_ct to 0.5 %. Figures must be vector (SVG with no raster
image, PDF), have axis labels with units, and contain every plotted value (flagged ones
marked); drawing them must not import pyplot or switch the backend.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from nasurf.figures.study import capacity_ce_figure, nyquist_figure, rate_figure, study_figures
from nasurf.samples import analyze_samples, read_sample_sheet
from nasurf.samples.demo import DESIGN, RATES_MA_G, write_demo_study


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    return analyze_samples(read_sample_sheet(write_demo_study(d)))


def test_demo_study_recovers_its_design(demo):
    for cell in DESIGN(14):
        v = demo.metrics[demo.metrics["sample"] == cell["sample"]]

        def val(metric, key=None, v=v):
            sel = v[(v["metric"] == metric) & (v["key"].isna() if key is None
                                               else v["key"] == key)]
            assert len(sel) == 1, (metric, key)
            return float(sel["value"].iloc[0])

        ice = cell["desodiation_mAh_g"][0] / cell["sodiation_mAh_g"][0]
        assert val("initial_coulombic_efficiency") == pytest.approx(ice, rel=1e-6)
        for n in (1, 10, 20):
            assert val("desodiation_capacity", n) == pytest.approx(
                cell["desodiation_mAh_g"][n - 1], rel=1e-6)
        q = cell["rate_desodiation_mAh_g"].reshape(-1, 3).mean(axis=1)
        for rate, expect in zip(RATES_MA_G[:-1], q[:-1], strict=True):
            assert val("rate_capacity", rate) == pytest.approx(expect, rel=1e-6)
        assert val("eis_R_ct") == pytest.approx(cell["R_ct_Ohm"], rel=5e-3)
        # exact Dunn data (i = k1·v + k2(E)·v^½ per gram × mass): k1 comes back per gram
        assert val("dunn_k1") == pytest.approx(cell["k1_F_g"], rel=1e-6)
    g = demo.groups
    row = g[(g["group"] == "H2-treated") & (g["metric"] == "rate_capacity")
            & (g["key"] == 5000.0)].iloc[0]
    design = [c["rate_desodiation_mAh_g"][-4] for c in DESIGN(14) if c["group"] == "H2-treated"]
    assert row["mean"] == pytest.approx(np.mean(design), rel=1e-6)
    assert row["sd"] == pytest.approx(np.std(design, ddof=1), rel=1e-5)


def _points(ax) -> np.ndarray:
    """Every y value drawn on ``ax`` by scatter collections and marker lines."""
    ys = [c.get_offsets()[:, 1] for c in ax.collections if len(c.get_offsets())]
    ys += [np.asarray(ln.get_ydata(), float) for ln in ax.lines]
    return np.concatenate(ys) if ys else np.empty(0)


def _has_all(ax, values, scale=1.0) -> bool:
    drawn = _points(ax)
    return all(np.isclose(drawn, v * scale, rtol=1e-12).any() for v in values)


def test_figures_show_every_point_with_labelled_axes(demo):
    fig = capacity_ce_figure(demo)
    ax1, ax2 = fig.axes[:2]
    assert _has_all(ax1, demo.values("desodiation_capacity", include_flagged=True)["value"])
    assert _has_all(ax2, demo.values("coulombic_efficiency", include_flagged=True)["value"],
                    100.0)
    fig = rate_figure(demo)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert _has_all(ax, demo.values("rate_capacity")["value"])
    fig = nyquist_figure(demo)
    n_spectra = sum(1 for r in demo.files if r.get("eis"))
    assert len([c for c in fig.axes[0].collections if len(c.get_offsets())]) == n_spectra
    for f in (capacity_ce_figure(demo), rate_figure(demo), nyquist_figure(demo)):
        for ax in f.axes:
            x, y = ax.get_xlabel(), ax.get_ylabel()
            # every axis is labelled with its unit (the cycle number has none); a shared x
            # axis is labelled on the bottom panel only
            assert " / " in x or (x in ("Cycle number", "") and (x or ax is not f.axes[-1]))
            assert " / " in y


@pytest.mark.realdata
def test_flagged_points_are_drawn_and_marked(realdata, tmp_path):
    from test_samples import STUDY, write_sheet

    res = analyze_samples(read_sample_sheet(write_sheet(tmp_path, realdata, STUDY)))
    m = res.metrics
    # the real files end on an unfinished cycle: sodiation measured, no desodiation
    flagged = m[(m["metric"] == "sodiation_capacity") & m["flag"].notna() & m["value"].notna()]
    missing = m[(m["metric"] == "desodiation_capacity") & m["flag"].notna() & m["value"].isna()]
    assert len(flagged) > 0 and len(missing) > 0
    fig = capacity_ce_figure(res, metric="sodiation_capacity")
    ax = fig.axes[0]
    values = res.values("sodiation_capacity", include_flagged=True)["value"].dropna()
    assert _has_all(ax, values)
    marked = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections
                             if c.get_gid() == "flagged"])
    assert all(np.isclose(marked, v).any() for v in flagged["value"]), "flags need × markers"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "flagged: incomplete cycle" in labels
    lo, hi = ax.get_ylim()
    assert lo <= values.min() and values.max() <= hi          # nothing clipped
    # the default (desodiation) figure says how many unfinished cycles it cannot draw
    labels = [t.get_text() for t in capacity_ce_figure(res).legends[0].get_texts()]
    assert any(f"{len(missing)} unfinished cycle" in t for t in labels)


def test_saved_figures_are_vector_and_print_sized(demo, tmp_path):
    from PIL import Image

    paths = study_figures(demo, tmp_path)
    names = {p.stem for p in paths}
    assert {"capacity_ce", "rate_capability", "nyquist", "voltage_profiles", "dqdv",
            "kb_rate_map", "kb_cycling_map", "cv_capacitive_envelope",
            "capacitive_fraction"} <= names
    for p in paths:
        if p.suffix == ".svg":
            root = ET.parse(p).getroot()
            tags = {el.tag.rsplit("}", 1)[-1] for el in root.iter()}
            assert "image" not in tags and "path" in tags, p.name
            assert "Desodiation" in p.read_text() or p.stem not in ("capacity_ce",)
        elif p.suffix == ".pdf":
            assert p.read_bytes()[:5] == b"%PDF-"
        else:
            im = Image.open(p)
            dpi = im.info.get("dpi", (0, 0))[0]
            assert round(dpi) == 600
            width_mm = im.size[0] / dpi * 25.4
            assert 80 <= width_mm <= 185, (p.name, width_mm)


def test_figures_do_not_import_pyplot(tmp_path):
    code = ("import sys\n"
            "from nasurf.samples.demo import write_demo_study\n"
            "from nasurf.samples import analyze_samples, read_sample_sheet\n"
            "from nasurf.figures.study import capacity_ce_figure, profiles_figure\n"
            f"r = analyze_samples(read_sample_sheet(write_demo_study(r'{tmp_path}')))\n"
            "capacity_ce_figure(r); profiles_figure(r)\n"
            "print('matplotlib.pyplot' in sys.modules)\n"
            "import matplotlib; print(matplotlib.rcParams['backend'] is not None)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "True"]


@pytest.mark.slow
def test_demo_study_on_local_cluster_matches_serial(demo):
    # scheduler="local": nasurf starts (and closes) a LocalCluster of worker processes and
    # runs both rounds (files, then the CV sets) on it
    import json

    from nasurf.clikit import to_jsonable

    par = analyze_samples(demo.sheet, scheduler="local", n_workers=2)
    assert json.dumps(to_jsonable(par.to_dict()), sort_keys=True) == json.dumps(
        to_jsonable(demo.to_dict()), sort_keys=True)
    assert par.values("dunn_k1")["value"].tolist() == demo.values("dunn_k1")["value"].tolist()
