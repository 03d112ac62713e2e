"""Run a simulation or analysis body in a child process: cancelling stops it mid-run, and
its CPU work does not hold the server's interpreter lock.

A simulation can spend minutes inside one call of the solver; a flag checked between
steps would let it finish first. The job thread instead runs the body in a child process
(``forkserver``: the server's threads are not copied into it), relays the child's progress
messages, and kills the child the moment a cancel is seen. Only the parent touches the
workspace, so a killed child (or a SIGKILLed server) leaves no half-written rows.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from typing import Any

from nasurf.errors import NasurfError
from nasurf.web.jobs import Progress

_POLL_S = 0.2
# Background jobs (analyses, simulations) run at a lower CPU priority than the server: on
# a machine with few cores their numerics would otherwise take the CPU from the requests
# being served (uploads, pages), which only wait on them.
BACKGROUND_NICE = 10
_ctx: Any = None


def _context() -> Any:
    global _ctx
    if _ctx is None:
        ctx = mp.get_context("forkserver")
        # imported once in the fork server, so each child starts in milliseconds
        ctx.set_forkserver_preload(["nasurf.web.simulation", "nasurf.web.analyses",
                                    "nasurf.web.simproc", "nasurf.web.parsed",
                                    "nasurf.io", "nasurf.analysis.cycling",
                                    "nasurf.analysis.differential_capacity", "nasurf.sim",
                                    "nasurf.web.prefork"])
        _ctx = ctx
    return _ctx


def _child(conn: Any, fn: Callable[..., dict], args: tuple, nice: int = 0,
           kwargs: dict | None = None) -> None:
    parent = os.getppid()
    if nice:
        os.nice(nice)

    def progress(fraction: float, message: str = "") -> None:
        if os.getppid() != parent:  # the server is gone: nobody will read the result
            os._exit(0)
        conn.send(("progress", float(fraction), str(message)))

    try:
        conn.send(("done", fn(*args, progress, **(kwargs or {}))))
    except NasurfError as exc:
        conn.send(("error", str(exc)))
    except Exception as exc:  # reported to the job as one readable line
        conn.send(("crash", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_cancellable(fn: Callable[..., Any], args: tuple, progress: Progress, *,
                    background: bool = True, kwargs: dict | None = None) -> Any:
    """``fn(*args, progress)`` in a child process; ``progress`` raising (a cancel) kills it.

    ``background`` lowers the child's CPU priority (:data:`BACKGROUND_NICE`); work a
    request waits for (the read at upload) keeps the server's priority.
    """
    ctx = _context()
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn, args,
                                            BACKGROUND_NICE if background else 0,
                                            kwargs),
                       daemon=True,
                       name="nasurf-sim")
    proc.start()
    send.close()
    try:
        while True:
            if recv.poll(_POLL_S):
                try:
                    msg = recv.recv()
                except EOFError:
                    raise RuntimeError("the simulation process ended without a result "
                                       f"(exit code {proc.exitcode})") from None
                if msg[0] == "progress":
                    progress(msg[1], msg[2])
                    continue
                if msg[0] == "done":
                    return msg[1]
                if msg[0] == "error":
                    raise NasurfError(msg[1])
                raise RuntimeError(msg[1])
            progress_check = getattr(progress, "check", None)
            if progress_check is not None:
                progress_check()
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        recv.close()


def _noop(progress: Progress) -> dict:
    return {}


def warm_up() -> None:
    """Start the fork server now (its preload takes seconds), not on the first upload."""
    run_cancellable(_noop, (), lambda fraction, message="": None)
