"""Every figure nasurf draws outside the study module, built from known-answer inputs.

Used by tests/test_figure_style.py (the style checks) and, run as a script, to write a
PNG gallery at print size for looking at each figure::

    PYTHONPATH=src python tests/figure_cases.py OUT_DIR [DPI]

``analysis.plots_cycling`` is not listed: it is being rewritten separately (its own
tests cover it until it adopts :mod:`nasurf.figures.style`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any


@cache
def _kb() -> Any:
    import tempfile

    from nasurf.knowledge import KnowledgeBase

    return KnowledgeBase.open(Path(tempfile.mkdtemp()) / "kb.sqlite")


@cache
def _kinetics() -> dict[str, Any]:
    from nasurf.analysis.gitt import gitt_analysis
    from nasurf.analysis.kinetics import (
        b_value_map,
        b_value_peaks,
        cycle_summary,
        dunn_analysis,
        prepare_branches,
        trasatti_from_cvs,
    )
    from nasurf.analysis.known_answers import synthetic_dunn_cvset, synthetic_gitt_record

    cvset = synthetic_dunn_cvset()
    prep = prepare_branches(cvset, vertex_exclusion_V=0.0)
    rec = synthetic_gitt_record()
    one = cvset.cvs[2]
    return {"kin": b_value_peaks(prep), "dunn": dunn_analysis(prep, mass_g=0.002),
            "bmap": b_value_map(prep), "tras": trasatti_from_cvs(prep), "cv": one,
            "summary": cycle_summary(one, vertex_exclusion_V=0.0), "gitt_rec": rec,
            "gitt": gitt_analysis(rec, diffusion_length_cm=1e-4)}


@cache
def _eis() -> Any:
    from nasurf.analysis.eis import analyze_spectrum
    from nasurf.report.eis_section import (
        SYNTHETIC_AREA_CM2,
        SYNTHETIC_CIRCUIT,
        SYNTHETIC_CONCENTRATION_MOL_CM3,
        synthetic_randles_spectrum,
    )

    f, z, _ = synthetic_randles_spectrum()
    return analyze_spectrum(f, z, SYNTHETIC_CIRCUIT, area_cm2=SYNTHETIC_AREA_CM2,
                            concentration_mol_cm3=SYNTHETIC_CONCENTRATION_MOL_CM3)


@cache
def _eis_series() -> Any:
    from dataclasses import replace

    from nasurf.analysis.eis.analyze import EISSeriesAnalysis

    a = _eis()
    spectra = tuple(replace(a, index=k) for k in (1, 2, 3))
    return EISSeriesAnalysis(source=None, circuit=a.fit.circuit, spectra=spectra, notes=())


def _kb_cases() -> dict[str, Callable[[], Any]]:
    from nasurf.knowledge import Highlight, cycling_map, rate_map, strategy_comparison

    return {
        "kb_rate_map": lambda: rate_map(_kb(), highlight=Highlight(250, 1000, label="my TiO2")),
        "kb_cycling_capacity": lambda: cycling_map(_kb(), y="capacity"),
        "kb_cycling_retention": lambda: cycling_map(
            _kb(), y="retention", highlight=Highlight(None, 1000, 2000, 95.0)),
        "kb_strategy_comparison": lambda: strategy_comparison(
            _kb(), highlight=Highlight(300, 2000, label="my TiO2")),
    }


def _kinetics_cases() -> dict[str, Callable[[], Any]]:
    from nasurf.analysis import plots_kinetics as pk

    k = _kinetics
    return {
        "cv_capacitive_envelope": lambda: pk.plot_cv_capacitive_envelope(k()["dunn"], 1e-3),
        "cv_cycles": lambda: pk.plot_cv_cycles(k()["cv"], k()["summary"]),
        "cv_capacitive_fraction": lambda: pk.plot_capacitive_fraction_bars(k()["dunn"]),
        "cv_log_ip_log_v": lambda: pk.plot_log_peak_current(k()["kin"]),
        "cv_b_map": lambda: pk.plot_b_map(k()["bmap"]),
        "cv_trasatti": lambda: pk.plot_trasatti(k()["tras"]),
        "gitt_D_vs_soc": lambda: pk.plot_gitt_diffusivity(k()["gitt"]),
        "gitt_pulse": lambda: pk.plot_gitt_pulse(k()["gitt_rec"], k()["gitt"], 1),
    }


def _eis_cases() -> dict[str, Callable[[], Any]]:
    from nasurf.analysis.eis import analyze as ea
    from nasurf.analysis.eis import plots as ep

    return {
        "eis_nyquist": lambda: ep.plot_nyquist(_eis().fit, title=_eis().fit.circuit),
        "eis_bode": lambda: ep.plot_bode(_eis().fit, title=_eis().fit.circuit),
        "eis_linkk": lambda: ep.plot_linkk(_eis().linkk),
        "eis_sigma": lambda: ep.plot_sigma(_eis().warburg, _eis().fit.frequencies_Hz,
                                           _eis().fit.Z),
        "eis_series": lambda: ea.series_figure(_eis_series()),
    }


def _sim_cases() -> dict[str, Callable[[], Any]]:
    from nasurf.report import simulation_section as sd

    return {"sim_demo_rate": lambda: sd.demo_figure()[0]}


def cases() -> dict[str, Callable[[], Any]]:
    """Name -> a function drawing that figure (a matplotlib Figure)."""
    return {**_kb_cases(), **_kinetics_cases(), **_eis_cases(), **_sim_cases()}


def main(out: Path, dpi: int = 300) -> None:
    from nasurf.figures.style import write_figure

    for name, make in cases().items():
        fig = make()
        p = write_figure(fig, out / f"{name}.png", dpi=dpi)
        w, h = fig.get_size_inches() * 25.4
        print(f"{p}  {w:.0f} x {h:.0f} mm")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 300)
