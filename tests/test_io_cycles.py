"""assign_cycles on currents built here (truth: the protocol that generated them) and on a
real anode half cell (truth: the instrument's step structure)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nasurf.errors import ValidationError
from nasurf.io import ASSIGNED_CYCLE, CURRENT, CYCLE, HALF_CYCLE, TIME, VOLTAGE, assign_cycles, read
from nasurf.io.cycles import sodiation_desodiation_cycles

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def protocol(*segments: tuple[float, int]) -> np.ndarray:
    return np.concatenate([np.full(n, i) for i, n in segments])


def test_rest_sodiation_desodiation_pairs():
    # OCV rest, then 3 x (sodiation, rest, desodiation, rest)
    cur = protocol((0, 5), *[(s, 4) for _ in range(3) for s in (-1e-4, 0, 1e-4, 0)])
    cyc = sodiation_desodiation_cycles(cur)
    expected = np.concatenate([np.full(5, 1)] + [np.full(16, k) for k in (1, 2, 3)])
    np.testing.assert_array_equal(cyc, expected)


def test_leading_desodiation_is_cycle_zero():
    cur = protocol((1e-4, 3), (-1e-4, 3), (1e-4, 3))
    np.testing.assert_array_equal(sodiation_desodiation_cycles(cur), [0] * 3 + [1] * 6)


def test_noise_below_threshold_is_rest():
    rng = np.random.default_rng(0)
    cur = protocol((-1e-3, 10), (0, 10), (1e-3, 10))
    cur[10:20] = rng.normal(0, 1e-7, 10)   # µA-level offsets at rest
    assert set(sodiation_desodiation_cycles(cur)) == {1}
    # an explicit threshold above the working current makes everything rest
    assert set(sodiation_desodiation_cycles(cur, threshold_A=1.0)) == {1}
    with pytest.raises(ValidationError):
        sodiation_desodiation_cycles(cur, threshold_A=-1)


def test_instrument_mode_renumbers_and_uses_half_cycles():
    df = pd.DataFrame({TIME: [0.0, 1, 2, 3], VOLTAGE: 1.0, CURRENT: 0.0,
                       CYCLE: np.array([0, 0, 1, 1], dtype=np.int64)})
    np.testing.assert_array_equal(assign_cycles(df)[ASSIGNED_CYCLE], [1, 1, 2, 2])
    df = df.drop(columns=[CYCLE]).assign(**{HALF_CYCLE: np.array([0, 1, 2, 3])})
    np.testing.assert_array_equal(assign_cycles(df)[ASSIGNED_CYCLE], [1, 1, 2, 2])
    with pytest.raises(ValidationError, match="no cycle counter"):
        assign_cycles(df.drop(columns=[HALF_CYCLE]))
    with pytest.raises(ValidationError, match="unknown cycle mode"):
        assign_cycles(df, "full")  # type: ignore[arg-type]


def test_real_anode_half_cell_cycles():
    # LANDT graphite|Li: rest, then lithiation (I<0) / delithiation (I>0) pairs; the
    # file's own cycle_index counts the same pairs
    e = read(REALDATA / "battery-data-format/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv")
    counted = assign_cycles(e, "sodiation_desodiation")
    assert any("Cycle / 1" in n for n in counted.metadata.notes)
    ours = counted.data[ASSIGNED_CYCLE].to_numpy()
    cur = e.data[CURRENT].to_numpy()
    # every cycle starts with a cathodic (sodiation/lithiation) step
    for k in np.unique(ours):
        first_working = cur[(ours == k) & (np.abs(cur) > 0)][0]
        assert first_working < 0
    instrument = assign_cycles(e, "instrument").data[ASSIGNED_CYCLE].to_numpy()
    assert ours.max() == instrument.max()
