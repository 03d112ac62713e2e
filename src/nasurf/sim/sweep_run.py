"""Executing a sweep: chunks of parameter sets in this process or on a Dask cluster.

:func:`sweep` evaluates a protocol for every parameter set of a grid or sample table:
chunks evaluated in-process (``scheduler=None``) or on a ``dask.distributed`` cluster
(``"local"`` starts ``LocalCluster(n_workers=2, threads_per_worker=1)``;
``"tcp://host:port"`` joins a running scheduler). Chunks stream back through
``as_completed`` with a bounded number in flight, and only metric rows are kept, so
memory grows with the results, not with the sets in flight. A set that fails is a row with
``status = "failed"`` and its reason, never an aborted sweep. Progress is reported through
the library-neutral callback ``on_progress(done, total, label)`` (:mod:`nasurf.progress`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.errors import NasurfError, ValidationError
from nasurf.sim.model import MeshSpec
from nasurf.sim.parameters import ParameterSet
from nasurf.sim.sweep_grid import _Design, _design, check_values, resolve_parameter
from nasurf.sim.sweep_metrics import SweepProtocol, make_protocol


def _evaluate_members(params: ParameterSet, fields: Sequence[str], values: np.ndarray,
                      protocol: SweepProtocol, mesh: MeshSpec | None
                      ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Evaluate B members; on a batch-wide error, split the batch to isolate the culprits."""
    B = values.shape[0]
    names = protocol.metric_names()
    overrides = {f: values[:, j] for j, f in enumerate(fields)}
    try:
        metrics, problem = protocol.evaluate(params, overrides, B, mesh)
        return metrics, problem
    except (NasurfError, ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
        if B == 1:
            return ({n: np.full(1, np.nan) for n in names},
                    np.array([f"{type(exc).__name__}: {exc}"], dtype=object))
    half = B // 2
    m1, p1 = _evaluate_members(params, fields, values[:half], protocol, mesh)
    m2, p2 = _evaluate_members(params, fields, values[half:], protocol, mesh)
    return ({n: np.concatenate([m1[n], m2[n]]) for n in names},
            np.concatenate([p1, p2]))


def run_chunk(params: ParameterSet, names: Sequence[str], values: np.ndarray,
              start: int, protocol: SweepProtocol, mesh: MeshSpec | None = None
              ) -> pd.DataFrame:
    """Metric rows for parameter sets ``start .. start + len(values)`` (never raises on a set).

    Sets are pre-checked (ranges, shell thinner than the particle); a batch that still
    fails is split in halves until the failing sets are isolated. Sets with and without a
    shell run as separate batches (their meshes differ).
    """
    fields = [resolve_parameter(n) for n in names]
    values = np.asarray(values, dtype=float).reshape(-1, len(fields))
    n = values.shape[0]
    reason = np.full(n, "", dtype=object)
    for j, f in enumerate(fields):
        r = check_values(f, values[:, j])
        reason = np.where(reason == "", r, reason)
    full = {f: values[:, j] for j, f in enumerate(fields)}
    radius = full.get("particle_radius", np.full(n, params.particle_radius))
    shell = full.get("shell_thickness", np.full(n, params.shell_thickness))
    with np.errstate(invalid="ignore"):
        too_thick = (reason == "") & (shell >= radius)
    reason = np.where(too_thick, "shell_thickness must be smaller than particle_radius", reason)
    names_m = protocol.metric_names()
    metrics = {m: np.full(n, np.nan) for m in names_m}
    good = reason == ""
    with np.errstate(invalid="ignore"):
        has_shell = shell > 0
    for group in (good & has_shell, good & ~has_shell):
        idx = np.flatnonzero(group)
        if idx.size == 0:
            continue
        m, prob = _evaluate_members(params, fields, values[idx], protocol, mesh)
        for k in names_m:
            metrics[k][idx] = m[k]
        reason[idx] = prob
    for k in names_m:
        bad = ~np.isfinite(metrics[k]) & (reason == "")
        if k == "b_value" or k.startswith("peak_"):
            continue
        reason = np.where(bad, f"metric {k} is not finite", reason)
    df = pd.DataFrame({"set_id": np.arange(start, start + n)})
    for j, name in enumerate(names):
        df[name] = values[:, j]
    for k in names_m:
        # + 0.0 turns the -0.0 of an empty half cycle (-charge) into 0.0 in tables and CSV
        df[k] = metrics[k] + 0.0
    df["status"] = np.where(reason == "", "ok", "failed")
    df["reason"] = reason.astype(str)
    return df


# ---------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------


ProgressCallback = Callable[[int, int, str], None]


def _progress_callback(on_progress: ProgressCallback | None, show: bool
                       ) -> ProgressCallback | None:
    """The caller's callback; else, for the older ``progress=True``, plain text on stderr
    (:func:`nasurf.progress.progress_callback`), else none."""
    if on_progress is not None or not show:
        return on_progress
    from nasurf.progress import progress_callback

    return progress_callback(None, show=True)


def _chunks(design: _Design, chunk_size: int) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, design.size, chunk_size):
        yield start, design.rows(start, min(start + chunk_size, design.size))


def _failed_chunk(names: Sequence[str], values: np.ndarray, start: int,
                  protocol: SweepProtocol, reason: str) -> pd.DataFrame:
    df = pd.DataFrame({"set_id": np.arange(start, start + len(values))})
    for j, name in enumerate(names):
        df[name] = values[:, j]
    for k in protocol.metric_names():
        df[k] = np.nan
    df["status"] = "failed"
    df["reason"] = reason
    return df


def sweep(base: str | Path | ParameterSet,
          grid_or_samples: Mapping[str, Sequence[float] | np.ndarray] | pd.DataFrame,
          protocol: str | SweepProtocol = "rate",
          metrics: Sequence[str] | None = None, *,
          strategy: str | Path | None = None,
          scheduler: str | None = None, chunk_size: int = 250,
          max_in_flight: int | None = None, progress: bool = True,
          mesh: MeshSpec | None = None,
          on_result: Callable[[pd.DataFrame], None] | None = None,
          on_progress: ProgressCallback | None = None) -> pd.DataFrame:
    """Evaluate ``protocol`` for every parameter set; one row per set.

    ``grid_or_samples``: ``{name: values}`` (full factorial grid, generated lazily) or a
    DataFrame of samples (one row per set, e.g. :func:`latin_hypercube`). Names are user
    names (``shell_D``, ``k0`` ...; see :data:`PARAMETER_ALIASES`) or batchable fields, in
    SI units; a tabulated D(c) or k(c) takes a factor on its table.
    ``metrics``: subset of ``protocol.metric_names()`` to keep (default all).
    ``scheduler``: None runs the chunks in this process (vectorised over each chunk);
    ``"local"`` starts a ``LocalCluster(n_workers=2, threads_per_worker=1)``;
    ``"tcp://host:port"`` uses that scheduler's workers. At most ``max_in_flight`` chunks
    (default 2 per worker) are submitted at a time. ``on_result`` is called with each
    finished chunk's rows (e.g. to append them to a file). ``on_progress(done, total,
    "sweep")`` is called with the number of finished sets, first with 0 and last with the
    total (:mod:`nasurf.progress`; in this process also for a Dask run); without it,
    ``progress=True`` writes plain progress lines on stderr.

    Returns the rows sorted by ``set_id`` with the parameter columns, the metrics, and
    ``status`` (``ok``/``failed``) with a ``reason``.
    """
    from nasurf.sim.simulate import resolve_parameters

    params = resolve_parameters(base, strategy)
    proto = make_protocol(protocol)
    design = _design(grid_or_samples)
    available = proto.metric_names()
    keep = list(metrics) if metrics else available
    unknown = [m for m in keep if m not in available]
    if unknown:
        raise ValidationError(f"unknown metric for protocol '{proto.kind}'; available: "
                              f"{', '.join(available)}", field=unknown[0])
    for n in design.names:
        f = resolve_parameter(n)
        if f == "shell_diffusivity" and params.shell_thickness <= 0 and \
                "shell_thickness" not in {resolve_parameter(x) for x in design.names}:
            raise ValidationError("the material has no shell (shell_thickness = 0): choose a "
                                  "strategy with a shell or sweep shell_thickness too",
                                  field=n)
    if chunk_size < 1:
        raise ValidationError("must be >= 1", field="chunk_size")
    columns = ["set_id", *design.names, *keep, "status", "reason"]
    report = _progress_callback(on_progress, progress)
    done = 0
    if report is not None:
        report(0, design.size, "sweep")
    results: list[pd.DataFrame] = []

    def collect(df: pd.DataFrame) -> None:
        nonlocal done
        df = df[columns]
        results.append(df)
        done = min(design.size, done + len(df))
        if report is not None:
            report(done, design.size, "sweep")
        if on_result is not None:
            on_result(df)

    if scheduler is None:
        for start, values in _chunks(design, chunk_size):
            collect(run_chunk(params, design.names, values, start, proto, mesh))
    else:
        _sweep_dask(params, design, proto, mesh, scheduler, chunk_size, max_in_flight,
                    collect)
    if not results:
        return pd.DataFrame(columns=columns)
    return pd.concat(results, ignore_index=True).sort_values("set_id", kind="stable") \
        .reset_index(drop=True)


def start_local_cluster(n_workers: int = 2) -> Any:
    """A ``LocalCluster(n_workers, threads_per_worker=1, processes=True)`` tuned for sweeps.

    Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its workers; an explicit trim
    threshold switches off glibc's dynamic mmap threshold, so every temporary array of a
    batch is mmapped and page-faulted afresh, which doubled the solve time of a chunk here
    (0.41 s -> 0.85 s for 1 000 sets). The variable is therefore left unset. Logs are
    silenced: a worker heartbeat racing the shutdown logs a harmless traceback, and a
    chunk's own failure still comes back through its future.
    """
    import dask
    from dask.distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                            dashboard_address=None, silence_logs=logging.CRITICAL)


def _sweep_dask(params: ParameterSet, design: _Design, proto: SweepProtocol,
                mesh: MeshSpec | None, scheduler: str, chunk_size: int,
                max_in_flight: int | None, collect: Callable[[pd.DataFrame], None]) -> None:
    from dask.distributed import Client, as_completed

    cluster = None
    if scheduler == "local":
        cluster = start_local_cluster()
        client = Client(cluster)
    elif scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise ValidationError(f"cannot reach the Dask scheduler {scheduler}: {exc}",
                                  field="scheduler") from None
    else:
        raise ValidationError(f"scheduler must be None, 'local' or an address such as "
                              f"tcp://host:8786, got {scheduler!r}", field="scheduler")
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        limit = max_in_flight or 2 * n_workers
        remote_params = client.scatter(params, broadcast=True)
        chunks = _chunks(design, chunk_size)
        pending: dict[Any, tuple[int, np.ndarray]] = {}

        def submit(item: tuple[int, np.ndarray]) -> Any:
            start, values = item
            fut = client.submit(run_chunk, remote_params, design.names, values, start, proto,
                                mesh, pure=False)
            pending[fut] = item
            return fut

        ac = as_completed([submit(c) for c in itertools.islice(chunks, limit)])
        for fut in ac:
            start, values = pending.pop(fut)
            try:
                df = fut.result()
            except Exception as exc:  # a worker died or the chunk crashed: keep going
                df = _failed_chunk(design.names, values, start, proto,
                                   f"chunk failed on the cluster: {type(exc).__name__}: {exc}")
            fut.release()
            collect(df)
            nxt = next(chunks, None)
            if nxt is not None:
                ac.add(submit(nxt))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

