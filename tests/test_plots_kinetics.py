"""Figures of the kinetics analyses: readable axes whatever the data."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

# importing the plots module selects the Agg backend
from nasurf.analysis.plots_kinetics import _keep_a_decade


def test_nearly_equal_diffusivities_get_a_full_decade() -> None:
    fig, ax = plt.subplots()
    d = np.array([[0.9999e-11, 1.0001e-11], [1.0e-11, 1.0002e-11]])
    ax.semilogy([0, 1], d[:, 0], "o")
    _keep_a_decade(ax, d)
    lo, hi = ax.get_ylim()
    assert hi / lo >= 10 * (1 - 1e-12)
    assert lo < 1e-11 < hi
    plt.close(fig)


def test_scattered_diffusivities_keep_their_own_range() -> None:
    fig, ax = plt.subplots()
    d = np.array([1e-13, 1e-10, np.nan, -1.0])   # NaN and negative values are ignored
    ax.semilogy([0, 1, 2, 3], d, "o")
    before = ax.get_ylim()
    _keep_a_decade(ax, d)
    assert ax.get_ylim() == before
    plt.close(fig)
