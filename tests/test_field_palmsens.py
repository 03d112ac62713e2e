"""PSTrace CSV exports (UTF-16), as found on public files nasurf had not seen.

Layout copied from gcarrascohuertas/electrochemical_ECSA_processing_palmsens
(ECSA_GCE/ECSA_0005mV/scan1-SWV.csv: UTF-16LE with BOM, CRLF, "Date and time:", "Notes:",
a notes line, the curve title, "Date and time measurement:", "V,µA", 806 rows and a stray
BOM on the last line) and from the multi-curve layout other projects write (title and
date cells per curve, "V,µA,V,µA"). The synthetic files are written here; the truths are
the numbers written into them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nasurf.analysis.kinetics import CVSet, cycle_summary
from nasurf.errors import FileFormatError
from nasurf.io import CURRENT, CYCLE, VOLTAGE, read


def _write_utf16(path: Path, lines: list[str]) -> Path:
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-16"))   # BOM + UTF-16LE
    return path


def _triangle(e_hi: float, e_lo: float, step: float) -> np.ndarray:
    down = np.arange(e_hi, e_lo - step / 2, -step)
    return np.concatenate([down, down[::-1][1:]])


def test_single_curve_export_as_published(tmp_path: Path) -> None:
    e = _triangle(0.7, -0.1, 0.002)
    i_uA = np.where(np.diff(e, prepend=e[0] + 1) < 0, -2.0, 1.0)   # -2 µA down, +1 µA up
    lines = ["Date and time:,2020-07-10 17:21:23", "Notes:", "Medida_ECSA_scanrate0.005",
             "Cyclic Voltammetry: CV I vs E Scan 1",
             "Date and time measurement:,2020-07-10 16:59:57", "V,µA"]
    lines += [f"{a:.5E},{b:.5E}" for a, b in zip(e, i_uA, strict=True)]
    lines.append("\ufeff")                      # the export ends with a stray BOM line
    p = _write_utf16(tmp_path / "scan1-SWV.csv", lines)
    d = read(p)
    md = d.metadata
    assert md.file_format == "pstrace-csv" and md.technique == "CV"
    assert len(d) == e.size
    np.testing.assert_allclose(d.data[VOLTAGE], e, atol=1e-9)
    np.testing.assert_allclose(d.data[CURRENT], i_uA * 1e-6, rtol=1e-12)
    assert md.header["time_is_index"] is True
    assert any("no time and no scan rate" in w for w in md.warnings)
    assert not any("left out" in w or "not read" in w for w in md.warnings)

    # without a time column the charge is ∫ i |dE| / v: both sweeps at constant current,
    # so the truth is i * (window / v), with the sign of the current
    (cv,) = CVSet.from_echem(d, scan_rates_V_s=[0.005]).cvs
    assert cv.time_s is None
    row = cycle_summary(cv).table.iloc[0]
    t_sweep = 0.8 / 0.005
    assert row["cathodic_charge_C"] == pytest.approx(-2e-6 * t_sweep, rel=0.02)
    assert row["anodic_charge_C"] == pytest.approx(1e-6 * t_sweep, rel=0.02)
    assert row["charge_ratio"] == pytest.approx(0.5, rel=0.03)


def test_curves_side_by_side_and_a_later_section(tmp_path: Path) -> None:
    scans = 3
    lines = ["Date and time:,2026-05-28 10:38:50", "Notes:", ",,,,,",
             ",".join(f"Cyclic Voltammetry [1]: CV i vs E Scan {s},"
                      for s in range(1, scans + 1)),
             ",".join(["Date and time measurement:,2026-05-27"] * scans),
             ",".join(["V,µA"] * scans)]
    lengths = (5, 5, 3)   # the last curve is shorter: its cells are empty below row 3
    for k in range(5):
        cells = []
        for s in range(scans):
            cells += ([f"{-0.2 - 0.1 * k}", f"{100 - 10 * s - k}"] if k < lengths[s]
                      else ["", ""])
        lines.append(",".join(cells))
    lines += ["Measurement:,Impedance Spectroscopy", "freq / Hz,Z / Ohm", "1000,12"]
    d = read(_write_utf16(tmp_path / "three.csv", lines))
    md = d.metadata
    assert md.header["tables"] == {"Curve 1": 5, "Curve 2": 5, "Curve 3": 3}
    assert d.data[CYCLE].value_counts().sort_index().tolist() == [5, 5, 3]
    third = d.data[d.data[CYCLE] == 3]
    np.testing.assert_allclose(third[CURRENT], np.array([80, 79, 78]) * 1e-6)
    (w,) = [w for w in md.warnings if "not read" in w]
    assert w.startswith("3 line(s) after the curves")


def test_half_filled_pair_is_counted(tmp_path: Path) -> None:
    lines = ["Date and time:,x", "Notes:", "", "Linear Sweep Voltammetry: LSV",
             "Date and time measurement:,x", "V,mA", "0.1,1", "0.2,", "0.3,3"]
    d = read(_write_utf16(tmp_path / "lsv.csv", lines))
    assert d.metadata.technique == "LSV"
    np.testing.assert_allclose(d.data[CURRENT], [1e-3, 3e-3])
    assert any("1 point(s) with a potential but no current" in w for w in d.metadata.warnings)


def test_export_without_rows_is_one_clear_error(tmp_path: Path) -> None:
    lines = ["Date and time:,x", "Notes:", "", "Cyclic Voltammetry: CV",
             "Date and time measurement:,x", "V,µA"]
    with pytest.raises(FileFormatError, match="without data rows"):
        read(_write_utf16(tmp_path / "empty.csv", lines))


# --- .pssession layouts of PalmSens' own SDK test sessions (palmsens-sdk python/tests/
# test_data): PSTrace 5.11 writes PascalCase keys; a CV of N scans stores one potential,
# current and charge array per scan ("scan1channel1"...) and one time array; sessions may
# mix CV and impedance measurements.


def _arr(kind: str, desc: str, unit: str, values, **extra) -> dict:
    return {"Type": f"PalmSens.Data.DataArray{kind}", "Description": desc,
            "Unit": {"Type": f"PalmSens.Units.{unit}"},
            "DataValues": [{"V": float(v), **extra} for v in values]}


def _session(path: Path, measurements: list[dict]) -> Path:
    import json

    doc = {"Type": "PalmSens.DataFiles.SessionFile", "CoreVersion": "5.11.1006.0",
           "Measurements": measurements}
    path.write_bytes(("\ufeff" + json.dumps(doc) + "\ufeff").encode("utf-16-le"))
    return path


def test_pascal_case_session_with_three_scans(tmp_path: Path) -> None:
    dt, n = 0.05, 41
    e_scan = np.concatenate([np.linspace(-0.4, 0.6, 21), np.linspace(0.55, -0.4, 20)])
    scans = [(k, e_scan, 2.0 * e_scan - k) for k in (1, 2, 3)]      # µA
    values = [_arr("Time", "time", "Time", dt * np.arange(n))]
    for k, e, i in scans:
        values += [_arr("Potentials", f"scan{k}channel1", "Volt", e, S=0),
                   _arr("Currents", f"scan{k}channel1", "MicroAmpere", i, S=0, C=4),
                   _arr("Charge", f"scan{k}channel1", "MicroCoulomb",
                        np.concatenate([[0.0], np.cumsum(i * dt)]))]
    m = {"Title": "Cyclic Voltammetry", "TimeStamp": 638881863659064152,
         "Method": "METHOD_ID=cv\r\nSCAN_RATE=1.0000000E-001\r\nN_SCANS=3\r\n",
         "DataSet": {"Type": "PalmSens.Data.DataSetCommon", "Values": values}}
    d = read(_session(tmp_path / "cv_3scan.pssession", [m]))
    assert len(d) == 3 * n and d.metadata.technique == "CV"
    assert d.metadata.scan_rates_V_s == pytest.approx((0.1,))
    assert d.data["Scan / 1"].value_counts().sort_index().tolist() == [n, n, n]
    np.testing.assert_allclose(d.data[VOLTAGE], np.tile(e_scan, 3))
    np.testing.assert_allclose(d.data[CURRENT],
                               np.concatenate([i for _k, _e, i in scans]) * 1e-6)
    # the later scans continue the first one's clock at its interval
    np.testing.assert_allclose(d.data["Test Time / s"], dt * np.arange(3 * n), atol=1e-9)
    assert any("one time array" in w for w in d.metadata.warnings)
    # PalmSens' own charge per scan (leading 0 dropped) is kept
    q2 = d.data[d.data["Scan / 1"] == 2]["Charge / C"].to_numpy()
    np.testing.assert_allclose(q2, np.cumsum(scans[1][2] * dt) * 1e-6)


def test_impedance_measurement_in_a_mixed_session_is_counted(tmp_path: Path) -> None:
    t = np.arange(5.0)
    cv = {"Title": "Cyclic Voltammetry", "TimeStamp": 636354667905698467,
          "Method": "METHOD_ID=cv\r\nSCAN_RATE=1.0E-001\r\n",
          "DataSet": {"Values": [_arr("Time", "time", "Time", t),
                                 _arr("Potentials", "potential", "Volt", 0.1 * t),
                                 _arr("Currents", "current", "MicroAmpere", t)]}}
    eis = {"Title": "Impedance Spectroscopy", "TimeStamp": 636354677224718826,
           "Method": "METHOD_ID=eis\r\n",
           "DataSet": {"Values": [_arr("", "Frequency", "Hertz", [1e3, 1e2, 10]),
                                  _arr("", "ZRe", "ZRe", [1, 2, 3]),
                                  _arr("", "ZIm", "ZIm", [1, 2, 3])]}}
    d = read(_session(tmp_path / "mixed.pssession", [cv, eis]))
    assert len(d) == 5
    (w,) = [w for w in d.metadata.warnings if "impedance" in w]
    assert "measurement 2" in w and "3 points" in w and "left out" in w
    # alone, the same measurement is a spectrum (ZIm stored as -Im Z)
    alone = read(_session(tmp_path / "eis.pssession", [eis]))
    np.testing.assert_allclose(alone.data["Z Imag / Ohm"], [-1, -2, -3])


def test_session_whose_dataset_is_empty_names_why(tmp_path: Path) -> None:
    m = {"title": "Differential Pulse Voltammetry", "method": "METHOD_ID=dpv\r\n",
         "dataset": {"type": "PalmSens.Data.DataSetCommon", "keys": [], "values": []}}
    with pytest.raises(FileFormatError, match="empty dataset"):
        read(_session(tmp_path / "old.pssession", [m]))


def _eis_measurement(f: np.ndarray, z: np.ndarray, *, phase_sign: float = 1.0,
                     channels: int = 1) -> dict:
    # as PSTrace stores it: ZIm = -Im Z and Phase = -arg Z in degrees, positive on an arc
    values = [_arr("Currents", "Idc", "MicroAmpere", np.ones(f.size)),
              _arr("Potentials", "potential", "Volt", np.zeros(f.size)),
              _arr("Time", "time", "Time", np.full(f.size, 0.066)),
              _arr("", "Frequency", "Hertz", f), _arr("", "ZRe", "ZRe", z.real),
              _arr("", "ZIm", "ZIm", -z.imag), _arr("", "Z", "Z", np.abs(z)),
              _arr("", "Phase", "Phase", phase_sign * -np.degrees(np.angle(z)))]
    return {"Title": "Impedance Spectroscopy", "Method": "METHOD_ID=eis\r\n",
            "DataSet": {"Values": values},
            "EISDataList": [{"Title": f"CH {c}"} for c in range(channels)]}


def test_impedance_session_is_read_with_z_imag_negative_on_the_arc(tmp_path: Path) -> None:
    f = np.logspace(5, -1, 25)
    w = 2 * np.pi * f
    z = 10.0 + 100.0 / (1 + 1j * w * 100.0 * 1e-5)           # R0 + R1 || C1
    d = read(_session(tmp_path / "eis.pssession", [_eis_measurement(f, z)]))
    assert d.metadata.technique == "PEIS" and d.is_impedance
    np.testing.assert_allclose(d.data["Frequency / Hz"], f)
    np.testing.assert_allclose(d.data["Z Real / Ohm"], z.real)
    np.testing.assert_allclose(d.data["Z Imag / Ohm"], z.imag)      # Im Z < 0 on the arc
    assert (d.data["Z Imag / Ohm"] < 0).all()
    assert "Test Time / s" not in d.data.columns                   # constant time array


def test_impedance_session_with_contradicting_phase_or_channels_is_refused(
        tmp_path: Path) -> None:
    f = np.logspace(4, 0, 9)
    z = 5.0 + 50.0 / (1 + 1j * 2 * np.pi * f * 50.0 * 1e-4)
    with pytest.raises(FileFormatError, match="opposite signs"):
        read(_session(tmp_path / "a.pssession", [_eis_measurement(f, z, phase_sign=-1)]))
    with pytest.raises(FileFormatError, match="3 channel spectra"):
        read(_session(tmp_path / "b.pssession", [_eis_measurement(f, z, channels=3)]))


def test_semicolon_export_with_decimal_commas(tmp_path: Path) -> None:
    lines = ["Date and time:;2020-07-10", "Notes:", "", "Cyclic Voltammetry: CV I vs E Scan 1;",
             "Date and time measurement:;2020-07-10", "V;µA", "0,1;1,5", "0,2;2,5", "0,3;-1,5"]
    d = read(_write_utf16(tmp_path / "comma.csv", lines))
    assert d.metadata.file_format == "pstrace-csv"
    np.testing.assert_allclose(d.data[VOLTAGE], [0.1, 0.2, 0.3])
    np.testing.assert_allclose(d.data[CURRENT], [1.5e-6, 2.5e-6, -1.5e-6])
    assert any("decimal commas" in n for n in d.metadata.notes)
