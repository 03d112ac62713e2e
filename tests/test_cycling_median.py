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
