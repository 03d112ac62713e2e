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


def test_cv_cycles_figure_marks_every_peak_and_hollows_edge_extremes() -> None:
    import pandas as pd

    from nasurf.analysis.kinetics import CVSet, cycle_summary
    from nasurf.analysis.plots_kinetics import plot_cv_cycles
    from nasurf.io.table import CURRENT, TIME, VOLTAGE, EchemData, Metadata
    from test_cv_split import capacitor_cv

    t, e, i = capacitor_cv(0.01, 2)
    # a current that keeps rising into the top vertex: the anodic extreme is at the edge
    i = i + 1e-3 * np.where(np.diff(e, prepend=e[0]) >= 0, e**4, 0.0)
    cv = CVSet.from_echem(EchemData(pd.DataFrame({TIME: t, VOLTAGE: e, CURRENT: i}),
                                    Metadata(source="rising"))).cvs[0]
    s = cycle_summary(cv)
    assert s.table["anodic_peak_at_edge"].all()
    assert not s.table["cathodic_peak_at_edge"].any()
    assert any("anodic_peak_at_edge" in w for w in s.warnings)
    fig = plot_cv_cycles(cv, s)
    ax = fig.axes[0]
    markers = [ln for ln in ax.lines if ln.get_marker() in ("^", "v")]
    assert len(markers) == 4                               # 2 cycles x 2 branches
    hollow = [ln.get_marker() for ln in markers if ln.get_markerfacecolor() == "none"]
    assert hollow == ["^", "^"]
    assert "Potential (V)" in ax.get_xlabel() and "anodic > 0" in ax.get_ylabel()
    # every marked point lies inside the axes (nothing clipped)
    lo, hi = ax.get_ylim()
    assert all(lo <= ln.get_ydata()[0] <= hi for ln in markers)
    plt.close(fig)
