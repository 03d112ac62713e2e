"""How long-running library work reports progress, without knowing who is watching.

One owner of the progress *protocol*; rendering (a rich bar, a web job's fraction, a
log line) belongs to whoever passes the callback. Nothing here imports rich or a front
end, so a library function that accepts ``on_progress`` can be called from a notebook,
a worker, a web job or the CLI alike.

The protocol is a plain callable::

    on_progress(done: int, total: int, label: str) -> None

- ``total`` is the number of work units (files, parameter sets, ...), fixed for one run;
  ``done`` is the cumulative number finished (0 <= done <= total), never decreasing.
- A run calls it once with ``done=0`` before any work, so a renderer can draw an empty
  bar with the right total, then after each completed unit (or chunk of units), and its
  last call has ``done == total`` when the run completes (an aborted run may stop early).
- ``label`` names the run ("files", "archive", "sweep"); one renderer may receive
  several runs with different labels (e.g. a study's "files" then "cv sets") and should
  keep one bar per label.
- It is called in the calling process (for Dask runs: in the client, never on a
  worker), from the thread that runs the loop. It should be cheap and must not raise;
  an exception from it propagates and stops the run.

Library functions take ``on_progress: ProgressCallback | None = None`` and report
through :class:`ProgressTracker`::

    tracker = ProgressTracker(on_progress, total=len(tasks), label="files")
    for task in tasks:
        ...
        tracker.advance()

A function that keeps an older boolean ``show_progress``/``progress`` keyword maps it
with :func:`progress_callback`, which gives the plain-text :func:`text_progress` on
stderr (front ends pass their own richer callback instead).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO, Protocol

__all__ = ["ProgressCallback", "ProgressTracker", "progress_callback", "text_progress"]


class ProgressCallback(Protocol):
    """``on_progress(done, total, label)``: see the module docstring for the contract."""

    def __call__(self, done: int, total: int, label: str) -> None: ...


class ProgressTracker:
    """Counts finished units of one run and reports each change to a callback.

    Reports ``done=0`` on construction. With ``on_progress=None`` it only counts, so the
    caller's loop needs no ``if``.
    """

    __slots__ = ("_cb", "done", "label", "total")

    def __init__(self, on_progress: ProgressCallback | Callable[[int, int, str], None] | None,
                 total: int, label: str) -> None:
        self._cb = on_progress
        self.total = int(total)
        self.label = label
        self.done = 0
        if self._cb is not None:
            self._cb(0, self.total, self.label)

    def advance(self, n: int = 1) -> None:
        """Mark ``n`` more units finished (clipped at ``total``) and report."""
        self.done = min(self.total, self.done + int(n))
        if self._cb is not None:
            self._cb(self.done, self.total, self.label)


def text_progress(stream: IO[str] | None = None, *, steps: int = 10
                  ) -> Callable[[int, int, str], None]:
    """A callback that writes plain progress lines (default: stderr).

    On a terminal one line is rewritten in place; elsewhere (logs, pipes) a line is
    written at every ``1/steps`` of the total and at the end, so a log of a long run
    stays short.
    """
    out = stream if stream is not None else sys.stderr
    last: dict[str, int] = {}

    def on_progress(done: int, total: int, label: str) -> None:
        tty = bool(getattr(out, "isatty", lambda: False)())
        if tty:
            end = "\n" if done >= total else ""
            out.write(f"\r{label}: {done}/{total}{end}")
            out.flush()
            return
        bucket = (done * steps) // total if total else steps
        if done >= total or bucket > last.get(label, -1):
            last[label] = bucket
            out.write(f"{label}: {done}/{total}\n")
            out.flush()

    return on_progress


def progress_callback(on_progress: ProgressCallback | Callable[[int, int, str], None] | None = None,
                      show: bool = False) -> Callable[[int, int, str], None] | None:
    """The callback a run should use: the caller's, else plain text if ``show``, else none."""
    if on_progress is not None:
        return on_progress
    return text_progress() if show else None
