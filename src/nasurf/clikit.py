"""Shared plumbing for the command-line front end.

Owns the ``--json`` contract (exactly one JSON document on stdout, everything else on
stderr; the conversion of results to JSON values is :func:`nasurf.jsonio.to_jsonable`,
library code that the web front end and the exports share), and the translation of
:class:`~nasurf.errors.NasurfError` into a one-line message and exit status 2.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import typer

from nasurf.errors import NasurfError
from nasurf.jsonio import dumps, to_jsonable

__all__ = ["FORCE_OPTION", "JSON_OPTION", "emit_json", "guard_output", "handle_errors",
           "to_jsonable"]

F = TypeVar("F", bound=Callable[..., Any])


def __getattr__(name: str) -> Any:
    # ``stderr`` (a rich console) is made on first use: a command that prints only JSON,
    # or nothing went wrong, does not pay for importing rich
    if name == "stderr":
        from rich.console import Console

        console = Console(stderr=True)
        globals()["stderr"] = console
        return console
    raise AttributeError(name)


def escape(text: str) -> str:
    """``text`` with rich markup escaped: user text such as "Xx[b]" is printed as is."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _stderr() -> Any:
    return globals().get("stderr") or __getattr__("stderr")


def emit_json(obj: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(dumps(obj, indent=2))
    sys.stdout.write("\n")
    sys.stdout.flush()


def handle_errors(func: F) -> F:
    """Decorator for CLI commands: user errors become ``error: ...`` and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NasurfError as exc:
            # escape: user text such as "Xx[b]" must not be read as rich markup
            _stderr().print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False,
                            soft_wrap=True)
            raise typer.Exit(code=2) from None
        except FileNotFoundError as exc:
            _stderr().print(f"[bold red]error:[/] no such file: {escape(str(exc.filename))}",
                         highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except OSError as exc:   # permission, disk full, read-only file system ...
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            _stderr().print(f"[bold red]error:[/] {escape(where + (exc.strerror or str(exc)))}",
                         highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except RecursionError:
            _stderr().print("[bold red]error:[/] input nested too deeply to process",
                         highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except MemoryError:
            _stderr().print("[bold red]error:[/] out of memory; the input or the requested size "
                         "is too large for this machine", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            from nasurf.extras import EXTRA_OF, missing_extra_message

            if isinstance(exc, ModuleNotFoundError) and \
                    (exc.name or "").split(".")[0] in EXTRA_OF:
                # an optional dependency (pip extra) that is not installed: say which
                _stderr().print(f"[bold red]error:[/] {escape(missing_extra_message(exc.name))}",
                                highlight=False, soft_wrap=True)
                raise typer.Exit(code=2) from None
            # a bug, not bad input: still one line (exit 3), the traceback on request
            if os.environ.get("NASURF_DEBUG"):
                raise
            msg = str(exc).splitlines()[0][:200] if str(exc) else ""
            _stderr().print(f"[bold red]internal error:[/] {escape(exc.__class__.__name__)}: "
                         f"{escape(msg)} (set NASURF_DEBUG=1 for the traceback; please "
                         "report it)", highlight=False, soft_wrap=True)
            raise typer.Exit(code=3) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def rich_progress(enabled: bool = True, *, transient: bool = True
                  ) -> Iterator[Callable[[int, int, str], None] | None]:
    """A rich progress bar on stderr as an ``on_progress`` callback (:mod:`nasurf.progress`).

    One bar per label; the bars are removed on exit when ``transient``. Yields ``None``
    when not ``enabled`` (e.g. with ``--json``), so the library runs without a callback.
    """
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=_stderr(), transient=transient) as bar:
        jobs: dict[str, Any] = {}

        def on_progress(done: int, total: int, label: str) -> None:
            if label not in jobs:
                jobs[label] = bar.add_task(label, total=total)
            bar.update(jobs[label], completed=done, total=total)

        yield on_progress


FORCE_OPTION = typer.Option(False, "--force", help="Replace existing output files (never "
                            "an input) and lift the size limits of simulations and sweeps.")


class _Unstaging:
    """A text stream that names a staging folder's final path in everything written."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from nasurf.outputs import unstage

        return self._stream.write(unstage(text) if isinstance(text, str) else text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _unstaged_streams() -> Iterator[None]:
    # every printed path (typer.echo, rich consoles, print) names where the result will be
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Unstaging(sys.stdout), _Unstaging(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def guard_output(param: str, *, kind: str = "folder", inputs: tuple[str, ...] = (),
                 default: str | None = None) -> Callable[[F], F]:
    """Decorator for a command that writes to its ``param`` option (a file or a folder).

    With ``default`` (a name such as ``"demo"``), an option left unset (None) means
    :func:`nasurf.outputs.default_output_dir` of that name, announced on stderr: a command
    never writes into the current directory unasked.

    The command must take ``force: bool = FORCE_OPTION``. Before it runs, the target is
    checked (no existing file replaced and no non-empty folder written into without
    ``--force``; never an input named by the ``inputs`` parameters). The command is then
    handed a staging path in a temporary sibling folder instead, moved into place only when
    it returns (:func:`nasurf.outputs.staged`), so a failure or a kill leaves the previous
    state or the whole new result. Put it below ``handle_errors``.
    """
    from nasurf.outputs import staged

    def deco(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            srcs: list[Path] = []
            for name in inputs:
                value = kwargs.get(name)
                if isinstance(value, list | tuple):
                    srcs.extend(Path(v) for v in value if v is not None)
                elif value is not None:
                    srcs.append(Path(value))
            target = kwargs.get(param)
            if target is None and default is not None:
                from nasurf.outputs import default_output_dir

                target = default_output_dir(default)
                _stderr().print(f"writing to {target} (the default of --out)", markup=False,
                                highlight=False, soft_wrap=True)
            if target is None:
                return func(*args, **kwargs)
            finished: typer.Exit | None = None
            with staged(target, kind=kind, force=bool(kwargs.get("force")),
                        inputs=srcs) as tmp, _unstaged_streams():
                kwargs[param] = type(target)(tmp) if isinstance(target, str) else tmp
                try:
                    result = func(*args, **kwargs)
                except typer.Exit as exc:
                    if exc.exit_code not in (0, 1):   # 1: done, with failed items counted
                        raise
                    finished = exc
            if finished is not None:
                raise finished
            return result

        return wrapper  # type: ignore[return-value]

    return deco


JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document on stdout.")
