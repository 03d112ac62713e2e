"""CV kinetics over a set of scan rates: b-values, Dunn k1/k2, Trasatti, Randles–Sevcik.

The public API of the scan-rate analyses of cyclic voltammograms (docs/analysis-kinetics.md,
methods.md §1–§4). Conventions (methods.md §0): SI units inside (V, A, s, V/s, C, g, cm²,
mol/cm³, cm²/s); anodic current positive; the *anodic* branch runs from low to high E and the
*cathodic* branch from high to low E; every fit reports value, standard error, R², number of
points, range used and flags; nothing is clipped silently.

Where each part lives:

* :mod:`~nasurf.analysis.kinetics.cvset`: :class:`CV`, :class:`CVSet` (files or arrays →
  one CV per scan rate, the rate given, set or measured);
* :mod:`~nasurf.analysis.kinetics.sweeps`: vertices, branches, complete cycles;
* :mod:`~nasurf.analysis.kinetics.cycles`: per-cycle peaks and charges at one rate;
* :mod:`~nasurf.analysis.kinetics.branches`: one cycle, iR, vertices, a common E grid;
* :mod:`~nasurf.analysis.kinetics.peaks`: peak location, baselines, tracking, couples;
* :mod:`~nasurf.analysis.kinetics.bvalue`: peak b-values and b(E);
* :mod:`~nasurf.analysis.kinetics.dunn`: k1·v + k2·v^½ and capacitive fractions;
* :mod:`~nasurf.analysis.kinetics.trasatti`: q_outer and q_total;
* :mod:`~nasurf.analysis.kinetics.randles_sevcik`: apparent D from |ip| against v^½;
* :mod:`~nasurf.analysis.kinetics.workflow`: :func:`analyze_cv_files`, what
  ``nasurf analyze cv`` runs.
"""

from nasurf.analysis.kinetics.branches import PreparedBranches, prepare_branches
from nasurf.analysis.kinetics.bvalue import BValueMap, PeakKinetics, b_value_map, b_value_peaks
from nasurf.analysis.kinetics.cvset import CV, CVSet
from nasurf.analysis.kinetics.cycles import SINGLE_RATE_NOTE, CycleSummary, cycle_summary
from nasurf.analysis.kinetics.dunn import DUNN_MODES, DunnResult, dunn_analysis
from nasurf.analysis.kinetics.peaks import BASELINES, BaselineMode
from nasurf.analysis.kinetics.randles_sevcik import (
    RS_FORMS,
    RS_IRREVERSIBLE_FACTOR,
    RS_REVERSIBLE_FACTOR,
    RandlesSevcikResult,
    randles_sevcik_constant,
    randles_sevcik_D,
    randles_sevcik_from_peaks,
    randles_sevcik_peak_current,
)
from nasurf.analysis.kinetics.sweeps import (
    BRANCHES,
    Branch,
    branch_of_cycle,
    cycle_count,
    no_cycle_reason,
    split_sweeps,
)
from nasurf.analysis.kinetics.trasatti import (
    TrasattiResult,
    trasatti,
    trasatti_from_cvs,
    voltammetric_charge,
)
from nasurf.analysis.kinetics.workflow import CVSetResult, analyze_cv_files

__all__ = [
    "BASELINES",
    "BRANCHES",
    "CV",
    "DUNN_MODES",
    "RS_FORMS",
    "RS_IRREVERSIBLE_FACTOR",
    "RS_REVERSIBLE_FACTOR",
    "SINGLE_RATE_NOTE",
    "BValueMap",
    "BaselineMode",
    "Branch",
    "CVSet",
    "CVSetResult",
    "CycleSummary",
    "DunnResult",
    "PeakKinetics",
    "PreparedBranches",
    "RandlesSevcikResult",
    "TrasattiResult",
    "analyze_cv_files",
    "b_value_map",
    "b_value_peaks",
    "branch_of_cycle",
    "cycle_count",
    "cycle_summary",
    "dunn_analysis",
    "no_cycle_reason",
    "prepare_branches",
    "randles_sevcik_D",
    "randles_sevcik_constant",
    "randles_sevcik_from_peaks",
    "randles_sevcik_peak_current",
    "split_sweeps",
    "trasatti",
    "trasatti_from_cvs",
    "voltammetric_charge",
]
