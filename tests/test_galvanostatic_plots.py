"""Figures and the demo section of the galvanostatic analysis (structure, not pixels)."""

from __future__ import annotations

import numpy as np

from nasurf.analysis import cycling_summary, dqdv, synthetic_cycling, voltage_profiles
from nasurf.analysis import plots_cycling as pc
from nasurf.report.analysis_sections import demo_section, demo_sections

MASS_G = 2.0e-3


def rate_data():
    mA_g = np.repeat([50.0, 200.0, 50.0], 2)
    des = np.array([300, 299, 250, 249, 297, 296.0])
    return synthetic_cycling(des * 1.01 * MASS_G, des * MASS_G, active_mass_g=MASS_G,
                             current_A=mA_g * MASS_G * 1e-3, points_per_half_cycle=300)


def test_figures_plot_the_result_numbers(tmp_path):
    data = rate_data()
    res = cycling_summary(data)
    fig = pc.capacity_ce_figure(res)
    ax = fig.axes[0]
    des_line = next(ln for ln in ax.get_lines() if ln.get_label() == "desodiation")
    assert np.allclose(des_line.get_ydata(), res.cycles["desodiation_mAh_g"], rtol=1e-12)
    rate = pc.rate_capability_figure(res)
    labels = " ".join(t.get_text() for t in rate.axes[0].texts)
    assert "50" in labels and "200" in labels and "recovery" in labels
    prof = voltage_profiles(data, cycles=[1, 6])
    vp = pc.voltage_profile_figure(prof)
    xmax = max(float(np.max(ln.get_xdata())) for ln in vp.axes[0].get_lines())
    # the widest profile ends at the largest half-cycle capacity of the chosen cycles
    sel = res.cycles[res.cycles["cycle"].isin([1, 6])]
    assert np.isclose(xmax, sel[["sodiation_mAh_g", "desodiation_mAh_g"]].max().max())
    dq = pc.dqdv_figure(dqdv(data, cycles=[2]))
    assert len(dq.axes[0].get_lines()) >= 2
    paths = pc.save_figures({"capacity_ce": fig}, tmp_path)
    assert {p.suffix for p in paths} == {".png", ".svg"}
    assert pc.figure_svg(fig).startswith("<svg")


def test_demo_section_is_self_contained_html(tmp_path):
    title, body = demo_section(realdata=tmp_path)      # empty folder: synthetic part only
    assert title == "Galvanostatic cycling analysis"
    assert "<svg" in body and "<metadata>" not in body
    assert 'href="http' not in body and 'src="http' not in body     # nothing external
    assert "No real anode half-cell file found" in body
    assert "recovery" in body.lower()
    assert len(demo_sections()) >= 1
