"""The instrument capacity counters summed per half cycle: a counter holding a NaN or an
infinity anywhere (first row, inside, last row) is not used (None), whichever column holds
it; finite counters are summed with their resets."""

import numpy as np
import pandas as pd
import pytest

from nasurf.analysis.cycling.integration import _instrument_capacity
from nasurf.io.table import CHARGE_CAPACITY, DISCHARGE_CAPACITY, NET_CAPACITY


def _counters(n=12):
    # charge counts up over rows 0-5, resets, discharge counts up over rows 6-11
    q = np.r_[np.linspace(0.0, 5e-4, 6), np.zeros(6)]
    d = np.r_[np.zeros(6), np.linspace(1e-4, 6e-4, 6)]
    return q, d


def _per_block(x):
    return x


@pytest.mark.parametrize("layout", ["both", "net"])
@pytest.mark.parametrize("row", [0, 1, 5, 6, 11])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_counter_is_not_used(layout, row, bad):
    q, d = _counters()
    starts = np.array([0, 6])
    if layout == "both":
        for col in (0, 1):
            cols = [q.copy(), d.copy()]
            cols[col][row] = bad
            df = pd.DataFrame({CHARGE_CAPACITY: cols[0], DISCHARGE_CAPACITY: cols[1]})
            assert _instrument_capacity(df, starts, _per_block) is None
    else:
        net = q - d
        net[row] = bad
        assert _instrument_capacity(pd.DataFrame({NET_CAPACITY: net}), starts,
                                    _per_block) is None


def test_finite_counters_are_summed_with_resets():
    q, d = _counters()
    df = pd.DataFrame({CHARGE_CAPACITY: q, DISCHARGE_CAPACITY: d})
    charge, energy = _instrument_capacity(df, np.array([0, 6]), _per_block,
                                          np.full(12, 2.0))
    # block 1: the charge counter's rise; block 2: the discharge counter from 0 (its
    # first row counts its value: the reset) to 6e-4
    np.testing.assert_allclose(charge, [5e-4, 6e-4], rtol=1e-12)
    np.testing.assert_allclose(energy, [1e-3, 1.2e-3], rtol=1e-12)
