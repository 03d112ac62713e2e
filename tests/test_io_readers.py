"""Readers for the files issue 10 (item 7) found refused or misread, on real and synthetic files.

Truths, per file (see ../shared/realdata/SOURCES.md and each test):
* the instrument's own counters in the same file: Maccor ``Cap. [Ah]`` and Neware step
  capacities against ∫|I| dt over the step's rows; the date-time column against the test
  time; ``Rec``/``DataPoint``/``Datapoint Number`` against the row count;
* the same measurement read by another reader: the RelaxIS export against its .mpr (galvani);
* analytic values for synthetic files: an R-(R‖C) impedance written in every header
  convention, a current step with a known charge.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nasurf.errors import FileFormatError
from nasurf.io import (
    CURRENT,
    CYCLE,
    FREQUENCY,
    STEP_COUNT,
    STEP_INDEX,
    TIME,
    VOLTAGE,
    Z_IMAG,
    Z_REAL,
    detect_format,
    read,
)
from nasurf.io import table as tb

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
real = pytest.mark.realdata


def _step_charge_Ah(g: pd.DataFrame) -> float:
    # the charge a cycler counts over a step: each row's current over the interval that
    # ends at it (right Riemann sum), as the instruments' counters accumulate
    t = g[TIME].to_numpy()
    return float(np.sum(np.abs(g[CURRENT].to_numpy()[1:]) * np.diff(t)) / 3600.0)


# ---------------------------------------------------------------------------------------
# Maccor text variant (cellpy/maccor_002.txt)


@real
def test_maccor_variant_without_todays_date():
    path = REALDATA / "cellpy/maccor_002.txt"
    assert detect_format(path) == "maccor-text"
    e = read(path)
    d = e.data
    # cellpy: harmonised height == vendor row count; the last record is Rec 7446
    assert len(d) == 7446
    np.testing.assert_array_equal(d["Rec"], np.arange(1, 7447))
    # TestTime is in minutes: against the DPT Time clock (whole seconds) row by row. The
    # clock and the test timer drift apart by 1.6 s over the 63.5 h test: 2 s bound.
    t, u = d[TIME].to_numpy(), d[tb.UNIX_TIME].to_numpy()
    assert np.abs(t - (u - u[0])).max() < 2.0
    assert t[-1] == pytest.approx(3809.841833 * 60)
    assert any("read in min" in n for n in e.metadata.notes)
    # Md: C positive, D negated, R zero (the file writes |I|)
    md = d["Md"].astype(str).to_numpy()
    cur = d[CURRENT].to_numpy()
    assert (cur[md == "C"] > 0).all() and (cur[md == "D"] < 0).all()
    assert (cur[md == "R"] == 0).all()
    assert (np.abs(cur[md != "R"]) == pytest.approx(0.16e-3, rel=0.02))
    # two charge/discharge cycles by 'Cycle C'; the step column kept for the step model
    assert sorted(set(d[CYCLE])) == [1, 2]
    assert sorted(set(d[STEP_INDEX])) == [1, 4, 5]
    assert {"Md", "ES", "Cycle P", "StepTime"} <= set(d.columns)
    assert d[VOLTAGE].max() == pytest.approx(3.8)
    # the instrument's per-step capacity against ∫|I| dt: rows every <= 30 s at 0.16 mA
    # make the Riemann sum good to ~1e-5 relative; 5e-5 bound
    for (_c, s), g in d.groupby([CYCLE, STEP_INDEX]):
        if s == 1:
            continue
        counter = g[tb.CHARGE_CAPACITY].iloc[-1] + g[tb.DISCHARGE_CAPACITY].iloc[-1]
        assert _step_charge_Ah(g) == pytest.approx(counter, rel=5e-5)
    assert e.metadata.header["Procedure"] == "CW_MZ_SIMBA_CT.000"


# ---------------------------------------------------------------------------------------
# Neware BTSDA three-level "regular" CSV


@real
def test_neware_regular_export_three_levels():
    path = REALDATA / "cellpy/nw_regular_export_ife_example.csv"
    assert detect_format(path) == "neware-btsda-csv"
    e = read(path)
    d = e.data
    assert len(d) == 9295
    np.testing.assert_array_equal(d["DataPoint"].astype(int), np.arange(1, 9296))
    assert d[CYCLE].nunique() == 20 and d[CYCLE].max() == 20
    steps = e.metadata.header["steps"]
    # 80 step rows plus step 1, which BTSDA writes on cycle 1's line: Step Number 1..81
    assert len(steps) == 81
    assert sorted(set(d[STEP_COUNT])) == list(range(1, 82))
    assert set(d["Step Type"]) == {"Rest", "CC Chg", "CC DChg"}
    assert np.abs(d[CURRENT]).max() <= 0.5
    # 3.90-4.70 V cut-offs, overshot by one 0.1 mV quantum
    assert d[VOLTAGE].min() >= 3.9 - 1.5e-4 and d[VOLTAGE].max() <= 4.7 + 1.5e-4
    assert d[TIME].iloc[-1] / 3600 == pytest.approx(27.93, abs=0.01)
    # Total Time against the Date clock (both whole seconds; the clock drifts 6 s in 28 h)
    t, u = d[TIME].to_numpy(), d[tb.UNIX_TIME].to_numpy()
    assert np.abs(t - (u - u[0])).max() <= 10
    # charge is anodic: 'CC Chg' rows positive, 'CC DChg' negative (Neware's signs kept)
    assert (d.loc[d["Step Type"] == "CC Chg", CURRENT] > 0).all()
    assert (d.loc[d["Step Type"] == "CC DChg", CURRENT] < 0).all()
    for st in steps:
        g = d[d[STEP_COUNT] == int(st["Step Number"])]
        assert (g["Step Type"] == st["Step Type"]).all()
        counter = float(st["Capacity(Ah)"])
        ours = g[tb.CHARGE_CAPACITY].iloc[-1] + g[tb.DISCHARGE_CAPACITY].iloc[-1]
        # the step row prints 5 decimals of the same counter
        assert ours == pytest.approx(counter, abs=5e-6 + 1e-12)
        # ∫|I| dt on 1-s time stamps: 0.5 A x 1 s = 1.4e-4 Ah of rounding at most
        assert _step_charge_Ah(g) == pytest.approx(counter, abs=1.4e-4)
    # cycle rows: Chg. Cap. is the sum of the cycle's charge steps
    for cyc in e.metadata.header["cycles"]:
        g = d[d[CYCLE] == int(cyc["Cycle Index"])]
        chg = g.groupby(STEP_COUNT)[tb.CHARGE_CAPACITY].last().sum()
        assert chg == pytest.approx(float(cyc["Chg. Cap.(Ah)"]), abs=1e-5)


# ---------------------------------------------------------------------------------------
# Neware Excel export, second part of a split export


@real
def test_neware_xlsx_split_export():
    path = next((REALDATA / "BatteryABN").glob("*Test3_1*.xlsx"))
    assert detect_format(path) == "neware-xlsx"
    e = read(path)
    d = e.data
    dp = d["DataPoint"].to_numpy()
    assert dp[0] == 1048557 and len(d) == dp[-1] - dp[0] + 1 == 13763
    assert any("split export" in n and "1048557" in n for n in e.metadata.notes)
    first = d.iloc[0]
    assert (first[CYCLE], first[STEP_INDEX], first["Step Type"]) == (13, 15, "CCCV Chg")
    assert first[TIME] == pytest.approx(288 * 3600 + 21 * 60 + 32.5)   # 288:21:32.500
    # the CC discharge step lies whole in this file: instrument counter vs ∫|I| dt
    # (counter printed to 1e-4 Ah)
    g = d[d[STEP_INDEX] == 17]
    assert (g["Step Type"] == "CC DChg").all() and (g[CURRENT] < 0).all()
    assert _step_charge_Ah(g) == pytest.approx(g[tb.DISCHARGE_CAPACITY].iloc[-1], abs=1e-4)
    # the CCCV charge began in the first part: the counter's increase over these rows
    g = d[d[STEP_INDEX] == 15]
    rise = g[tb.CHARGE_CAPACITY].iloc[-1] - g[tb.CHARGE_CAPACITY].iloc[0]
    assert _step_charge_Ah(g) == pytest.approx(rise, abs=1e-4)


# ---------------------------------------------------------------------------------------
# VDF CSV with a unit line


@real
def test_vdf_csv_units_on_second_row():
    path = next((REALDATA / "BatteryABN").glob("*RPT_1*.csv"))
    assert detect_format(path) == "vdf-csv"
    e = read(path)
    d = e.data
    assert len(d) == d["Datapoint Number"].iloc[-1] == 16118
    # Timestamp (epoch ms) == Start Time + Test Time, to the millisecond
    start = float(e.metadata.header["Start Time"]) / 1000.0
    np.testing.assert_allclose(d[tb.UNIX_TIME] - start, d[TIME], rtol=0, atol=1.5e-3)
    assert d[tb.TEMPERATURE].between(20, 40).all()
    assert any("no electrochemical signal" in w for w in e.metadata.warnings)


# ---------------------------------------------------------------------------------------
# ampworks ICI: unit words as headers


@real
def test_unit_word_headers_ici():
    e = read(REALDATA / "ampworks/ici_charge.csv")
    d = e.data
    assert len(d) == 21555
    assert d[TIME].iloc[-1] / 3600 == pytest.approx(11.5, abs=0.1)
    assert d[CURRENT].max() == pytest.approx(1.89e-3, rel=0.01)
    assert 3.10 <= d[VOLTAGE].min() < 3.11 and 4.09 < d[VOLTAGE].max() <= 4.10
    on = d[CURRENT].to_numpy() > 0
    assert int(np.sum(on[1:] & ~on[:-1]) + on[0]) == 133   # current-on pulses


# ---------------------------------------------------------------------------------------
# RelaxIS export and polar EIS CSV (hybrid-drt)


@real
def test_relaxis_equals_its_mpr():
    txt = read(REALDATA / "hybrid-drt/PEIS_LPSCl_IonBlocking_-25C_RelaxIS.txt")
    mpr = read(REALDATA / "hybrid-drt/PEIS_LPSCl_IonBlocking_-25C.mpr")
    assert txt.metadata.file_format == "relaxis-txt" and txt.is_impedance
    a = txt.data
    assert len(a) == 79
    assert a[FREQUENCY].iloc[0] == pytest.approx(0.1000218, rel=1e-6)
    assert a[Z_REAL].iloc[0] == pytest.approx(1799427.6, rel=1e-7)
    assert a[Z_IMAG].iloc[0] == pytest.approx(-8093785.5, rel=1e-7)
    b = mpr.data.sort_values(FREQUENCY)
    for c in (FREQUENCY, Z_REAL, Z_IMAG):
        np.testing.assert_allclose(a.sort_values(FREQUENCY)[c].to_numpy(), b[c].to_numpy(),
                                   rtol=1e-5, err_msg=c)


@real
def test_polar_eis_csv_ten_spectra():
    from nasurf.analysis.eis.analyze import split_spectra

    e = read(REALDATA / "hybrid-drt/Sample2_PEIS_AtRest.csv")
    d = e.data
    assert len(d) == 900 and e.is_impedance and e.is_time_series
    sweep = d[np.isfinite(d[FREQUENCY])]
    assert len(sweep) == 890            # 10 x 89 points; one f = 0 row closes each loop
    first = sweep.iloc[0]
    phi = np.deg2rad(-20.75998)
    assert first[Z_REAL] == pytest.approx(50.752583 * np.cos(phi), rel=1e-12)
    assert first[Z_IMAG] == pytest.approx(50.752583 * np.sin(phi), rel=1e-12)
    assert (sweep[Z_IMAG] < 0).mean() > 0.9            # capacitive: Z'' < 0
    spectra, _notes = split_spectra(e)
    assert len(spectra) == 10
    assert sorted(set(sweep["loop_index"])) == list(range(10))
    assert all(len(s.frequencies_Hz) == 89 for s in spectra)


# ---------------------------------------------------------------------------------------
# Synthetic: EIS tables in every header convention (R0 + R1 || C1, known exactly)

_F = np.logspace(5, -1, 25)
_Z = 10.0 + 100.0 / (1 + 1j * 2 * np.pi * _F * 100.0 * 1e-4)


def _write(path: Path, header: list[str], cols: list[np.ndarray], sep: str = ",",
           decimal: str = ".") -> Path:
    lines = [sep.join(header)]
    for row in zip(*cols, strict=True):
        cells = [repr(float(v)) for v in row]
        if decimal == ",":
            cells = [c.replace(".", ",") for c in cells]
        lines.append(sep.join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("header,sign", [
    (["f", "Z'", "Z''"], 1.0),
    (["freq", "Re(Z)", "Im(Z)"], 1.0),
    (["Frequency (Hz)", "Z' (Ohm)", "-Z'' (Ohm)"], -1.0),
    (["freq/Hz", "Re(Z)/Ohm", "-Im(Z)/Ohm"], -1.0),
    (["Frequency / Hz", "Zreal", "-Zimag"], -1.0),
    (["frequency [Hz]", "Z_re [ohm]", "Z_im [ohm]"], 1.0),
])
def test_eis_csv_header_conventions(tmp_path: Path, header: list[str], sign: float):
    path = _write(tmp_path / "z.csv", header, [_F, _Z.real, sign * _Z.imag])
    e = read(path)
    assert e.is_impedance and not e.is_time_series and e.metadata.technique == "EIS"
    np.testing.assert_allclose(e.data[FREQUENCY], _F, rtol=1e-15)
    np.testing.assert_allclose(e.data[Z_REAL], _Z.real, rtol=1e-15)
    np.testing.assert_allclose(e.data[Z_IMAG], _Z.imag, rtol=1e-15)   # Im Z, always
    assert (e.data[Z_IMAG] < 0).all()
    if not any("/" in h or "(" in h.replace("Re(Z)", "").replace("Im(Z)", "") or "[" in h
               for h in header):
        assert any("without a unit" in w for w in e.metadata.warnings)


def test_eis_polar_table_and_xlsx(tmp_path: Path):
    import openpyxl

    mag, phase = np.abs(_Z), np.degrees(np.angle(_Z))
    e = read(_write(tmp_path / "polar.csv", ["Frequency (Hz)", "|Z| (Ohm)", "Phase (deg)"],
                    [_F, mag, phase]))
    np.testing.assert_allclose(e.data[Z_REAL], _Z.real, rtol=1e-12)
    np.testing.assert_allclose(e.data[Z_IMAG], _Z.imag, rtol=1e-12)
    # "-Phase" holds -arg Z
    e = read(_write(tmp_path / "polar2.csv", ["freq", "|Z|", "-Phase"], [_F, mag, -phase]))
    np.testing.assert_allclose(e.data[Z_IMAG], _Z.imag, rtol=1e-12)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["f / Hz", "Z' / Ohm", "-Z'' / Ohm"])
    for row in zip(_F, _Z.real, -_Z.imag, strict=True):
        ws.append([float(v) for v in row])
    wb.save(tmp_path / "z.xlsx")
    x = read(tmp_path / "z.xlsx")
    np.testing.assert_allclose(x.data[Z_IMAG], _Z.imag, rtol=1e-15)


def test_eis_minus_z_under_a_plain_name(tmp_path: Path):
    # -Z'' written under the name Z'': corrected against the phase column, with a warning
    phase = np.degrees(np.angle(_Z))
    e = read(_write(tmp_path / "z.csv", ["f", "Z'", "Z''", "Phase"],
                    [_F, _Z.real, -_Z.imag, phase]))
    np.testing.assert_allclose(e.data[Z_IMAG], _Z.imag, rtol=1e-15)
    assert any("Z'' negated" in w for w in e.metadata.warnings)
    # without a phase column it cannot be decided: kept as written, with a warning
    e = read(_write(tmp_path / "z2.csv", ["f", "Z'", "Z''"], [_F, _Z.real, -_Z.imag]))
    np.testing.assert_allclose(e.data[Z_IMAG], -_Z.imag, rtol=1e-15)
    assert any("positive on 25 of 25" in w for w in e.metadata.warnings)


def test_eis_decimal_commas(tmp_path: Path):
    # de_DE: ';' separator and decimal commas are read
    e = read(_write(tmp_path / "de2.csv", ["freq", "Z'", "-Z''"], [_F, _Z.real, -_Z.imag],
                    sep=";", decimal=","))
    np.testing.assert_allclose(e.data[Z_REAL], _Z.real, rtol=1e-15)
    np.testing.assert_allclose(e.data[Z_IMAG], _Z.imag, rtol=1e-15)
    # ',' as both separator and decimal mark cannot be read: refused, naming the locale
    path = _write(tmp_path / "bad.csv", ["freq", "Z'", "-Z''"], [_F, _Z.real, -_Z.imag],
                  sep=",", decimal=",")
    with pytest.raises(FileFormatError, match="decimal commas") as info:
        read(path)
    assert str(path) in str(info.value) and "de_DE" in str(info.value)


def test_relaxis_two_spectra_decimal_commas(tmp_path: Path):
    lines = ["RelaxIS 3.0 Spectrum export", "Date: 12/16/2025 2:29:15 PM",
             "Data: Frequency\tData: Z'\tData: Z''\tData: |Z|\tData: Theta (Z)"]
    for k in range(2):
        lines.append(f"DC=0, TM={k}\tModel: Unassigned Spectra\t(WE/RE Spectrum) s{k}\t\t")
        for f, z in zip(_F, _Z * (1 + k), strict=True):
            cells = [f, z.real, z.imag, abs(z), np.degrees(np.angle(z))]
            lines.append("\t".join(repr(float(c)).replace(".", ",") for c in cells))
    path = tmp_path / "r.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    e = read(path)
    assert e.metadata.file_format == "relaxis-txt" and len(e) == 50
    np.testing.assert_array_equal(e.data["spectrum"], np.repeat([1, 2], 25))
    np.testing.assert_allclose(e.data[Z_IMAG], np.concatenate([_Z.imag, 2 * _Z.imag]),
                               rtol=1e-15)


# ---------------------------------------------------------------------------------------
# Synthetic Neware: per-step Time with Cumulative Time, unit-less exports, split workbook


def _neware_rows(n_steps: int = 3, per: int = 5) -> list[dict[str, object]]:
    rows, total, dp = [], 0.0, 1
    kinds = ["Rest", "CC DChg", "CC Chg"]
    for s in range(n_steps):
        kind = kinds[s % 3]
        cur = {"Rest": 0.0, "CC DChg": -0.002, "CC Chg": 0.002}[kind]
        for k in range(per):
            t = 60.0 * k
            rows.append({"DataPoint": dp, "Cycle Index": 1, "Step Index": s + 1,
                         "Step Type": kind, "Time": f"00:{k:02d}:00",
                         "Total Time": total + t, "Current": cur, "Voltage": 1.0 - 0.01 * k,
                         "Capacity": abs(cur) * t / 3600.0})
            dp += 1
        total += 60.0 * per
    return rows


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def test_neware_cumulative_time_column(tmp_path: Path):
    rows = _neware_rows()
    lines = ["DataPoint,Cycle Index,Step Index,Step Type,Time,Cumulative Time,Current(A),"
             "Voltage(V),Capacity(Ah)"]
    for r in rows:
        lines.append(f"{r['DataPoint']},{r['Cycle Index']},{r['Step Index']},{r['Step Type']},"
                     f"{r['Time']},{_hms(r['Total Time'])},{r['Current']},{r['Voltage']},"
                     f"{r['Capacity']}")
    path = tmp_path / "nw.csv"
    path.write_text("\n".join(lines) + "\n")
    assert detect_format(path) == "neware-btsda-csv"
    e = read(path)
    np.testing.assert_allclose(e.data[TIME], [r["Total Time"] for r in rows])
    assert list(e.data["Step Type"].iloc[:6]) == ["Rest"] * 5 + ["CC DChg"]
    # the discharge step's capacity counter equals 2 mA x 4 min
    assert e.data[tb.DISCHARGE_CAPACITY].max() == pytest.approx(0.002 * 240 / 3600)
    # only the per-step Time: refused with a hint that names it as a per-step time
    cut = tmp_path / "nw_step_time.csv"
    cut.write_text("\n".join(",".join(c for j, c in enumerate(ln.split(",")) if j != 5)
                             for ln in lines) + "\n")
    with pytest.raises(FileFormatError, match="per-step time") as info:
        read(cut)
    assert "'Time'" in str(info.value) and str(cut) in str(info.value)


def test_neware_unitless_csv_default_units(tmp_path: Path):
    rows = _neware_rows()
    header = "DataPoint,Cycle Index,Step Index,Step Type,Time,Total Time,Current,Voltage,Capacity"
    lines = [header] + [",".join(str(r[k]) if k != "Total Time" else _hms(r[k])
                                 for k in ("DataPoint", "Cycle Index", "Step Index", "Step Type",
                                           "Time", "Total Time", "Current", "Voltage",
                                           "Capacity")) for r in rows]
    path = tmp_path / "nw.csv"
    path.write_text("\n".join(lines) + "\n")
    e = read(path)
    np.testing.assert_allclose(e.data[CURRENT], [r["Current"] for r in rows])
    assert any("default units" in w and "'Current' as A" in w for w in e.metadata.warnings)
    # mV in a unit-less Voltage column is caught, not read as kilovolts of cell voltage
    mv = tmp_path / "nw_mv.csv"
    mv.write_text("\n".join([header] + [ln.replace(",1.0,", ",1000.0,")
                                        .replace(",0.99,", ",990.0,") for ln in lines[1:]]))
    with pytest.raises(FileFormatError, match="mV"):
        read(mv)


def test_neware_xlsx_two_record_sheets_with_a_gap(tmp_path: Path):
    import openpyxl

    rows = _neware_rows(n_steps=3, per=4)
    header = ["DataPoint", "Cycle Index", "Step Index", "Step Type", "Time", "Total Time",
              "Current(A)", "Voltage(V)", "Capacity(Ah)", "Chg. Cap.(Ah)", "DChg. Cap.(Ah)"]
    wb = openpyxl.Workbook()
    wb.active.title = "test"
    sheets = [wb.create_sheet("record"), wb.create_sheet("record1")]
    kept = [r for r in rows if r["DataPoint"] != 7]   # one record missing from the export
    for i, r in enumerate(kept):
        ws = sheets[0] if i < 6 else sheets[1]
        if ws.max_row == 1 and ws["A1"].value is None:
            ws.append(header)
        chg = r["Capacity"] if r["Current"] > 0 else 0.0
        dchg = r["Capacity"] if r["Current"] < 0 else 0.0
        ws.append([r["DataPoint"], 1, r["Step Index"], r["Step Type"], r["Time"],
                   _hms(r["Total Time"]), r["Current"], r["Voltage"], r["Capacity"], chg, dchg])
    wb.save(tmp_path / "nw.xlsx")
    e = read(tmp_path / "nw.xlsx")
    assert e.metadata.file_format == "neware-xlsx" and len(e) == len(kept) == 11
    assert any("1 DataPoint number(s) missing" in w for w in e.metadata.warnings)
    assert any("2 record sheets" in n for n in e.metadata.notes)
    np.testing.assert_allclose(e.data[TIME], [r["Total Time"] for r in kept])


def test_unit_word_headers(tmp_path: Path):
    path = tmp_path / "w.csv"
    path.write_text("Hours,Millivolts,Milliamps\n0,1000,0\n0.5,900,-1\n1,800,-1\n")
    e = read(path)
    np.testing.assert_allclose(e.data[TIME], [0, 1800, 3600])
    np.testing.assert_allclose(e.data[VOLTAGE], [1.0, 0.9, 0.8])
    np.testing.assert_allclose(e.data[CURRENT], [0, -1e-3, -1e-3])


# ---------------------------------------------------------------------------------------
# Decimal commas: the real exports rewritten as a de_DE locale writes them (in tmp_path)


@real
def test_neware_regular_export_in_a_decimal_comma_locale(tmp_path: Path):
    src = REALDATA / "cellpy/nw_regular_export_ife_example.csv"
    text = src.read_text(encoding="latin-1")
    de = tmp_path / "nw_de.csv"
    de.write_text(text.replace(",", ";").replace(".", ","), encoding="latin-1")
    a, b = read(src), read(de)
    assert any("decimal commas" in n for n in b.metadata.notes)
    for c in (TIME, VOLTAGE, CURRENT, tb.CHARGE_CAPACITY, tb.DISCHARGE_CAPACITY, STEP_COUNT):
        np.testing.assert_array_equal(a.data[c].to_numpy(), b.data[c].to_numpy(), err_msg=c)


@real
def test_maccor_variant_in_a_decimal_comma_locale(tmp_path: Path):
    src = REALDATA / "cellpy/maccor_002.txt"
    lines = src.read_bytes().split(b"\n")
    header = next(i for i, ln in enumerate(lines) if ln.startswith(b"Rec\t"))
    body = [ln.replace(b".", b",") for ln in lines[header + 1:]]
    de = tmp_path / "maccor_de.txt"
    de.write_bytes(b"\n".join(lines[:header + 1] + body))
    a, b = read(src), read(de)
    for c in (TIME, VOLTAGE, CURRENT, tb.CHARGE_CAPACITY, CYCLE):
        np.testing.assert_array_equal(a.data[c].to_numpy(), b.data[c].to_numpy(), err_msg=c)


def test_neware_unitless_current_in_mA_is_caught(tmp_path: Path):
    # a unit-less export written in mA (capacity in Ah): the assumed A would be 1000x off
    rows = _neware_rows()
    header = "DataPoint,Cycle Index,Step Index,Step Type,Time,Total Time,Current,Voltage,Capacity"
    lines = [header] + [",".join(str(r[k] * 1000 if k == "Current" else r[k])
                                 if k != "Total Time" else _hms(r[k])
                                 for k in ("DataPoint", "Cycle Index", "Step Index", "Step Type",
                                           "Time", "Total Time", "Current", "Voltage",
                                           "Capacity")) for r in rows]
    path = tmp_path / "nw_ma.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FileFormatError, match="disagree") as info:
        read(path)
    assert "1e+03 x" in str(info.value)


def test_relaxis_cut_row_is_counted(tmp_path: Path):
    lines = ["RelaxIS 3.0 Spectrum export", "Data: Frequency\tData: Z'\tData: Z''",
             "DC=0\tModel: Unassigned Spectra"]
    lines += [f"{float(f)!r}\t{float(z.real)!r}\t{float(z.imag)!r}"
              for f, z in zip(_F, _Z, strict=True)]
    lines[10] = lines[10].rsplit("\t", 1)[0]          # a cut row
    path = tmp_path / "r.txt"
    path.write_text("\n".join(lines) + "\n")
    e = read(path)
    assert len(e) == 24
    assert any("left out 1 line(s)" in w and "line 11" in w for w in e.metadata.warnings)


def test_headerless_space_separated_eis(tmp_path: Path):
    path = tmp_path / "z.txt"
    path.write_text("".join(f"{float(f)!r}   {float(z.real)!r}  {float(z.imag)!r} \n"
                            for f, z in zip(_F, _Z, strict=True)))
    e = read(path)
    assert e.metadata.file_format == "eis-csv"
    np.testing.assert_allclose(e.data[Z_IMAG], _Z.imag, rtol=1e-15)


@real
def test_maccor_time_of_day_is_not_a_unix_time():
    # battery-data-toolkit's maccor_example.002 prints DPt Time as "16:05:31" (no date)
    e = read(REALDATA / "battery-data-toolkit/maccor_example.002")
    assert tb.UNIX_TIME not in e.data.columns
    assert any("without a date" in n for n in e.metadata.notes)
    # .001 prints dates: the test time (Test (Min)) runs with that clock
    d = read(REALDATA / "battery-data-toolkit/maccor_example.001").data
    u = d[tb.UNIX_TIME].to_numpy()
    np.testing.assert_allclose(d[TIME], u - u[0], atol=1.0)   # whole-second clock


def test_neware_text_export_tab_preamble_cumulative_time(tmp_path: Path):
    # cellpy's neware_txt layouts: tab-separated, a few preamble lines, per-step "Time" and
    # a running "Cumulative Time" (both h:mm:ss), Chg./DChg. Cap. columns
    rows = _neware_rows()
    header = ["DataPoint", "Cycle Index", "Step Index", "Step Type", "Time", "Cumulative Time",
              "Current(A)", "Voltage(V)", "Chg. Cap.(Ah)", "DChg. Cap.(Ah)", "Date"]
    lines = ["Channel\t5-1", "Barcode\t", "Start time\t2024-01-01 10:00:00", "", "\t".join(header)]
    for r in rows:
        chg = r["Capacity"] if r["Current"] > 0 else 0.0
        dchg = r["Capacity"] if r["Current"] < 0 else 0.0
        stamp = pd.Timestamp("2024-01-01 10:00:00") + pd.Timedelta(seconds=r["Total Time"])
        lines.append("\t".join(str(v) for v in (
            r["DataPoint"], 1, r["Step Index"], r["Step Type"], r["Time"],
            _hms(r["Total Time"]), r["Current"], r["Voltage"], chg, dchg, stamp)))
    path = tmp_path / "nw.txt"
    path.write_text("\n".join(lines) + "\n")
    assert detect_format(path) == "neware-btsda-csv"
    e = read(path)
    np.testing.assert_allclose(e.data[TIME], [r["Total Time"] for r in rows])
    u = e.data[tb.UNIX_TIME].to_numpy()
    np.testing.assert_allclose(u - u[0], e.data[TIME])
    assert e.metadata.header["preamble"][0] == "Channel\t5-1"


def test_neware_xlsx_text_cells_with_decimal_commas(tmp_path: Path):
    import openpyxl

    rows = _neware_rows(n_steps=2, per=4)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "record"
    ws.append(["DataPoint", "Cycle Index", "Step Index", "Step Type", "Time", "Total Time",
               "Current(A)", "Voltage(V)", "Capacity(Ah)"])
    for r in rows:
        ws.append([r["DataPoint"], 1, r["Step Index"], r["Step Type"], r["Time"],
                   _hms(r["Total Time"]), str(r["Current"]).replace(".", ","),
                   str(r["Voltage"]).replace(".", ","), str(r["Capacity"]).replace(".", ",")])
    wb.save(tmp_path / "nw.xlsx")
    e = read(tmp_path / "nw.xlsx")
    np.testing.assert_allclose(e.data[CURRENT], [r["Current"] for r in rows])
    np.testing.assert_allclose(e.data[VOLTAGE], [r["Voltage"] for r in rows])
    assert any("decimal commas" in n for n in e.metadata.notes)


@pytest.mark.parametrize("unit,scale", [("Ohm", 1.0), ("kOhm", 1e3), ("MOhm", 1e6),
                                        ("mOhm", 1e-3), ("Ω", 1.0), ("kΩ", 1e3), ("MΩ", 1e6)])
def test_impedance_units(tmp_path: Path, unit: str, scale: float):
    path = _write(tmp_path / "z.csv", ["f / Hz", f"Z' / {unit}", f"-Z'' / {unit}"],
                  [_F, _Z.real / scale, -_Z.imag / scale])
    e = read(path)
    np.testing.assert_allclose(e.data[Z_REAL], _Z.real, rtol=1e-14)
    np.testing.assert_allclose(e.data[Z_IMAG], _Z.imag, rtol=1e-14)


@real
@pytest.mark.parametrize("name,cut,expect", [
    ("cellpy/maccor_002.txt", 50000, "looks truncated; that line was dropped"),
    ("cellpy/nw_regular_export_ife_example.csv", 20000, "looks truncated; that line was dropped"),
])
def test_cut_exports_say_what_they_left(tmp_path: Path, name: str, cut: int, expect: str):
    # a copy cut mid-row (an interrupted transfer): read, and the cut row is counted
    path = tmp_path / Path(name).name
    path.write_bytes((REALDATA / name).read_bytes()[:cut])
    e = read(path)
    assert any(expect in w for w in e.metadata.warnings)
    if "maccor" in name:
        assert any("read in min" in n for n in e.metadata.notes)   # the clock still decides


def test_neware_btsda7_detail_sheet(tmp_path: Path):
    # BTSDA 7.x workbooks: "Detail_<unit>_<channel>_<test>" record sheets, the step time
    # "Time(h:min:s.ms)", the clock "Realtime", mA and mAh columns; no running time
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "Info"
    ws = wb.create_sheet("Detail_67_1_1")
    ws.append(["Record ID", "Realtime", "Time(h:min:s.ms)", "Step ID", "Cycle ID",
               "Current(mA)", "Voltage(V)", "Capacitance_Chg(mAh)", "Capacitance_DChg(mAh)"])
    t0 = pd.Timestamp("2020-05-01 08:00:00")
    for k in range(6):
        step = 1 if k < 3 else 2
        cur = 0.0 if step == 1 else -2.0
        ts = (t0 + pd.Timedelta(seconds=60 * k)).strftime("%Y-%m-%d %H:%M:%S")
        ws.append([k + 1, ts, f"0:{(k % 3):02d}:00.000", step, 1, cur, 1.0 - 0.01 * k, 0.0,
                   abs(cur) * 60 * (k % 3) / 3600])
    wb.save(tmp_path / "nw7.xlsx")
    e = read(tmp_path / "nw7.xlsx")
    assert e.metadata.file_format == "neware-xlsx"
    np.testing.assert_allclose(e.data[TIME], 60.0 * np.arange(6))
    np.testing.assert_allclose(e.data[CURRENT], [0, 0, 0, -2e-3, -2e-3, -2e-3])
    np.testing.assert_array_equal(e.data[STEP_INDEX], [1, 1, 1, 2, 2, 2])
    assert e.data[tb.DISCHARGE_CAPACITY].iloc[-1] == pytest.approx(2e-3 * 120 / 3600)
    assert any("Test Time from the date-time column" in n for n in e.metadata.notes)


@real
@pytest.mark.parametrize("name,old,new,expect", [
    # a flipped digit in a column the canonical table does not use (Neware's power)
    ("cellpy/nw_regular_export_ife_example.csv", b"13:28:47,0.00000,", b"13:28:47,0.0000x,",
     "column 'Power(W)' are not numbers"),
    # a flipped digit in a RelaxIS frequency: the row is left out and counted, not taken
    # for a spectrum label
    ("hybrid-drt/PEIS_LPSCl_IonBlocking_-25C_RelaxIS.txt", b"10.272860527038574\t",
     b"10.2728605270385#4\t", "left out 1 line(s)"),
])
def test_a_damaged_cell_is_counted(tmp_path: Path, name: str, old: bytes, new: bytes,
                                   expect: str):
    raw = (REALDATA / name).read_bytes()
    assert raw.count(old) == 1
    path = tmp_path / Path(name).name
    path.write_bytes(raw.replace(old, new))
    intact, damaged = read(REALDATA / name), read(path)
    assert any(expect in w for w in damaged.metadata.warnings)
    assert len(damaged) == len(intact) - (1 if "RelaxIS" in name else 0)
