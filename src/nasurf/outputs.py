"""Where results are written: never over a user's file, never half, never as a formula.

One owner for the output rules every command follows (library functions and the CLI):

* :func:`check_file_target` / :func:`check_folder_target` -- an existing file is replaced, or
  a non-empty folder written into, only with ``force``; a target that *is* one of the inputs
  is refused even then (a summary must never replace the raw instrument file it came from);
* :func:`write_file` -- a single file written to a temporary sibling and renamed into place,
  so a failure leaves the old file (or nothing), never a truncated one;
* :func:`write_set` -- a result set (tables, JSON, figures) written into a temporary folder
  and moved into place only when every file was written: no ``rate.csv`` without its
  ``summary.json``;
* :func:`neutralise_cell` / :func:`neutralise_frame` -- text cells that a spreadsheet would
  run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR at the start) are prefixed with
  ``'`` in CSV exports; numbers are left alone.

Every failure is an :class:`OutputError`: one line naming the path, exit status 2 in the CLI.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from nasurf.errors import NasurfError

T = TypeVar("T")

FORCE_HINT = "pass --force to replace it"


class OutputError(NasurfError):
    """An output could not be written where it was asked for."""


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _resolved(paths: Iterable[str | Path] | None) -> list[Path]:
    return [Path(p) for p in (paths or ()) if p is not None]


def check_file_target(path: str | Path, *, force: bool = False,
                      inputs: Iterable[str | Path] | None = None) -> Path:
    """Refuse to write ``path`` over an input, or over an existing file without ``force``."""
    p = Path(path)
    for src in _resolved(inputs):
        if _same(p, src):
            raise OutputError("is an input of this command; choose another output path",
                              file=str(p))
        if src.is_dir() and p.exists() and p.resolve().is_relative_to(src.resolve()):
            raise OutputError("exists inside the input folder (it may be one of the inputs); "
                              "choose another output path", file=str(p))
    if p.is_dir():
        raise OutputError("is a folder; give a file name", file=str(p))
    if p.exists() and not force:
        raise OutputError(f"exists; {FORCE_HINT}", file=str(p))
    return p


def check_folder_target(folder: str | Path, *, force: bool = False,
                        inputs: Iterable[str | Path] | None = None) -> Path:
    """Refuse a folder that is a file, an input, or (without ``force``) not empty."""
    d = Path(folder)
    for src in _resolved(inputs):
        if _same(d, src) and not src.is_dir():
            raise OutputError("is an input file of this command; choose an output folder",
                              file=str(d))
    if d.exists() and not d.is_dir():
        raise OutputError("exists and is not a folder", file=str(d))
    if d.is_dir() and any(d.iterdir()) and not force:
        raise OutputError(f"exists and is not empty; {FORCE_HINT} (files of the same "
                          "names are replaced, others kept)", file=str(d))
    return d


def write_file(path: str | Path, writer: Callable[[Path], Any], *, force: bool = False,
               inputs: Iterable[str | Path] | None = None) -> Path:
    """Call ``writer(tmp)`` on a temporary sibling of ``path``, then rename it into place."""
    p = check_file_target(path, force=force, inputs=inputs)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write here ({exc.strerror or exc})", file=str(p)) from None
    tmp = Path(name)
    try:
        writer(tmp)
        os.replace(tmp, p)
    except NasurfError:
        tmp.unlink(missing_ok=True)
        raise
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"not written ({exc.__class__.__name__}: "
                          f"{str(exc).splitlines()[0][:160] if str(exc) else ''}); nothing "
                          "was left behind", file=str(p)) from None
    return p


def write_set(folder: str | Path, writer: Callable[[Path], T], *, force: bool = False,
              inputs: Iterable[str | Path] | None = None) -> T:
    """Call ``writer(tmp_folder)``; when it returns, move everything it wrote into ``folder``.

    A new folder appears whole (one rename). Into an existing folder (``force``), each file
    is renamed into place only after all were written. Paths in the writer's return value
    (a path, or a list/tuple/dict of them) are rewritten to their final place.
    """
    d = check_folder_target(folder, force=force, inputs=inputs)
    try:
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{d.name}.", suffix=".part", dir=d.parent))
    except OSError as exc:
        raise OutputError(f"cannot write here ({exc.strerror or exc})", file=str(d)) from None
    try:
        result = writer(tmp)
        if not d.exists():
            os.rename(tmp, d)
        else:
            for item in sorted(tmp.rglob("*")):
                if item.is_file():
                    target = d / item.relative_to(tmp)
                    if target.is_dir():
                        raise OutputError("would replace a folder with a file",
                                          file=str(target))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(item, target)
            shutil.rmtree(tmp, ignore_errors=True)
    except NasurfError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"not written ({exc.__class__.__name__}: "
                          f"{str(exc).splitlines()[0][:160] if str(exc) else ''}); nothing "
                          "was left behind", file=str(d)) from None
    return _relocate(result, tmp, d)


def _relocate(value: Any, old: Path, new: Path) -> Any:
    if isinstance(value, Path | str):
        p = Path(value)
        try:
            rel = p.relative_to(old)
        except ValueError:
            return value
        moved = new / rel
        return moved if isinstance(value, Path) else str(moved)
    if isinstance(value, list):
        return [_relocate(v, old, new) for v in value]
    if isinstance(value, tuple):
        return tuple(_relocate(v, old, new) for v in value)
    if isinstance(value, dict):
        return {k: _relocate(v, old, new) for k, v in value.items()}
    return value


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate, made inert with a leading ``'``.

    Numbers (and text that is a plain number, such as ``-1.5``) are not formulas and stay.
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells are neutralised (see :func:`neutralise_cell`)."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            out[col] = s.map(neutralise_cell, na_action="ignore")
    out.columns = [neutralise_cell(str(c)) if isinstance(c, str) else c for c in out.columns]
    return out


def guarded(target: Path | None, *, kind: str, force: bool,
            inputs: Iterable[str | Path] | None, run: Callable[[], T]) -> T:
    """Run a command that writes ``target`` (a ``"file"`` or a ``"folder"``): the target is
    checked first, and if the command fails whatever it created is removed again, so a
    failed run leaves no partial result (files it replaced with ``force`` stay replaced).
    """
    if target is None:
        return run()
    t = Path(target)
    if kind == "any":   # a file, or a folder for formats written as several files
        kind = "folder" if t.is_dir() else "file"
    if kind == "file":
        check_file_target(t, force=force, inputs=inputs)
    else:
        check_folder_target(t, force=force, inputs=inputs)
    existed = t.exists()
    before = {p for p in t.rglob("*")} if existed and t.is_dir() else set()
    try:
        return run()
    except BaseException as exc:
        if not existed:
            if t.is_dir():
                shutil.rmtree(t, ignore_errors=True)
            elif t.exists():
                t.unlink(missing_ok=True)
        elif t.is_dir():
            for p in sorted(set(t.rglob("*")) - before, reverse=True):
                if p.is_file():
                    p.unlink(missing_ok=True)
                elif p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
        if isinstance(exc, OSError):
            raise OutputError(f"not written ({exc.strerror or exc}); what this run had "
                              "written was removed", file=str(t)) from None
        raise
