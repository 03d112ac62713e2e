"""The figures of a surface-engineering study (pristine vs treated, replicate cells).

Every function takes a :class:`~nasurf.samples.StudyResult` and returns a matplotlib
``Figure`` at journal width in the :mod:`nasurf.figures.style` style:

* :func:`capacity_ce_figure`  desodiation capacity and CE vs cycle: every replicate's
  points, the group mean and a mean ± SD band; flagged points (incomplete cycles) drawn
  with an × and said so in the legend. Axis limits come from the data: nothing is clipped;
* :func:`rate_figure`         capacity vs current per gram on a numeric log axis, group
  bands;
* :func:`nyquist_figure`      each sample's spectrum (points) with its fitted model (line);
* :func:`profiles_figure`     voltage profiles of chosen cycles, one panel per group;
* :func:`dqdv_figure`         dQ/dV of one cycle per group;
* :func:`cv_envelope_figure`  a CV with its Dunn capacitive envelope, one panel per group;
  :func:`capacitive_fraction_figure` the capacitive fraction vs scan rate (log axis);
* :func:`kb_rate_figure`, :func:`kb_cycling_figure`  the groups placed on the knowledge
  base's maps among the review's materials.

:func:`study_figures` draws all that apply and writes SVG, PDF and 600 dpi PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.figures.style import FLAG_MARKER, group_style, new_figure, paper_style, save
from nasurf.jsonio import finite_or_none

# analysis.plots_cycling switches the backend on import; this module must not, so it keeps
# its own label (same Na+/Na half-cell convention)
POTENTIAL_LABEL = "Potential / V vs Na$^{+}$/Na"
CAP_LABEL = {"mAh/g": "mA h g$^{-1}$", "mAh": "mA h"}


def _cap_unit(res, metric: str) -> str:
    u = res.metrics.loc[res.metrics["metric"] == metric, "unit"]
    return CAP_LABEL.get(u.iloc[0], u.iloc[0]) if len(u) else "mA h g$^{-1}$"


def _n_label(res, g: str) -> str:
    return f"{g} (n = {len(res.sheet.in_group(g))})"


def _replicates(ax, res, metric: str, i: int, g: str, scale: float = 1.0,
                band: str = "sd") -> bool:
    """Replicate points, mean line and band of one group; returns whether a flag was drawn."""
    st = group_style(i)
    m = res.metrics
    sel = m[(m["metric"] == metric) & (m["group"] == g) & m["value"].notna()]
    good, flagged = sel[sel["flag"].isna()], sel[sel["flag"].notna()]
    x = good["key"].astype(float).to_numpy()
    ax.scatter(x, good["value"].to_numpy(float) * scale, s=9, marker=st["marker"],
               facecolor="none", edgecolor=st["color"], linewidth=0.6, alpha=0.8, zorder=3)
    if len(flagged):
        ax.scatter(flagged["key"].astype(float).to_numpy(),
                   flagged["value"].to_numpy(float) * scale, s=16, marker=FLAG_MARKER,
                   color=st["color"], linewidth=0.8, zorder=4, gid="flagged")
    grp = res.groups
    gs = grp[(grp["metric"] == metric) & (grp["group"] == g) & grp["mean"].notna()]
    gs = gs.assign(_x=gs["key"].astype(float)).sort_values("_x")
    if len(gs):
        ax.plot(gs["_x"], gs["mean"] * scale, color=st["color"], linestyle=st["linestyle"],
                marker=st["marker"], markersize=3.5, label=_n_label(res, g), zorder=5)
        lo, hi = (("ci95_low", "ci95_high") if band == "ci95" else (None, None))
        if lo is None:
            sd = gs["sd"].astype(float)
            low, high = gs["mean"] - sd, gs["mean"] + sd
        else:
            low, high = gs[lo].astype(float), gs[hi].astype(float)
        ok = np.isfinite(low.to_numpy(float))
        if ok.any():
            ax.fill_between(gs["_x"].to_numpy()[ok], low.to_numpy(float)[ok] * scale,
                            high.to_numpy(float)[ok] * scale, color=st["color"], alpha=0.18,
                            linewidth=0, zorder=2)
    return bool(len(flagged))


def _unfinished(res, metric: str) -> int:
    """Flagged rows of ``metric`` that have no value (e.g. a cycle that never desodiated)."""
    m = res.metrics
    return int(((m["metric"] == metric) & m["flag"].notna() & m["value"].isna()).sum())


def _flag_legend(ax, flagged: bool, band: str, unfinished: int = 0) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(color="0.6", alpha=0.35, linewidth=0))
    labels.append("mean ± SD" if band == "sd" else "mean, 95 % CI")
    if flagged:
        handles.append(Line2D([], [], ls="", marker=FLAG_MARKER, color="0.2"))
        labels.append("flagged: incomplete cycle")
    if unfinished:
        # said in the figure itself: these cycles exist but have nothing to draw
        handles.append(Line2D([], [], ls=""))
        labels.append(f"{unfinished} unfinished cycle(s) not drawn (no value)")
    # above the axes, never over the data: a legend placed "best" can still hide a point
    ax.figure.legend(handles, labels, loc="outside upper center", ncols=2)


def capacity_ce_figure(res, *, band: str = "sd", metric: str = "desodiation_capacity") -> Any:
    """Desodiation capacity (top; or ``metric="sodiation_capacity"``) and CE (bottom) vs
    cycle, replicate bands per group."""
    with paper_style():
        fig, (ax1, ax2) = new_figure("single", aspect=1.05, nrows=2, sharex=True,
                                     height_ratios=[1.6, 1.0])
        flagged = False
        for i, g in enumerate(res.sheet.groups):
            flagged |= _replicates(ax1, res, metric, i, g, band=band)
            flagged |= _replicates(ax2, res, "coulombic_efficiency", i, g, 100.0, band=band)
        name = metric.split("_")[0].capitalize()
        ax1.set_ylabel(f"{name} capacity / {_cap_unit(res, metric)}")
        ax2.set_ylabel("CE / %")
        ax2.set_xlabel("Cycle number")
        ax2.axhline(100, color="0.5", lw=0.5, ls=":", zorder=1)
        from matplotlib.ticker import MaxNLocator

        ax2.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        fig.align_ylabels([ax1, ax2])
        _flag_legend(ax1, flagged, band, _unfinished(res, metric))
    return fig


def rate_figure(res, *, band: str = "sd") -> Any:
    """Mean desodiation capacity per rate step vs current per gram (log axis)."""
    with paper_style():
        fig, ax = new_figure("single", aspect=0.78)
        for i, g in enumerate(res.sheet.groups):
            _replicates(ax, res, "rate_capacity", i, g, band=band)
        ax.set_xscale("log")
        ax.set_xlabel("Current density / mA g$^{-1}$")
        ax.set_ylabel(f"Desodiation capacity / {_cap_unit(res, 'rate_capacity')}")
        _flag_legend(ax, False, band)
    return fig


def nyquist_figure(res) -> Any:
    """Each sample's first spectrum (markers) and its fitted circuit (line)."""
    with paper_style():
        fig, ax = new_figure("single", aspect=0.85)
        shown: set[str] = set()
        for i, g in enumerate(res.sheet.groups):
            st = group_style(i)
            for s in res.sheet.in_group(g):
                for r in res.files_of(s.name):
                    e = r.get("eis") if r["status"] == "ok" else None
                    if not e:
                        continue
                    zr, zi = np.array(e["Z_real_Ohm"], float), np.array(e["Z_imag_Ohm"], float)
                    fr = np.array(e["Z_fit_real_Ohm"], float)
                    fi = np.array(e["Z_fit_imag_Ohm"], float)
                    label = _n_label(res, g) if g not in shown else None
                    shown.add(g)
                    ax.scatter(zr, -zi, s=8, marker=st["marker"], facecolor="none",
                               edgecolor=st["color"], linewidth=0.6, label=label, zorder=3)
                    ax.plot(fr, -fi, color=st["color"], lw=0.9, zorder=4)
                    break               # the sample's first spectrum file
        ax.set_xlabel("Z′ / Ω")
        ax.set_ylabel("−Z″ / Ω")
        # equal scales on both axes (a semicircle must look like one); the box adapts, the
        # limits stay on the data so nothing is cut and no empty quadrant is shown
        ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
        ax.set_aspect("equal", adjustable="box")
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        ratio = min(max((y1 - y0) / (x1 - x0), 0.3), 1.3)
        w = fig.get_figwidth()
        # height for the equal-scale box plus room for labels and the legend row
        fig.set_size_inches(w, (w - 0.45) * ratio + 0.85)
        from matplotlib.lines import Line2D

        h, lab = ax.get_legend_handles_labels()
        h.append(Line2D([], [], color="0.2", lw=0.9))
        lab.append(f"fit: {_circuit(res)}")
        # above the axes: spectra fill the plot from corner to corner
        fig.legend(h, lab, loc="outside upper center", ncols=2)
    return fig


def _circuit(res) -> str:
    for r in res.files:
        if r.get("eis"):
            return r["eis"]["circuit"]
    return ""


def _representative(res, g: str) -> tuple[Any, Any] | None:
    """The first sample of a group with a cycling file, and that file's record."""
    for s in res.sheet.in_group(g):
        for r in res.files_of(s.name):
            if r["status"] == "ok" and r.get("kind") == "cycling":
                return s, r
    return None


def profiles_figure(res, *, cycles: list[int] | None = None) -> Any | None:
    """Voltage vs capacity of chosen cycles (default: 1, 2 and the last complete cycle)
    for the first sample of each group; one panel per group, shared axes."""
    from nasurf.analysis.cycling import voltage_profiles
    from nasurf.io import read

    reps = [(g, _representative(res, g)) for g in res.sheet.groups]
    reps = [(g, r) for g, r in reps if r is not None]
    if not reps:
        return None
    with paper_style():
        fig, axes = new_figure("double" if len(reps) > 1 else "single",
                               aspect=0.38 if len(reps) > 1 else 0.8, ncols=len(reps))
        axes = np.atleast_1d(axes)
        for ax, (g, (s, r)) in zip(axes, reps, strict=True):
            cy = r["cycling"]["cycles"]
            done = [c for c, ok in zip(cy["cycle"], cy["complete"], strict=True) if ok]
            want = cycles or sorted({*done[:2], *done[-1:]})
            prof = voltage_profiles(read(r["file"]), cycles=want, active_mass_g=s.mass_g)
            for j, c in enumerate(want):
                st = group_style(j)
                part = prof[prof["cycle"] == c]
                for k, (_, hc) in enumerate(part.groupby("half_cycle")):
                    ax.plot(hc["capacity"], hc["voltage_V"], color=st["color"],
                            linestyle=st["linestyle"], lw=0.9,
                            label=f"cycle {c}" if k == 0 else None)
            ax.set_title(f"{g}: {s.name}")
            ax.set_xlabel(f"Capacity / {CAP_LABEL.get(prof.attrs.get('capacity_unit'), 'mA h')}")
            ax.legend(loc="best")
        axes[0].set_ylabel(POTENTIAL_LABEL)
        # one potential scale for all panels (labelled once), wide enough for every curve
        lo = min(a.get_ylim()[0] for a in axes)
        hi = max(a.get_ylim()[1] for a in axes)
        for a in axes:
            a.set_ylim(lo, hi)
    return fig


def dqdv_figure(res, *, cycle: int | None = None) -> Any | None:
    """dQ/dV of one cycle (default: the second complete cycle, else the first) per group."""
    from nasurf.analysis.differential_capacity import dqdv
    from nasurf.io import read

    reps = [(g, _representative(res, g)) for g in res.sheet.groups]
    reps = [(i, g, r) for i, (g, r) in enumerate(reps) if r is not None]
    if not reps:
        return None
    with paper_style():
        fig, ax = new_figure("single", aspect=0.8)
        unit = "mA h"
        for i, g, (s, r) in reps:
            cy = r["cycling"]["cycles"]
            done = [c for c, ok in zip(cy["cycle"], cy["complete"], strict=True) if ok]
            c = cycle if cycle is not None else (done[1] if len(done) > 1 else done[0])
            d = dqdv(read(r["file"]), cycles=[c], active_mass_g=s.mass_g)
            unit = CAP_LABEL.get(d.capacity_unit, d.capacity_unit)
            st = group_style(i)
            for k, (_, part) in enumerate(d.table.groupby(["half_cycle"])):
                ax.plot(part["voltage_V"], part["dqdv"], color=st["color"],
                        linestyle=st["linestyle"], lw=0.9,
                        label=f"{g}: {s.name}, cycle {c}" if k == 0 else None)
        ax.axhline(0, color="0.5", lw=0.5, zorder=1)
        ax.set_xlabel(POTENTIAL_LABEL)
        ax.set_ylabel(f"dQ/dV / {unit} V$^{{-1}}$")
        ax.legend(loc="best")
    return fig


# the literature maps colour by strategy with the same palette: a study's groups are drawn
# in neutral fills (white, black, grey) with black edges so they never read as a strategy
_OVERLAY_FILLS = ("white", "black", "0.55", "0.8")


def _cv_sets(res) -> list[tuple[str, Any, dict[str, Any]]]:
    """(group, sample, CV-set result) of the first sample of each group with CV kinetics."""
    out = []
    for g in res.sheet.groups:
        for s in res.sheet.in_group(g):
            r = next((r for r in res.files if r.get("kind") == "cv_set"
                      and r.get("sample") == s.name and r["status"] == "ok"), None)
            if r is not None:
                out.append((g, s, r))
                break
    return out


def cv_envelope_figure(res) -> Any | None:
    """Measured CV at the middle scan rate with the Dunn capacitive envelope (k1·v) shaded,
    one panel per group (the group's first sample with a CV set)."""
    sets = _cv_sets(res)
    if not sets:
        return None
    with paper_style():
        fig, axes = new_figure("double" if len(sets) > 1 else "single",
                               aspect=0.36 if len(sets) > 1 else 0.8, ncols=len(sets),
                               sharex=False)
        axes = np.atleast_1d(axes)
        for i, (ax, (g, s, r)) in enumerate(zip(axes, sets, strict=True)):
            env = r["envelope"]
            st = group_style(i)
            br = np.array(env["branch"])
            e = np.array(env["potential_V"], float)
            cur = np.array(env["current"], float)
            cap = np.array(env["capacitive_current"], float)
            unit = r["dunn"].get("current_unit") or "A"
            for b in ("anodic", "cathodic"):
                m = br == b
                ax.fill_between(e[m], 0, cap[m], color=st["color"], alpha=0.3, linewidth=0,
                                label="capacitive (k$_1$v)" if b == "anodic" else None)
                ax.plot(e[m], cur[m], color="black", lw=0.9,
                        label="measured" if b == "anodic" else None)
            frac = dict(zip(r["dunn"]["scan_rate_V_s"], r["dunn"]["capacitive_fraction"],
                            strict=True)).get(env["scan_rate_V_s"])
            ax.axhline(0, color="0.5", lw=0.4)
            ax.set_title(f"{g}: {s.name}, {env['scan_rate_V_s'] * 1e3:g} mV s$^{{-1}}$"
                         + (f", capacitive {100 * frac:.0f} %" if frac is not None else ""))
            ax.set_xlabel(POTENTIAL_LABEL)
            ax.set_ylabel(f"Current / {unit.replace('A/g', 'A g$^{-1}$')}")
            ax.legend(loc="lower right")
        # one current scale for all panels (they compare directly), wide enough for all
        lo = min(a.get_ylim()[0] for a in axes)
        hi = max(a.get_ylim()[1] for a in axes)
        for a in axes:
            a.set_ylim(lo, hi)
    return fig


def capacitive_fraction_figure(res, *, band: str = "sd") -> Any:
    """Dunn capacitive fraction vs scan rate (log axis), replicate bands per group."""
    with paper_style():
        fig, ax = new_figure("single", aspect=0.75)
        for i, g in enumerate(res.sheet.groups):
            _replicates(ax, res, "capacitive_fraction", i, g, 100.0, band=band)
        ax.set_xscale("log")
        ax.set_xlabel("Scan rate / mV s$^{-1}$")
        ax.set_ylabel("Capacitive fraction / %")
        _flag_legend(ax, False, band)
    return fig


def _overlay(ax, res, pts: list[tuple[str, float, float, float | None, float | None]]) -> None:
    for name in res.sheet.groups:
        mine = sorted((p for p in pts if p[0] == name), key=lambda p: p[1])
        if not mine:
            continue
        i = res.sheet.groups.index(name)
        x = [p[1] for p in mine]
        y = [p[2] for p in mine]
        lo = [p[2] - p[3] if p[3] is not None else 0.0 for p in mine]
        hi = [p[4] - p[2] if p[4] is not None else 0.0 for p in mine]
        ax.errorbar(x, y, yerr=[lo, hi], marker="*", markersize=10,
                    markerfacecolor=_OVERLAY_FILLS[i % len(_OVERLAY_FILLS)],
                    markeredgecolor="black", markeredgewidth=0.7, color="black", ecolor="black",
                    elinewidth=0.7, capsize=2, lw=0.7, ls="-" if len(x) > 1 else "",
                    zorder=8, label=f"this study: {name} (mean, 95 % CI)")


def kb_rate_figure(res, kb=None) -> Any | None:
    """The groups' rate capacities (mean, 95 % CI) on the knowledge base's rate map."""
    from nasurf.knowledge.plots import rate_map

    g = res.groups
    g = g[(g["metric"] == "rate_capacity") & g["mean"].notna() & (g["unit"] == "mAh/g")]
    if g.empty:
        return None
    kb = kb if kb is not None else _kb()
    with paper_style():
        fig = rate_map(kb, title="This study among the review's surface-engineered anodes")
        ax = fig.axes[0]
        pts = [(r["group"], float(r["key"]), float(r["mean"]), _num(r["ci95_low"]),
                _num(r["ci95_high"])) for _, r in g.iterrows()]
        _overlay(ax, res, pts)
        _dedupe_legend(ax)
    return fig


def kb_cycling_figure(res, kb=None) -> Any | None:
    """The groups' last-cycle capacity (mean, 95 % CI) on the knowledge base's cycling map."""
    from nasurf.knowledge.plots import cycling_map

    g = res.groups
    g = g[(g["metric"] == "desodiation_capacity") & g["mean"].notna() & (g["unit"] == "mAh/g")]
    if g.empty:
        return None
    kb = kb if kb is not None else _kb()
    pts = []
    for name in res.sheet.groups:
        sel = g[g["group"] == name]
        if sel.empty:
            continue
        last = sel.loc[sel["key"].astype(float).idxmax()]
        pts.append((name, float(last["key"]), float(last["mean"]), _num(last["ci95_low"]),
                    _num(last["ci95_high"])))
    with paper_style():
        fig = cycling_map(kb, title="This study among the review's surface-engineered anodes")
        _overlay(fig.axes[0], res, pts)
        _dedupe_legend(fig.axes[0])
    return fig


def _dedupe_legend(ax) -> None:
    h, lab = ax.get_legend_handles_labels()
    if h:
        # below the axes (laid out by constrained layout): a legend inside would hide
        # literature points
        ax.figure.legend(h, lab, loc="outside lower center", ncols=1,
                         fontsize=8, frameon=False)


_num = finite_or_none


def _kb():
    from nasurf.knowledge.store import open_kb

    return open_kb()


def study_figures(res, out_dir: str | Path, *, kb=None,
                  profile_cycles: list[int] | None = None) -> list[Path]:
    """Draw every figure that the study's data support and save SVG, PDF, 600 dpi PNG;
    ``profile_cycles`` chooses the voltage-profile cycles (default 1, 2 and the last)."""
    out = Path(out_dir)
    figs: dict[str, Any] = {}
    has = set(res.metrics["metric"]) if isinstance(res.metrics, pd.DataFrame) else set()
    if "desodiation_capacity" in has:
        figs["capacity_ce"] = capacity_ce_figure(res)
        figs["voltage_profiles"] = profiles_figure(res, cycles=profile_cycles)
        figs["dqdv"] = dqdv_figure(res)
        figs["kb_cycling_map"] = kb_cycling_figure(res, kb)
    if "rate_capacity" in has:
        figs["rate_capability"] = rate_figure(res)
        figs["kb_rate_map"] = kb_rate_figure(res, kb)
    if "eis_R_ct" in has:
        figs["nyquist"] = nyquist_figure(res)
    if "capacitive_fraction" in has:
        figs["cv_capacitive_envelope"] = cv_envelope_figure(res)
        figs["capacitive_fraction"] = capacitive_fraction_figure(res)
    written: list[Path] = []
    for name, fig in figs.items():
        if fig is not None:
            written.extend(save(fig, out / name))
    return written
