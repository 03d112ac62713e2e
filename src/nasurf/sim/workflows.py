"""What the ``nasurf simulate`` commands run, as library functions.

Each study simulates one protocol, writes the canonical CSV files (+ ``.json`` sidecars)
into ``out`` when given, and returns a :class:`Study`: the JSON-ready summary the command
prints and the :class:`~nasurf.sim.simulate.SimulationResult` behind it. The command line
(:mod:`nasurf.sim.cli`) adds only option parsing, limits and printing, so a Python user
gets the same tables without rewriting a command.

Conventions: currents anodic positive; capacities in mAh per g of active material as
positive magnitudes per process (sodiation / desodiation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasurf.options import choose
from nasurf.sim.parameters import ParameterSet
from nasurf.sim.simulate import SimulationResult, simulate, write_echem_csv

#: protocols :func:`compare_strategies` runs
COMPARE_PROTOCOLS = ("rate", "cv", "cycling")

Material = str | Path | ParameterSet


@dataclass(frozen=True)
class Study:
    """A study's JSON-ready summary, its simulations and (for comparisons) its figure."""

    summary: dict[str, Any]
    results: tuple[SimulationResult, ...]
    figure: Any = None


def write_results(result: SimulationResult, out: Path, stem: str) -> list[str]:
    """Each batch member's table as ``out/stem[_b].csv`` (+ sidecar); the paths written."""
    paths = []
    for b, data in enumerate(result.data):
        suffix = f"_{b}" if len(result.data) > 1 else ""
        paths.append(str(write_echem_csv(data, Path(out) / f"{stem}{suffix}.csv")))
    return paths


def rate_table(result: SimulationResult) -> list[dict]:
    """Desodiation/sodiation capacity per current step (last cycle at each current).

    A row whose step ended at once keeps its place with a ``note`` saying why it holds no
    capacity (a row never disappears from the table).
    """
    rows: list[dict] = []
    for rec in result.steps[0]:
        if rec.kind not in ("sodiate", "desodiate"):
            continue
        cur = abs(rec.current_mA_g)
        if not rows or rows[-1]["current_mA_g"] != cur or (
                rec.kind == "sodiate" and rows[-1].get("_closed")):
            rows.append({"current_mA_g": cur, "sodiation_mAh_g": 0.0,
                         "desodiation_mAh_g": 0.0})
        key = "sodiation_mAh_g" if rec.kind == "sodiate" else "desodiation_mAh_g"
        rows[-1][key] = abs(rec.charge_mAh_g)
        rows[-1]["_closed"] = rec.kind == "desodiate"
        if rec.duration_s <= 0.0:
            # the row stays in the table; it says why it holds no capacity
            rows[-1].setdefault("note", f"{rec.kind} step ended at once at "
                                f"{rec.end_voltage_V:.3f} V: the cut-off was reached at the "
                                "first instant (ohmic + kinetic drop at this current)")
    for r in rows:
        r.pop("_closed", None)
    return rows


def rate_figure(tables: dict[str, list[dict]]) -> Any:
    """Desodiation capacity against current per gram (numeric log axis), one curve per
    strategy. Steps after the highest current (the return to a low rate) are drawn as
    hollow markers, not joined to the ramp: they are the recovery, not a new rate."""
    import numpy as np

    from nasurf.figures.style import group_style, new_figure, paper_style

    with paper_style():
        fig, ax = new_figure("single", aspect=0.78)
        recovered = False
        for k, (name, tab) in enumerate(tables.items()):
            st = group_style(k)
            cur = np.array([t["current_mA_g"] for t in tab], float)
            q = np.array([t["desodiation_mAh_g"] for t in tab], float)
            top = int(np.argmax(cur)) + 1 if cur.size else 0
            label = "untreated" if name == "none" else name.replace("_", " ")
            ax.plot(cur[:top], q[:top], color=st["color"], marker=st["marker"],
                    linestyle=st["linestyle"], label=label)
            if top < cur.size:
                recovered = True
                ax.plot(cur[top:], q[top:], ls="none", marker=st["marker"], mfc="none",
                        color=st["color"], ms=5)
        if recovered:
            ax.plot([], [], ls="none", marker="o", mfc="none", color="0.3",
                    label="back at low current")
        ax.set_xscale("log")
        ax.set_xlabel("Current density / mA g$^{-1}$")
        ax.set_ylabel("Desodiation capacity / mA h g$^{-1}$")
        # zero is on the axis, with a margin below: a capacity of 0 (the cut-off reached at
        # once) must show as a whole marker, not half of one clipped by the frame
        top = ax.get_ylim()[1]
        ax.set_ylim(-0.04 * top, top)
        # above the axes: inside, the legend would sit on the low-rate plateau
        fig.legend(loc="outside upper center", ncols=2)
    return fig


def rate_study(material: Material, currents_mA_g: Sequence[float], *,
               strategy: str | Path | None = "none", cycles_per_rate: int = 1,
               out: Path | None = None) -> Study:
    """Rate capability: each current in turn, then back to the first; the rate table."""
    from nasurf.sim.experiment import rate_capability

    r = simulate(material, rate_capability(list(currents_mA_g),
                 cycles_per_rate=cycles_per_rate), strategy=strategy)
    files = write_results(r, out, "rate") if out is not None else []
    summary = r.summary()
    summary["rate_table"] = rate_table(r)
    summary["files"] = files
    return Study(summary, (r,))


def cv_study(material: Material, scan_rates_mV_s: Sequence[float], *,
             strategy: str | Path | None = "none", high_V: float = 3.0, low_V: float = 0.01,
             cycles: int = 2, out: Path | None = None) -> Study:
    """Cyclic voltammetry at each scan rate; the extreme currents of the last cycle (A/g)."""
    from nasurf.sim.experiment import cyclic_voltammetry

    rows, files, results = [], [], []
    for v in scan_rates_mV_s:
        r = simulate(material, cyclic_voltammetry(v, high_V=high_V, low_V=low_V,
                                                  cycles=cycles), strategy=strategy)
        if out is not None:
            files += write_results(r, out, f"cv_{v:g}mVs")
        d = r.echem().data
        last = d[d["Cycle Count / 1"] == d["Cycle Count / 1"].max()]
        mass = r.echem().metadata.active_mass_g
        rows.append({"scan_rate_mV_s": v,
                     "peak_cathodic_A_g": float(last["Current / A"].min() / mass),
                     "peak_anodic_A_g": float(last["Current / A"].max() / mass)})
        results.append(r)
    summary = {"material": r.params.name, "strategy": r.params.strategy, "scan_rates": rows,
               "files": files, "conventions": r.conventions}
    return Study(summary, tuple(results))


def gitt_study(material: Material, current: str = "20 mA g-1", *, pulse: str = "10 minutes",
               rest: str = "1 hour", pulses: int = 30, strategy: str | Path | None = "none",
               out: Path | None = None) -> Study:
    """Galvanostatic intermittent titration: sodiation pulses until the cut-off."""
    from nasurf.sim.experiment import gitt

    r = simulate(material, gitt(current, pulse=pulse, rest=rest, pulses=pulses),
                 strategy=strategy)
    summary = r.summary()
    summary["files"] = write_results(r, out, "gitt") if out is not None else []
    return Study(summary, (r,))


def cycling_study(material: Material, current: str = "100 mA g-1", *, cycles: int = 100,
                  strategy: str | Path | None = "none", out: Path | None = None) -> Study:
    """Long galvanostatic cycling with degradation; per-cycle capacities in the summary."""
    from nasurf.sim.experiment import galvanostatic_cycling

    r = simulate(material, galvanostatic_cycling(current, cycles=cycles), strategy=strategy)
    files = write_results(r, out, "cycling") if out is not None else []
    summary = r.summary()
    summary.pop("steps")
    summary["files"] = files
    return Study(summary, (r,))


def compare_strategies(material: Material, protocol: str = "rate",
                       strategies: Sequence[str] = ("none", "surface_oxygen_vacancies"), *,
                       out: Path | None = None) -> Study:
    """One protocol for several strategy presets, with a figure comparing them.

    ``protocol``: ``rate`` (the default rate test), ``cv`` (one cycle at 0.5 mV/s) or
    ``cycling`` (50 cycles at 100 mA/g). The summary's ``results`` hold the rate tables,
    the CV's largest current or the per-cycle capacities per strategy.
    """
    from nasurf.figures.style import group_style, new_figure, paper_style
    from nasurf.sim.experiment import cyclic_voltammetry, galvanostatic_cycling, rate_capability

    protocol = choose("protocol", protocol, COMPARE_PROTOCOLS, where="compare_strategies")
    exp = {"rate": lambda: rate_capability(),
           "cv": lambda: cyclic_voltammetry(0.5, cycles=1),
           "cycling": lambda: galvanostatic_cycling("100 mA g-1", cycles=50)}[protocol]()
    results: dict[str, Any] = {}
    runs: dict[str, SimulationResult] = {}
    for name in strategies:
        r = simulate(material, exp, strategy=name)
        if out is not None:
            write_results(r, out, f"{protocol}_{name}")
        runs[name] = r
    if protocol == "rate":
        results = {name: rate_table(r) for name, r in runs.items()}
        fig = rate_figure(results)
    else:
        with paper_style():
            fig, ax = new_figure("single", aspect=0.78)
            for k, (name, r) in enumerate(runs.items()):
                st = group_style(k)
                line = {"color": st["color"], "linestyle": st["linestyle"],
                        "label": "untreated" if name == "none" else name.replace("_", " ")}
                if protocol == "cv":
                    d = r.echem().data
                    m = r.echem().metadata.active_mass_g
                    results[name] = {"max_A_g": float(d["Current / A"].max() / m)}
                    ax.plot(d["Voltage / V"], d["Current / A"] / m, **line)
                else:
                    cyc = r.cycle_capacities()
                    results[name] = cyc.to_dict(orient="records")
                    ax.plot(cyc["cycle"], cyc["desodiation_mAh_g"], **line)
            if protocol == "cv":
                ax.axhline(0, color="0.6", lw=0.5)
                ax.set_xlabel("Potential / V vs Na$^{+}$/Na")
                ax.set_ylabel("Current / A g$^{-1}$ (anodic > 0)")
            else:
                ax.set_xlabel("Cycle number")
                ax.set_ylabel("Desodiation capacity / mA h g$^{-1}$")
            fig.legend(loc="outside upper center", ncols=2)
    summary = {"protocol": protocol, "material": str(material), "results": results}
    return Study(summary, tuple(runs.values()), fig)


__all__ = [
    "COMPARE_PROTOCOLS",
    "Study",
    "compare_strategies",
    "cv_study",
    "cycling_study",
    "gitt_study",
    "rate_figure",
    "rate_study",
    "rate_table",
    "write_results",
]
