"""The one JSON converter (nasurf.jsonio): the policy, value by value.

Truths are the JSON values written out by hand from the policy in the module docstring
(JSON has no NaN: every non-finite or missing value is ``null``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest

from nasurf.jsonio import dumps, finite_or_none, to_jsonable, write_json


@dataclasses.dataclass(frozen=True)
class _Plain:
    x: float
    tags: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class _WithDict:
    x: float

    def to_dict(self) -> dict:
        return {"x_mAh_g": self.x}


@pytest.mark.parametrize(("value", "expected"), [
    (np.float64(1.25), 1.25),
    (np.float32(0.5), 0.5),
    (np.int64(3), 3),
    (np.bool_(True), True),
    (float("nan"), None),
    (np.float64("-inf"), None),
    (math.inf, None),
    (pd.NA, None),
    (pd.NaT, None),
    (None, None),
    (Path("/data/cell.mpr"), "/data/cell.mpr"),
    ((1, 2), [1, 2]),
    (np.array([[1.0, np.nan], [2.0, 3.0]]), [[1.0, None], [2.0, 3.0]]),
    ({1: np.int32(2)}, {"1": 2}),
    (MappingProxyType({"a": 1}), {"a": 1}),
    (_Plain(np.float64(2.0), ("a",)), {"x": 2.0, "tags": ["a"]}),
    (_WithDict(1.0), {"x_mAh_g": 1.0}),
    (1 + 2j, "(1+2j)"),
])
def test_values_follow_the_policy(value, expected):
    got = to_jsonable(value)
    assert got == expected
    assert type(got) is type(expected)          # plain Python types, never numpy


def test_frames_are_records_and_series_are_mappings():
    df = pd.DataFrame({"cycle": [1, 2], "ce": [0.98, np.nan],
                       "n": pd.array([5, None], dtype="Int64")})
    assert to_jsonable(df) == [{"cycle": 1, "ce": 0.98, "n": 5},
                               {"cycle": 2, "ce": None, "n": None}]
    assert to_jsonable(pd.Series([1.5, np.inf], index=["a", "b"])) == {"a": 1.5, "b": None}


def test_pint_quantities_keep_their_unit():
    from nasurf.units import parse_quantity, parse_unit

    q = parse_quantity("100 mA g-1")
    got = to_jsonable({"current": q})
    assert got["current"]["value"] == 100
    # the unit text reads back as the same unit (mA/g, not A/g or a bare number)
    assert parse_unit(got["current"]["unit"]) == parse_unit("mA g-1")
    assert parse_unit(got["current"]["unit"]) != parse_unit("A g-1")


def test_dumps_is_strict_json_and_write_json_round_trips(tmp_path):
    doc = {"ok": np.float64(1.0), "bad": np.nan, "arr": np.arange(3)}
    text = dumps(doc, indent=1)
    assert "NaN" not in text
    assert json.loads(text) == {"ok": 1.0, "bad": None, "arr": [0, 1, 2]}
    p = write_json(tmp_path / "d.json", doc, indent=1)
    assert p.read_text(encoding="utf-8") == text


def test_an_unconvertible_nan_never_reaches_the_text():
    class Weird:
        def to_dict(self):
            return {"v": float("nan")}

    assert dumps(Weird()) == '{"v": null}'


@pytest.mark.parametrize(("value", "expected"), [
    (1.5, 1.5), (np.float32(0.25), 0.25), (np.int64(7), 7.0), ("2.5", 2.5),
    (None, None), (float("nan"), None), (-math.inf, None), ("abc", None), (pd.NA, None),
])
def test_finite_or_none(value, expected):
    assert finite_or_none(value) == expected
