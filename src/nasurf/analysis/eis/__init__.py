"""Electrochemical impedance spectroscopy: equivalent-circuit fitting (impedance.py-compatible
circuit strings, parsed safely), lin-KK validation, Warburg σ and D, derived quantities
(R_ct, Brug C_eff) and figures. See docs/analysis-eis.md and methods.md §6.

:func:`analyze_eis_file` is the workflow of ``nasurf analyze eis`` (file → fitted series);
:func:`analyze_eis` the same on a measurement already read. Modules: ``circuits`` (the
circuit language, parsed without evaluating user text), ``guess`` (start values from the
spectrum), ``fit`` (multi-start fit and :class:`EISFit`), ``lsq`` (the least-squares
engine), ``linkk``, ``warburg``, ``derived``, ``analyze`` (spectra of a file, workflow),
``plots``.
"""

from nasurf.analysis.eis.analyze import (
    DEFAULT_CIRCUIT,
    EISAnalysis,
    EISSeriesAnalysis,
    Spectrum,
    analyze_eis,
    analyze_eis_file,
    analyze_spectrum,
    read_impedance,
    split_spectra,
)
from nasurf.analysis.eis.circuits import ELEMENTS, Circuit, ElementSpec, Randles, parse_circuit
from nasurf.analysis.eis.derived import DerivedEIS, derived_quantities
from nasurf.analysis.eis.fit import EISFit, fit_circuit, fit_series, prepare_spectrum
from nasurf.analysis.eis.guess import guess_parameters
from nasurf.analysis.eis.linkk import LinKKResult, linkk
from nasurf.analysis.eis.warburg import (
    DiffusionEstimate,
    LineFit,
    WarburgAnalysis,
    diffusion_from_sigma,
    diffusion_from_sigma_hrh,
    sigma_from_diffusion,
    warburg_analysis,
    warburg_window,
)

_PLOTS = ("plot_bode", "plot_linkk", "plot_nyquist", "plot_sigma")

__all__ = [
    "DEFAULT_CIRCUIT",
    "ELEMENTS",
    "Circuit",
    "DerivedEIS",
    "DiffusionEstimate",
    "EISAnalysis",
    "EISFit",
    "EISSeriesAnalysis",
    "ElementSpec",
    "LinKKResult",
    "LineFit",
    "Randles",
    "Spectrum",
    "WarburgAnalysis",
    "analyze_eis",
    "analyze_eis_file",
    "analyze_spectrum",
    "derived_quantities",
    "diffusion_from_sigma",
    "diffusion_from_sigma_hrh",
    "fit_circuit",
    "fit_series",
    "guess_parameters",
    "linkk",
    "parse_circuit",
    "plot_bode",
    "plot_linkk",
    "plot_nyquist",
    "plot_sigma",
    "prepare_spectrum",
    "read_impedance",
    "sigma_from_diffusion",
    "split_spectra",
    "warburg_analysis",
    "warburg_window",
]


def __getattr__(name: str):
    # Plotting pulls in matplotlib; import it only when a figure is asked for.
    if name in _PLOTS:
        from nasurf.analysis.eis import plots

        return getattr(plots, name)
    raise AttributeError(f"module 'nasurf.analysis.eis' has no attribute {name!r}")
