"""Analysis sections of ``nasurf demo`` (self-contained HTML with inline SVG figures).

The analyses contribute providers to :func:`demo_sections` (called by
:mod:`nasurf.report.demo`); a provider takes the report's context (anything with a
``realdata`` attribute, or None) and returns ``(title, html)``. The galvanostatic part
(this module) analyses a real anode half-cell file when ``../shared/realdata`` is present
and always adds a synthetic hard-carbon rate test. The CV/GITT part
(:mod:`nasurf.report.kinetics_section`) and the EIS part (:mod:`nasurf.report.eis_section`)
are further providers in :data:`PROVIDERS`, imported lazily. The sections only *show*
results: every number comes from the public analysis API.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nasurf.report.html import figure, find_realdata, number, warnings_html

# Real anode half cells tried in order (paths under shared/realdata).
REAL_ANODE_FILES = (
    "yadg/gcpl.pr_182.1.mpr",
    "battery-data-format/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv",
)
# What their potentials are measured against, where the file does not say (SOURCES.md:
# the SINTEF LANDT cell is graphite vs Li); others: Metadata.electrode_reference or Na+/Na.
REAL_FILE_REFERENCES = {
    "battery-data-format/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv": "Li⁺/Li",
}


def _cycles_table(result, max_rows: int = 12) -> str:
    spec = result.capacity_unit == "mAh/g"
    unit = "mAh g<sup>−1</sup>" if spec else "mAh"
    sod = "sodiation_mAh_g" if spec else "sodiation_mAh"
    des = "desodiation_mAh_g" if spec else "desodiation_mAh"
    head = (f"<tr><th>cycle</th><th>sodiation ({unit})</th><th>desodiation ({unit})</th>"
            "<th>CE (%)</th><th>retention (%)</th><th>V̄<sub>desod</sub> (V)</th>"
            "<th>hysteresis (V)</th></tr>")
    rows = []
    for _, r in result.cycles.head(max_rows).iterrows():
        rows.append(
            f"<tr><td>{int(r['cycle'])}</td><td class=num>{number(r[sod])}</td>"
            f"<td class=num>{number(r[des])}</td>"
            f"<td class=num>{number(r['coulombic_efficiency'], '{:.2f}', 100)}</td>"
            f"<td class=num>{number(r['retention'], '{:.2f}', 100)}</td>"
            f"<td class=num>{number(r['desodiation_average_voltage_V'], '{:.3f}')}</td>"
            f"<td class=num>{number(r['hysteresis_V'], '{:.3f}')}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _real_part(realdata: Path | None) -> str:
    from nasurf.analysis import plots_cycling as pc
    from nasurf.analysis.cycling import cycling_summary, voltage_profiles
    from nasurf.analysis.differential_capacity import dqdv

    if realdata is None:
        return ("<div class=info>No real data folder found (../shared/realdata); only the "
                "synthetic example is shown.</div>")
    for rel in REAL_ANODE_FILES:
        path = realdata / rel
        if not path.exists():
            continue
        from nasurf.io import read

        data = read(path)
        reference = data.metadata.electrode_reference or REAL_FILE_REFERENCES.get(rel)
        res = cycling_summary(data)
        cycles = [int(c) for c in res.cycles["cycle"] if c >= 1]
        prof = voltage_profiles(data, cycles=cycles)
        parts = [
            f"<h3>Real anode half cell: <code>{html.escape(rel)}</code></h3>",
            f"<p>{html.escape(str(data.metadata.instrument or data.metadata.file_format))}"
            f", technique {html.escape(str(data.metadata.technique))}, "
            f"{len(data.data)} rows; active mass "
            f"{number(res.active_mass_g, '{:.3g}', 1e3)} mg and area "
            f"{number(res.area_cm2, '{:.3g}')} cm² from the file settings. "
            f"ICE <b>{number(res.initial_coulombic_efficiency, '{:.2f}', 100)} %</b>, mean CE "
            f"(cycles 2..N) {number(res.mean_ce, '{:.2f}', 100)} %, retention "
            f"{number(res.retention.final, '{:.2f}', 100)} % at cycle "
            f"{res.retention.final_cycle} vs <code>{res.retention.convention}</code> "
            f"(reference cycle {res.retention.reference_cycle}).</p>",
            _cycles_table(res),
            warnings_html(res.all_warnings),
            figure(pc.voltage_profile_figure(prof, reference=reference),
                    "Voltage profiles (sodiation solid, desodiation dashed); capacity from "
                    f"∫|I|dt per half cycle; potential vs {reference or pc.DEFAULT_REFERENCE}."),
            figure(pc.capacity_ce_figure(res), "Capacity and coulombic efficiency."),
        ]
        try:
            dq = dqdv(data, cycles=cycles[:3])
            parts.append(figure(pc.dqdv_figure(dq, reference=reference),
                                 "dQ/dV (1 mV grid, Savitzky–Golay 21/3); sodiation negative, "
                                 "desodiation positive."))
            parts.append(warnings_html(dq.warnings))
        except Exception as exc:  # a demo must not fail on one figure
            parts.append(warnings_html([f"dQ/dV skipped: {exc}"]))
        return "".join(parts)
    return "<div class=info>No real anode half-cell file found in the data folder.</div>"


def _synthetic_part() -> str:
    from nasurf.analysis import plots_cycling as pc
    from nasurf.analysis.cycling import capacity_split, cycling_summary, synthetic_cycling

    mass = 2.0e-3
    mA_g = np.repeat([30.0, 100.0, 300.0, 1000.0, 30.0], 3)
    des = np.array([300, 298, 297, 280, 279, 278, 240, 238, 237, 180, 178, 177, 296, 295, 295.0])
    sod = des / 0.995
    sod[0] = des[0] / 0.80
    data = synthetic_cycling(sod * mass, des * mass, current_A=mA_g * mass * 1e-3,
                             active_mass_g=mass, points_per_half_cycle=400,
                             voltage_noise_V=3e-4)
    res = cycling_summary(data, basis_mAh_g=300.0)
    split = capacity_split(data, split_V=0.1)
    steps = res.rate_steps
    rows = "".join(
        f"<tr><td>{s['step']}</td><td>{s['first_cycle']}–{s['last_cycle']}</td>"
        f"<td class=num>{number(s['current_mA_g'], '{:.0f}')}</td>"
        f"<td class=num>{number(s.get('c_rate'), '{:.2g}')}</td>"
        f"<td class=num>{number(s['mean_capacity'], '{:.1f}')}</td>"
        f"<td>{'recovery' if s['is_recovery'] else ''}</td></tr>" for _, s in steps.iterrows())
    first = split[split["cycle"] == 2].set_index("process")
    return "".join([
        "<h3>Synthetic hard-carbon rate test (known answer)</h3>",
        "<p>Generated by <code>synthetic_cycling</code>: 30 → 100 → 300 → 1000 → 30 mA g⁻¹, "
        "three cycles each; the summary recovers the generated capacities exactly. "
        f"Recovery ratio {number(res.rate.recovery_ratio, '{:.1f}', 100)} %; C-rates use an "
        "explicit practical basis of 300 mAh g⁻¹.</p>",
        "<table><tr><th>step</th><th>cycles</th><th>current (mA g⁻¹)</th><th>C-rate</th>"
        f"<th>mean desodiation (mAh g⁻¹)</th><th></th></tr>{rows}</table>",
        "<p>Slope/plateau split at 0.1 V (cycle 2): sodiation slope "
        f"{number(first.loc['sodiation', 'slope_mAh_g'], '{:.1f}')} / plateau "
        f"{number(first.loc['sodiation', 'plateau_mAh_g'], '{:.1f}')} mAh g⁻¹.</p>",
        figure(pc.rate_capability_figure(res), "Rate capability: desodiation capacity by "
                "rate step (current in mA g⁻¹ above each step)."),
    ])


def demo_section(realdata: Path | None = None) -> tuple[str, str]:
    """(title, self-contained HTML) of the galvanostatic analysis part of the demo."""
    root = realdata if realdata is not None else find_realdata()
    body = [
        "<p>Capacities integrate |I| dt per half cycle (rests excluded), never the maximum "
        "of a per-step capacity counter; the cycle is a sodiation and the desodiation after "
        "it; retention always states its reference cycle. See "
        "<code>docs/analysis-cycling.md</code>.</p>",
        _real_part(root),
        _synthetic_part(),
    ]
    return "Galvanostatic cycling analysis", "".join(body)


def _cycling_provider(ctx: Any = None) -> tuple[str, str]:
    return demo_section(getattr(ctx, "realdata", None))


def _kinetics_provider(ctx: Any = None) -> tuple[str, str]:
    from nasurf.report.kinetics_section import demo_kinetics_section

    return demo_kinetics_section(ctx)


def _eis_provider(ctx: Any = None) -> tuple[str, str]:
    from nasurf.report.eis_section import demo_eis_section

    return demo_eis_section(ctx)


PROVIDERS: list[Callable[[Any], tuple[str, str] | None]] = [
    _cycling_provider, _kinetics_provider, _eis_provider]
"""Section providers of the analysis part, in page order (others append theirs)."""


def demo_sections() -> list[Callable[[Any], tuple[str, str] | None]]:
    """Providers for :mod:`nasurf.report.demo`."""
    return list(PROVIDERS)
