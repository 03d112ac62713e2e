"""The cycling package's public API after the split of analysis/galvanostatic.py (issue 12):
every name exported before still imports, renamed names warn and give the same answer, and
the workflows the command line runs are library functions that give the command's JSON."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import nasurf.analysis as analysis
from nasurf.analysis import cycling
from nasurf.cli import app
from nasurf.clikit import to_jsonable

#: exported by nasurf.analysis before the split (fec50b3)
BEFORE = ("CyclingResult", "DqdvCurve", "DqdvResult", "RateCapability", "Retention",
          "Segmentation", "capacity_split", "cycling_summary", "dqdv", "dqdv_curve",
          "rate_capability", "segment_half_cycles", "synthetic_cycling", "voltage_profiles",
          "GittResult", "diffusion_length", "gitt_analysis", "segment_pulses")


def test_every_name_exported_before_still_imports():
    for name in BEFORE:
        assert hasattr(analysis, name), name
        assert name in analysis.__all__, name


def test_no_cycling_module_over_700_lines():
    folder = Path(cycling.__file__).parent
    for path in folder.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 700, path.name


def test_synthetic_generator_lives_apart_and_says_what_it_is():
    from nasurf.analysis.cycling import synthetic

    assert analysis.synthetic_cycling is synthetic.synthetic_cycling
    assert "tests and demonstrations" in synthetic.__doc__


@pytest.fixture(scope="module")
def rate_result():
    mA_g = np.array([50, 50, 100, 100, 200, 200, 50.0])
    des = np.array([300, 298, 270, 268, 230, 228, 296.0]) * 2e-3
    data = analysis.synthetic_cycling(des * 1.01, des, current_A=mA_g * 2e-6)
    return analysis.cycling_summary(data, active_mass_g=2e-3)


def test_rate_capability_is_renamed_and_warns(rate_result):
    new = analysis.group_rate_steps(rate_result)
    with pytest.warns(DeprecationWarning, match="group_rate_steps"):
        old = analysis.rate_capability(rate_result)
    assert old.step_columns.keys() == new.step_columns.keys()
    for key, col in new.step_columns.items():
        assert np.array_equal(np.asarray(old.step_columns[key]), np.asarray(col)), key
    assert new.n_steps == 4 and new.recovery_step == 4


def test_gitt_mass_g_is_renamed_and_warns():
    from nasurf.analysis.gitt import diffusion_length

    new = diffusion_length(active_mass_g=2e-3, density_g_cm3=2.0, area_cm2=1.0)
    with pytest.warns(DeprecationWarning, match="active_mass_g"):
        old = diffusion_length(mass_g=2e-3, density_g_cm3=2.0, area_cm2=1.0)
    assert old == new and new[0] == pytest.approx(2e-3 / 2.0, rel=1e-12)
    from nasurf.errors import ValidationError

    with pytest.raises(ValidationError, match="disagree"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        diffusion_length(active_mass_g=1e-3, mass_g=2e-3, density_g_cm3=2.0, area_cm2=1.0)


def test_analyze_cycling_file_is_the_commands_json(realdata):
    path = realdata / "yadg" / "gcpl.pr_182.1.mpr"
    cf = analysis.analyze_cycling_file(path, electrode="anode")
    res = CliRunner().invoke(app, ["analyze", "cycling", str(path), "--electrode", "anode",
                                   "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc.pop("written") == []
    assert json.loads(json.dumps(to_jsonable(cf.to_dict()))) == doc


def test_summarise_folder_and_the_old_batch_name(tmp_path, realdata):
    for name in ("gcpl.pr_182.1.mpr", "cv.mpr"):
        (tmp_path / name).symlink_to(realdata / "yadg" / name)
    rows = analysis.summarise_folder(tmp_path, pattern="*.mpr")
    assert [r["technique_class"] for r in rows] == ["cv", "cycling"]
    from nasurf.analysis.cli_batch import run_batch

    with pytest.warns(DeprecationWarning, match="summarise_files"):
        old = run_batch(sorted(tmp_path.iterdir()), active_mass_g=None, area_cm2=None,
                        reference="after_formation", cycle_mode="sodiation_desodiation",
                        workers=1, show_progress=False)
    assert old == rows


def test_gitt_file_is_the_commands_document(realdata):
    from nasurf.analysis.cli_gitt import run_gitt
    from nasurf.analysis.gitt import gitt_file

    path = realdata / "yadg" / "mb.mpr"
    doc = run_gitt(path, length_um=1.0)
    gf = gitt_file(path, diffusion_length_cm=1e-4)
    assert json.dumps(to_jsonable(gf.to_dict()), sort_keys=True) == json.dumps(
        to_jsonable(doc), sort_keys=True)
