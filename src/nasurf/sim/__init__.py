"""Simulation of surface-engineered (core-shell) anode particles in a Na half cell.

Parameters as data (:mod:`~nasurf.sim.parameters`, :mod:`~nasurf.sim.strategies`),
readable experiments (:mod:`~nasurf.sim.experiment`), the discretised model
(:mod:`~nasurf.sim.model`), the solver (:mod:`~nasurf.sim.solver`) and the driver that
returns canonical :class:`~nasurf.io.table.EchemData` (:mod:`~nasurf.sim.simulate`).
"""

from nasurf.sim.experiment import (
    Experiment,
    Step,
    cyclic_voltammetry,
    galvanostatic_cycling,
    gitt,
    parse_step,
    rate_capability,
)
from nasurf.sim.fit import FitResult, fit_parameters
from nasurf.sim.model import BATCHABLE, MeshSpec, Model, build_model
from nasurf.sim.parameters import (
    OCP,
    ParameterSet,
    ParticleSizeDistribution,
    Table1D,
    list_materials,
    load_material,
    load_material_file,
    parameter_set_from_dict,
)
from nasurf.sim.simulate import SimulationResult, StepRecord, simulate, write_echem_csv
from nasurf.sim.solver import Segment, State, Trace, initial_state, run_segment
from nasurf.sim.strategies import Strategy, apply_strategy, list_strategies, load_strategy
from nasurf.sim.sweep import (
    SweepProtocol,
    latin_hypercube,
    make_protocol,
    run_batch,
    start_local_cluster,
    sweep,
)

__all__ = [
    "BATCHABLE",
    "OCP",
    "Experiment",
    "FitResult",
    "MeshSpec",
    "Model",
    "ParameterSet",
    "ParticleSizeDistribution",
    "Segment",
    "SimulationResult",
    "State",
    "Step",
    "StepRecord",
    "Strategy",
    "SweepProtocol",
    "Table1D",
    "Trace",
    "apply_strategy",
    "build_model",
    "cyclic_voltammetry",
    "fit_parameters",
    "galvanostatic_cycling",
    "gitt",
    "initial_state",
    "latin_hypercube",
    "list_materials",
    "list_strategies",
    "load_material",
    "load_material_file",
    "load_strategy",
    "make_protocol",
    "parameter_set_from_dict",
    "parse_step",
    "rate_capability",
    "run_batch",
    "run_segment",
    "simulate",
    "start_local_cluster",
    "sweep",
    "write_echem_csv",
]
