"""Time integration of a :class:`~nasurf.sim.model.Model` over protocol segments.

:func:`run_segment` chooses one engine per segment; each engine is its own module:

* **exact** (:mod:`nasurf.sim.engine_exact`, inner loop :mod:`nasurf.sim.exact_kernel`):
  galvanostatic or rest segments of a single size class whose D does not depend on c and
  which store no surface-redox charge. The semi-discrete diffusion equation is linear with
  a piecewise-constant surface flux, so its modal solution is exact in time; the cut-off
  is refined to 1e-11 V.
* **modal sweep** (:mod:`nasurf.sim.fast_cv` + :mod:`nasurf.sim.kernels`, numba): linear
  voltage sweeps of a linear one-class particle, Frumkin sites with g ≥ 0 included; falls
  back to the march when a step's solve fails.
* **compiled march** (:mod:`nasurf.sim.compiled_march` + :mod:`nasurf.sim.march_kernel`,
  numba): current-controlled segments the exact engine does not take (D(c), sites, size
  classes), the march below transcribed step for step into compiled code (no shell OCP,
  α = ½).
* **march** (:mod:`nasurf.sim.engine_march`): everything else (D(c), size distributions,
  shell OCPs, holds, sweeps the modal engine does not cover), variable-step BDF2 with a
  damped Newton method on the interface unknowns and located cut-off events.

The state, segment and trace types they share are in :mod:`nasurf.sim.state`, the scalar
physics they all evaluate (Butler–Volmer, j0, OCP) in :mod:`nasurf.sim.physics`. All
engines conserve Na and charge to round-off: the constant eigenvector carries the mass
and the finite-volume fluxes telescope. Everything is vectorised over a batch dimension B.
"""

from __future__ import annotations

from nasurf.errors import ValidationError
from nasurf.options import choose
from nasurf.sim import fast_cv
from nasurf.sim.compiled_march import can_use_compiled_march, run_compiled_march
from nasurf.sim.engine_exact import can_use_exact, exact_limitation, run_exact
from nasurf.sim.engine_march import run_march
from nasurf.sim.fast_cv import can_use_modal_sweep, run_modal_sweep
from nasurf.sim.model import Model
from nasurf.sim.state import (
    Segment,
    State,
    Trace,
    initial_state,
    site_coverage_eq,
)

# the dispatcher calls the march by this module's name, so that a test can stand in for it
# (and see that a sweep never reached it)
_run_march = run_march

#: engine names ``run_segment`` (and ``simulate``, ``run_batch``) accept
ENGINES = ("auto", "exact", "compiled_march", "modal_sweep", "march")


def run_segment(model: Model, st: State, seg: Segment, trace: Trace, *,
                engine: str = "auto") -> State:
    """Advance ``st`` through one segment, appending output rows to ``trace``.

    ``engine``: ``"auto"`` (the exact engine for galvanostatic segments it covers, the
    compiled modal sweep engine (:mod:`nasurf.sim.fast_cv`) for linear voltage sweeps it
    covers while ``fast_cv.MODAL_SWEEP_IN_AUTO`` is set (the default), else the implicit
    march), ``"exact"``, ``"modal_sweep"`` (falls back to the march where it does not
    apply or a step's solve fails) or ``"march"``. Between the exact engine and the
    modal sweep, ``"auto"`` sends the current-controlled segments the exact engine cannot
    take (D(c), sites, size classes) to the compiled march
    (:mod:`nasurf.sim.compiled_march`, the same scheme as the numpy march);
    ``"compiled_march"`` asks for it where it applies. ``trace.engines`` records the
    engine of each segment.
    """
    engine = choose("engine", engine, ENGINES, where="run_segment")
    if engine == "exact":
        why = exact_limitation(model, seg)
        if why:
            raise ValidationError(f"engine 'exact' cannot run step {seg.index} "
                                  f"'{seg.label}': {why}; use engine='auto' (or 'march')",
                                  field="engine")
    if engine == "exact" or (engine == "auto" and can_use_exact(model, seg)):
        trace.engines.append("exact")
        return run_exact(model, st, seg, trace)
    if engine in ("auto", "compiled_march") and can_use_compiled_march(model, seg):
        trace.engines.append("compiled_march")
        return run_compiled_march(model, st, seg, trace)
    modal = engine == "modal_sweep" or (engine == "auto" and fast_cv.MODAL_SWEEP_IN_AUTO)
    if modal and can_use_modal_sweep(model, seg):
        new = run_modal_sweep(model, st, seg, trace)
        if new is not None:
            trace.engines.append("modal_sweep")
            return new
    trace.engines.append("march")
    return _run_march(model, st, seg, trace)


__all__ = [
    "ENGINES",
    "Segment",
    "State",
    "Trace",
    "can_use_exact",
    "exact_limitation",
    "initial_state",
    "run_segment",
    "site_coverage_eq",
]
