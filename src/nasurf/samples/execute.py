"""Run many independent per-file tasks serially or on a Dask cluster.

One owner for "where does the work run": sample studies and archives both call
:func:`run_tasks`. ``scheduler`` is ``None`` (this process, one file after the other),
``"local"`` (a Dask ``LocalCluster`` of worker processes started for this run and closed
after it), a scheduler address such as ``"tcp://10.0.0.5:8786"`` (an existing cluster), or
a ``distributed.Client`` the caller already holds.

Memory stays bounded: at most ``window`` tasks are in flight (by default two per worker
thread), so a worker never holds more than a few files' tables at once and the client
never holds thousands of pending futures. Results come back in task order whatever order
they finished in, so a cluster run is bit-identical to the serial run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from nasurf.errors import ValidationError
from nasurf.extras import require_extra
from nasurf.progress import ProgressCallback, ProgressTracker, progress_callback


@contextlib.contextmanager
def dask_client(scheduler: Any, n_workers: int = 2) -> Iterator[Any]:
    """A ``distributed.Client`` for ``scheduler`` ("local", an address, or a Client)."""
    require_extra("distributed", "running samples on a Dask cluster")
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler == "local":
        # processes, not threads: readers and fits hold the GIL for most of their time
        with (LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=None) as cluster,
              Client(cluster) as client):
            yield client
        return
    if isinstance(scheduler, str) and scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except Exception as exc:
            raise ValidationError(f"cannot connect to the Dask scheduler at '{scheduler}': "
                                  f"{exc}", field="scheduler") from None
        try:
            yield client
        finally:
            client.close()
        return
    raise ValidationError(f"unknown scheduler {scheduler!r}; expected None, 'local', an "
                          "address like tcp://host:8786, or a distributed.Client",
                          field="scheduler")


def _call_batch(func: Callable[..., Any], batch: list[dict[str, Any]]) -> list[Any]:
    """Run several small tasks in one Dask task (on the worker)."""
    return [func(**t) for t in batch]


def run_tasks(func: Callable[..., Any], tasks: Sequence[dict[str, Any]], *,
              scheduler: Any = None, n_workers: int = 2, window: int | None = None,
              show_progress: bool = False, label: str = "analysing",
              on_result: Callable[[int, Any], None] | None = None,
              batch_size: int = 1,
              on_progress: ProgressCallback | None = None) -> list[Any]:
    """``[func(**t) for t in tasks]``, serially or on Dask; results in task order.

    ``func`` must not raise for a bad input (per-file functions return a failed record);
    a worker that dies anyway is turned into ``{"status": "failed", "error": ...}`` for
    its task so the other tasks still complete. ``on_result(i, result)`` is called as each
    task finishes (e.g. to write it to a cache at once). ``batch_size`` > 1 sends that many
    tasks to a worker as one Dask task: for many small files the scheduler's per-task
    round trip costs more than the analysis (memory is still a few files per worker).
    Progress goes to ``on_progress(done, total, label)`` (:mod:`nasurf.progress`), called
    in this process; ``show_progress`` without a callback prints plain lines on stderr.
    """
    results: list[Any] = [None] * len(tasks)
    bar = ProgressTracker(progress_callback(on_progress, show_progress), len(tasks), label)
    if scheduler is None or not tasks:
        for i, t in enumerate(tasks):
            results[i] = func(**t)
            if on_result:
                on_result(i, results[i])
            bar.advance()
        return results
    from distributed import as_completed

    with dask_client(scheduler, n_workers) as client:
        threads = sum(client.nthreads().values()) or 1
        limit = window or 2 * threads
        size = max(1, int(batch_size))
        chunks = [list(range(a, min(a + size, len(tasks))))
                  for a in range(0, len(tasks), size)]
        pending = iter(chunks)
        index: dict[str, list[int]] = {}

        def submit_next() -> Any | None:
            try:
                idx = next(pending)
            except StopIteration:
                return None
            # pure=False: each task runs even if two files have the same arguments
            fut = client.submit(_call_batch, func, [tasks[i] for i in idx], pure=False)
            index[fut.key] = idx
            return fut

        first = [f for f in (submit_next() for _ in range(limit)) if f is not None]
        queue = as_completed(first)
        for fut in queue:
            idx = index.pop(fut.key)
            try:
                got = fut.result()
            except Exception as exc:   # a worker died (e.g. killed for memory)
                got = [{**{k: v for k, v in tasks[i].items()
                           if isinstance(v, str | int | float)},
                        "status": "failed",
                        "error": f"worker failed: {exc.__class__.__name__}: {exc}"}
                       for i in idx]
            fut.release()
            for i, res in zip(idx, got, strict=True):
                results[i] = res
                if on_result:
                    on_result(i, res)
                bar.advance()
            nxt = submit_next()
            if nxt is not None:
                queue.add(nxt)
    return results
