"""Property-based fuzzing (hypothesis) of every text reader and of the circuit, formula and
reaction parsers: any input gives a result or one NasurfError -- never another exception.

And one property with teeth: a text export cut at any byte reads as a *prefix* of the
intact table (the cut last line dropped, never reinterpreted), or fails clearly.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasurf.analysis.eis.circuits import parse_circuit
from nasurf.errors import FileFormatError, NasurfError
from nasurf.io import read
from nasurf.io.table import EchemData
from nasurf.materials.capacity import compute_capacity

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"

# one real file per text format nasurf reads today
TEXT_SAMPLES = [
    "yadg/cv.issue_149.mpt", "PyProBE/Sample_data_biologic_no_header.mpt",
    "impedance.py/exampleDataZPlot.z", "impedance.py/exampleDataCHInstruments.txt",
    "impedance.py/exampleDataVersaStudio.par", "impedance.py/exampleDataParstat.txt",
    "impedance.py/exampleDataPowersuite.txt", "impedance.py/exampleData.csv",
    "battery-data-toolkit/maccor_example.001", "PyProBE/sample_data_basytec.txt",
    "PyProBE/sample_data_novonix.csv", "PyProBE/sample_data_arbin.csv",
    "fastnda/interp-test.csv", "battery-data-format/sample.bdf.csv",
    "hybrid-drt/EISGALV_EISTest3.DTA",
]
# fixed-width writers: every cut inside a number changes its shape
PREFIX_SAMPLES = ["yadg/cv.issue_149.mpt", "yadg/peis.mpt", "impedance.py/exampleDataZPlot.z",
                  "yadg/gcpl.issue_149.mpt"]
_CACHE: dict[str, bytes] = {}
_INTACT: dict[str, EchemData] = {}
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def raw(rel: str) -> bytes:
    if rel not in _CACHE:
        _CACHE[rel] = (REALDATA / rel).read_bytes()[:200_000]
    return _CACHE[rel]


def read_bytes(data: bytes, name: str) -> EchemData | None:
    with tempfile.TemporaryDirectory(prefix="nasurf-fuzz-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            return read(path)
        except FileFormatError as exc:
            msg = str(exc)
            assert str(path) in msg and "\n" not in msg.strip(), msg
            return None


_NOISE = st.text(alphabet=st.sampled_from(list("0123456789.,;-+eE \tinfa#\"\r\n")),
                 max_size=40)


@pytest.mark.parametrize("rel", TEXT_SAMPLES)
@SETTINGS
@given(data=st.data())
def test_text_reader_survives_edits(rel: str, data: st.DataObject) -> None:
    original = raw(rel)
    start = data.draw(st.integers(0, len(original) - 1), label="start")
    length = data.draw(st.integers(0, 64), label="length")
    noise = data.draw(_NOISE, label="noise").encode()
    mutated = original[:start] + noise + original[start + length:]
    e = read_bytes(mutated, Path(rel).name)
    if e is not None:
        assert len(e.data.columns) > 0


def _intact(rel: str) -> EchemData:
    if rel not in _INTACT:
        _INTACT[rel] = read(REALDATA / rel)
    return _INTACT[rel]


@pytest.mark.parametrize("rel", PREFIX_SAMPLES)
@SETTINGS
@given(frac=st.floats(0.3, 1.0, exclude_max=True))
def test_a_cut_text_file_reads_as_a_prefix(rel: str, frac: float) -> None:
    full = (REALDATA / rel).read_bytes()
    intact = _intact(rel)
    e = read_bytes(full[:int(len(full) * frac)], Path(rel).name)
    if e is None:
        return
    n = len(e)
    assert n <= len(intact)
    for col in e.data.columns:
        if col in intact.data.columns and np.issubdtype(e.data[col].dtype, np.number):
            np.testing.assert_array_equal(e.data[col].to_numpy(),
                                          intact.data[col].to_numpy()[:n], err_msg=col)


_CIRCUIT_ALPHABET = st.sampled_from(list("Rp(),-CLWQGTHK0123456789 _"))


@SETTINGS
@given(text=st.text(alphabet=_CIRCUIT_ALPHABET, max_size=60))
def test_circuit_parser_gives_a_tree_or_one_error(text: str) -> None:
    try:
        parse_circuit(text)
    except NasurfError as exc:
        assert "circuit" in str(exc).lower()


@SETTINGS
@given(depth=st.integers(0, 3000))
def test_circuit_nesting_any_depth(depth: int) -> None:
    text = "R0-" + "".join(f"p(R{i + 1}," for i in range(depth)) + "C1" + ")" * depth
    try:
        parse_circuit(text)
    except NasurfError:
        assert depth > 30


_CHEM = st.sampled_from(list("NaSnSbPOCHFeTiMoS()[]{}·.*0123456789 +->→=⇌e⁻₂³"))


@SETTINGS
@given(text=st.text(alphabet=_CHEM, max_size=50),
       sodium=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))
def test_formula_and_reaction_parsers_give_a_result_or_one_error(text: str,
                                                                sodium: float | None) -> None:
    try:
        result = compute_capacity(text, sodium)
    except NasurfError:
        return
    assert np.isfinite(result.capacity_mAh_g) and result.capacity_mAh_g > 0
