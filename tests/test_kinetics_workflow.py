"""The library workflows behind ``nasurf analyze cv`` and ``nasurf analyze eis``.

``analyze_cv_files`` and ``analyze_eis_file`` are what the commands run; a Python user gets
the same numbers without the command line. Truths: the exact methods.md §2 Dunn set written
as files (capacitive fractions EXACT_FCAP to 1e-4, as the CLI test), the identity of the
library document with the command's JSON, and for EIS the fit of the same file read by hand.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from nasurf.analysis.kinetics import (
    BASELINES,
    CVSet,
    analyze_cv_files,
    b_value_peaks,
    randles_sevcik_constant,
    trasatti_from_cvs,
)
from nasurf.cli import app
from nasurf.errors import ValidationError
from test_cli_cv_gitt import write_cv_files
from test_cv_dunn import EXACT_FCAP, section2_cvset

runner = CliRunner()


def test_analyze_cv_files_gives_the_exact_dunn_fractions(tmp_path):
    files = write_cv_files(tmp_path)
    res = analyze_cv_files(files, vertex_exclusion_V=0.0, mass_g=2e-3)
    assert res.mode == "scan rates"
    assert res.dunn.capacitive_fraction == pytest.approx(EXACT_FCAP, abs=1e-4)
    assert res.conventions["mass_source"] == "given" and res.dunn.units["k1"] == "F/g"
    # Q_tot at 0.1 mV/s per gram, as the CLI test: ∫|i|dE/(3.6·v·m) of the exact set
    assert res.dunn.fractions["Q_tot_mAh_g"].iloc[0] == pytest.approx(20.958, rel=1e-3)


def test_library_document_is_the_command_json(tmp_path):
    files = write_cv_files(tmp_path)
    result = runner.invoke(app, ["analyze", "cv", *files, "--vertex-exclusion-mV", "0",
                                 "--json"])
    assert result.exit_code == 0, result.output
    from nasurf.clikit import to_jsonable

    lib = to_jsonable(analyze_cv_files(files, vertex_exclusion_V=0.0).to_dict())
    assert lib == json.loads(result.stdout)


def test_single_rate_mode_and_write(tmp_path):
    files = write_cv_files(tmp_path)
    res = analyze_cv_files(files[:1], vertex_exclusion_V=0.0)
    assert res.mode == "single scan rate" and res.peaks is None and res.dunn is None
    assert len(res.cycles) == 2 and any("two or more scan rates" in n for n in res.notes)
    written = res.write(tmp_path / "out")
    assert {p.name for p in written} == {"cv_cycles.csv", "cv_cycles.png", "cv_kinetics.json"}
    doc = json.loads((tmp_path / "out" / "cv_kinetics.json").read_text())
    assert doc["mode"] == "single scan rate" and len(doc["cycles"]) == 2


def test_measurements_already_read_are_accepted(tmp_path):
    from nasurf.io import read

    files = write_cv_files(tmp_path)
    res = analyze_cv_files([read(f) for f in files], vertex_exclusion_V=0.0)
    assert res.dunn.capacitive_fraction == pytest.approx(EXACT_FCAP, abs=1e-4)


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"baseline": "cubic"}, "expected one of 'none', 'linear', 'capacitive'"),
    ({"baseline": "capacitive"}, "capacitive_window_V"),
    ({"mass_g": -1.0}, "must be > 0"),
    ({"window_V": (1.0, 0.5)}, "Emax must exceed Emin"),
    ({"rs_area_cm2": 1.0}, "needs both"),
])
def test_analyze_cv_files_refuses_bad_options(tmp_path, kwargs, fragment):
    files = write_cv_files(tmp_path)
    with pytest.raises(ValidationError, match=fragment):
        analyze_cv_files(files, **kwargs)


def test_string_options_name_the_allowed_values_and_accept_any_case():
    cvset = section2_cvset()
    assert BASELINES == ("none", "linear", "capacitive")
    kin = b_value_peaks(cvset, baseline="None", vertex_exclusion_V=0.0)
    assert kin.baseline == "none"
    with pytest.raises(ValidationError, match="did you mean 'linear'"):
        b_value_peaks(cvset, baseline="linaer")
    with pytest.raises(ValidationError, match="expected one of 'mean', 'anodic'"):
        trasatti_from_cvs(cvset, branch="both")
    # a misspelt form used to give the irreversible constant silently
    assert randles_sevcik_constant(form="Reversible") == pytest.approx(2.6865e5, rel=1e-4)
    with pytest.raises(ValidationError, match="form"):
        randles_sevcik_constant(form="reversable")


def test_cvset_is_the_public_name_of_nasurf_analysis():
    import nasurf.analysis

    assert nasurf.analysis.CVSet is CVSet


def test_analyze_eis_file_is_analyze_eis_on_the_file(realdata):
    from nasurf.analysis.eis import analyze_eis, analyze_eis_file
    from nasurf.io import read

    path = realdata / "impedance.py" / "exampleDataGamry.DTA"
    a = analyze_eis_file(path)
    b = analyze_eis(read(path))
    assert len(a.spectra) == len(b.spectra) == 1
    pa, pb = a.spectra[0].fit.parameters, b.spectra[0].fit.parameters
    assert pa.keys() == pb.keys()
    assert np.allclose([pa[k] for k in pa], [pb[k] for k in pb], rtol=1e-12)


def test_analyze_eis_file_refuses_a_file_without_impedance(tmp_path):
    import pandas as pd

    from nasurf.analysis.eis import analyze_eis_file

    p = tmp_path / "gcpl.csv"
    pd.DataFrame({"Test Time / s": [0.0, 1.0, 2.0], "Voltage / V": [1.0, 0.9, 0.8],
                  "Current / A": [-1e-4] * 3}).to_csv(p, index=False)
    with pytest.raises(ValidationError, match="no impedance data"):
        analyze_eis_file(p)
    with pytest.raises(FileNotFoundError):
        analyze_eis_file(tmp_path / "nope.csv")


def test_every_public_name_of_nasurf_analysis_resolves():
    import nasurf.analysis as analysis

    for name in analysis.__all__:
        assert getattr(analysis, name) is not None, name
    assert isinstance(CVSet, type)
