"""Former home of the CV kinetics, now :mod:`nasurf.analysis.kinetics` (issue 12).

Only names are forwarded here, for code written against the old path while the house was
restructured in parallel; new code imports :mod:`nasurf.analysis.kinetics`. Remove after
the merge.
"""

from nasurf.analysis.kinetics import *  # noqa: F403
from nasurf.analysis.kinetics import __all__  # noqa: F401
