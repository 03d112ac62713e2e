"""Parameter sweeps of the half-cell simulator: thousands of parameter sets, metrics only.

The public names of the sweep machinery, from the modules that own them:

* :mod:`nasurf.sim.sweep_grid`: the names users give to sweepable/fittable parameters
  (``shell_D``, ``k0``, ``Gamma`` ...) and their batchable fields, axes, grids and
  Latin-hypercube samples;
* :mod:`nasurf.sim.sweep_metrics`: :class:`SweepProtocol`, the protocols a sweep runs
  (``rate``, ``discharge``, ``cycling``, ``cv``) and the metrics each yields;
* :mod:`nasurf.sim.batch`: :func:`run_batch`, a batch of B parameter sets through the one
  protocol driver (:mod:`nasurf.sim.protocol`, the loop ``simulate()`` runs), metrics only;
* :mod:`nasurf.sim.sweep_run`: :func:`sweep` and :func:`run_chunk`, chunks evaluated in
  this process or on a ``dask.distributed`` cluster, a failed set a row with its reason.

Conventions: SI parameter values; capacities in mAh per g of active material as positive
magnitudes per process (sodiation / desodiation); currents anodic (desodiation) positive.
"""

from __future__ import annotations

from nasurf.sim.batch import BatchRun, run_batch
from nasurf.sim.protocol import C_PER_KG_PER_MAH_G, StepInfo
from nasurf.sim.sweep_grid import (
    FIELD_UNITS,
    PARAMETER_ALIASES,
    check_values,
    is_table_factor,
    latin_hypercube,
    nominal_value,
    parse_axis,
    parse_param_option,
    resolve_parameter,
)
from nasurf.sim.sweep_metrics import (
    PROTOCOL_KINDS,
    DEFAULT_RATE_CURRENTS_mA_g,
    DEFAULT_SCAN_RATES_mV_s,
    SweepProtocol,
    make_protocol,
)
from nasurf.sim.sweep_run import run_chunk, start_local_cluster, sweep

__all__ = [
    "C_PER_KG_PER_MAH_G",
    "FIELD_UNITS",
    "PARAMETER_ALIASES",
    "PROTOCOL_KINDS",
    "BatchRun",
    "DEFAULT_RATE_CURRENTS_mA_g",
    "DEFAULT_SCAN_RATES_mV_s",
    "StepInfo",
    "SweepProtocol",
    "check_values",
    "is_table_factor",
    "latin_hypercube",
    "make_protocol",
    "nominal_value",
    "parse_axis",
    "parse_param_option",
    "resolve_parameter",
    "run_batch",
    "run_chunk",
    "start_local_cluster",
    "sweep",
]
