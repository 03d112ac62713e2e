"""Sample sheets and studies: replicate cells in groups, analysed together.

``read_sample_sheet(path)`` validates a CSV/TOML/YAML sheet into a :class:`SampleSheet`;
``analyze_samples(sheet, scheduler=None)`` analyses every file with its sample's mass and
returns a :class:`StudyResult` whose ``to_dict()`` is ``{"samples", "groups",
"differences", ...}`` with every metric's unit. See ``docs/samples.md``.
"""

from nasurf.samples.measure import analyze_measurement
from nasurf.samples.sheet import Sample, SampleSheet, read_sample_sheet
from nasurf.samples.stats import Difference, Summary, summarize, welch_difference
from nasurf.samples.study import METRICS, StudyResult, analyze_samples, nominal_rate

__all__ = [
    "METRICS",
    "Difference",
    "Sample",
    "SampleSheet",
    "StudyResult",
    "Summary",
    "analyze_measurement",
    "analyze_samples",
    "nominal_rate",
    "read_sample_sheet",
    "summarize",
    "welch_difference",
]
