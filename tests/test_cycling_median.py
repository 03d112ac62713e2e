"""The summary's median helpers against numpy's own median, bit for bit, on both sides of
their small-input (Python list) path."""

import math

import numpy as np
import pytest

from nasurf.analysis.cycling._shared import _SMALL, _median, _median_finite


@pytest.mark.parametrize("n", [1, 2, 3, _SMALL - 1, _SMALL, _SMALL + 1, 40])
def test_median_matches_numpy(n):
    rng = np.random.default_rng(n)
    for _ in range(50):
        x = rng.choice([1e-4, 2e-4, 3.3e-4], size=n) * (1 + rng.normal(0, 1e-3, n))
        assert _median(x) == float(np.median(x))
        y = x.copy()
        y[rng.integers(n)] = np.nan
        assert math.isnan(_median(y))
        y[rng.integers(n)] = np.inf
        fin = y[np.isfinite(y)]
        want = float(np.median(fin)) if fin.size else math.nan
        got = _median_finite(y)
        assert got == want or (math.isnan(got) and math.isnan(want))


def test_median_of_nothing_is_nan():
    assert math.isnan(_median(np.zeros(0)))
    assert math.isnan(_median_finite(np.array([np.nan, np.inf])))


def _median_rows_reference(i, first, length, sign, thr, k):
    """The documented rule one half cycle at a time: every row up to ``k`` rows, else ``k``
    evenly spaced rows; |I| of the rows with the half cycle's sign above the threshold."""
    out = []
    for a, n, s in zip(first.tolist(), length.tolist(), sign.tolist(), strict=True):
        if n > k:
            rows = a + np.floor(np.arange(k) * ((n - 1) / (k - 1))).astype(np.int64)
        else:
            rows = np.arange(a, a + n)
        vals = i[rows] * s
        vals = vals[vals > thr]
        out.append(float(np.median(vals)) if vals.size else math.nan)
    return np.array(out)


@pytest.mark.parametrize("case", ["short", "long", "mixed", "clean", "strided"])
def test_median_abs_rows_matches_numpy_per_half_cycle(case):
    from nasurf.analysis.cycling.halfcycles import _median_abs_rows

    rng = np.random.default_rng(len(case))
    k = 31
    hi = 3 * k if case in ("long", "mixed") else k
    lo = k + 1 if case == "long" else 1
    length = rng.integers(lo, hi + 1, 25)
    if case == "clean":
        length[:] = k                       # every window full: the unmasked path
    gaps = rng.integers(0, 4, 25)
    first = np.cumsum(gaps + np.r_[0, length[:-1]])
    n = int(first[-1] + length[-1])         # the last half cycle runs to the table's end
    sign = np.where(np.arange(25) % 2, 1, -1).astype(np.int8)
    i = np.zeros(n)
    for a, m, s in zip(first, length, sign, strict=True):
        i[a:a + m] = s * rng.choice([1e-4, 2e-4, 2.5e-4], m) * (1 + rng.normal(0, 1e-3, m))
    thr = 1e-7
    if case != "clean":
        i[rng.integers(0, n, n // 10)] *= -1     # reversals and rests inside half cycles
        i[rng.integers(0, n, n // 10)] = 0.0
    if case == "strided":
        wide = np.zeros((n, 3))
        wide[:, 1] = i
        i = wide[:, 1]                      # a column that is not contiguous in memory
    width = min(k, int(length.max()))
    got = _median_abs_rows(i, first, length, sign, thr, k, width)
    want = _median_rows_reference(i, first, length, sign, thr, k)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n", [100, 1023, 1024, 5000, 30_000])
def test_kth_smallest_is_numpy_partition(n):
    from nasurf.io.steps import _kth_smallest

    rng = np.random.default_rng(n)
    levels = rng.choice([1e-4, 2e-4, 5e-4], n)
    for x in (levels,                                    # a cycler: a few values, many ties
              levels * (1 + rng.normal(0, 1e-3, n)),     # every value distinct
              np.r_[levels[: n // 2], np.zeros(n - n // 2)]):
        for q in (0.0, 0.5, 0.9, 0.99, 1.0):
            k = int(q * (n - 1))
            assert _kth_smallest(x, k) == float(np.partition(x, k)[k])


@pytest.mark.parametrize("case", ["numbers", "object", "masked", "ragged", "two_d",
                                  "big_endian"])
def test_frame_from_columns_is_the_constructor(case):
    import pandas as pd

    from nasurf.analysis.cycling._shared import _frame_from_columns

    cols = {"cycle": np.arange(1, 4), "q": np.array([1.0, np.nan, 3.0]),
            "ok": np.array([True, False, True]), "n": np.array([1, 2, 3], np.int32)}
    if case == "object":
        cols["process"] = np.array(["sodiation", "desodiation", ""], dtype=object)
    elif case == "masked":
        cols["m"] = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    elif case == "ragged":
        cols = {"a": np.arange(3.0), "b": np.arange(3.0)[:, None]}
    elif case == "two_d":
        cols = {"a": np.ones((3, 1)), "b": np.ones((3, 1))}
    elif case == "big_endian":
        cols["b"] = np.arange(3.0).astype(">f8")
    try:
        want = pd.DataFrame(cols)
    except ValueError:
        with pytest.raises(ValueError):
            _frame_from_columns(cols)
        return
    pd.testing.assert_frame_equal(_frame_from_columns(cols), want)


def test_median_abs_rows_without_any_kept_value_is_nan():
    from nasurf.analysis.cycling.halfcycles import _median_abs_rows

    i = np.r_[np.full(5, -2e-4), np.zeros(4), np.full(6, 3e-4), np.full(3, -1e-4)]
    first, length = np.array([0, 5, 9, 15]), np.array([5, 4, 6, 3])
    sign = np.array([-1, 1, 1, 1], np.int8)         # rows 5-8 rest, rows 15-17 reversed
    got = _median_abs_rows(i, first, length, sign, 1e-7, 31, 6)
    np.testing.assert_array_equal(got, [2e-4, np.nan, 3e-4, np.nan])
