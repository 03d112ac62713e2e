"""Figure and tables of docs/simulation.md, section "Hosts": rerun after changing a host.

    PYTHONPATH=src python docs/make_sim_hosts.py [KB.sqlite]   # figure + docs section

Per host, upper panel: the host's OCP (grey) and the simulated second-cycle
sodiation/desodiation at the cited low current; the cited capacity is the shaded band.
Lower panel: simulated desodiation capacity (cycle 2) against current, with the cited
capacities and the knowledge-base records simulated for this host (treated samples, each
at its own size, as `nasurf simulate validate` reads them: after a formation cycle at the
sample's first-discharge current, so not on the pristine curve's protocol).
"""

from __future__ import annotations

import math
import sys
from importlib import resources
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import yaml

from nasurf.io.table import CURRENT, STEP_COUNT, TIME, VOLTAGE
from nasurf.sim import galvanostatic_cycling, load_material, simulate
from nasurf.sim.validate import validate_literature

HOSTS = ("hard_carbon", "anatase_tio2", "na2ti3o7", "sno2", "mos2", "sb", "red_p", "sb2s3")
HOSTS += ("sns", "snse", "bi2s3", "cose2", "fe3se4")   # metal sulfides/selenides
HOSTS += ("co3o4", "mno2", "ti087o2")
CURRENTS = (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
OUT = Path(__file__).parent / "figures" / "sim-hosts.png"


def _doc(name: str) -> dict:
    return yaml.safe_load((resources.files("nasurf.sim") / "data" / "materials"
                           / f"{name}.yaml").read_text())


def _cycle2(name: str, current: float):
    r = simulate(name, galvanostatic_cycling(f"{current} mA g-1", cycles=2))
    return r


def main() -> None:
    rep = validate_literature(sys.argv[1] if len(sys.argv) > 1 else None)
    kb_host = {"hard_carbon": "carbon", "anatase_tio2": "TiO2", "na2ti3o7": "Na2Ti3O7",
               "sno2": "SnO2", "mos2": "MoS2", "sb": "Sb", "red_p": "P", "sb2s3": "Sb2S3"}
    kb_host.update({"sns": "SnS", "snse": "SnSe", "bi2s3": "Bi2S3", "cose2": "CoSe2",
                    "fe3se4": "Fe3Se4"})
    bands = -(-len(HOSTS) // 4)     # four hosts per band of two rows
    fig, grid = plt.subplots(2 * bands, 4, figsize=(13.0, 5.5 * bands), squeeze=False)
    for k in range(len(HOSTS), 4 * bands):      # an incomplete last band: no empty axes
        grid[2 * (k // 4), k % 4].set_axis_off()
        grid[2 * (k // 4) + 1, k % 4].set_axis_off()
    kb_host.update({"co3o4": "Co3O4", "mno2": "MnO2", "ti087o2": "Ti0.87O2"})
    for i, name in enumerate(HOSTS):
        # two hosts' rows per band: curves above, rate capability below
        axes, j = grid[2 * (i // 4):2 * (i // 4) + 2], i % 4
        p = load_material(name)
        doc = _doc(name)
        low = next(e for e in doc["literature"] if e["quantity"] == "reversible_capacity")
        ax = axes[0, j]
        x = np.linspace(1e-4, 0.999, 400)
        ax.plot(x * p.host_capacity_mAh_g, p.ocp(x), color="0.6", lw=1, label="OCP")
        r = _cycle2(name, low["current_mA_g"])
        d = r.echem().data
        cap = r.echem().metadata.active_mass_g
        for cyc_step, color in ((3, "C0"), (4, "C3")):
            seg = d[d[STEP_COUNT] == cyc_step]
            if seg.empty:
                continue
            q = np.abs(np.cumsum(np.r_[0.0, np.diff(seg[TIME].to_numpy())
                                       * seg[CURRENT].to_numpy()[1:]])) / 3.6 / cap
            ax.plot(q, seg[VOLTAGE], color=color, lw=1.2,
                    label="sodiation" if cyc_step == 3 else "desodiation")
        lo = low["value"] / (1 + low["band"]) if low["band"] >= 1 else \
            low["value"] * (1 - low["band"])
        ax.axvspan(lo, low["value"] * (1 + low["band"]), color="C2", alpha=0.15,
                   label="cited")
        ax.set_ylim(0, 2.0)
        ax.set_title(f"{name}\n@{low['current_mA_g']:g} mA/g", fontsize=8)
        ax.set_xlabel("capacity (mAh/g)", fontsize=7)
        if j == 0:
            ax.set_ylabel("E (V vs Na+/Na)", fontsize=8)
            ax.legend(fontsize=6)
        ax.tick_params(labelsize=6)
        ax = axes[1, j]
        sim = [float(_cycle2(name, c).cycle_capacities()["desodiation_mAh_g"].iloc[1])
               for c in CURRENTS]
        ax.semilogx(CURRENTS, sim, "o-", ms=3, label="pristine (sim)")
        for e in doc["literature"]:
            ax.errorbar([e["current_mA_g"]], [e["value"]], fmt="s", color="C2", ms=4)
        rows = [rw for rw in rep.rows if rw.host == kb_host[name]
                and rw.quantity in ("rate_capacity", "reversible_capacity")
                and math.isfinite(rw.simulated_mAh_g)]
        ax.scatter([rw.current_mA_g for rw in rows], [rw.reported_mAh_g for rw in rows],
                   marker="^", color="C1", s=14, label="KB reported (treated)")
        ax.scatter([rw.current_mA_g for rw in rows], [rw.simulated_mAh_g for rw in rows],
                   marker="v", facecolor="none", edgecolor="C1", s=14,
                   label="KB simulated (preset + size)")
        ax.set_xlabel("current (mA/g)", fontsize=7)
        if j == 0:
            ax.set_ylabel("desodiation, cycle 2 (mAh/g)", fontsize=8)
            ax.legend(fontsize=5.5)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=6)
        print(f"{name}: " + ", ".join(f"{c:g}:{s:.0f}" for c, s in zip(CURRENTS, sim,
                                                                     strict=True)),
              file=sys.stderr)
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=110)
    _write_section(rep, kb_host)


def _write_section(rep, kb_host: dict[str, str]) -> None:
    """Replace the generated part of docs/simulation.md (between the hosts markers)."""
    out: list[str] = []
    d = rep.to_dict()["summary"]
    out.append(f"Overall (all simulated records): median |error| "
               f"{rep.overall.median_abs:.0%}, worst {rep.overall.worst:+.0%} "
               f"({rep.overall.worst_record}); records the host can reach at all: median "
               f"{rep.within_host_limit.median_abs:.0%}; {d['simulated']} of {d['records']} "
               f"records simulated; target median ≤ {rep.target_median:.0%}: "
               f"{'met' if rep.meets_target else '**not met**'}.\n")
    out.append("| group | n | median abs error | worst | worst record |")
    out.append("|---|---|---|---|---|")
    for name, st in ([("overall", rep.overall), ("reachable by the host", rep.within_host_limit)]
                     + [(f"host {k}", v) for k, v in rep.per_host.items()]
                     + [(f"strategy {k}", v) for k, v in rep.per_strategy.items()]
                     + [(f"quantity {k}", v) for k, v in rep.per_quantity.items()]):
        out.append(f"| {name} | {st.n} | {st.median_abs:.0%} | {st.worst:+.0%} | "
                   f"{st.worst_record} |")
    if rep.hosts_without_preset:
        out.append("\nNot simulated (no packaged host): " + ", ".join(
            f"{k} ({v} records)" for k, v in rep.hosts_without_preset.items()) + ".")
    for name in HOSTS:
        doc = _doc(name)
        rows = [rw for rw in rep.rows if rw.host == kb_host[name]]
        out.append(f"\n### `{name}`: {doc['title']}\n")
        out.append(f"Morphology of the pristine control: {doc['morphology']}. Reaction: "
                   f"{doc['reaction']}.\n")
        out.append("Cited capacities (upper panels: shaded band; lower panels: squares):\n")
        for e in doc["literature"]:
            out.append(f"* {e['value']} mAh/g at {e['current_mA_g']} mA/g (band "
                       f"±{e['band']:.0%}): {e['source']}")
        out.append("\nWhat this host cannot represent:\n")
        out.extend(f"* {lim}" for lim in doc["limits"])
        st = rep.per_host.get(kb_host[name])
        out.append(f"\nKnowledge-base records of host `{kb_host[name]}`"
                   + (f" (median |error| {st.median_abs:.0%}, worst {st.worst:+.0%}, "
                      f"n = {st.n})" if st is not None else "") + ":\n")
        out.append("| record | preset | I (mA/g) | N | reported | simulated | error | status "
                   "| assumed size |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for rw in rows:
            err = f"{rw.relative_error:+.0%}" if math.isfinite(rw.relative_error) else "–"
            simv = f"{rw.simulated_mAh_g:.0f}" if math.isfinite(rw.simulated_mAh_g) else "–"
            cur = f"{rw.current_mA_g:g}" if math.isfinite(rw.current_mA_g) else "–"
            size = rw.assumptions[0].split(" (")[0] if rw.assumptions else ""
            basis = "stated" if rw.assumptions and "assumption" not in rw.assumptions[0] \
                else "assumed"
            out.append(f"| {rw.record_id} | {rw.strategy} | {cur} | {rw.cycles or ''} | "
                       f"{rw.reported_mAh_g:g} | {simv} | {err} | {rw.status} | "
                       f"{size + ' (' + basis + ')' if size else ''} |")
        misses = [rw for rw in rows if rw.status != "within"]
        if misses:
            out.append("\nWhy the other rows miss (`nasurf simulate validate --json` holds "
                       "every row's full reason, assumptions and warnings):\n")
            out.extend(f"* {rw.record_id} ({rw.status}): {rw.reason.split(': ', 1)[0]}"
                       for rw in misses)
    doc_path = Path(__file__).parent / "simulation.md"
    text = doc_path.read_text(encoding="utf-8")
    begin, end = "<!-- hosts:begin (docs/make_sim_hosts.py) -->", "<!-- hosts:end -->"
    a, b = text.index(begin) + len(begin), text.index(end)
    doc_path.write_text(text[:a] + "\n" + "\n".join(out) + "\n" + text[b:], encoding="utf-8")


if __name__ == "__main__":
    main()
