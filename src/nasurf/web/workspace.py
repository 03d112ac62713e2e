"""A workbench workspace: one SQLite database (WAL) and a content-addressed file store.

Layout of a workspace folder::

    workspace.sqlite      files, samples, results, jobs, tokens (+ the knowledge base tables
                          live in their own kb.sqlite beside it, opened by nasurf.knowledge)
    blobs/ab/<sha256>     each uploaded file once, named by its content hash
    parsed/ab/<sha256>.*  the canonical table each was read into (a cache, see web.parsed)
    tmp/                  uploads in progress (emptied at start-up)

Durability rests on two orderings: a blob is fsynced and renamed into place *before* the
row naming it is committed, and every change of rows happens in one transaction. A
process killed at any instant therefore leaves at worst an unreferenced blob or a temp
file, both removed by :meth:`Workspace.recover` at the next start; jobs that were running
are marked ``interrupted`` there, never left "running" forever.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasurf.errors import NasurfError, ValidationError

DEFAULT_MAX_UPLOAD_BYTES = 500 * 1024 * 1024
# soft-deleted samples/files can be restored for this long, then are purged at start-up
UNDO_WINDOW_S = 24 * 3600.0
_CHUNK = 1 << 20

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    format TEXT,
    technique TEXT,
    sample_id INTEGER REFERENCES samples(id) ON DELETE SET NULL,
    meta_json TEXT NOT NULL DEFAULT '{}',
    uploaded_at REAL NOT NULL,
    deleted_at REAL
);
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    grp TEXT,
    material TEXT,
    strategy TEXT,
    mass_mg REAL,
    area_cm2 REAL,
    electrode TEXT,
    notes TEXT,
    created_at REAL NOT NULL,
    deleted_at REAL
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    cache_key TEXT NOT NULL UNIQUE,
    inputs_json TEXT NOT NULL,
    options_json TEXT NOT NULL,
    version TEXT NOT NULL,
    doc_json TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    params_json TEXT NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    result_id INTEGER REFERENCES results(id) ON DELETE SET NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

SAMPLE_FIELDS = ("name", "grp", "material", "strategy", "mass_mg", "area_cm2", "electrode",
                 "notes")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")


@dataclass(frozen=True)
class Recovery:
    """What :meth:`Workspace.recover` found and repaired at start-up (shown on the page)."""

    temp_files_removed: int = 0
    orphan_blobs_removed: int = 0
    rows_without_blob: tuple[int, ...] = ()
    jobs_interrupted: int = 0
    purged_samples: int = 0
    purged_files: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def default_workspace_dir() -> Path:
    """The per-user workspace (platformdirs data dir), e.g. ``~/.local/share/nasurf/workspace``."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("nasurf", appauthor=False)) / "workspace"


def sanitize_display_name(name: str | None) -> str:
    """A printable display name for an uploaded file; never used as a path.

    The name is only ever text (stored in a column, escaped in pages, RFC 5987-encoded in
    Content-Disposition), so slashes and dots are kept as typed; control characters (NUL
    included) are dropped and the length capped.
    """
    text = "".join(ch for ch in (name or "") if ch.isprintable())
    text = text.strip() or "upload"
    return text[:200]


class Workspace:
    """Open (creating if needed) a workspace folder. Thread-safe: one connection per thread."""

    def __init__(self, root: str | Path, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
                 ) -> None:
        self.root = Path(root).expanduser().resolve()
        self.max_upload_bytes = int(max_upload_bytes)
        self.blobs = self.root / "blobs"
        self.tmp = self.root / "tmp"
        self.db_path = self.root / "workspace.sqlite"
        self.kb_path = self.root / "kb.sqlite"
        for d in (self.root, self.blobs, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._results: dict[int, dict] = {}  # parsed stored results (immutable once read)
        self._results_lock = threading.Lock()
        # executescript commits on its own; CREATE ... IF NOT EXISTS is idempotent
        self._conn().executescript(SCHEMA)

    # ------------------------------------------------------------------ database
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(str(self.db_path), timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on error)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn().execute(sql, params).fetchall()]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------------ recovery
    def recover(self) -> Recovery:
        """Bring the workspace to a consistent state after an unclean stop."""
        tmp_removed = 0
        for p in self.tmp.iterdir():
            with contextlib.suppress(OSError):
                p.unlink()
                tmp_removed += 1
        now = time.time()
        with self.transaction() as c:
            jobs = c.execute(
                "UPDATE jobs SET status='interrupted', message='the server stopped while this "
                "job was running; run it again', updated_at=? "
                "WHERE status IN ('queued','running')", (now,)).rowcount
            purged_files = c.execute("DELETE FROM files WHERE deleted_at IS NOT NULL AND "
                                     "deleted_at < ?", (now - UNDO_WINDOW_S,)).rowcount
            purged_samples = c.execute("DELETE FROM samples WHERE deleted_at IS NOT NULL AND "
                                       "deleted_at < ?", (now - UNDO_WINDOW_S,)).rowcount
            rows = c.execute("SELECT id, sha256 FROM files").fetchall()
            missing = tuple(int(r["id"]) for r in rows if not self.blob_path(r["sha256"]).is_file())
            if missing:
                c.execute(f"DELETE FROM files WHERE id IN ({','.join('?' * len(missing))})",
                          missing)
            known = {r["sha256"] for r in rows}
        orphans = 0
        for sub in self.blobs.iterdir():
            for p in sub.iterdir() if sub.is_dir() else ():
                if p.name not in known:
                    with contextlib.suppress(OSError):
                        p.unlink()
                        orphans += 1
        from nasurf.web.parsed import prune

        # parsed tables of removed files or of another nasurf version (a cache: not reported)
        prune(self.blobs, known)
        notes = []
        if missing:
            notes.append(f"{len(missing)} file rows had no stored content and were removed")
        return Recovery(tmp_removed, orphans, missing, jobs, purged_samples, purged_files,
                        tuple(notes))

    # ------------------------------------------------------------------ files
    def blob_path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(ch not in "0123456789abcdef" for ch in sha256):
            raise ValidationError("not a content hash", field="sha256")
        return self.blobs / sha256[:2] / sha256

    def new_temp(self) -> Path:
        return self.tmp / f"{uuid.uuid4().hex}.part"

    def store_stream(self, chunks: Iterator[bytes], name: str | None) -> tuple[dict, bool]:
        """Stream an upload into the store; returns (file row, created).

        The bytes go to a temp file while being hashed; above ``max_upload_bytes`` the upload
        stops with a clear error and nothing is kept. Identical content is stored once.
        """
        tmp = self.new_temp()
        digest = hashlib.sha256()
        size = 0
        try:
            with open(tmp, "wb") as fh:
                for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_upload_bytes:
                        raise ValidationError(
                            f"file is larger than the upload limit of "
                            f"{self.max_upload_bytes / 1e6:.0f} MB",
                            file=sanitize_display_name(name))
                    digest.update(chunk)
                    fh.write(chunk)
            return self.commit_temp(tmp, digest.hexdigest(), size, name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def store_bytes(self, data: bytes, name: str | None) -> tuple[dict, bool]:
        return self.store_stream(iter([data[i:i + _CHUNK] for i in range(0, len(data), _CHUNK)]
                                      or [b""]), name)

    def commit_temp(self, tmp: Path, sha: str, size: int, name: str | None
                    ) -> tuple[dict, bool]:
        """Move a fully received temp file into the store (unless its content is there)."""
        if size == 0:
            raise ValidationError("the file is empty", file=sanitize_display_name(name))
        existing = self.query("SELECT * FROM files WHERE sha256=?", (sha,))
        if existing and existing[0]["deleted_at"] is None:
            existing[0]["meta"] = json.loads(existing[0].pop("meta_json"))
            return existing[0], False
        target = self.blob_path(sha)
        target.parent.mkdir(exist_ok=True)
        if not target.is_file():
            from nasurf.outputs import move_into_place

            # durable before it is named: fsync the bytes, rename, fsync the folder
            move_into_place(tmp, target, durable=True)
        display = sanitize_display_name(name)
        meta = describe_file(self, sha, display)
        with self.transaction() as c:
            row = c.execute("SELECT id FROM files WHERE sha256=?", (sha,)).fetchone()
            if row is not None:  # re-upload of a deleted file, or a concurrent twin
                c.execute("UPDATE files SET deleted_at=NULL WHERE id=?", (row["id"],))
                fid, created = int(row["id"]), False
            else:
                fid = c.execute(
                    "INSERT INTO files(sha256,name,size,format,technique,meta_json,uploaded_at)"
                    " VALUES(?,?,?,?,?,?,?)",
                    (sha, display, size, meta.get("format"), meta.get("technique"),
                     json.dumps(meta), time.time())).lastrowid
                created = True
        return self.get_file(fid), created

    def get_file(self, file_id: int, *, include_deleted: bool = False) -> dict:
        rows = self.query("SELECT * FROM files WHERE id=?", (int(file_id),))
        if not rows or (rows[0]["deleted_at"] is not None and not include_deleted):
            raise NotFound(f"no file {file_id}")
        row = rows[0]
        row["meta"] = json.loads(row.pop("meta_json"))
        return row

    def list_files(self, *, deleted: bool = False) -> list[dict]:
        cond = "IS NOT NULL" if deleted else "IS NULL"
        rows = self.query(f"SELECT f.*, s.name AS sample_name FROM files f LEFT JOIN samples s "
                          f"ON s.id=f.sample_id WHERE f.deleted_at {cond} ORDER BY f.id DESC")
        for r in rows:
            r["meta"] = json.loads(r.pop("meta_json"))
        return rows

    def set_deleted(self, table: str, row_id: int, deleted: bool) -> None:
        if table not in ("files", "samples"):
            raise ValueError(table)
        with self.transaction() as c:
            n = c.execute(f"UPDATE {table} SET deleted_at=? WHERE id=?",
                          (time.time() if deleted else None, int(row_id))).rowcount
        if not n:
            raise NotFound(f"no {table[:-1]} {row_id}")

    def assign_file(self, file_id: int, sample_id: int | None) -> None:
        if sample_id is not None:
            self.get_sample(sample_id)
        with self.transaction() as c:
            c.execute("UPDATE files SET sample_id=? WHERE id=?", (sample_id, int(file_id)))

    # ------------------------------------------------------------------ samples
    def add_sample(self, values: dict[str, Any], *, replace: bool = False) -> dict:
        row = validate_sample(values)
        with self.transaction() as c:
            old = c.execute("SELECT id FROM samples WHERE name=?", (row["name"],)).fetchone()
            if old is not None and not replace:
                raise ValidationError(f"a sample named {row['name']!r} exists already",
                                      field="name")
            if old is not None:
                c.execute(f"UPDATE samples SET {','.join(f'{k}=?' for k in SAMPLE_FIELDS)}, "
                          "deleted_at=NULL WHERE id=?",
                          (*[row[k] for k in SAMPLE_FIELDS], old["id"]))
                sid = int(old["id"])
            else:
                sid = c.execute(
                    f"INSERT INTO samples({','.join(SAMPLE_FIELDS)},created_at) VALUES"
                    f"({','.join('?' * len(SAMPLE_FIELDS))},?)",
                    (*[row[k] for k in SAMPLE_FIELDS], time.time())).lastrowid
        return self.get_sample(sid)

    def get_sample(self, sample_id: int) -> dict:
        rows = self.query("SELECT * FROM samples WHERE id=? AND deleted_at IS NULL",
                          (int(sample_id),))
        if not rows:
            raise NotFound(f"no sample {sample_id}")
        return rows[0]

    def list_samples(self, *, deleted: bool = False) -> list[dict]:
        cond = "IS NOT NULL" if deleted else "IS NULL"
        return self.query(f"SELECT s.*, (SELECT COUNT(*) FROM files f WHERE f.sample_id=s.id "
                          f"AND f.deleted_at IS NULL) AS n_files FROM samples s "
                          f"WHERE s.deleted_at {cond} ORDER BY s.grp, s.name")

    # ------------------------------------------------------------------ results
    def put_result(self, kind: str, inputs: dict, options: dict, doc: dict | JsonText
                   ) -> int:
        from nasurf import __version__

        key = result_key(kind, inputs, options)
        body = doc if isinstance(doc, JsonText) else json.dumps(doc, allow_nan=False)
        with self.transaction() as c:
            old = c.execute("SELECT id FROM results WHERE cache_key=?", (key,)).fetchone()
            if old is not None:
                c.execute("UPDATE results SET doc_json=?, version=?, created_at=? WHERE id=?",
                          (body, __version__, time.time(), old["id"]))
                with self._results_lock:
                    self._results.pop(int(old["id"]), None)
                return int(old["id"])
            return int(c.execute(
                "INSERT INTO results(kind,cache_key,inputs_json,options_json,version,doc_json,"
                "created_at) VALUES(?,?,?,?,?,?,?)",
                (kind, key, json.dumps(inputs), json.dumps(options), __version__, body,
                 time.time())).lastrowid)

    def cached_result(self, kind: str, inputs: dict, options: dict) -> int | None:
        return self.cached_result_by_key(result_key(kind, inputs, options))

    def cached_result_by_key(self, key: str) -> int | None:
        rows = self.query("SELECT id FROM results WHERE cache_key=?", (key,))
        return int(rows[0]["id"]) if rows else None

    def get_result(self, result_id: int) -> dict:
        with self._results_lock:
            hit = self._results.get(int(result_id))
        if hit is not None:
            return hit
        rows = self.query("SELECT * FROM results WHERE id=?", (int(result_id),))
        if not rows:
            raise NotFound(f"no result {result_id}")
        r = rows[0]
        # the page embeds the document as JSON: keep an HTML-safe copy of the stored text
        # (what Jinja's tojson would produce) instead of re-serialising it on every view
        r["doc_html"] = (r["doc_json"].replace("&", "\\u0026").replace("<", "\\u003c")
                         .replace(">", "\\u003e").replace("'", "\\u0027"))
        r["doc"] = json.loads(r.pop("doc_json"))
        r["inputs"] = json.loads(r.pop("inputs_json"))
        r["options"] = json.loads(r.pop("options_json"))
        with self._results_lock:
            if len(self._results) > 64:
                self._results.clear()
            self._results[int(result_id)] = r
        return r

    def list_results(self, limit: int = 200) -> list[dict]:
        return self.query("SELECT id, kind, inputs_json, options_json, version, created_at "
                          "FROM results ORDER BY id DESC LIMIT ?", (limit,))

    def humanize(self, text: str, names: dict[str, str] | None = None) -> str:
        """Replace store paths in a message by the file names the user uploaded."""

        def name_of(m: re.Match) -> str:
            sha = m.group(1)
            if names and sha in names:
                return names[sha]
            rows = self.query("SELECT name FROM files WHERE sha256=?", (sha,))
            return rows[0]["name"] if rows else "uploaded file"

        return _BLOB_RE.sub(name_of, text)

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as c:
            c.execute("INSERT INTO meta(key,value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET "
                      "value=excluded.value", (key, value))


class JsonText(str):
    """A result document already serialised to JSON (in the child that computed it)."""


class NotFound(NasurfError):  # noqa: N818 - reads as the HTTP status it maps to
    """A file, sample, result or job id that does not exist (HTTP 404)."""


def result_key(kind: str, inputs: dict, options: dict) -> str:
    """The identity of a stored result: what was computed, on which content, with which
    options (mass and area included) and nasurf version. Files count by their content
    hash, not their id or name: the same bytes uploaded again reopen the same result."""
    from nasurf import __version__

    if "sha256" in inputs:
        inputs = {k: v for k, v in inputs.items() if k not in ("file_ids", "label")}
    text = json.dumps([kind, inputs, options, __version__], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def describe_file(ws: Workspace, sha: str, name: str) -> dict[str, Any]:
    """Format detected by content, and what reading the file gave (or its one-line error).

    The file is read once here so that a file nasurf cannot read is flagged at upload, not
    later. The read runs in a child process (:mod:`nasurf.web.simproc`): parsing a large
    file holds the interpreter lock for a long time, which would stall every other request.
    """
    from nasurf.web.analyses import describe_blob
    from nasurf.web.simproc import run_cancellable

    # concurrent uploads of the same content read it once (the others wait for that read)
    with _describe_guard:
        lock = _describe_locks.setdefault(sha, threading.Lock())
    with lock:
        if sha in _described:
            meta = dict(_described[sha])
        else:
            try:
                with _describe_slots:
                    meta = run_cancellable(describe_blob, (str(ws.blobs), sha, name),
                                           _no_progress, background=False)
            except Exception as exc:  # a reader crash must not lose the upload: flag it
                meta = {"format": None, "error": f"could not be read ({type(exc).__name__}:"
                                                  f" {exc})"[:500]}
            with _describe_guard:
                _described[sha] = dict(meta)
                while len(_described) > 256:
                    _described.pop(next(iter(_described)))
    if meta.get("error"):
        meta["error"] = ws.humanize(meta["error"], {sha: name})
    return meta


_describe_guard = threading.Lock()
# at most one parse per core at a time: more only makes every upload slower
_describe_slots = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
_describe_locks: dict[str, threading.Lock] = {}
_described: dict[str, dict[str, Any]] = {}


def _no_progress(fraction: float, message: str = "") -> None:
    """Uploads are not cancellable jobs: progress is ignored."""


_BLOB_RE = re.compile(r"[^\s'\"]*blobs[/\\][0-9a-f]{2}[/\\]([0-9a-f]{64})")
_SAMPLE_TEXT_MAX = 2000


def validate_sample(values: dict[str, Any]) -> dict[str, Any]:
    """Check a sample's fields; one :class:`ValidationError` naming the field otherwise."""
    alias = {"group": "grp"}
    row: dict[str, Any] = {k: None for k in SAMPLE_FIELDS}
    for k, v in values.items():
        k = alias.get(k, k)
        if k not in row:
            continue
        if isinstance(v, str):
            v = v.strip()
            if v == "":
                v = None
        row[k] = v
    if not row["name"]:
        raise ValidationError("a sample needs a name", field="name")
    for k in ("mass_mg", "area_cm2"):
        if row[k] is None:
            continue
        try:
            x = float(row[k])
        except (TypeError, ValueError):
            raise ValidationError(f"expected a number, got {row[k]!r}", field=k) from None
        if not (x > 0 and x < 1e6):
            raise ValidationError(f"must be a positive number, got {row[k]!r}", field=k)
        row[k] = x
    for k in ("name", "grp", "material", "strategy", "electrode", "notes"):
        if row[k] is not None:
            row[k] = str(row[k])
            if len(row[k]) > _SAMPLE_TEXT_MAX or "\x00" in row[k]:
                raise ValidationError("text too long or with NUL characters", field=k)
    return row
