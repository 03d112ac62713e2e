"""Gamry .DTA beyond impedance: CV, CHRONOA, CORPOT, PWR800, decimal commas, odd rows.

Truths: table sizes asserted upstream (chemotion-converter-app: DHM-15-CV-Demo holds 4
tables of 401, 400, 400 and 1 rows), the instrument's own counters (each TABLE line that
declares its row count; the PWR800 CAPACITYCURVE summary's charge per half cycle against
∫I dt over the charge and discharge files), the file's own settings (scan rate, area), and
numbers copied by hand from the file text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nasurf.errors import FileFormatError
from nasurf.io import CURRENT, CYCLE, FREQUENCY, TIME, VOLTAGE, Z_IMAG, Z_REAL, read

pytestmark = pytest.mark.realdata


def _lines(path: Path) -> list[str]:
    return path.read_bytes().decode("latin-1").splitlines(keepends=True)


def test_chemotion_cv_tables_as_upstream_asserts(realdata):
    e = read(realdata / "chemotion-converter-app/DHM-15-CV-Demo.DTA")
    md = e.metadata
    assert md.technique == "CV"
    assert md.header["tables"] == {"CURVE1": 401, "CURVE2": 400, "CURVE3": 400, "CURVE4": 1}
    assert len(e) == 1202
    # the cycle counter is the CURVE number
    assert e.data[CYCLE].value_counts().sort_index().tolist() == [401, 400, 400, 1]
    # SCANRATE 9,99998E+001 mV/s and AREA 7,85000E-003 cm² in the header (decimal commas)
    assert md.scan_rate_V_s == pytest.approx(0.0999998, rel=1e-12)
    assert md.scan_rates_V_s == pytest.approx((0.0999998,))
    assert md.electrode_area_cm2 == pytest.approx(0.00785)
    assert any("decimal commas" in n for n in md.notes)
    # first and last rows copied from the file text
    first = e.data.iloc[0]
    assert (first[TIME], first[VOLTAGE], first[CURRENT]) == pytest.approx(
        (0.05, 0.299932, 2.96077e-6), rel=1e-12)
    last = e.data.iloc[-1]
    assert (last[TIME], last[VOLTAGE], last[CURRENT]) == pytest.approx(
        (60.1, 0.299927, 2.64327e-6), rel=1e-12)
    # measured scan rate equals the setting: the CV sweeps 1 V per 10 s
    d = e.data[e.data[CYCLE] == 2]
    slope = np.polyfit(d[TIME].to_numpy()[5:195], d[VOLTAGE].to_numpy()[5:195], 1)[0]
    assert abs(slope) == pytest.approx(0.1, rel=0.01)


@pytest.mark.parametrize("name", ["chemotion-converter-app/DHM-15-CV-Demo.DTA",
                                  "GES-echem-suite/cv_sample.DTA"])
def test_gamry_current_is_anodic_positive(realdata, name):
    # the double-layer current follows the sweep: C·dE/dt > 0 on rising sweeps when anodic
    # current is positive (the Framework's CONVENTION 1), whatever the faradaic peaks do
    d = read(realdata / name).data
    rising = np.gradient(d[VOLTAGE].to_numpy()) > 0
    i = d[CURRENT].to_numpy()
    assert np.median(i[rising]) > np.median(i[~rising])


def test_cv_sample_ocv_table_counted_and_declared_counts(realdata):
    e = read(realdata / "GES-echem-suite/cv_sample.DTA")
    assert e.metadata.header["tables"] == {"CURVE1": 701, "CURVE2": 700, "CURVE3": 700,
                                          "CURVE4": 1}
    # OCVCURVE TABLE 20: the file's own row count for the table left out
    assert any(w.startswith("20 row(s) of table OCVCURVE") for w in e.metadata.warnings)
    assert e.metadata.scan_rate_V_s == pytest.approx(0.002)
    assert not any("declares" in w for w in e.metadata.warnings)


def test_pwr800_charge_and_discharge_match_the_capacity_summary(realdata):
    base = realdata / "GES-echem-suite"
    ch = read(base / "0,3A Charge_#1.DTA")
    dis = read(base / "0,3A D-Charge_#1.DTA")
    assert len(ch) == 405 and len(dis) == 862          # TABLE 405 / TABLE 862 declared
    assert ch.metadata.technique == "GCPL"
    assert (ch.data[CURRENT] > 0.29).all() and (dis.data[CURRENT] < -0.29).all()
    # CAPACITYCURVE cycle 1: Charge 606,733 C (type 0) and 1292,238 C (type 1), counted
    # by the instrument from t = 0; the files log from t = 5 s, so ∫I dt over the rows
    # misses the first 5 s interval: the tolerance is |I|·5 s (1.5 C)
    for e, summary in ((ch, 606.733), (dis, 1292.238)):
        t = e.data[TIME].to_numpy()
        i = e.data[CURRENT].to_numpy()
        q = abs(float(np.trapezoid(i, t)))
        assert q == pytest.approx(summary, abs=0.3 * 5.0 + 0.01)
        # and with the unlogged first interval added, to the summary's 6 digits + drift
        assert q + abs(i[0]) * t[0] == pytest.approx(summary, rel=2e-4)


def test_pwr800_capacity_summary_refused_clearly(realdata):
    path = realdata / "GES-echem-suite/0,3 Cycling.DTA"
    with pytest.raises(FileFormatError) as info:
        read(path)
    msg = str(info.value)
    assert str(path) in msg and "CAPACITYCURVE" in msg and "per half cycle" in msg
    assert "20 rows" in msg and "\n" not in msg


def test_chronoamperometry_and_open_circuit(realdata):
    ca = read(realdata / "gamry_post_processing_/CHRONOA_STABILITY_#1_#1.DTA")
    assert ca.metadata.technique == "CA" and len(ca) == 1452
    assert ca.data[TIME].iloc[0] == -25.0 and ca.data[CURRENT].iloc[0] == pytest.approx(
        -5.38268e-3)
    assert (ca.data[VOLTAGE].sub(-0.4).abs() < 2e-3).all()   # held at -0.4 V
    ocp = read(realdata / "gamry_post_processing_/OCP.DTA")
    assert ocp.metadata.technique == "OCV" and len(ocp) == 2353
    assert (ocp.data[CURRENT] == 0).all()
    assert any("set to 0" in n for n in ocp.metadata.notes)
    assert ocp.data[VOLTAGE].iloc[0] == pytest.approx(0.70199)


# ---------------------------------------------------------------------------------------
# Synthetic edits of a real file: the truth is the unedited file


def _zcurve_start(lines: list[str]) -> int:
    return next(i for i, ln in enumerate(lines) if ln.startswith("ZCURVE\tTABLE")) + 3


def _ten_point_eispot(realdata: Path, tmp_path: Path, edit) -> tuple[Path, Path]:
    lines = _lines(realdata / "impedance.py/exampleDataGamry.DTA")
    z = _zcurve_start(lines)
    end = z
    while end < len(lines) and lines[end].startswith("\t"):
        end += 1
    plain = lines[:z + 10] + lines[end:]
    edited = lines[:z] + [edit(k, ln) for k, ln in enumerate(lines[z:z + 10])] + lines[end:]
    a, b = tmp_path / "plain.DTA", tmp_path / "edited.DTA"
    a.write_bytes("".join(plain).encode("latin-1"))
    b.write_bytes("".join(edited).encode("latin-1"))
    return a, b


def test_eis_rows_led_by_spaces_are_read(realdata, tmp_path):
    # rows 6..9 start with spaces instead of a tab: the old reader stopped there (6 of 10)
    plain, edited = _ten_point_eispot(
        realdata, tmp_path, lambda k, ln: "    " + ln[1:] if k >= 6 else ln)
    a, b = read(plain), read(edited)
    assert len(a) == len(b) == 10
    cols = [FREQUENCY, Z_REAL, Z_IMAG]
    np.testing.assert_array_equal(a.data[cols].to_numpy(), b.data[cols].to_numpy())
    assert b.metadata.warnings == a.metadata.warnings   # nothing dropped, nothing new


def test_unreadable_row_is_counted_with_its_line(realdata, tmp_path):
    def spoil(k, ln):
        if k != 4:
            return ln
        cells = ln.split("\t")
        cells[4] = "garbage"
        return "\t".join(cells)

    _, edited = _ten_point_eispot(realdata, tmp_path, spoil)
    e = read(edited)
    assert len(e) == 9
    w = [w for w in e.metadata.warnings if "could not be read" in w]
    assert len(w) == 1 and w[0].startswith("1 row(s) of table ZCURVE")
    assert "'garbage'" in w[0]


def test_declared_row_count_disagreement_is_warned(realdata, tmp_path):
    lines = _lines(realdata / "GES-echem-suite/0,3A Charge_#1.DTA")
    i = next(k for k, ln in enumerate(lines) if ln.startswith("CURVE\tTABLE"))
    cut = lines[:i + 3 + 100]
    p = tmp_path / "cut.DTA"
    p.write_bytes("".join(cut).encode("latin-1"))
    e = read(p)
    assert len(e) == 100
    assert any("declares 405 rows but 100 follow" in w for w in e.metadata.warnings)


def test_mixed_decimal_marks_name_the_locale(realdata, tmp_path):
    lines = _lines(realdata / "GES-echem-suite/0,3A Charge_#1.DTA")
    i = next(k for k, ln in enumerate(lines) if ln.startswith("CURVE\tTABLE")) + 3
    lines[i + 5] = lines[i + 5].replace(",", ".")
    p = tmp_path / "mixed.DTA"
    p.write_bytes("".join(lines).encode("latin-1"))
    with pytest.raises(FileFormatError) as info:
        read(p)
    msg = str(info.value)
    assert str(p) in msg and "locale" in msg and "decimal commas" in msg


def test_cathodic_positive_convention_is_flipped(realdata, tmp_path):
    lines = _lines(realdata / "GES-echem-suite/0,3A Charge_#1.DTA")
    conv = next(k for k, ln in enumerate(lines) if ln.startswith("CONVENTION\t"))
    lines[conv] = lines[conv].replace("\t1\t", "\t0\t")
    p = tmp_path / "cathodic.DTA"
    p.write_bytes("".join(lines).encode("latin-1"))
    a = read(realdata / "GES-echem-suite/0,3A Charge_#1.DTA")
    b = read(p)
    np.testing.assert_array_equal(b.data[CURRENT].to_numpy(), -a.data[CURRENT].to_numpy())
    assert any("CONVENTION 0" in n for n in b.metadata.notes)


def test_eis_import_path_still_works():
    from nasurf.io import eis, gamry

    assert eis.read_gamry is gamry.read_gamry


def test_eis_written_with_decimal_commas_reads_the_same(realdata, tmp_path):
    # the same spectrum as a comma-locale Framework writes it: every decimal point of the
    # ZCURVE rows becomes a comma (no Gamry EIS with commas is public; SOURCES.md)
    lines = _lines(realdata / "impedance.py/exampleDataGamry.DTA")
    z = _zcurve_start(lines)
    k = z
    while k < len(lines) and lines[k].startswith("\t"):
        lines[k] = lines[k].replace(".", ",")
        k += 1
    oc = next(i for i, ln in enumerate(lines) if ln.startswith("OCVCURVE\tTABLE")) + 3
    while oc < len(lines) and lines[oc].startswith("\t"):
        lines[oc] = lines[oc].replace(".", ",")
        oc += 1
    p = tmp_path / "comma.DTA"
    p.write_bytes("".join(lines).encode("latin-1"))
    a = read(realdata / "impedance.py/exampleDataGamry.DTA")
    b = read(p)
    cols = [FREQUENCY, Z_REAL, Z_IMAG, TIME, VOLTAGE, CURRENT]
    np.testing.assert_array_equal(a.data[cols].to_numpy(), b.data[cols].to_numpy())
    assert any("decimal commas" in n for n in b.metadata.notes)
