"""``nasurf analyze batch``: parallel, failures listed and not fatal, one summary."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nasurf.analysis import synthetic_cycling
from nasurf.analysis.cycling import summarise_files
from nasurf.cli import app


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "cells"
    d.mkdir()
    for k, ice in enumerate((0.80, 0.85, 0.90)):
        sod = np.array([0.7, 0.58, 0.57])
        des = np.array([0.7 * ice, 0.568, 0.564])
        synthetic_cycling(sod, des, current_A=1e-4).data.to_csv(d / f"cell{k}.csv", index=False)
    (d / "broken.csv").write_text("x,y\n1,2\n")
    (d / "notes.md").write_text("ignored companion file\n")
    return d


def test_batch_json_parallel_with_failure(folder, tmp_path):
    out = tmp_path / "summary.csv"
    res = CliRunner().invoke(app, ["analyze", "batch", str(folder), "--workers", "2",
                                   "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (doc["files"], doc["ok"], doc["failed"]) == (4, 3, 1)
    by_name = {r["file"].rsplit("/", 1)[-1]: r for r in doc["results"]}
    assert "notes.md" not in by_name
    for k, ice in enumerate((0.80, 0.85, 0.90)):
        assert by_name[f"cell{k}.csv"]["initial_coulombic_efficiency"] == pytest.approx(
            ice, rel=1e-9)
        assert by_name[f"cell{k}.csv"]["cycles"] == 3
    assert by_name["broken.csv"]["status"] == "failed"
    assert "broken.csv" in by_name["broken.csv"]["error"]
    table = pd.read_csv(out)
    assert len(table) == 4 and set(table["status"]) == {"ok", "failed"}


def test_batch_human_table_and_all_failed_exit_code(folder, tmp_path):
    res = CliRunner().invoke(app, ["analyze", "batch", str(folder), "--workers", "1"])
    assert res.exit_code == 0
    assert "Batch summary" in res.stdout and "broken.csv" in res.stdout
    res = CliRunner().invoke(app, ["analyze", "batch", str(folder), "--pattern", "broken*"])
    assert res.exit_code == 1
    res = CliRunner().invoke(app, ["analyze", "batch", str(folder), "--pattern", "*.xyz"])
    assert res.exit_code == 2 and "no files match" in " ".join(res.stderr.split())


def test_run_batch_in_process_equals_pool(folder):
    files = sorted(folder.glob("*.csv"))
    kw = dict(active_mass_g=2e-3, area_cm2=None, reference="first",
              cycle_mode="sodiation_desodiation")
    serial = summarise_files(files, workers=1, **kw)
    pooled = summarise_files(files, workers=2, **kw)
    assert serial == pooled
    assert serial[1]["capacity_unit"] == "mAh/g"
    assert serial[1]["first_desodiation"] == pytest.approx(280.0, rel=1e-9)


def test_batch_classifies_the_technique_first(tmp_path, realdata):
    """CV, CA, EIS and OCV files are listed as "not cycling" with their own summary and
    never get an ICE; a cycling file does (was: "ICE 854, status ok" for a CV file)."""
    d = tmp_path / "mixed"
    d.mkdir()
    names = {"cv.mpr": "cv", "ca.mpr": "ca", "peis.mpr": "eis", "ocv.mpr": "ocv",
             "gcpl.pr_182.1.mpr": "cycling"}
    for name in names:
        (d / name).symlink_to(realdata / "yadg" / name)
    rows = summarise_files(sorted(d.iterdir()), active_mass_g=None, area_cm2=None,
                     reference="after_formation", cycle_mode="sodiation_desodiation",
                     workers=1)
    by_name = {r["file"].rsplit("/", 1)[-1]: r for r in rows}
    for name, klass in names.items():
        r = by_name[name]
        assert r["technique_class"] == klass, (name, r)
        if klass == "cycling":
            assert r["status"] == "ok" and r["initial_coulombic_efficiency"] > 0.5
        else:
            assert r["status"] == "not cycling"
            assert r["initial_coulombic_efficiency"] is None and r["summary"]
    assert "Hz" in by_name["peis.mpr"]["summary"]
    assert "mV/s" in by_name["cv.mpr"]["summary"]
