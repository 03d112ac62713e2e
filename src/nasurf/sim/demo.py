"""Simulation section of ``nasurf demo``: rate capability of Na2Ti3O7, untreated vs presets."""

from __future__ import annotations

import base64
import html
import io

# presets whose galvanostatic runs use the exact engine (fast: well under a second in total)
_DEMO_STRATEGIES = ("none", "surface_oxygen_vacancies", "heterointerfaces",
                    "interfacial_chemical_bonds")


def demo_section() -> tuple[str, str]:
    """(title, html) with a plot and a table of simulated rate capability."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nasurf.sim.cli import rate_table
    from nasurf.sim.experiment import rate_capability
    from nasurf.sim.simulate import simulate

    currents = [17.8, 35.5, 88.9, 177.7, 355.0, 888.0, 1777.0]
    exp = rate_capability(currents)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    rows = []
    for s in _DEMO_STRATEGIES:
        tab = rate_table(simulate("na2ti3o7", exp, strategy=s))
        q = [t["desodiation_mAh_g"] for t in tab]
        ax.plot(range(len(q)), q, "o-", label=s)
        rows.append((s, q))
    ax.set_xticks(range(len(currents) + 1), [f"{c:g}" for c in currents] + [f"{currents[0]:g}"])
    ax.set_xlabel("current (mA g$^{-1}$)")
    ax.set_ylabel("desodiation capacity (mAh g$^{-1}$)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    img = base64.b64encode(buf.getvalue()).decode()
    head = "".join(f"<th>{c:g}</th>" for c in currents)
    body = "".join(
        f"<tr><td>{html.escape(s)}</td>" + "".join(f"<td>{v:.1f}</td>" for v in q[:-1])
        + "</tr>" for s, q in rows)
    doc = (f"<p>Simulated Na2Ti3O7 half cell (nasurf simulator, core-shell particle model), "
           f"desodiation capacity in mAh/g per current (mA/g).</p>"
           f"<img src='data:image/png;base64,{img}' alt='rate capability'/>"
           f"<table><tr><th>strategy</th>{head}</tr>{body}</table>")
    return "Simulation: rate capability of surface-engineered Na2Ti3O7", doc


def _provider(ctx: object) -> tuple[str, str]:
    """Section provider for :mod:`nasurf.report.demo` (the context is not needed)."""
    del ctx
    return demo_section()


def demo_sections() -> list:
    """Providers for ``nasurf demo``: the simulated rate capability of Na2Ti3O7."""
    return [_provider]
