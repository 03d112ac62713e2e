"""Follow-ups in the BioLogic reader: EC-Lab's 7000 mg sample mass, and Z' / Z'' derived
from |Z| and Phase(Z) in Modulo Bat files.

Truths used:
* the .mpt text header of the same run (yadg/bcd.issue_241: "Mass of active material :
  7000.000 mg", molecular weight 90.930 g/mol, ion 6.940 g/mol, xo = 0.900), against the
  values the .mpr settings decoding gives;
* EC-Lab's own Re(Z) and -Im(Z) columns: a file that has them *and* |Z|, Phase(Z) is read
  once as written and once with Re/Im removed, the derived Z must equal the written one to
  1e-6 relative (the columns are float32, 6e-8 relative; 1e-6 leaves 16 ulps);
* the .mpt export of yadg/mb.issue_223 (whose Re(Z)/-Im(Z) EC-Lab wrote) against the .mpr
  (which stores only |Z| and Phase(Z)).
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nasurf.analysis.eis import analyze_eis
from nasurf.cli import app
from nasurf.io import FREQUENCY, Z_IMAG, Z_REAL, read

pytestmark = pytest.mark.realdata

BCD = "yadg/bcd.issue_241"
JDB11 = "navani/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
SAMPLE_BLOCK = struct.pack("<fffff", 7000.0, 1.0, 90.93, 6.94, 0.9)


def _sample_warning(md) -> list[str]:
    return [w for w in md.warnings if "7000 mg" in w]


def _trimmed_mpt(src: Path, dst: Path, n_rows: int | None = None,
                 drop_columns: tuple[str, ...] = (), replace: dict[str, str] | None = None
                 ) -> Path:
    """A copy of an EC-Lab text export with fewer data rows / columns / edited header."""
    text = src.read_bytes().decode("windows-1252")
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    n_header = int(re.search(r"Nb header lines\s*:\s*(\d+)", lines[1]).group(1))
    head, body = lines[:n_header - 1], lines[n_header - 1:]
    cols = body[0].split("\t")
    keep = [i for i, c in enumerate(cols) if c not in drop_columns]
    assert len(keep) == len(cols) - len(drop_columns), "column to drop not found"
    rows = [r for r in body[1:] if r.strip()]
    if n_rows is not None:
        rows = rows[:n_rows]
    body = ["\t".join(r.split("\t")[i] for i in keep if i < len(r.split("\t")))
            for r in [body[0], *rows]]
    out = "\r\n".join([*head, *body]) + "\r\n"
    for old, new in (replace or {}).items():
        assert old in out, old
        out = out.replace(old, new)
    dst.write_bytes(out.encode("windows-1252"))
    return dst


# ---------------------------------------------------------------------------------------
# 1. EC-Lab's sample mass (7000 mg)


def test_bcd_sample_mass_is_not_a_mass_in_mpr_and_mpt(realdata):
    mpt_text = (realdata / f"{BCD}.mpt").read_bytes().decode("windows-1252")
    # the independent truth: what EC-Lab printed for this run
    assert "Mass of active material : 7000.000 mg" in mpt_text
    assert "Molecular weight of active material (at x = 0) : 90.930 g/mol" in mpt_text
    assert "Atomic weight of intercalated ion : 6.940 g/mol" in mpt_text
    assert "xo = 0.900" in mpt_text
    mpr = read(realdata / f"{BCD}.mpr")
    mpt = read(realdata / f"{BCD}.mpt")
    h = mpr.metadata.header
    # the .mpr settings offsets decode the same cell characteristics (float32 vs 3 decimals)
    assert h["mass_of_active_material_mg"] == pytest.approx(7000.0, abs=5e-4)
    assert h["molecular_weight_g_mol"] == pytest.approx(90.930, abs=5e-4)
    assert h["intercalated_ion_g_mol"] == pytest.approx(6.940, abs=5e-4)
    assert h["x0"] == pytest.approx(0.900, abs=5e-4)
    for e in (mpr, mpt):
        assert e.metadata.active_mass_g is None       # neither 7 g nor the 0.001 g
        assert len(_sample_warning(e.metadata)) == 1
        assert "sample battery setting" in _sample_warning(e.metadata)[0]


def test_jdb11_sample_mass_falls_back_to_characteristic_mass(realdata):
    e = read(realdata / JDB11)
    md = e.metadata
    assert md.header["mass_of_active_material_mg"] == pytest.approx(7000.0)
    assert len(_sample_warning(md)) == 1
    # the file's other mass setting, 10 mg, is used (as when the active mass is 0.001 mg)
    assert md.header["characteristic_mass"] == pytest.approx(10.0)
    assert md.header["characteristic_mass_unit"] == "mg"
    assert md.active_mass_g == pytest.approx(0.010, rel=1e-6)
    assert any("Characteristic mass" in n for n in md.notes)
    # the net-charge span (1.36 mA h) over 10 mg is cathode-like (136 mA h/g); on 7 g: 0.2
    q_mAh = np.ptp(e.data["Net Capacity / Ah"].to_numpy()) * 1e3
    assert 80 < q_mAh / (md.active_mass_g * 1e3) * 1e3 < 250


def test_caller_mass_overrides_and_files_with_real_masses_unchanged(realdata):
    e = read(realdata / f"{BCD}.mpr", active_mass_g=0.0123)
    assert e.metadata.active_mass_g == pytest.approx(0.0123)
    # 6.52 mg typed over the sample block (the other characteristics left): a real mass
    g = read(realdata / "yadg/gcpl.pr_182.1.mpr")
    assert g.metadata.header["molecular_weight_g_mol"] == pytest.approx(90.93, abs=5e-4)
    assert g.metadata.active_mass_g == pytest.approx(0.00652, rel=1e-6)
    assert not _sample_warning(g.metadata)


def test_mpr_7000_mg_with_edited_characteristics_is_kept_with_warning(realdata, tmp_path):
    raw = (realdata / f"{BCD}.mpr").read_bytes()
    assert raw.count(SAMPLE_BLOCK) >= 1
    edited = tmp_path / "edited.mpr"
    # molecular weight changed to 150 g/mol: a user who filled in the characteristics
    edited.write_bytes(raw.replace(SAMPLE_BLOCK,
                                   struct.pack("<fffff", 7000.0, 1.0, 150.0, 22.99, 0.0)))
    e = read(edited)
    assert e.metadata.active_mass_g == pytest.approx(7.0)
    (w,) = _sample_warning(e.metadata)
    assert "kept" in w and "check" in w
    weighed = tmp_path / "weighed.mpr"
    weighed.write_bytes(raw.replace(SAMPLE_BLOCK,
                                    struct.pack("<fffff", 6.52, 1.0, 90.93, 6.94, 0.9)))
    e = read(weighed)
    assert e.metadata.active_mass_g == pytest.approx(0.00652, rel=1e-6)
    assert not _sample_warning(e.metadata)


def test_mpt_7000_mg_variants(realdata, tmp_path):
    src = realdata / f"{BCD}.mpt"
    untouched = read(_trimmed_mpt(src, tmp_path / "a.mpt", n_rows=50))
    assert untouched.metadata.active_mass_g is None and _sample_warning(untouched.metadata)
    edited = read(_trimmed_mpt(src, tmp_path / "b.mpt", n_rows=50,
                               replace={"(at x = 0) : 90.930 g/mol": "(at x = 0) : 150.000 g/mol"}))
    assert edited.metadata.active_mass_g == pytest.approx(7.0)
    assert "kept" in _sample_warning(edited.metadata)[0]
    # German-locale export of the untouched block (decimal commas everywhere)
    de = _trimmed_mpt(src, tmp_path / "c.mpt", n_rows=50, replace={
        "7000.000 mg": "7000,000 mg", "90.930 g/mol": "90,930 g/mol",
        "6.940 g/mol": "6,940 g/mol", "xo = 0.900": "xo = 0,900"})
    assert read(de).metadata.active_mass_g is None


# ---------------------------------------------------------------------------------------
# 2. Z' and Z'' from |Z| and Phase(Z)


def test_phase_convention_derived_z_equals_eclab_re_im(realdata, tmp_path):
    src = realdata / "yadg/peis.mpt"
    truth = read(src).data          # Re(Z), -Im(Z) as EC-Lab wrote them
    stripped = read(_trimmed_mpt(src, tmp_path / "z.mpt",
                                 drop_columns=("Re(Z)/Ohm", "-Im(Z)/Ohm")))
    assert any("derived from '|Z|/Ohm' and 'Phase(Z)/deg'" in n for n in stripped.metadata.notes)
    d = stripped.data
    # the spectrum covers phases from −82° to +61° (inductive points too): both signs tested
    assert (truth[Z_IMAG] > 0).any() and (truth[Z_IMAG] < 0).any()
    np.testing.assert_allclose(d[Z_REAL], truth[Z_REAL], rtol=1e-6)
    np.testing.assert_allclose(d[Z_IMAG], truth[Z_IMAG], rtol=1e-6)
    # the impedance columns stay in canonical order
    cols = list(d.columns)
    assert cols.index(FREQUENCY) + 1 == cols.index(Z_REAL) == cols.index(Z_IMAG) - 1


def test_only_missing_imaginary_part_is_derived(realdata, tmp_path):
    src = realdata / "yadg/peis.mpt"
    truth = read(src).data
    e = read(_trimmed_mpt(src, tmp_path / "re_only.mpt", drop_columns=("-Im(Z)/Ohm",)))
    notes = " ".join(e.metadata.notes)
    assert "'Z Imag / Ohm' derived" in notes and "'Z Real / Ohm'" not in notes
    np.testing.assert_array_equal(e.data[Z_REAL], truth[Z_REAL])   # as written
    np.testing.assert_allclose(e.data[Z_IMAG], truth[Z_IMAG], rtol=1e-6)


def test_modulo_bat_mpr_impedance_matches_its_mpt_export(realdata):
    mpr = read(realdata / "yadg/mb.issue_223.mpr")
    mpt = read(realdata / "yadg/mb.issue_223.mpt")
    a, b = mpr.data, mpt.data
    assert mpr.is_impedance and mpr.is_time_series and len(a) == len(b) == 108
    on = a[FREQUENCY].notna().to_numpy()
    assert on.sum() == 76                       # 4 sweeps × 19 points, 1 kHz to 1 Hz
    for c in (Z_REAL, Z_IMAG):
        # NaN exactly off the impedance rows (rests and the like), numbers on them
        assert a[c].isna().to_numpy().tolist() == (~on).tolist()
        np.testing.assert_allclose(a.loc[on, c], b.loc[on, c], rtol=1e-6, err_msg=c)
    assert (a.loc[on, Z_IMAG] < 0).all()        # capacitive: Z'' < 0
    # galvani's unnamed column 880 is EC-Lab's 'Energy we/W.h' (equal to the export)
    np.testing.assert_allclose(a["Energy we/W.h"], b["Energy we/W.h"], rtol=1e-5, atol=1e-12)
    assert not any("880" in w for w in mpr.metadata.warnings)


def test_modulo_bat_mpr_spectra_fit_like_the_mpt(realdata):
    series_mpr = analyze_eis(read(realdata / "yadg/mb.issue_223.mpr"), "R0-p(R1,CPE1)-W1")
    series_mpt = analyze_eis(read(realdata / "yadg/mb.issue_223.mpt"), "R0-p(R1,CPE1)-W1")
    assert len(series_mpr.spectra) == len(series_mpt.spectra) == 4
    for x, y in zip(series_mpr.spectra, series_mpt.spectra, strict=True):
        assert x.fit.n_points == y.fit.n_points == 19
        # same data to 1e-7: the same minimum; 1e-4 allows for the optimiser's tolerance
        for name, v in x.fit.parameters.items():
            assert v == pytest.approx(y.fit.parameters[name], rel=1e-4), name
        assert x.fit.relative_rmse < 0.10
    # the two PEIS sweeps (1 and 3) pass lin-KK; the GEIS ones (2, 4) are flagged as noisy
    assert [a.linkk.verdict for a in series_mpr.spectra][0::2] == ["valid", "valid"]


def test_cli_analyze_eis_on_modulo_bat_mpr(realdata):
    r = CliRunner().invoke(app, ["analyze", "eis", str(realdata / "yadg/mb.issue_223.mpr"),
                                 "--json", "--n-starts", "4"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["n_spectra"] == 4
    assert all(s["parameters"]["R0"]["value"] > 0 for s in doc["spectra"])


# ---------------------------------------------------------------------------------------
# 4. the reference electrode on cycling plots follows the data


def test_potential_label_follows_the_reference():
    from nasurf.analysis.plots_cycling import potential_label

    assert potential_label() == "Potential (V vs Na$^{+}$/Na)"      # the project convention
    assert potential_label("Li+/Li") == potential_label("Li⁺/Li") == \
        "Potential (V vs Li$^{+}$/Li)"
    assert potential_label("Mg2+/Mg") == "Potential (V vs Mg$^{2+}$/Mg)"
    assert potential_label("Ag/AgCl") == "Potential (V vs Ag/AgCl)"


def test_cycling_figures_use_the_reference():
    from nasurf.analysis.cycling import synthetic_cycling, voltage_profiles
    from nasurf.analysis.differential_capacity import dqdv
    from nasurf.analysis.plots_cycling import dqdv_figure, voltage_profile_figure
    from nasurf.io.table import Metadata

    data = synthetic_cycling([2e-3], [1.9e-3], current_A=2e-4, active_mass_g=1e-2,
                             points_per_half_cycle=200)
    prof = voltage_profiles(data)
    assert voltage_profile_figure(prof).axes[0].get_ylabel() == "Potential (V vs Na$^{+}$/Na)"
    fig = voltage_profile_figure(prof, reference="Li+/Li")
    assert fig.axes[0].get_ylabel() == "Potential (V vs Li$^{+}$/Li)"
    prof.attrs["electrode_reference"] = "K+/K"
    assert voltage_profile_figure(prof).axes[0].get_ylabel() == "Potential (V vs K$^{+}$/K)"
    dq = dqdv(data)
    assert dqdv_figure(dq, reference="Li+/Li").axes[0].get_xlabel() == \
        "Potential (V vs Li$^{+}$/Li)"
    assert Metadata().electrode_reference is None


def test_demo_labels_the_li_half_cell_vs_li(realdata, monkeypatch):
    from nasurf.report import analysis_sections as demo

    landt = "battery-data-format/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv"
    assert demo.REAL_FILE_REFERENCES[landt] == "Li⁺/Li"   # SOURCES.md: graphite vs Li
    monkeypatch.setattr(demo, "REAL_ANODE_FILES", (landt,))
    page = demo._real_part(realdata)
    # matplotlib's SVG keeps each text as a comment next to its glyphs
    labels = re.findall(r"<!-- (Potential \(V vs [^>]*?) -->", page)
    assert labels and set(labels) == {"Potential (V vs Li$^{+}$/Li)"}
