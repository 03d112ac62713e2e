"""Where results are written: never over a user's file, never half, never as a formula.

One owner for the output rules every command follows (library functions and the CLI):

* :func:`check_file_target` / :func:`check_folder_target` -- an existing file is replaced, or
  a non-empty folder written into, only with ``force``; a target that *is* one of the inputs
  is refused even then (a summary must never replace the raw instrument file it came from);
* :func:`atomic_path` / :func:`atomic_write_bytes` / :func:`atomic_write_text` -- the one
  owner of "write a temporary sibling, then rename it into place" (with the mode a new file
  gets, umask respected), so a failure leaves the old file (or nothing), never a truncated
  one; :func:`write_file` adds the overwrite rules and one-line errors;
* :func:`write_set` -- a result set (tables, JSON, figures) written into a temporary folder
  and moved into place only when every file was written: no ``rate.csv`` without its
  ``summary.json``;
* :func:`staged` -- what every CLI command that writes a result set (or one file) uses: the
  command writes into a temporary sibling folder, which is moved into place only when the
  command returned, so a failure *or a kill at any moment* leaves the previous state or the
  whole new set, never a part of it;
* :func:`neutralise_cell` / :func:`neutralise_frame` -- text cells that a spreadsheet would
  run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR at the start) are prefixed with
  ``'`` in CSV exports; numbers are left alone.

Every failure is an :class:`OutputError`: one line naming the path, exit status 2 in the CLI.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from nasurf.errors import NasurfError

if TYPE_CHECKING:   # pandas only for neutralise_frame: writing a file needs no pandas
    import pandas as pd

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


# ---------------------------------------------------------------------------------------
# Atomic writes: the one owner of "write to a temporary sibling, then rename into place".


def _new_sibling(path: Path, suffix: str) -> Path:
    """Create an empty, uniquely named hidden sibling of ``path`` and return its path.

    Opened with mode 0666 so the kernel applies the umask (and any default ACL) exactly as
    for a file written with ``open(path, "w")``; ``tempfile.mkstemp`` would give 0600 and
    hide the result from the rest of a lab group.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        name = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
        try:
            os.close(os.open(name, flags, 0o666))
        except FileExistsError:
            continue
        return name
    raise FileExistsError(f"no free temporary name beside {path}")   # pragma: no cover


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = ".part",
                durable: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; rename it over ``path`` on success.

    For writers that need a path (``savefig``, ``to_parquet``, ``Workbook.save``): the
    temporary file already exists, empty, with the mode a new file gets (0666 less the
    umask). When the block raises (or is interrupted), the temporary file is removed and
    ``path`` is untouched (the old file, or nothing); a reader never sees half a file.
    The parent folder is created if missing. No overwrite check: callers that must not
    replace a file check first (:func:`check_file_target`). ``durable`` also survives a
    power cut: the bytes are flushed to disk before the rename, and the folder after it.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_sibling(p, suffix)
    try:
        yield tmp
        move_into_place(tmp, p, durable=durable)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def move_into_place(tmp: str | os.PathLike[str], path: str | os.PathLike[str], *,
                    durable: bool = False) -> Path:
    """Rename the fully written file ``tmp`` over ``path`` (same file system) in one step.

    For a file whose final name is known only once it is written (an upload named by its
    content hash); :func:`atomic_path` uses it for the rest. ``durable``: the bytes are
    flushed to disk before the rename and the folder after it, so a power cut leaves the
    old state or the new one, never a named file with missing bytes.
    """
    p = Path(path)
    if durable:
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    os.replace(tmp, p)
    if durable:
        _fsync_dir(p.parent)
    return p


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:   # a platform without directory handles (Windows): nothing to flush
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    p = Path(path)
    with atomic_path(p) as tmp:
        tmp.write_bytes(data)
    return p


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8",
                      newline: str | None = None) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`).

    ``newline`` as for :func:`open`: ``None`` translates ``\n`` to the platform's line
    end, ``""`` or ``"\n"`` writes it unchanged.
    """
    p = Path(path)
    with atomic_path(p) as tmp, open(tmp, "w", encoding=encoding, newline=newline) as fh:
        fh.write(text)
    return p


def write_file(path: str | Path, writer: Callable[[Path], Any], *, force: bool = False,
               inputs: Iterable[str | Path] | None = None) -> Path:
    """Call ``writer(tmp)`` on a temporary sibling of ``path``, then rename it into place.

    :func:`atomic_path` with the overwrite rules of :func:`check_file_target`, and every
    failure reported as one :class:`OutputError` line.
    """
    p = check_file_target(path, force=force, inputs=inputs)

    def not_written(exc: BaseException) -> OutputError:
        first = str(exc).splitlines()[0][:160] if str(exc) else ""
        return OutputError(f"not written ({exc.__class__.__name__}: {first}); nothing was "
                           "left behind", file=str(p))

    try:
        with contextlib.ExitStack() as stack:
            try:
                tmp = stack.enter_context(atomic_path(p))
            except OSError as exc:
                raise OutputError(f"cannot write here ({exc.strerror or exc})",
                                  file=str(p)) from None
            try:
                writer(tmp)
            except NasurfError:
                raise
            except Exception as exc:
                raise not_written(exc) from None
    except OSError as exc:   # the final rename
        raise not_written(exc) from None
    return p


def write_set(folder: str | Path, writer: Callable[[Path], T], *, force: bool = False,
              inputs: Iterable[str | Path] | None = None) -> T:
    """Call ``writer(tmp_folder)``; when it returns, move everything it wrote into ``folder``
    (:func:`staged`).

    A new folder appears whole (one rename). Into an existing folder (``force``), each file
    is renamed into place only after all were written. Paths in the writer's return value
    (a path, or a list/tuple/dict of them) are rewritten to their final place.
    """
    d = Path(folder)
    with staged(d, kind="folder", force=force, inputs=inputs) as tmp:
        try:
            result = writer(tmp)
        except NasurfError:
            raise
        except Exception as exc:
            raise OutputError(f"not written ({exc.__class__.__name__}: "
                              f"{str(exc).splitlines()[0][:160] if str(exc) else ''}); "
                              "nothing was left behind", file=str(d)) from None
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
    import pandas as pd

    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            out[col] = s.map(neutralise_cell, na_action="ignore")
    out.columns = [neutralise_cell(str(c)) if isinstance(c, str) else c for c in out.columns]
    return out


def check_target(target: Path, *, kind: str, force: bool,
                 inputs: Iterable[str | Path] | None) -> str:
    """Check a command's output ``target`` by the rules for its ``kind`` and return the kind
    (``"any"`` resolved: a folder if one is there, else a file)."""
    if kind == "any":   # a file, or a folder for formats written as several files
        kind = "folder" if target.is_dir() else "file"
    if kind == "file":
        check_file_target(target, force=force, inputs=inputs)
    else:
        check_folder_target(target, force=force, inputs=inputs)
    return kind


# ---------------------------------------------------------------------------------------
# Staging. A command is handed a path inside a temporary sibling folder instead of its
# target; when it returns, the folder (a new target) is renamed into place in one step, or
# (an existing folder, --force) each file is renamed over its namesake after all were
# written. A SIGKILL therefore leaves the target as it was plus a hidden ``.NAME.PID.*.part``
# folder, which the next staging of the same target removes once its process is gone.

_STAGE_SUFFIX = ".part"
_aliases: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "nasurf_output_aliases", default=())
_TEXT_SUFFIXES = {".csv", ".json", ".md", ".html", ".htm", ".txt", ".tex", ".yaml", ".yml",
                  ".svg", ".tsv", ".log", ".bib", ".ris"}
_REWRITE_MAX_BYTES = 64 * 1024**2


def unstage(value: str) -> str:
    """``value`` with any staging path of a running command replaced by its final path."""
    for tmp, final in _aliases.get():
        if tmp in value:
            value = value.replace(tmp, final)
    return value


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _sweep_stale(parent: Path, name: str) -> None:
    """Remove staging folders of ``name`` left by killed runs (their process is gone)."""
    try:
        candidates = list(parent.glob(f".{name}.*{_STAGE_SUFFIX}"))
    except OSError:
        return
    for c in candidates:
        middle = c.name[len(name) + 2:-len(_STAGE_SUFFIX)]
        pid = middle.split(".", 1)[0]
        if pid.isdigit() and c.is_dir() and not _pid_alive(int(pid)):
            shutil.rmtree(c, ignore_errors=True)


def _test_delay() -> None:
    # test hook: the kill test slows every write step so that a SIGKILL lands mid-set
    delay = os.environ.get("NASURF_TEST_STAGE_DELAY")
    if delay:
        time.sleep(float(delay))


def _rewrite_paths(root: Path, tmp: str, final: str) -> None:
    """Text files of the set that name their staging path name their final path instead."""
    old, new = tmp.encode(), final.encode()
    for f in root.rglob("*"):
        if f.suffix.lower() in _TEXT_SUFFIXES and f.is_file() \
                and f.stat().st_size <= _REWRITE_MAX_BYTES:
            data = f.read_bytes()
            if old in data:
                f.write_bytes(data.replace(old, new))


def _commit(staged_path: Path, target: Path) -> None:
    """Move what the command wrote at ``staged_path`` to ``target``."""
    if staged_path.is_dir():
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()   # an empty folder (made by an early check) is not a state
        if not target.exists():
            os.rename(staged_path, target)   # one step: the set appears whole
            return
        files = sorted(p for p in staged_path.rglob("*") if p.is_file())
        for item in files:
            dest = target / item.relative_to(staged_path)
            if dest.is_dir():
                raise OutputError("would replace a folder with a file", file=str(dest))
        if not target.is_symlink() and _swap_in(staged_path, target):
            return   # (a linked folder stays a link: its files are replaced one by one)
        for item in files:   # all written: now each file replaces its namesake
            dest = target / item.relative_to(staged_path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(item, dest)
            _test_delay()
    elif staged_path.exists():
        if target.is_dir():
            raise OutputError("is a folder; give a file name", file=str(target))
        os.replace(staged_path, target)


def _renameat2_exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False if the
    platform or file system cannot."""
    import ctypes

    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)),
              rename_exchange) == 0


def _swap_in(new: Path, target: Path) -> bool:
    """Make ``new`` hold the merged set (the target's other files as hard links, copies
    where links fail), then exchange the two folders atomically. The old set ends up at
    ``new``'s path, removed by the caller (or, after a kill, by the next run's sweep)."""
    for old in sorted(target.rglob("*")):
        dest = new / old.relative_to(target)
        if dest.exists() or dest.is_symlink():
            continue
        if old.is_symlink():
            os.symlink(os.readlink(old), dest)
        elif old.is_dir():
            dest.mkdir()
        else:
            try:
                os.link(old, dest)
            except OSError:
                shutil.copy2(old, dest)
    _test_delay()
    return _renameat2_exchange(new, target)


@contextlib.contextmanager
def staged(target: str | Path, *, kind: str = "folder", force: bool = False,
           inputs: Iterable[str | Path] | None = None) -> Iterator[Path]:
    """Check ``target`` (see :func:`check_file_target` / :func:`check_folder_target`; kind
    ``"any"`` accepts either), then yield the path the command should write instead: the
    same name inside a fresh temporary sibling folder. When the block ends normally, what
    was written there is moved to ``target`` (a new folder in one rename; into an existing
    folder file by file, after all were written); when it raises, it is removed and nothing
    of this run is left. While the block runs, :func:`unstage` maps the staging path back to
    ``target`` (JSON output, messages); text files of the set are rewritten the same way.
    """
    t = Path(target)
    kind = check_target(t, kind=kind, force=force, inputs=inputs)
    parent = t.parent
    box_name = f".{t.name}.{os.getpid()}.{secrets.token_hex(4)}{_STAGE_SUFFIX}"
    box = parent / box_name
    made = [a for a in (parent, *parent.parents) if not a.exists()]   # removed on failure
    committed = False
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _sweep_stale(parent, t.name)
        box.mkdir()
    except OSError as exc:
        raise OutputError(f"cannot write here ({exc.strerror or exc})", file=str(t)) from None
    inner = box / t.name
    if kind == "folder":
        inner.mkdir()
    # strings as the command will print them: relative or absolute, as the user gave them
    pairs = {(str(inner), str(t)), (str(inner.resolve()), str(t.resolve()))}
    token = _aliases.set(_aliases.get() + tuple(sorted(pairs, key=lambda p: -len(p[0]))))
    try:
        try:
            yield inner
        finally:
            _aliases.reset(token)
        if inner.is_dir():
            for old, new in pairs:
                _rewrite_paths(inner, old, new)
        _test_delay()
        _commit(inner, t)
        committed = True
    except OSError as exc:
        raise OutputError(f"not written ({exc.strerror or exc}); nothing of this run was "
                          "left behind", file=str(t)) from None
    finally:
        shutil.rmtree(box, ignore_errors=True)
        if not committed:
            for a in made:   # deepest first
                try:
                    a.rmdir()
                except OSError:
                    break


# --- where a command writes when not told -----------------------------------------------

DATA_DIR_ENV = "NASURF_DATA_DIR"


def user_data_dir() -> Path:
    """nasurf's folder in the user's data directory: ``$NASURF_DATA_DIR`` if set, else the
    platform's (platformdirs; ``~/.local/share/nasurf`` on Linux)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir as platform_data_dir

    return Path(platform_data_dir("nasurf", appauthor=False))


def default_output_dir(name: str) -> Path:
    """The folder a command writes its results into when ``--out`` is not given:
    ``<user data dir>/<name>`` (e.g. ``demo``, ``sim``), never the current directory."""
    return user_data_dir() / name
