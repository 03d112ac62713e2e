"""Gamry layouts met on public files nasurf had not seen (bcliang/gamry-parser test files).

Each test writes a small synthetic DTA in tmp_path that copies the real layout; the truths
are the numbers written into the file by the test itself (and, where the upstream project
asserts one, the same count: gamry-parser asserts 10 rows for its EISPOT file, 20 samples
at 1/15 s for its VFP600 file, a 10-row square-wave curve).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nasurf.io import CURRENT, FREQUENCY, TIME, VOLTAGE, Z_IMAG, Z_REAL, read

_EIS_HEAD = (
    "EXPLAIN\nTAG\tEISPOT\nTITLE\tLABEL\tPotentiostatic EIS\tTest &Identifier\n"
    "EOC\tQUANT\t0.1358522\tOpen Circuit (V)\nZCURVE\tTABLE\n"
    "\tPt\tTime\tFreq\tZreal\tZimag\tZsig\tZmod\tZphz\tIdc\tVdc\tIERange\n"
    "\t#\ts\tHz\tohm\tohm\tV\tohm\t°\tA\tV\t#\n"
)


def _eis_rows(n: int) -> list[tuple[int, int, float, float, float]]:
    freqs = np.logspace(4, -0.3, n)
    return [(k, k + 1, float(f), 224.0 + k, -3.0 - 0.5 * k) for k, f in enumerate(freqs)]


def test_rows_whose_first_cells_are_space_separated(tmp_path: Path) -> None:
    # gamry-parser's eispot_data.dta: rows 6..9 read "  6 8 10<TAB>226.885<TAB>..." -
    # spaces lead the row AND separate Pt, Time and Freq; the old reader dropped them (6/10)
    rows = _eis_rows(10)
    lines = []
    for k, t, f, zr, zi in rows:
        rest = f"{zr}\t{zi}\t1\t{abs(complex(zr, zi))}\t-1\t1.4E-006\t1.2992\t10"
        lines.append(f"\t{k}\t{t}\t{f!r}\t{rest}" if k < 6 else f"  {k} {t} {f!r}\t{rest}")
    p = tmp_path / "eispot.dta"
    p.write_text(_EIS_HEAD + "\n".join(lines) + "\n", encoding="latin-1")
    e = read(p)
    assert len(e) == 10
    assert e.metadata.warnings == ()
    np.testing.assert_allclose(e.data[FREQUENCY], [r[2] for r in rows], rtol=1e-15)
    np.testing.assert_allclose(e.data[Z_REAL], [r[3] for r in rows])
    np.testing.assert_allclose(e.data[Z_IMAG], [r[4] for r in rows])


def test_space_led_row_with_too_few_cells_is_counted(tmp_path: Path) -> None:
    rows = _eis_rows(4)
    lines = [f"\t{k}\t{t}\t{f!r}\t{zr}\t{zi}\t1\t1\t-1\t1E-6\t1.3\t10" for k, t, f, zr, zi in rows]
    lines[2] = "  2 3 100"   # cut short: 3 cells of 11
    p = tmp_path / "eispot.dta"
    p.write_text(_EIS_HEAD + "\n".join(lines) + "\n", encoding="latin-1")
    e = read(p)
    assert len(e) == 3
    (w,) = e.metadata.warnings
    assert "1 row(s)" in w and "line 10" in w and "3 cells, expected 11" in w


def test_vfp600_table_timed_from_its_acquisition_frequency(tmp_path: Path) -> None:
    # Virtual Front Panel file: opens with "VFP600" (no EXPLAIN), CRLF, a VFPCURVE table of
    # Voltage / Current and no time column; FREQ 15 Hz sets the sample time 1/15 s
    v = np.linspace(-0.01, 0.03, 20)
    i = np.linspace(5e-11, 5e-10, 20)
    text = ("VFP600\r\nTAG\tVFP600\r\nCTRLMODE\tIQUANT\t1\tControl Mode\r\n"
            "FREQ\tQUANT\t1.50000E+1\tAcquisition Frequency (Hz)\r\nVFPCURVE\tTABLE\r\n"
            "\tVoltage\tCurrent\r\n\tV\tA\r\n"
            + "".join(f"\t{a:.6f}\t{b:.6E}\r\n" for a, b in zip(v, i, strict=True)))
    p = tmp_path / "vfp600.dta"
    p.write_text(text, encoding="latin-1")
    e = read(p)
    assert e.metadata.file_format == "gamry-dta"
    assert len(e) == 20
    np.testing.assert_allclose(e.data[TIME], np.arange(20) / 15.0, rtol=1e-12)
    np.testing.assert_allclose(e.data[VOLTAGE], v, atol=5e-7)
    np.testing.assert_allclose(e.data[CURRENT], i, rtol=1e-6)
    assert any("FREQ" in n for n in e.metadata.notes)


@pytest.mark.parametrize("convention, sign", [(1, 1.0), (0, -1.0)])
def test_square_wave_reads_staircase_and_difference_current(
        tmp_path: Path, convention: int, sign: float) -> None:
    # gamry-parser's squarewave_data.dta: CURVE with Vfwd Vrev Vstep Ifwd Irev Idif; it
    # was refused ("no voltage, current column recognised")
    t = 0.01 * np.arange(1, 11)
    vstep = -0.002 * np.arange(10)
    ifwd = 1e-6 + 1e-8 * np.arange(10)
    irev = -2e-7 + 1e-9 * np.arange(10)
    head = ("EXPLAIN\nTAG\tSQUARE_WAVE\n"
            f"CONVENTION\tIQUANT\t{convention}\tCurrent Convention\nCURVE\tTABLE\t10\n"
            "\tPt\tT\tVfwd\tVrev\tVstep\tIfwd\tIrev\tIdif\tSig\tAch\tIERange\tOver\tTemp\n"
            "\t#\ts\tV\tV\tV\tA\tA\tA\tV\tV\t#\tbits\tdeg C\n")
    body = "".join(
        f"\t{k}\t{t[k]:.2f}\t{vstep[k] + 0.0125:.6f}\t{vstep[k] - 0.0125:.6f}\t{vstep[k]:.6f}"
        f"\t{ifwd[k]:.6E}\t{irev[k]:.6E}\t{ifwd[k] - irev[k]:.6E}\t0\t0\t4\t...........\t25\n"
        for k in range(10))
    p = tmp_path / "swv.dta"
    p.write_text(head + body, encoding="latin-1")
    e = read(p)
    assert e.metadata.technique == "SWV"
    assert len(e) == 10 and e.metadata.warnings == ()
    np.testing.assert_allclose(e.data[TIME], t)
    np.testing.assert_allclose(e.data[VOLTAGE], vstep, atol=1e-9)
    np.testing.assert_allclose(e.data[CURRENT], sign * (ifwd - irev), rtol=1e-6)
    np.testing.assert_allclose(e.data["Ifwd"], sign * ifwd, rtol=1e-6)
    np.testing.assert_allclose(e.data["Irev"], sign * irev, rtol=1e-6)


def test_open_circuit_potential_before_the_scan_is_reported(tmp_path: Path) -> None:
    # gamry-parser's ocvcurve_data.dta: an OCVCURVE table before CURVE1 and the header
    # line "EOC QUANT 0.2834373 Open Circuit (V)"; gamry-parser asserts ocv == 0.2834373
    ocv = "".join(f"\t{k}\t{0.25 * (k + 1)}\t2.8347E-001\t2.8347E-001\t0\t...........\n"
                  for k in range(3))
    cv = "".join(f"\t{k}\t{0.3 + 0.1 * k}\t{0.25 + 0.01 * k:.4f}\t{1e-6 * k:.3E}\t0\t0\t0\t5"
                 "\t...........\n" for k in range(11))
    text = ("EXPLAIN\nTAG\tCV\nOCVCURVE\tTABLE\t3\n\tPt\tT\tVf\tVm\tAch\tOver\n"
            "\t#\ts\tV vs. Ref.\tV\tV\tbits\n" + ocv
            + "EOC\tQUANT\t0.2834373\tOpen Circuit (V)\n"
            "SCANRATE\tQUANT\t5.00000E+001\t&Scan Rate (mV/s)\nCURVE1\tTABLE\t11\n"
            "\tPt\tT\tVf\tIm\tVu\tSig\tAch\tIERange\tOver\n"
            "\t#\ts\tV vs. Ref.\tA\tV\tV\tV\t#\tbits\n" + cv)
    p = tmp_path / "ocvcurve.dta"
    p.write_text(text, encoding="latin-1")
    e = read(p)
    assert e.metadata.header["open_circuit_V"] == 0.2834373
    assert any("EOC" in n and "0.283437" in n for n in e.metadata.notes)
    assert len(e) == 11
    assert any("3 row(s) of table OCVCURVE" in w for w in e.metadata.warnings)
