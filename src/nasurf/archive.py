"""A lab's folder tree analysed at scale: Dask, an incremental cache, a Parquet data set.

:func:`analyze_archive` walks a folder tree, analyses every measurement file with
:func:`nasurf.samples.measure.analyze_measurement` (each file with its own stored mass, if
any: an archive has no sample sheet) on a Dask cluster (a ``LocalCluster`` by default, or
an existing scheduler), and writes the results as Parquet files that pandas, Polars or
DuckDB query directly:

* ``files.parquet``  one row per file: status, error, technique, headline metrics;
* ``cycles.parquet`` one row per file and cycle: capacities and Coulombic efficiency.

Incremental re-runs: ``cache.sqlite`` in the output folder keeps each file's size,
modification time, content hash (BLAKE2b) and summary. A file whose size and mtime are
unchanged is not opened at all; one whose stat changed but whose content hash is the same
(copied, touched) is not re-analysed. Each finished file is committed to the cache at once,
so an interrupted run loses nothing. A failed file is listed with its error and never
stops the others; failures are retried on the next run only if the file changed (or with
``retry_failed=True``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nasurf.companions import IGNORED_SUFFIXES, is_companion  # noqa: F401 (re-exported)
from nasurf.errors import ValidationError
from nasurf.jsonio import write_json
from nasurf.outputs import atomic_path, write_set
from nasurf.progress import ProgressCallback
from nasurf.samples.execute import run_tasks
from nasurf.samples.measure import SUMMARY_VERSION, analyze_measurement

CACHE_NAME = "cache.sqlite"
FILES_NAME = "files.parquet"
CYCLES_NAME = "cycles.parquet"
_OURS = {CACHE_NAME, FILES_NAME, CYCLES_NAME, f"{CACHE_NAME}-journal", "archive.json"}

FILE_COLUMNS = ["file", "relative_path", "status", "error", "kind", "format", "technique",
                "rows", "n_warnings", "capacity_unit", "initial_coulombic_efficiency",
                "mean_coulombic_efficiency", "retention", "cycles", "first_desodiation",
                "last_desodiation", "rate_steps", "eis_R_s_Ohm", "eis_R_ct_Ohm", "eis_circuit",
                "size_bytes", "blake2b"]
FILE_UNITS = {"initial_coulombic_efficiency": "1", "mean_coulombic_efficiency": "1",
              "retention": "1", "first_desodiation": "capacity_unit",
              "last_desodiation": "capacity_unit", "eis_R_s_Ohm": "Ohm",
              "eis_R_ct_Ohm": "Ohm", "size_bytes": "B"}


@dataclass(frozen=True)
class ArchiveResult:
    """What an archive run did, and where its Parquet data set is."""

    root: Path
    out: Path
    n_files: int
    n_analysed: int            # read and analysed in this run
    n_cached: int              # taken from the cache, file not read
    n_rehashed: int            # stat changed, content hash unchanged: not re-analysed
    n_failed: int
    failures: tuple[dict[str, str], ...]
    removed: tuple[str, ...]   # in the cache from an earlier run, no longer in the tree
    elapsed_s: float
    files_path: Path
    cycles_path: Path
    scheduler: str
    warnings: tuple[str, ...] = field(default=())

    @property
    def files(self) -> pd.DataFrame:
        return pd.read_parquet(self.files_path)

    @property
    def cycles(self) -> pd.DataFrame:
        return pd.read_parquet(self.cycles_path)

    def to_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "out": str(self.out), "files": self.n_files,
                "analysed": self.n_analysed, "cached": self.n_cached,
                "rehashed_unchanged": self.n_rehashed, "failed": self.n_failed,
                "failures": list(self.failures), "removed": list(self.removed),
                "elapsed_s": self.elapsed_s,
                "files_per_s": self.n_files / self.elapsed_s if self.elapsed_s > 0 else None,
                "files_parquet": str(self.files_path), "cycles_parquet": str(self.cycles_path),
                "scheduler": self.scheduler, "units": FILE_UNITS,
                "warnings": list(self.warnings)}




def list_archive(root: Path, pattern: str = "*") -> list[Path]:
    """Measurement files under ``root`` (recursive; companions and hidden files skipped)."""
    root = Path(root)
    return sorted(p for p in root.rglob(pattern)
                  if p.is_file() and not any(part.startswith(".") for part in
                                             p.relative_to(root).parts)
                  and not is_companion(p))


def file_hash(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _prepare_out(out: Path, root: Path, force: bool) -> None:
    root, out = root.resolve(), out.resolve()
    if out == root or root in out.parents:
        raise ValidationError("the output folder must not be inside the archive it analyses",
                              file=str(out))
    if out.exists():
        if not out.is_dir():
            raise ValidationError("exists and is not a folder", file=str(out))
        foreign = [p.name for p in out.iterdir() if p.name not in _OURS
                   and not p.name.startswith(".")]
        if foreign and not force:
            raise ValidationError(
                f"folder is not empty and not an archive output ({', '.join(foreign[:3])} ...);"
                " choose another --out or pass --force", file=str(out))
        marker = out / "archive.json"
        if marker.exists() and not force:
            prev = json.loads(marker.read_text(encoding="utf-8")).get("root")
            if prev != str(root):
                raise ValidationError(f"holds the results of another archive ({prev}); choose "
                                      "another --out or pass --force", file=str(out))
    out.mkdir(parents=True, exist_ok=True)


def _open_cache(out: Path) -> sqlite3.Connection:
    con = sqlite3.connect(out / CACHE_NAME)
    con.execute("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, "
                "mtime_ns INTEGER, hash TEXT, version INTEGER, result TEXT)")
    return con


def analyze_archive(root: str | os.PathLike[str], out: str | os.PathLike[str], *,
                    scheduler: Any = "local", n_workers: int = 2, pattern: str = "*",
                    force: bool = False, rebuild: bool = False, retry_failed: bool = False,
                    show_progress: bool = False, batch_size: int = 8,
                    on_progress: ProgressCallback | None = None) -> ArchiveResult:
    """Analyse every file under ``root`` into a Parquet data set in ``out``.

    ``scheduler``: ``"local"`` (a LocalCluster of ``n_workers`` processes), an address of
    an existing Dask scheduler, a ``distributed.Client``, or None (this process).
    ``out`` is never the current directory unless given so; an ``out`` that holds other
    files (or another archive's results) is refused unless ``force``. ``rebuild`` ignores
    the cache. Output rows are sorted by path, so the data set does not depend on which
    worker finished first. ``batch_size`` files go to a worker per Dask task.
    ``on_progress(done, total, label)`` follows :mod:`nasurf.progress` (files analysed,
    not those taken from the cache).
    """
    t0 = time.perf_counter()
    root_p, out_p = Path(root), Path(out)
    if not root_p.is_dir():
        raise ValidationError("not a folder", file=str(root_p))
    _prepare_out(out_p, root_p, force)
    files = list_archive(root_p, pattern)
    if not files:
        raise ValidationError(f"no files match '{pattern}'", file=str(root_p))
    con = _open_cache(out_p)
    try:
        cached = {} if rebuild else {
            r[0]: r for r in con.execute("SELECT path, size, mtime_ns, hash, version, result "
                                         "FROM files")}
        results: dict[str, dict[str, Any]] = {}
        hashes: dict[str, str] = {}
        sizes: dict[str, int] = {}
        todo: list[str] = []
        n_cached = n_rehashed = 0
        for f in files:
            key = os.path.abspath(f)
            st = f.stat()
            sizes[key] = st.st_size
            row = cached.get(key)
            usable = row is not None and row[4] == SUMMARY_VERSION and not (
                retry_failed and json.loads(row[5]).get("status") != "ok")
            if usable and row[1] == st.st_size and row[2] == st.st_mtime_ns:
                results[key] = json.loads(row[5])
                hashes[key] = row[3]
                n_cached += 1
                continue
            h = file_hash(f)
            hashes[key] = h
            if usable and row[3] == h:
                results[key] = json.loads(row[5])
                con.execute("UPDATE files SET size=?, mtime_ns=? WHERE path=?",
                            (st.st_size, st.st_mtime_ns, key))
                n_rehashed += 1
                continue
            todo.append(key)
        con.commit()
        stats = {k: Path(k).stat() for k in todo}

        def store(i: int, res: dict[str, Any]) -> None:
            k = todo[i]
            res = {**res, "file": k}
            results[k] = res
            con.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
                        (k, stats[k].st_size, stats[k].st_mtime_ns, hashes[k], SUMMARY_VERSION,
                         json.dumps(res, allow_nan=False)))
            con.commit()

        run_tasks(analyze_measurement, [{"path": k} for k in todo],
                  scheduler=scheduler if todo else None, n_workers=n_workers,
                  show_progress=show_progress, label="archive", on_result=store,
                  batch_size=batch_size, on_progress=on_progress)
        present = set(results)
        removed = tuple(sorted(set(cached) - present))
    finally:
        con.close()
    keys = sorted(results)
    file_rows = [_file_row(results[k], root_p, sizes[k], hashes[k]) for k in keys]
    files_df = pd.DataFrame(file_rows, columns=FILE_COLUMNS)
    cycles_df = _cycle_rows([results[k] for k in keys])

    def publish(d: Path) -> tuple[Path, Path]:
        write_json(d / "archive.json", {"root": str(root_p.resolve()),
                                        "summary_version": SUMMARY_VERSION}, indent=None)
        return (_write_parquet(files_df, d / FILES_NAME),
                _write_parquet(cycles_df, d / CYCLES_NAME))

    # the data set's files are renamed into place only after all were written (the cache
    # beside them is its own SQLite transaction)
    files_path, cycles_path = write_set(out_p, publish, force=True)
    failures = tuple({"file": r["file"], "error": r["error"] or ""} for r in file_rows
                     if r["status"] != "ok")
    sched = ("serial" if scheduler is None else
             scheduler if isinstance(scheduler, str) else type(scheduler).__name__)
    return ArchiveResult(root=root_p, out=out_p, n_files=len(keys), n_analysed=len(todo),
                         n_cached=n_cached, n_rehashed=n_rehashed, n_failed=len(failures),
                         failures=failures, removed=removed,
                         elapsed_s=time.perf_counter() - t0, files_path=files_path,
                         cycles_path=cycles_path, scheduler=sched)


def _write_parquet(df: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return path


def _file_row(r: dict[str, Any], root: Path, size: int, h: str) -> dict[str, Any]:
    row = dict.fromkeys(FILE_COLUMNS)
    try:
        rel = os.path.relpath(r["file"], root.absolute())
    except ValueError:
        rel = r["file"]
    row.update(file=r["file"], relative_path=rel, status=r["status"], error=r.get("error"),
               kind=r.get("kind"), format=r.get("format"), technique=r.get("technique"),
               rows=r.get("rows"), n_warnings=len(r.get("warnings") or ()), size_bytes=size,
               blake2b=h)
    c = r.get("cycling")
    if c:
        des = [v for v, ok in zip(c["cycles"]["desodiation"], c["cycles"]["complete"],
                                  strict=True) if ok and v is not None]
        row.update(capacity_unit=c["capacity_unit"],
                   initial_coulombic_efficiency=c["initial_coulombic_efficiency"],
                   mean_coulombic_efficiency=c["mean_coulombic_efficiency"],
                   retention=c["retention_final"], cycles=len(c["cycles"]["cycle"]),
                   first_desodiation=des[0] if des else None,
                   last_desodiation=des[-1] if des else None,
                   rate_steps=len(c["rate_steps"]["step"]) if c.get("rate_steps") else 0)
    e = r.get("eis")
    if e:
        row.update(eis_R_s_Ohm=e["R_s_Ohm"], eis_R_ct_Ohm=e["R_ct_Ohm"], eis_circuit=e["circuit"])
    return row


def _cycle_rows(records: list[dict[str, Any]]) -> pd.DataFrame:
    cols: dict[str, list[Any]] = {k: [] for k in (
        "file", "cycle", "sodiation", "desodiation", "coulombic_efficiency", "complete",
        "capacity_unit")}
    # plain lists, one DataFrame at the end: a frame per file costs more than the re-run
    for r in records:
        c = r.get("cycling")
        if not c:
            continue
        cy = c["cycles"]
        n = len(cy["cycle"])
        cols["file"] += [r["file"]] * n
        cols["capacity_unit"] += [c["capacity_unit"]] * n
        for k in ("cycle", "sodiation", "desodiation", "coulombic_efficiency", "complete"):
            cols[k] += cy[k]
    out = pd.DataFrame(cols)
    out["cycle"] = out["cycle"].astype("int64")
    out["complete"] = out["complete"].astype(bool)
    for col in ("sodiation", "desodiation", "coulombic_efficiency"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)  # None -> NaN
    return out
