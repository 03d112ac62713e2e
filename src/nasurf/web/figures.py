"""Figure files (PDF, SVG, 600 dpi PNG) of every stored result and of the knowledge-base maps.

Every file is written by the project's one figure writer,
:func:`nasurf.figures.style.write_figure`, in the paper style. Where the library draws a
figure itself it is used: cycling results are analysed again from their stored inputs
(the parsed table of the content store, so this costs the analysis, not a parse) and
drawn by :mod:`nasurf.analysis.plots_cycling`, exactly as ``nasurf analyze cycling``
draws them; the knowledge-base maps are :mod:`nasurf.knowledge.plots`. The others (CV,
GITT, EIS, simulations) are drawn here from the stored document, i.e. from the same
numbers the page plots. Drawing runs in a child process (:mod:`nasurf.web.simproc`):
matplotlib would hold the server's interpreter lock for hundreds of milliseconds.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from nasurf.errors import ValidationError

FORMATS = {"pdf": "application/pdf", "svg": "image/svg+xml", "png": "image/png"}
KB_FIGURES = ("rate_map", "cycling_map")


def figure_names(kind: str, doc: dict[str, Any]) -> list[str]:
    """The figures a result offers as files (the study's are in :mod:`nasurf.web.groups`)."""
    if kind == "cycling":
        names = ["capacity_ce", "voltage_profiles"]
        if (doc.get("series") or {}).get("dqdv"):
            names.append("dqdv")
        if doc.get("rate_capability"):
            names.append("rate_capability")
        return names
    if kind == "cv":
        return ["b_map", *(["capacitive_fraction"] if doc.get("dunn") else [])]
    if kind == "gitt":
        return ["diffusivity"] if doc.get("pulses") else []
    if kind == "eis":
        return ["nyquist", "bode"]
    if kind == "sim_compare":
        return ["comparison"]
    if kind == "sim_fit":
        return ["fit"] if doc.get("overlay") else []
    if kind == "sim_sweep":
        return ["sweep"]
    if kind == "sim_validate":
        return ["validation"]
    return []


def _check(name: str, fmt: str, names: list[str] | tuple[str, ...]) -> None:
    if fmt not in FORMATS:
        raise ValidationError(f"expected one of {', '.join(FORMATS)}, got {fmt!r}",
                              field="format")
    if name not in names:
        raise ValidationError(f"no figure {name!r} here; there are "
                              f"{', '.join(names) or 'none'}", field="figure")


def _bytes(fig: Any, name: str, fmt: str) -> bytes:
    from nasurf.figures.style import write_figure

    with tempfile.TemporaryDirectory(prefix="nasurf-fig-") as tmp:
        return write_figure(fig, Path(tmp) / f"{name}.{fmt}").read_bytes()


def result_figure_file(blobs: str, result: dict[str, Any], name: str, fmt: str,
                       progress: Any = None) -> bytes:
    """One figure of a stored result as PDF, SVG or PNG (run in a child process)."""
    kind, doc = result["kind"], result["doc"]
    _check(name, fmt, figure_names(kind, doc))
    if kind == "cycling":
        fig = _cycling(blobs, result, name)
    else:
        fig = _DRAW[kind](doc, name, result.get("options") or {})
    return _bytes(fig, name, fmt)


def kb_figure_file(kb_path: str, params: dict[str, str], name: str, fmt: str,
                   progress: Any = None) -> bytes:
    """The rate or cycling map of the knowledge base, with the page's filters."""
    from nasurf.knowledge import KnowledgeBase, plots, query
    from nasurf.web.kb import query_kwargs

    _check(name, fmt, KB_FIGURES)
    kw = query_kwargs(params)
    kw["distinct"] = False      # the map functions keep one point per measurement
    with KnowledgeBase.open(kb_path) as kb:
        df = query(kb, **kw)
    fig = plots.rate_map(df) if name == "rate_map" else plots.cycling_map(df)
    return _bytes(fig, name, fmt)


# ------------------------------------------------------------------ cycling (library)
def _cycling(blobs: str, result: dict[str, Any], name: str) -> Any:
    from nasurf.analysis import plots_cycling as pc
    from nasurf.analysis.cycling import cycling_summary, voltage_profiles
    from nasurf.analysis.differential_capacity import dqdv
    from nasurf.web.analyses import BlobStore, load, normalise_cycling_options

    opts = normalise_cycling_options(result["options"])
    inputs = result["inputs"]
    row = {"id": inputs["file_ids"][0], "sha256": inputs["sha256"][0],
           "name": inputs.get("label") or "file"}
    mass_g = opts["mass_mg"] / 1e3 if opts["mass_mg"] else None
    data = load(BlobStore(Path(blobs)), row, active_mass_g=mass_g, area_cm2=opts["area_cm2"])
    res = cycling_summary(
        data, active_mass_g=mass_g, area_cm2=opts["area_cm2"], reference=opts["reference"],
        formation_cycles=opts["formation_cycles"], cycle_mode=opts["cycle_mode"],
        basis_mAh_g=opts["basis_mAh_g"], include_cv_steps=not opts["exclude_cv"],
        capacity_source=opts["capacity_source"])
    if name == "capacity_ce":
        return pc.capacity_ce_figure(res)
    if name == "rate_capability":
        return pc.rate_capability_figure(res)
    # the cycles the page shows (the first and last three)
    cycles = [int(c) for c in res.cycles["cycle"] if c >= 1]
    shown = cycles if len(cycles) <= 6 else [*cycles[:3], *cycles[-3:]]
    reference = data.metadata.electrode_reference
    if name == "voltage_profiles":
        prof = voltage_profiles(data, active_mass_g=res.active_mass_g, cycles=shown,
                                cycle_mode=opts["cycle_mode"])
        return pc.voltage_profile_figure(prof, cycles=shown, reference=reference)
    dq = dqdv(data, active_mass_g=res.active_mass_g, cycles=shown,
              cycle_mode=opts["cycle_mode"])
    return pc.dqdv_figure(dq, cycles=shown, reference=reference)


# ------------------------------------------------------------------ from the stored document
def _fig(aspect: float = 0.75, width: str = "single"):
    from nasurf.figures.style import new_figure

    return new_figure(width, aspect=aspect)


def _legend(ax: Any, fig: Any = None) -> None:
    """In the axes, or (``fig``: several or long labels) below them, outside the data."""
    if not ax.get_legend_handles_labels()[0]:
        return
    if fig is None:
        ax.legend(frameon=False)
    else:
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2,
                   frameon=False)


def _short(text: str, n: int = 32) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _cv(doc: dict, name: str, options: dict) -> Any:
    import numpy as np

    from nasurf.figures.style import group_style, paper_style

    with paper_style():
        fig, ax = _fig()
        if name == "b_map":
            for i, branch in enumerate(("anodic", "cathodic")):
                b = (doc.get("b_map") or {}).get(branch)
                if b:
                    st = group_style(i)
                    ax.plot(b["potential_V"], [np.nan if v is None else v for v in b["b"]],
                            color=st["color"], ls=st["linestyle"], label=f"b(E) {branch}")
            ax.axhline(0.5, color="grey", lw=0.5, ls=":")
            ax.axhline(1.0, color="grey", lw=0.5, ls=":")
            ax.set_ylim(0, 1.2)
            ax.set_xlabel("Potential (V)")
            ax.set_ylabel("b")
        else:
            dunn = doc["dunn"]
            key = next(k for k in dunn[0] if "capacitive" in k and "fraction" in k)
            rate = next(k for k in dunn[0] if "scan_rate" in k)
            x = np.arange(len(dunn))
            ax.bar(x, [100 * (r[key] or 0) for r in dunn], color=group_style(0)["color"])
            ax.set_xticks(x, [f"{r[rate]:.3g}" for r in dunn])
            ax.set_xlabel("Scan rate (mV s$^{-1}$)")
            ax.set_ylabel("Capacitive fraction (%)")
            ax.set_ylim(0, 100)
        _legend(ax)
    return fig


def _gitt(doc: dict, name: str, options: dict) -> Any:
    from nasurf.figures.style import group_style, paper_style

    pulses = doc["pulses"]
    dk = next((k for k in pulses[0] if k.startswith("D_")), None)
    xk = next((k for k in pulses[0] if any(s in k for s in ("soc", "state", "x_"))), "pulse")
    if dk is None:
        raise ValidationError("this GITT result has no diffusivity column", field="figure")
    pts = [(p.get(xk), p.get(dk)) for p in pulses if p.get(dk) and p.get(xk) is not None]
    with paper_style():
        fig, ax = _fig()
        st = group_style(0)
        ax.plot([a for a, _ in pts], [b for _, b in pts], marker=st["marker"],
                color=st["color"], ls="-")
        ax.set_yscale("log")
        ax.set_xlabel(xk.replace("_", " "))
        ax.set_ylabel(f"{dk.split('_')[0]} ({dk.split('_', 1)[1].replace('_', ' ')})"
                      if "_" in dk else dk)
    return fig


def _eis(doc: dict, name: str, options: dict) -> Any:
    import numpy as np

    from nasurf.figures.style import group_style, paper_style

    m = doc["measured"]
    f, re_, im = (np.asarray(m[k], dtype=float) for k in ("f", "re", "im"))
    with paper_style():
        fig, ax = _fig()
        st = group_style(0)
        if name == "nyquist":
            ax.plot(re_, -im, st["marker"], mfc="none", color=st["color"], label="measured")
            for i, c in enumerate(doc.get("fit_curves") or []):
                ax.plot(c["re"], -np.asarray(c["im"], dtype=float),
                        color=group_style(i + 1)["color"], label=f"fit {c['spectrum']}")
            ax.set_aspect("equal", adjustable="datalim")
            ax.set_xlabel("Z' (Ω)")
            ax.set_ylabel("−Z'' (Ω)")
        else:
            ax.loglog(f, np.hypot(re_, im), st["marker"], mfc="none", color=st["color"],
                      label="|Z| measured")
            for i, c in enumerate(doc.get("fit_curves") or []):
                ax.loglog(c["f"], np.hypot(c["re"], c["im"]), color=group_style(i + 1)["color"],
                          label=f"|Z| fit {c['spectrum']}")
            ax.set_xlabel("Frequency (Hz)")
            ax.set_ylabel("|Z| (Ω)")
        _legend(ax)
    return fig


def _sim_compare(doc: dict, name: str, options: dict) -> Any:
    import numpy as np

    from nasurf.figures.style import group_style, paper_style

    protocol = doc["protocol"]
    m = doc.get("measured")
    with paper_style():
        fig, ax = _fig(0.8)
        for i, run in enumerate(doc["runs"]):
            st = group_style(i)
            if protocol in ("rate", "cycling"):
                t = run.get("table") or []
                x = [r.get("current_mA_g" if protocol == "rate" else "cycle") for r in t]
                y = [r.get("desodiation_mAh_g") for r in t]
                ax.plot(x, [np.nan if v is None else v for v in y], marker=st["marker"],
                        color=st["color"], ls=st["linestyle"], label=run["strategy"])
            else:
                s = run["series"]
                x, y = ((s["time_h"], s["voltage_V"]) if protocol == "gitt"
                        else (s["voltage_V"], s["current_A_g"]))
                ax.plot(x, y, color=st["color"], ls=st["linestyle"], label=run["strategy"])
        if m:
            what = f" ({m['process']})" if m.get("process") not in (None, "desodiation") else ""
            label = f"measured{what}: {_short((m.get('file') or {}).get('name') or m.get('name'))}"
            if protocol == "rate":
                ax.plot(m["current_mA_g"], m["capacity_mAh_g"], "o", mfc="none",
                        color="black", label=label)
            elif protocol == "cycling":
                ax.plot(m["cycle"], m["capacity_mAh_g"], "o", mfc="none", ms=2.5,
                        color="black", label=label)
            elif protocol == "gitt":
                ax.plot(m["time_h"], m["voltage_V"], color="black", lw=0.8, label=label)
            else:
                ax.plot(m["voltage_V"], m["current_A_g"], color="black", lw=0.8, label=label)
        # the measured file's second half cycle is a sodiation if it is not an anode
        cap = ("Capacity" if m and m.get("process") not in (None, "desodiation")
               else "Desodiation capacity") + " (mAh g$^{-1}$)"
        if protocol == "rate":
            ax.set_xscale("log")
            ax.set_xlabel("Current (mA g$^{-1}$)")
            ax.set_ylabel(cap)
        elif protocol == "cycling":
            ax.set_xlabel("Cycle number")
            ax.set_ylabel(cap)
            ax.set_ylim(bottom=0)
        elif protocol == "gitt":
            ax.set_xlabel("Time (h)")
            ax.set_ylabel("Potential (V vs Na$^{+}$/Na)")
        else:
            ax.set_xlabel("Potential (V vs Na$^{+}$/Na)")
            ax.set_ylabel("Current (A g$^{-1}$, anodic +)")
        ax.set_title(f"{doc['material']}: {protocol}")
        _legend(ax, fig)
    return fig


def _sim_fit(doc: dict, name: str, options: dict) -> Any:
    from nasurf.figures.style import group_style, paper_style

    o = doc["overlay"]
    with paper_style():
        fig, ax = _fig()
        ax.plot(o["capacity_mAh_g"], o["measured_V"], "o", ms=1.5, color="black",
                label="measured")
        ax.plot(o["capacity_mAh_g"], o["simulated_V"], color=group_style(1)["color"],
                label="best fit")
        ax.set_xlabel("Capacity (mAh g$^{-1}$)")
        ax.set_ylabel("Potential (V vs Na$^{+}$/Na)")
        ax.set_title(f"RMS {1e3 * doc['residual_rms']:.3g} mV at "
                     f"{o['current_mA_g']:.3g} mA g$^{{-1}}$")
        _legend(ax)
    return fig


def _sim_sweep(doc: dict, name: str, options: dict) -> Any:
    import numpy as np

    from nasurf.figures.style import group_style, paper_style

    metric = options.get("figure_metric") or doc["metrics"][0]
    p0 = doc["parameters"][0]
    p1 = doc["parameters"][1] if len(doc["parameters"]) > 1 else None
    groups: dict[str, list[dict]] = {}
    for r in doc["rows"]:
        groups.setdefault(f"{p1} = {r[p1]:.3g}" if p1 else metric, []).append(r)
    with paper_style():
        fig, ax = _fig()
        for i, (label, rows) in enumerate(groups.items()):
            st = group_style(i)
            ax.plot([r[p0] for r in rows], [np.nan if r.get(metric) is None else r[metric]
                                            for r in rows],
                    marker=st["marker"], color=st["color"], ls=st["linestyle"], label=label)
        xs = [r[p0] for r in doc["rows"] if r[p0] and r[p0] > 0]
        if xs and max(xs) / min(xs) > 50:
            ax.set_xscale("log")
        ax.set_xlabel(p0)
        ax.set_ylabel(metric)
        if p1:
            _legend(ax)
    return fig


def _sim_validate(doc: dict, name: str, options: dict) -> Any:
    from nasurf.figures.style import group_style, paper_style

    rows = [r for r in doc["rows"] if r.get("simulated_mAh_g") is not None
            and r.get("reported_mAh_g") is not None]
    hosts = list(dict.fromkeys(r["host"] for r in rows))
    with paper_style():
        fig, ax = _fig(0.9)
        top = max([10.0, *(max(r["reported_mAh_g"], r["simulated_mAh_g"]) for r in rows)])
        ax.plot([0, top], [0, top], ls=":", color="grey", label="simulated = reported")
        for i, h in enumerate(hosts):
            st = group_style(i)
            rs = [r for r in rows if r["host"] == h]
            ax.plot([r["reported_mAh_g"] for r in rs], [r["simulated_mAh_g"] for r in rs],
                    st["marker"], color=st["color"], ls="none", label=h)
        ax.set_xlabel("Reported capacity (mAh g$^{-1}$)")
        ax.set_ylabel("Simulated capacity (mAh g$^{-1}$)")
        _legend(ax)
    return fig


_DRAW = {"cv": _cv, "gitt": _gitt, "eis": _eis, "sim_compare": _sim_compare,
         "sim_fit": _sim_fit, "sim_sweep": _sim_sweep, "sim_validate": _sim_validate}
