"""Publication-style figures of galvanostatic results.

Owns: voltage profiles (capacity on x), capacity and CE against cycle (twin axis), rate
capability (capacity against cycle coloured by rate step, current labels) and dQ/dV.
Each function returns a ``matplotlib.figure.Figure`` drawn in nasurf's one figure style
(:mod:`nasurf.figures.style`: single-column width, print-size fonts); importing this
module neither imports pyplot nor changes the matplotlib backend. :func:`save_figures`
writes PNG + SVG through the shared saver.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nasurf.analysis.cycling import CyclingResult
from nasurf.analysis.differential_capacity import DqdvResult
from nasurf.figures.style import new_figure, paper_style, save, to_svg

SOD_COLOR, DES_COLOR, CE_COLOR = "#1f4e79", "#c0392b", "#555555"
DEFAULT_REFERENCE = "Na⁺/Na"


def potential_label(reference: str | None = None) -> str:
    """``"Potential (V vs Li$^{+}$/Li)"`` for ``"Li+/Li"`` (or ``"Li⁺/Li"``); ``None`` gives
    the Na⁺/Na half-cell convention. Ion charges become mathtext superscripts."""
    ref = (reference or DEFAULT_REFERENCE).strip().replace("$", r"\$")
    ref = ref.replace("⁺", "+").replace("²", "2").replace("³", "3")
    ref = re.sub(r"(?<=[A-Za-z\)])(\d?)\+", r"$^{\1+}$", ref)
    return f"Potential (V vs {ref})"


def _cap_label(unit: str) -> str:
    return "Specific capacity (mAh g$^{-1}$)" if unit == "mAh/g" else "Capacity (mAh)"


def _new(width_mm: float | str = "single", aspect: float = 0.8) -> tuple[Figure, Axes]:
    return new_figure(width_mm, aspect=aspect)


def _cmap(name: str) -> matplotlib.colors.Colormap:
    return matplotlib.colormaps[name]


def voltage_profile_figure(profiles: pd.DataFrame, *, cycles: list[int] | None = None,
                           title: str | None = None, reference: str | None = None) -> Figure:
    """Voltage against capacity for selected cycles (sodiation solid, desodiation dashed).

    ``reference``: the electrode the potential is measured against (``"Li+/Li"`` ...);
    default ``profiles.attrs["electrode_reference"]``, else Na⁺/Na.
    """
    with paper_style():
        fig, ax = _new()
        have = sorted(profiles["cycle"].unique())
        sel = [c for c in (cycles or _default_cycles(have)) if c in have]
        cmap = _cmap("viridis")
        for k, c in enumerate(sel):
            color = cmap(k / max(len(sel) - 1, 1))
            for proc, ls in (("sodiation", "-"), ("desodiation", "--")):
                part = profiles[(profiles["cycle"] == c) & (profiles["process"] == proc)]
                if len(part):
                    ax.plot(part["capacity"], part["voltage_V"], ls, color=color,
                            label=f"cycle {c}" if proc == "sodiation" or
                            not (profiles["process"] == "sodiation").any() else None)
        ax.set_xlabel(_cap_label(profiles.attrs.get("capacity_unit", "mAh")))
        ax.set_ylabel(potential_label(reference or profiles.attrs.get("electrode_reference")))
        ax.set_xlim(left=0)
        if sel:
            ax.legend(frameon=False)
        if title:
            ax.set_title(title)
    return fig


def _default_cycles(have: list[int]) -> list[int]:
    have = [c for c in have if c >= 1]
    if len(have) <= 5:
        return have
    picks = {have[0], have[1], have[len(have) // 2], have[-1]}
    for c in (10, 50, 100):
        if c in have:
            picks.add(c)
    return sorted(picks)


def capacity_ce_figure(result: CyclingResult, *, title: str | None = None) -> Figure:
    """Sodiation/desodiation capacity and coulombic efficiency against cycle number; the
    CE axis always spans every point, and cycles with plausibility flags are marked with a
    red cross and the flag names."""
    spec = result.capacity_unit == "mAh/g"
    c = result.cycles[result.cycles["cycle"] >= 1]
    with paper_style():
        fig, ax = _new()
        sod = c["sodiation_mAh_g" if spec else "sodiation_mAh"]
        des = c["desodiation_mAh_g" if spec else "desodiation_mAh"]
        ms = 3 if len(c) < 200 else 1.5
        ax.plot(c["cycle"], sod, "o", ms=ms, mfc="white", color=SOD_COLOR, label="sodiation")
        ax.plot(c["cycle"], des, "o", ms=ms, color=DES_COLOR, label="desodiation")
        ax.set_xlabel("Cycle number")
        ax.set_ylabel(_cap_label(result.capacity_unit))
        ax.set_ylim(bottom=0)
        ax2 = ax.twinx()
        ax2.plot(c["cycle"], 100 * c["coulombic_efficiency"], "s", ms=ms * 0.8,
                 color=CE_COLOR, label="CE")
        ax2.set_ylabel("Coulombic efficiency (%)", color=CE_COLOR)
        ce = 100 * c["coulombic_efficiency"].to_numpy(dtype=float)
        finite = ce[np.isfinite(ce)]
        # never clip: an impossible CE (> 100 %) is exactly the point to see
        top = max(105.0, 1.05 * float(finite.max())) if finite.size else 105.0
        bottom = min(0.0, 1.05 * float(finite.min())) if finite.size else 0.0
        ax2.set_ylim(bottom, top)
        flagged = result.flagged_cycles
        marked = [k for k, cyc in enumerate(c["cycle"]) if int(cyc) in flagged]
        if marked:
            fc = c.iloc[marked]
            ax2.plot(fc["cycle"], ce[marked], "x", ms=ms * 2.2, mew=1.2, color="red",
                     label="flagged")
            # each flag named once, at the first cycle that raised it (the cross marks
            # every flagged cycle)
            named: set[str] = set()
            for cyc, y in zip(fc["cycle"], ce[marked], strict=True):
                new = [f for f in flagged[int(cyc)] if f not in named]
                named.update(new)
                if new and np.isfinite(y):
                    ax2.annotate(", ".join(new), (cyc, y), fontsize=5, color="red",
                                 xytext=(4, 4), textcoords="offset points")
        lines = ax.get_legend_handles_labels()
        l2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + l2[0], lines[1] + l2[1], frameon=False, loc="center right")
        ice = result.initial_coulombic_efficiency
        if ice is not None:
            ax.text(0.03, 0.04, f"ICE {100 * ice:.1f} %", transform=ax.transAxes, fontsize=7)
        if title:
            ax.set_title(title)
    return fig


def rate_capability_figure(result: CyclingResult, *, title: str | None = None) -> Figure:
    """Desodiation capacity against cycle, coloured by rate step, labelled by current."""
    spec = result.capacity_unit == "mAh/g"
    c = result.cycles[result.cycles["cycle"] >= 1]
    steps = result.rate_steps
    with paper_style():
        fig, ax = _new("onehalf", aspect=0.6)
        cmap = _cmap("plasma")
        des = "desodiation_mAh_g" if spec else "desodiation_mAh"
        top = float(np.nanmax(c[des])) if len(c) else 1.0
        for k, st in steps.iterrows():
            m = (c["cycle"] >= st["first_cycle"]) & (c["cycle"] <= st["last_cycle"])
            color = cmap(0.85 * k / max(len(steps) - 1, 1))
            ax.plot(c.loc[m, "cycle"], c.loc[m, des], "o", ms=3.5, color=color)
            if "current_mA_g" in st and pd.notna(st.get("current_mA_g")):
                label = f"{st['current_mA_g']:.3g}"
                unit = "mA g$^{-1}$"
            else:
                label = f"{st['current_A'] * 1e3:.3g}"
                unit = "mA"
            if "c_rate" in st and pd.notna(st.get("c_rate")):
                label += f"\n{st['c_rate']:.2g}C"
            mid = 0.5 * (st["first_cycle"] + st["last_cycle"])
            ax.text(mid, top * 1.04, label, ha="center", va="bottom", fontsize=6, color=color)
        ax.set_ylim(0, top * 1.25 if len(c) else 1)
        ax.set_xlabel("Cycle number")
        ax.set_ylabel(_cap_label(result.capacity_unit))
        if len(steps):
            ax.text(0.99, 0.02, f"current in {unit}", transform=ax.transAxes, ha="right",
                    fontsize=6)
        rr = result.rate.recovery_ratio
        if rr is not None:
            ax.text(0.01, 0.02, f"recovery {100 * rr:.1f} %", transform=ax.transAxes,
                    fontsize=7)
        if title:
            ax.set_title(title)
    return fig


def dqdv_figure(result: DqdvResult, *, cycles: list[int] | None = None,
                title: str | None = None, reference: str | None = None) -> Figure:
    """dQ/dV against potential; sodiation (negative) and desodiation (positive) branches.

    ``reference``: the electrode the potential is measured against (default Na⁺/Na).
    """
    t = result.table
    with paper_style():
        fig, ax = _new()
        have = sorted(t["cycle"].unique()) if len(t) else []
        sel = [c for c in (cycles or _default_cycles(have)) if c in have]
        cmap = _cmap("viridis")
        for k, c in enumerate(sel):
            color = cmap(k / max(len(sel) - 1, 1))
            for br, ls in (("sodiation", "-"), ("desodiation", "-")):
                part = t[(t["cycle"] == c) & (t["branch"] == br)]
                if len(part):
                    ax.plot(part["voltage_V"], part["dqdv"], ls, color=color,
                            label=f"cycle {c}" if br == "sodiation" else None)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_xlabel(potential_label(reference))
        unit = "mAh g$^{-1}$ V$^{-1}$" if result.capacity_unit == "mAh/g" else "mAh V$^{-1}$"
        ax.set_ylabel(f"dQ/dV ({unit})")
        if sel:
            ax.legend(frameon=False)
        if title:
            ax.set_title(title)
    return fig


def figure_svg(fig: Figure) -> str:
    """The figure as an inline SVG string (for HTML reports)."""
    text = to_svg(fig)
    text = text[text.find("<svg"):]
    # the RDF metadata block (creator) is noise inside a page
    return re.sub(r"<metadata>.*?</metadata>\s*", "", text, count=1, flags=re.S)


def save_figures(figures: dict[str, Figure], directory: str | Path) -> list[Path]:
    """Write each figure as NAME.png and NAME.svg (the shared saver); returns the paths."""
    out = Path(directory)
    paths: list[Path] = []
    for name, fig in figures.items():
        paths.extend(save(fig, out / name, formats=("png", "svg")))
    return paths
