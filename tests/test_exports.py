"""Exports of canonical tables (BDF CSV, Parquet) and summaries (CSV, XLSX, JSON).

Truth: what is written must read back identical, bit for bit (``check_exact``), through the
project's own reader (BDF CSV) or the Parquet reader, for real files of every kind.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from nasurf.errors import ValidationError
from nasurf.exports import canonical_frame, read_parquet, to_bdf_csv, to_parquet, write_summary
from nasurf.io import read

pytestmark = pytest.mark.realdata

FILES = ["yadg/gcpl.pr_182.1.mpr", "yadg/peis.mpr", "navani/test.ndax",
         "impedance.py/exampleDataGamry.DTA", "yadg/cv.mpr", "yadg/mb.mpr"]


@pytest.mark.parametrize("name", FILES)
def test_bdf_csv_and_parquet_read_back_identical(realdata, tmp_path, name):
    d = read(realdata / name)
    csv = to_bdf_csv(d, tmp_path / "t.bdf.csv")
    back = read(csv)
    assert back.metadata.file_format == "bdf-csv"
    ref = canonical_frame(d)
    assert list(back.data.columns) == list(ref.columns)
    pd.testing.assert_frame_equal(back.data, ref, check_exact=True)
    pq = to_parquet(d, tmp_path / "t.parquet")
    got = read_parquet(pq)
    pd.testing.assert_frame_equal(got.data, ref, check_exact=True)
    assert got.metadata.active_mass_g == d.metadata.active_mass_g
    assert got.metadata.technique == d.metadata.technique
    assert got.metadata.warnings == d.metadata.warnings


def test_never_overwrites_without_force(realdata, tmp_path):
    d = read(realdata / "yadg/gcpl.issue_149.mpr")
    to_bdf_csv(d, tmp_path / "a.csv")
    with pytest.raises(ValidationError, match="force"):
        to_bdf_csv(d, tmp_path / "a.csv")
    to_bdf_csv(d, tmp_path / "a.csv", force=True)


def test_summary_xlsx_has_units_row_and_blank_for_missing(tmp_path):
    from openpyxl import load_workbook

    df = pd.DataFrame({"cycle": [1, 2], "Voltage / V": [0.1, float("nan")],
                       "capacity": [300.5, 290.25]})
    p = write_summary(df, tmp_path / "s.xlsx", units={"capacity": "mAh/g", "cycle": "1"})
    ws = load_workbook(p).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("cycle", "Voltage", "capacity")
    assert rows[1] == ("1", "V", "mAh/g")
    assert rows[2] == (1, 0.1, 300.5) and rows[3] == (2, None, 290.25)
    j = json.loads(write_summary(df, tmp_path / "s.json", units={"capacity": "mAh/g"})
                   .read_text())
    assert j["rows"][1]["Voltage / V"] is None and j["units"]["capacity"] == "mAh/g"
    back = pd.read_csv(write_summary(df, tmp_path / "s.csv"))
    pd.testing.assert_frame_equal(back, df, check_exact=True)
