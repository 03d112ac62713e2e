"""Fuzz the readers: garbage bytes, truncated real files, random CSV headers.

Every input must give a valid EchemData or a FileFormatError (never another exception,
never a hang: hypothesis' deadline bounds each example)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasurf.errors import FileFormatError
from nasurf.io import read, validate

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"

# one real file per text format (and the small binary ones), truncated at random offsets
SAMPLES = [
    "yadg/gcpl.issue_149.mpt", "PyProBE/Sample_data_biologic_no_header.mpt",
    "yadg/cv.issue_149.mpt", "impedance.py/exampleDataGamry.DTA",
    "impedance.py/exampleDataZPlot.z", "impedance.py/exampleDataCHInstruments.txt",
    "impedance.py/exampleDataVersaStudio.par", "impedance.py/exampleDataParstat.txt",
    "impedance.py/exampleDataPowersuite.txt", "impedance.py/exampleData.csv",
    "battery-data-toolkit/maccor_example.001", "beep/maccor_test_file_4267-66-6519.EDA0001.041",
    "PyProBE/sample_data_basytec.txt", "PyProBE/sample_data_novonix.csv",
    "PyProBE/sample_data_arbin.csv", "PyProBE/sample_data_maccor.csv",
    "fastnda/interp-test.csv", "battery-data-format/sample.bdf.csv",
    "battery-data-format/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv",
    "yadg/peis.mpr", "yadg/gcpl.issue_149.mpr", "navani/test.ndax", "navani/test.nda",
]
_CACHE: dict[str, bytes] = {}


def sample_bytes(rel: str, limit: int = 60_000) -> bytes:
    if rel not in _CACHE:
        _CACHE[rel] = (REALDATA / rel).read_bytes()[:limit]
    return _CACHE[rel]


def read_bytes_as(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory(prefix="nasurf-fuzz-") as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            e = read(path)
        except FileFormatError as exc:
            assert str(path) in str(exc)   # the message names the file
            return
        validate(e)


FUZZ = settings(max_examples=40, deadline=3000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=st.binary(max_size=4096), suffix=st.sampled_from(
    [".csv", ".txt", ".mpt", ".mpr", ".ndax", ".nda", ".xlsx", ".DTA", ".res", ""]))
def test_garbage_bytes(data: bytes, suffix: str):
    read_bytes_as(data, suffix)


@FUZZ
@given(data=st.binary(min_size=1, max_size=2048))
def test_garbage_after_known_magic(data: bytes):
    # signatures route to the binary readers, which must turn their failures into errors
    for magic, suffix in ((b"BIO-LOGIC MODULAR FILE\x1a", ".mpr"), (b"NEWARE", ".nda"),
                          (b"PK\x03\x04", ".ndax"), (b"\x00\x01\x00\x00Standard Jet DB", ".res"),
                          (b"\x1f\x8b", ".gz")):
        read_bytes_as(magic + data, suffix)


@pytest.mark.parametrize("rel", SAMPLES)
def test_truncated_real_files(rel: str):
    full = sample_bytes(rel)
    suffix = Path(rel).suffix

    @settings(max_examples=15, deadline=3000, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(cut=st.integers(min_value=0, max_value=len(full)))
    def run(cut: int) -> None:
        read_bytes_as(full[:cut], suffix)

    run()


_HEADER_WORDS = st.sampled_from([
    "time/s", "Ewe/V", "I/mA", "Test Time / s", "Voltage / V", "Current / A", "Time (h)",
    "Voltage [mV]", "Current (uA)", "cycle", "Step", "freq/Hz", "Re(Z)/Ohm", "-Im(Z)/Ohm",
    "Temperature (°C)", "foo", "bar / baz", "x(y)", "", "Capacity (Ah)", "Current (C)",
])


@FUZZ
@given(headers=st.lists(_HEADER_WORDS, min_size=1, max_size=8),
       rows=st.lists(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                        st.text(max_size=5)), min_size=1, max_size=8),
                     max_size=6),
       sep=st.sampled_from([",", ";", "\t"]))
def test_random_csv_headers(headers, rows, sep):
    lines = [sep.join(headers)] + [sep.join(str(v) for v in r) for r in rows]
    read_bytes_as("\n".join(lines).encode("utf-8"), ".csv")
