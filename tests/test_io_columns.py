"""Header parsing, unit conversion, generic CSV/XLSX reading and column maps, on files
built here (the truth is the number written into the file and pint's unit factors)."""

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
    TEMPERATURE,
    TIME,
    VOLTAGE,
    Z_IMAG,
    Z_REAL,
    detect_format,
    read,
    read_many,
    supported_formats,
)
from nasurf.io.columns import canonical_for, split_header


@pytest.mark.parametrize(("header", "name", "unit"), [
    ("Voltage / V", "Voltage", "V"),
    ("Ewe/V", "Ewe", "V"),
    ("(Q-Qo)/mA.h", "(Q-Qo)", "mA.h"),
    ("Current (mA)", "Current", "mA"),
    ("Voltage [V]", "Voltage", "V"),
    ("U[V]", "U", "V"),
    ("test_time_s", "test_time", "s"),
    ("voltage_volt", "voltage", "volt"),
    ("Cycle_Index", "Cycle_Index", None),
])
def test_split_header(header, name, unit):
    assert split_header(header) == (name, unit)


def test_canonical_guesses_and_bioLogic_sign():
    assert canonical_for("-Im(Z)/Ohm").sign == -1.0
    assert canonical_for("Temperature (°C)").target == TEMPERATURE
    assert canonical_for("Z''(b)").target == Z_IMAG
    assert canonical_for("nonsense column") is None


def write(tmp: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    p = tmp / name
    p.write_bytes(text.encode(encoding))
    return p


@pytest.mark.parametrize("header", [
    "time/s,Ewe/V,I/mA",
    "Test Time / s,Voltage / V,Current / mA",
    "Time (s),Voltage [V],Current (mA)",
    "time_s,voltage_V,current_mA",
])
def test_unit_bearing_csv_without_mapping(tmp_path, header):
    p = write(tmp_path, "x.csv", f"{header}\n0,0.5,-1.5\n60,0.4,-1.5\n120,0.3,2.0\n")
    e = read(p)
    np.testing.assert_array_equal(e.data[TIME], [0, 60, 120])
    np.testing.assert_allclose(e.data[CURRENT], [-1.5e-3, -1.5e-3, 2.0e-3], rtol=1e-15)
    np.testing.assert_array_equal(e.data[VOLTAGE], [0.5, 0.4, 0.3])


def test_units_converted_by_pint(tmp_path):
    p = write(tmp_path, "x.csv", "Time (h);Voltage (mV);Current (µA);Temp (K)\n"
                                "0;500;-10;298,15\n0,5;400;-10;300,15\n", "windows-1252")
    e = read(p)
    np.testing.assert_allclose(e.data[TIME], [0, 1800])
    np.testing.assert_allclose(e.data[VOLTAGE], [0.5, 0.4])
    np.testing.assert_allclose(e.data[CURRENT], [-1e-5, -1e-5])
    np.testing.assert_allclose(e.data[TEMPERATURE], [25.0, 27.0], atol=1e-12)
    assert any("decimal commas" in n for n in e.metadata.notes)


def test_preamble_and_unknown_columns_kept_with_warning(tmp_path):
    p = write(tmp_path, "x.txt", "Instrument: homemade\nOperator: me\n\n"
                                "Time (s)\tE (V)\tI (A)\tMystery\n0\t1\t0.1\t7\n1\t1.1\t0.1\t8\n")
    e = read(p)
    assert list(e.data["Mystery"]) == [7, 8]
    assert any("Mystery" in w for w in e.metadata.warnings)


def test_column_map_with_source_units(tmp_path):
    p = write(tmp_path, "x.csv", "Zeit,U,Strom,Zyklus\n0,3.0,100,1\n2,3.1,100,1\n")
    with pytest.raises(FileFormatError, match="column_map"):
        read(p)
    e = read(p, column_map={"Zeit": "Test Time / min", "U": "Voltage / V",
                            "Strom": "Current / uA", "Zyklus": "Cycle Count / 1"})
    np.testing.assert_array_equal(e.data[TIME], [0, 120])
    np.testing.assert_allclose(e.data[CURRENT], [1e-4, 1e-4])
    assert e.data[CYCLE].dtype == np.int64
    with pytest.raises(FileFormatError, match="not a canonical quantity"):
        read(p, column_map={"Zeit": "Zeit / s"})
    with pytest.raises(FileFormatError, match="does not have"):
        read(p, column_map={"Time": "Test Time / s"})
    with pytest.raises(FileFormatError, match="has no unit"):
        read(p, column_map={"Zeit": "Test Time"})


def test_wrong_unit_dimension_is_an_error(tmp_path):
    p = write(tmp_path, "x.csv", "a,b,c\n0,1,2\n1,1,2\n")
    with pytest.raises(FileFormatError, match="not a unit of"):
        read(p, column_map={"a": "Test Time / V", "b": "Voltage / V", "c": "Current / A"})


def test_durations_and_datetimes_as_time(tmp_path):
    p = write(tmp_path, "x.csv", "Test Time,Voltage (V),Current (A)\n"
                                "0d 00:00:00.5,1,0\n1d 01:00:00,1,0\n")
    e = read(p)
    np.testing.assert_allclose(e.data[TIME], [0.5, 90000.0])
    p = write(tmp_path, "y.csv", "Time,Voltage (V),Current (A)\n"
                                "2024-01-01 10:00:00,1,0\n2024-01-01 10:00:30,1,0\n")
    e = read(p)
    np.testing.assert_allclose(e.data[TIME], [0.0, 30.0])
    assert e.data["Unix Time / s"].iloc[0] == pd.Timestamp("2024-01-01 10:00:00").timestamp()


def test_time_going_backwards_is_an_error(tmp_path):
    p = write(tmp_path, "x.csv", "time/s,Ewe/V,I/mA\n0,1,0\n10,1,0\n5,1,0\n")
    with pytest.raises(FileFormatError, match="time goes backwards at data row 2"):
        read(p)


def test_rows_without_required_values_dropped_with_warning(tmp_path):
    p = write(tmp_path, "x.csv", "time/s,Ewe/V,I/mA\n0,1,0\n1,,0\n2,1,0\n3,1,0\n")
    e = read(p)
    assert len(e) == 3 and "dropped 1 row" in " ".join(e.metadata.warnings)


def test_headerless_eis_csv_and_impedance_technique(tmp_path):
    p = write(tmp_path, "z.csv", "1000,10,-1\n100,12,-3\n10,15,-5\n1,20,-4\n")
    assert detect_format(p) == "eis-csv"
    e = read(p)
    np.testing.assert_array_equal(e.data[FREQUENCY], [1000, 100, 10, 1])
    np.testing.assert_array_equal(e.data[Z_REAL], [10, 12, 15, 20])
    np.testing.assert_array_equal(e.data[Z_IMAG], [-1, -3, -5, -4])


def test_mass_and_area_overrides(tmp_path):
    p = write(tmp_path, "x.csv", "time/s,Ewe/V,I/mA\n0,1,0\n1,1,0\n")
    e = read(p, active_mass_g=0.0021, area_cm2=1.13)
    assert e.metadata.active_mass_g == 0.0021 and e.metadata.electrode_area_cm2 == 1.13
    with pytest.raises(FileFormatError, match="positive"):
        read(p, active_mass_g=-1)


def test_generic_xlsx(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["my export"])
    ws.append(["Time (s)", "Voltage (V)", "Current (mA)"])
    for i in range(5):
        ws.append([i * 10.0, 1.0 - 0.1 * i, -0.5])
    path = tmp_path / "x.xlsx"
    wb.save(path)
    e = read(path)
    assert detect_format(path) == "xlsx" and len(e) == 5
    np.testing.assert_allclose(e.data[CURRENT], -5e-4)


def test_not_files_and_empty_files(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        read(tmp_path / "missing.csv")
    with pytest.raises(FileFormatError, match="folder"):
        read(tmp_path)
    p = write(tmp_path, "blank.csv", "\n\n   \n")
    with pytest.raises(FileFormatError, match=r"empty file|no table"):
        read(p)
    b = tmp_path / "bin.dat"
    b.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(FileFormatError, match="unsupported binary"):
        read(b)


def test_read_many_and_formats(tmp_path):
    for i in range(2):
        write(tmp_path, f"f{i}.csv", "time/s,Ewe/V,I/mA\n0,1,0\n1,1,0\n")
    out = read_many([tmp_path])
    assert len(out) == 2 and out[0].metadata.source.endswith("f0.csv")
    fmts = supported_formats()
    assert "biologic-mpt" in fmts and "neware-ndax" in fmts and "arbin-res" in fmts
