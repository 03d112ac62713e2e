"""The simulation section of ``nasurf demo``: rate capability of Na2Ti3O7, untreated
against the strategy presets (figure and table)."""

from __future__ import annotations

import base64
import html
from typing import Any

# presets whose galvanostatic runs use the exact engine (fast: well under a second in total)
_DEMO_STRATEGIES = ("none", "surface_oxygen_vacancies", "heterointerfaces",
                    "interfacial_chemical_bonds")
DEMO_CURRENTS_MA_G = (17.8, 35.5, 88.9, 177.7, 355.0, 888.0, 1777.0)


def demo_figure() -> tuple[Any, list[tuple[str, list[float]]]]:
    """The demo's rate-capability figure and its rows (strategy, capacities per step)."""
    from nasurf.sim.experiment import rate_capability
    from nasurf.sim.simulate import simulate
    from nasurf.sim.workflows import rate_figure, rate_table

    exp = rate_capability(list(DEMO_CURRENTS_MA_G))
    tables = {s: rate_table(simulate("na2ti3o7", exp, strategy=s)) for s in _DEMO_STRATEGIES}
    rows = [(s, [t["desodiation_mAh_g"] for t in tab]) for s, tab in tables.items()]
    return rate_figure(tables), rows


def demo_section() -> tuple[str, str]:
    """(title, html) with a plot and a table of simulated rate capability."""
    from nasurf.figures.style import to_svg

    fig, rows = demo_figure()
    # a vector image (SVG) as a data URI: sharp at any zoom, still one self-contained page
    img = base64.b64encode(to_svg(fig).encode()).decode()
    currents = DEMO_CURRENTS_MA_G
    head = "".join(f"<th>{c:g}</th>" for c in currents)
    body = "".join(
        f"<tr><td>{html.escape(s)}</td>" + "".join(f"<td>{v:.1f}</td>" for v in q[:-1])
        + "</tr>" for s, q in rows)
    doc = (f"<p>Simulated Na2Ti3O7 half cell (nasurf simulator, core-shell particle model), "
           f"desodiation capacity in mAh/g per current (mA/g).</p>"
           f"<img src='data:image/svg+xml;base64,{img}' alt='rate capability' "
           f"style='max-width:100%'/>"
           f"<table><tr><th>strategy</th>{head}</tr>{body}</table>")
    return "Simulation: rate capability of surface-engineered Na2Ti3O7", doc


def _provider(ctx: object) -> tuple[str, str]:
    """Section provider for :mod:`nasurf.report.demo` (the context is not needed)."""
    del ctx
    return demo_section()


def demo_sections() -> list:
    """Providers for ``nasurf demo``: the simulated rate capability of Na2Ti3O7."""
    return [_provider]
