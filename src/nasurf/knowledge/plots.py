"""Publication-quality figures of the knowledge base (matplotlib, Agg).

- :func:`rate_map`: capacity vs current density (log x), colour = strategy, marker =
  material class;
- :func:`cycling_map`: cycling capacity or retention vs cycle number (log x);
- :func:`strategy_comparison`: rate capacities above a current, box + points per strategy.

``highlight=`` draws a user's own result prominently among the literature. Figures are
returned in the paper style of :mod:`nasurf.figures.style` (double-column width: the two
outside legends need the room); :func:`save_figure` writes PNG, SVG or PDF by suffix
through the one writer, :func:`nasurf.figures.style.write_figure`. Figures are built with
the object-oriented API (``matplotlib.figure.Figure``), never pyplot, so no GUI backend
is touched and nothing leaks between calls. Each measurement is drawn
once (a text figure restating Table 1 is not doubled: see ``distinct_measurements``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from nasurf.figures.style import PALETTE, new_figure, styled, to_svg, write_figure
from nasurf.knowledge.query import distinct_measurements, query
from nasurf.knowledge.records import Observation
from nasurf.knowledge.store import KnowledgeBase
from nasurf.knowledge.vocabulary import MATERIAL_CLASSES, STRATEGIES, STRATEGY_LABELS
from nasurf.options import choose

# Okabe-Ito colour-blind-safe palette, one colour per strategy in the review's order.
STRATEGY_COLOURS: dict[str, str] = {
    "surface_oxygen_vacancies": "#E69F00",
    "heterointerfaces": "#56B4E9",
    "2d_superlattices": "#009E73",
    "surface_structural_disorder": "#D55E00",
    "surface_functionalisation": "#CC79A7",
    "interfacial_chemical_bonds": "#0072B2",
    "none": "#7F7F7F",
}
CLASS_MARKERS: dict[str, str] = {
    "intercalation": "o",
    "conversion": "s",
    "alloying": "^",
    "conversion_alloying": "D",
    "adsorption_insertion": "v",
}
FORMATS = (".png", ".svg", ".pdf")
HIGHLIGHT_COLOUR = PALETTE[-1]      # Okabe-Ito yellow, black-edged: stands out, not a strategy


@dataclass(frozen=True)
class Highlight:
    """A user's own result to draw among the literature."""

    capacity_mAh_g: float | None = None
    current_mA_g: float | None = None
    cycles: int | None = None
    retention_pct: float | None = None
    label: str = "this work"

    @classmethod
    def from_record(cls, obs: Observation) -> Highlight:
        """A highlight from a stored record (capacity or retention with its conditions)."""
        label = obs.material if obs.origin == "user" else f"{obs.material} (ref {obs.ref})"
        if obs.quantity == "capacity_retention":
            return cls(None, obs.current_mA_g, obs.cycles, obs.value, label)
        return cls(obs.value, obs.current_mA_g, obs.cycles, None, label)


def _style(ax) -> None:
    # a full box with inward ticks (the paper style): hiding the top and right spines
    # would leave those ticks floating
    ax.grid(True, which="major", alpha=0.3, linewidth=0.5)
    ax.grid(True, which="minor", alpha=0.12, linewidth=0.3)


def _legends(fig: Figure, df: pd.DataFrame, *, with_highlight: bool) -> None:
    strategies = [s for s in (*STRATEGIES, "none") if s in set(df["strategy"])]
    classes = [c for c in MATERIAL_CLASSES if c in set(df["material_class"])]
    colour_handles = [Line2D([], [], ls="", marker="o", ms=4.5, color=STRATEGY_COLOURS[s],
                             mec="black", mew=0.4, label=STRATEGY_LABELS.get(s, s))
                      for s in strategies]
    marker_handles = [Line2D([], [], ls="", marker=CLASS_MARKERS[c], ms=4.5, mfc="white",
                             mec="black", mew=0.6, label=c.replace("_", "/")) for c in classes]
    if with_highlight:
        marker_handles.append(Line2D([], [], ls="", marker="*", ms=8, mfc=HIGHLIGHT_COLOUR,
                                     mec="black", mew=0.6, label="highlighted"))
    # "outside" legends are laid out by the constrained-layout engine, never clipped
    fig.legend(handles=colour_handles, title="Strategy", loc="outside right upper")
    fig.legend(handles=marker_handles, title="Material class", loc="outside right lower")


def _scatter(ax, df: pd.DataFrame, x: str, y: str) -> None:
    for (strategy, mclass), g in df.groupby(["strategy", "material_class"]):
        ax.scatter(g[x], g[y], s=18, marker=CLASS_MARKERS.get(mclass, "o"),
                   color=STRATEGY_COLOURS.get(strategy, "#7F7F7F"), edgecolor="black",
                   linewidth=0.4, alpha=0.9, zorder=3)


def _highlight(ax, x: float | None, y: float | None, label: str) -> bool:
    if x is None or y is None:
        return False
    ax.scatter([x], [y], s=110, marker="*", color=HIGHLIGHT_COLOUR, edgecolor="black",
               linewidth=0.7, zorder=6)
    ax.annotate(label, (x, y), xytext=(8, 8), textcoords="offset points",
                fontweight="bold", zorder=7,
                arrowprops={"arrowstyle": "-", "color": "black", "lw": 0.6})
    return True


def _frame(kb_or_df: KnowledgeBase | pd.DataFrame, **filters) -> pd.DataFrame:
    if isinstance(kb_or_df, pd.DataFrame):
        df = kb_or_df
        for col, allowed in filters.items():
            df = df[df[col].isin(allowed)]
        return distinct_measurements(df.reset_index(drop=True))
    return query(kb_or_df, **filters, distinct=True)


@styled
def rate_map(kb: KnowledgeBase | pd.DataFrame, *, highlight: Highlight | None = None,
             quantities: Iterable[str] = ("rate_capacity",),
             sample_roles: Iterable[str] = ("treated",), title: str | None = None) -> Figure:
    """Capacity vs current density (log x): colour by strategy, marker by material class."""
    df = _frame(kb, quantity=list(quantities), sample_role=list(sample_roles))
    df = df[df["current_mA_g"].notna()]
    fig, ax = new_figure("double", aspect=0.5)
    _scatter(ax, df, "current_mA_g", "value")
    shown = highlight is not None and _highlight(
        ax, highlight.current_mA_g, highlight.capacity_mAh_g, highlight.label)
    ax.set_xscale("log")
    ax.set_xlabel("Current density / mA g$^{-1}$")
    ax.set_ylabel("Specific capacity / mA h g$^{-1}$")
    ax.set_ylim(bottom=0)
    ax.set_title(title or f"Rate capability of surface-engineered NIB anodes (n = {len(df)})")
    _style(ax)
    if not df.empty:
        _legends(fig, df, with_highlight=shown)
    return fig


@styled
def cycling_map(kb: KnowledgeBase | pd.DataFrame, *, y: str = "capacity",
                highlight: Highlight | None = None,
                sample_roles: Iterable[str] = ("treated",), title: str | None = None) -> Figure:
    """Cycling capacity (``y="capacity"``) or retention (``y="retention"``) vs cycles."""
    y = choose("y", y, ("capacity", "retention"), where="cycling_map")
    quantity = "cycling_capacity" if y == "capacity" else "capacity_retention"
    df = _frame(kb, quantity=[quantity], sample_role=list(sample_roles))
    df = df[df["cycles"].notna()]
    fig, ax = new_figure("double", aspect=0.5)
    _scatter(ax, df, "cycles", "value")
    hy = None
    if highlight is not None:
        hy = highlight.capacity_mAh_g if y == "capacity" else highlight.retention_pct
    shown = highlight is not None and _highlight(ax, highlight.cycles, hy, highlight.label)
    ax.set_xscale("log")
    ax.set_xlabel("Cycle number")
    if y == "capacity":
        ax.set_ylabel("Capacity after cycling / mA h g$^{-1}$")
        ax.set_ylim(bottom=0)
    else:
        ax.set_ylabel("Capacity retention / % (reference cycle as printed)")
        ax.axhline(100, color="grey", lw=0.8, ls="--", zorder=1)
    ax.set_title(title or f"Cycling stability (n = {len(df)})")
    _style(ax)
    if not df.empty:
        _legends(fig, df, with_highlight=shown)
    return fig


@styled
def strategy_comparison(kb: KnowledgeBase | pd.DataFrame, *, min_current_mA_g: float = 1000.0,
                        sample_roles: Iterable[str] = ("treated",),
                        highlight: Highlight | None = None, title: str | None = None) -> Figure:
    """Rate capacities at >= ``min_current_mA_g`` per strategy: box plot plus every point."""
    df = _frame(kb, quantity=["rate_capacity"], sample_role=list(sample_roles))
    df = df[df["current_mA_g"] >= min_current_mA_g]
    order = [s for s in STRATEGIES if s in set(df["strategy"])]
    fig, ax = new_figure("double", aspect=0.46)
    data = [df.loc[df["strategy"] == s, "value"].to_numpy() for s in order]
    if order:
        box = ax.boxplot(data, positions=range(len(order)), widths=0.55, patch_artist=True,
                         showfliers=False, medianprops={"color": "black"})
        for patch, s in zip(box["boxes"], order, strict=True):
            patch.set_facecolor(STRATEGY_COLOURS[s])
            patch.set_alpha(0.35)
        rng = np.random.default_rng(0)  # fixed jitter: the same figure every run
        for i, s in enumerate(order):
            g = df[df["strategy"] == s]
            for mclass, gg in g.groupby("material_class"):
                ax.scatter(i + rng.uniform(-0.15, 0.15, len(gg)), gg["value"], s=16,
                           marker=CLASS_MARKERS.get(mclass, "o"), color=STRATEGY_COLOURS[s],
                           edgecolor="black", linewidth=0.4, zorder=3)
        ax.set_xticks(range(len(order)),
                      [STRATEGY_LABELS[s].replace(" ", "\n", 1) for s in order])
    if highlight is not None and highlight.capacity_mAh_g is not None:
        ax.axhline(highlight.capacity_mAh_g, color="black", ls="--", lw=1.0, zorder=5,
                   label=highlight.label)
        # named in a legend above the axes: a text label on the line can sit on a point
        fig.legend(loc="outside upper right")
    ax.set_ylabel(f"Capacity at ≥ {min_current_mA_g:g} mA g$^{{-1}}$ / mA h g$^{{-1}}$")
    ax.tick_params(axis="x", top=False)     # categories: no ticks on the top spine
    ax.set_ylim(bottom=0)
    ax.set_title(title or "Rate capability by surface-engineering strategy")
    _style(ax)
    ax.grid(False, axis="x")
    return fig


def save_figure(fig: Figure, path: str | Path, *, dpi: int | None = None) -> Path:
    """Write ``fig`` as PNG (600 dpi unless ``dpi``), SVG or PDF, chosen by the suffix."""
    return write_figure(fig, path, dpi=dpi)


def figure_svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element (no XML prologue, no DOCTYPE)."""
    return to_svg(fig, inline=True)
