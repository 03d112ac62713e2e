"""The SQLite store behind the knowledge base.

Owns the database file: where it lives (``--db PATH``, else ``$NASURF_DB``, else
``platformdirs.user_data_dir("nasurf")/nasurf.sqlite``), its versioned schema
(``PRAGMA user_version`` + :data:`MIGRATIONS`), loading the curated rows from the packaged
CSVs (re-synced whenever their content hash changes), and transactional writes.

Concurrency: WAL journal, a 30 s busy timeout and ``BEGIN IMMEDIATE`` around every write,
with duplicate checks done inside the transaction, so two processes adding records at the
same time both succeed and neither loses the other's rows. Every add is all-or-nothing: a
failure rolls back and leaves the tables byte-for-byte unchanged.

Curated rows have ``origin='curated'``; user rows have ``origin='user'`` and ids in the
``U.`` namespace, so a user record can never overwrite a curated one; replacing
(``replace=True``) only ever touches user rows.
"""

from __future__ import annotations

import csv
import hashlib
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from nasurf.errors import DuplicateRecordError, FileFormatError, NasurfError, ValidationError
from nasurf.knowledge.records import (
    FIELDS,
    USER_ID_PREFIX,
    Observation,
    combine_errors,
    identity_key,
    parse_file,
    read_records,
)

ENV_VAR = "NASURF_DB"
"""Environment variable naming the database file (overridden by an explicit path)."""

# Bump when the way curated rows are converted changes, to force a re-sync.
_CURATED_LOADER_VERSION = "1"
_BUSY_TIMEOUT_S = 30.0

_V1 = """
CREATE TABLE observations (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL CHECK (origin IN ('curated', 'user')),
    material TEXT NOT NULL,
    material_key TEXT NOT NULL,
    host TEXT NOT NULL,
    material_class TEXT NOT NULL,
    strategy TEXT NOT NULL,
    sample_role TEXT NOT NULL,
    quantity TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    raw_text TEXT,
    approximate INTEGER NOT NULL DEFAULT 0,
    current_mA_g REAL,
    current_source TEXT,
    c_rate REAL,
    c_rate_basis_mAh_g REAL,
    cycles INTEGER,
    temperature_C REAL,
    ref INTEGER,
    citation TEXT,
    doi TEXT,
    location TEXT,
    note TEXT,
    added_at TEXT,
    CHECK (ref IS NOT NULL OR citation IS NOT NULL)
);
CREATE INDEX ix_obs_quantity_current ON observations (quantity, current_mA_g);
CREATE INDEX ix_obs_strategy ON observations (strategy, quantity);
CREATE INDEX ix_obs_class ON observations (material_class, quantity, current_mA_g);
CREATE INDEX ix_obs_host ON observations (host);
CREATE INDEX ix_obs_key ON observations (material_key, quantity);
CREATE INDEX ix_obs_ref ON observations (ref);
CREATE TABLE refs (
    ref INTEGER PRIMARY KEY,
    citation TEXT NOT NULL,
    doi TEXT
);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
"""


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """Initial schema."""
    for statement in _V1.split(";"):
        if statement.strip():
            conn.execute(statement)


def _migrate_v2(conn: sqlite3.Connection) -> None:
    """``duplicate_of`` (text restating Table 1) and covering indexes for the summaries.

    Idempotent: a development snapshot created v1 with the column already present.
    """
    columns = {r[1] for r in conn.execute("PRAGMA table_info(observations)")}
    if "duplicate_of" not in columns:
        conn.execute("ALTER TABLE observations ADD COLUMN duplicate_of TEXT")
    conn.execute("DROP INDEX IF EXISTS ix_obs_host")
    conn.execute("DROP INDEX IF EXISTS ix_obs_strategy_key")
    for sql in (
        "ix_obs_host ON observations (host COLLATE NOCASE, quantity)",
        "ix_obs_strategy_cycles ON observations (strategy, cycles)",
        "ix_obs_role_strategy_key ON observations (sample_role, strategy, material_key)",
        "ix_obs_qsv ON observations "
        "(quantity, strategy, value, current_mA_g, sample_role, duplicate_of)",
    ):
        conn.execute(f"CREATE INDEX IF NOT EXISTS {sql}")
    # curated rows must be reloaded to fill duplicate_of
    conn.execute("DELETE FROM meta WHERE key = 'curated_digest'")


MIGRATIONS: tuple = (_migrate_v1, _migrate_v2)
"""Schema steps; ``MIGRATIONS[i]`` brings ``PRAGMA user_version`` from i to i + 1."""
SCHEMA_VERSION = len(MIGRATIONS)

COLUMNS: tuple[str, ...] = (
    "id", "origin", "material", "material_key", "host", "material_class", "strategy",
    "sample_role", "quantity", "value", "unit", "raw_text", "approximate", "current_mA_g",
    "current_source", "c_rate", "c_rate_basis_mAh_g", "cycles", "temperature_C", "ref",
    "citation", "doi", "location", "note", "added_at", "duplicate_of",
)
"""Columns of the ``observations`` table. ``duplicate_of`` marks a curated text figure that
restates another row's measurement (same sample, quantity, role, current, cycles and
temperature; the Table 1 row is kept): queries with ``distinct=True`` skip such rows."""


def default_path() -> Path:
    """``$NASURF_DB`` if set, else ``<user data dir>/nasurf/nasurf.sqlite``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("nasurf")) / "nasurf.sqlite"


def packaged_data_dir() -> Path:
    """Folder of the curated CSVs shipped in the package."""
    return Path(str(resources.files("nasurf.knowledge") / "data"))


@dataclass(frozen=True)
class AddResult:
    """What an add did: ids inserted, user ids replaced, rows skipped."""

    added: tuple[str, ...]
    replaced: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    db_path: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class _Curated:
    digest: str
    observations: tuple[Observation, ...]
    references: tuple[tuple[int, str, str | None], ...]


def _digest_files(folder: Path) -> str:
    h = hashlib.sha256(_CURATED_LOADER_VERSION.encode())
    for name in ("observations.csv", "references.csv"):
        p = folder / name
        h.update(name.encode())
        h.update(p.read_bytes() if p.is_file() else b"<absent>")
    return h.hexdigest()


def _read_references(path: Path) -> tuple[tuple[int, str, str | None], ...]:
    if not path.is_file():
        return ()
    out = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"ref", "citation"} - set(reader.fieldnames or ())
        if missing:
            raise FileFormatError(f"missing column(s) {', '.join(sorted(missing))}",
                                  file=str(path), line=1)
        for row in reader:
            line = reader.line_num
            try:
                ref = int(str(row["ref"]).strip())
            except ValueError:
                raise ValidationError(f"'{row['ref']}' is not a reference number",
                                      file=str(path), line=line, field="ref") from None
            citation = (row.get("citation") or "").strip()
            if not citation:
                raise ValidationError("citation is empty", file=str(path), line=line,
                                      field="citation")
            out.append((ref, citation, (row.get("doi") or "").strip() or None))
    return tuple(out)


@lru_cache(maxsize=4)
def _load_curated(folder: str, digest: str) -> _Curated:
    """Parse and validate the curated CSVs (cached per content digest)."""
    path = Path(folder)
    refs = _read_references(path / "references.csv")
    obs_path = path / "observations.csv"
    observations: tuple[Observation, ...] = ()
    if obs_path.is_file():
        known = {r[0] for r in refs} if refs else None
        observations = tuple(parse_file(obs_path, origin="curated", known_refs=known,
                                        c_rate_to_current=_c_rate_to_current()))
    return _Curated(digest, observations, refs)


def _c_rate_to_current():
    """``nasurf.materials.c_rate_to_current`` when that capability is installed."""
    try:
        from nasurf.materials import c_rate_to_current
    except ImportError:
        return None
    return c_rate_to_current


def _row(obs: Observation, added_at: str | None, duplicate_of: str | None = None) -> tuple:
    d = obs.to_dict()
    d["approximate"] = int(bool(obs.approximate))
    d["added_at"] = added_at
    d["duplicate_of"] = duplicate_of
    return tuple(d[c] for c in COLUMNS)


def measurement_key(obs: Observation) -> tuple | None:
    """What makes two rows the same measurement (None without a current to match on)."""
    if obs.current_mA_g is None:
        return None
    return (obs.material_key, obs.quantity, obs.sample_role, float(f"{obs.current_mA_g:.4g}"),
            obs.cycles, obs.temperature_C)


def find_restatements(observations: Iterable[Observation]) -> dict[str, str]:
    """``{id: id of the row it restates}``: within each measurement, a Table 1 row is the
    primary (then the lowest id); the text's restatements of it point to it."""
    groups: dict[tuple, list[Observation]] = {}
    for o in observations:
        key = measurement_key(o)
        if key is not None:
            groups.setdefault(key, []).append(o)
    out: dict[str, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda o: (not (o.location or "").lower().startswith("table"), o.id))
        for o in members[1:]:
            out[o.id] = members[0].id
    return out


class KnowledgeBase:
    """An open knowledge-base database. Use :meth:`open`; close it (or use ``with``)."""

    def __init__(self, path: Path, connection: sqlite3.Connection, curated_dir: Path) -> None:
        self.path = path
        self.connection = connection
        self.curated_dir = curated_dir

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | Path | None = None, *, curated_dir: str | Path | None = None,
             sync: bool = True) -> KnowledgeBase:
        """Open (creating if needed) the database at ``path`` and sync the curated rows.

        ``path`` defaults to :func:`default_path`. ``curated_dir`` (a folder holding
        ``observations.csv`` and ``references.csv``) defaults to the packaged data.
        """
        db = Path(path).expanduser() if path is not None else default_path()
        if db.exists() and db.is_dir():
            raise FileFormatError("is a directory, expected an SQLite database file",
                                  file=str(db))
        db.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(str(db), timeout=_BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":  # e.g. a file system without shared memory
                conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise FileFormatError(f"cannot open the knowledge-base database ({exc})",
                                  file=str(db)) from None
        kb = cls(db, conn, Path(curated_dir) if curated_dir is not None else packaged_data_dir())
        try:
            kb._migrate()
            if sync:
                kb.sync_curated()
        except BaseException:
            conn.close()
            raise
        return kb

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self.connection.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        try:
            version = self.schema_version
        except sqlite3.DatabaseError as exc:
            raise FileFormatError(f"not a knowledge-base database ({exc})",
                                  file=str(self.path)) from None
        if version > SCHEMA_VERSION:
            raise FileFormatError(
                f"database schema version {version} is newer than this nasurf supports "
                f"({SCHEMA_VERSION}); upgrade nasurf", file=str(self.path))
        if version == SCHEMA_VERSION:
            return
        with self._write():
            # re-read inside the lock: another process may have migrated meanwhile
            version = self.schema_version
            for i in range(version, SCHEMA_VERSION):
                MIGRATIONS[i](self.connection)
                self.connection.execute(f"PRAGMA user_version = {i + 1}")

    class _Transaction:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type, exc, tb) -> None:
            if exc_type is None:
                self.conn.execute("COMMIT")
            else:
                self.conn.execute("ROLLBACK")

    def _write(self) -> KnowledgeBase._Transaction:
        return KnowledgeBase._Transaction(self.connection)

    # ------------------------------------------------------------------ curated data
    def meta(self, key: str) -> str | None:
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def sync_curated(self, *, force: bool = False) -> bool:
        """Reload the curated rows if the packaged CSVs changed; return whether it did."""
        digest = _digest_files(self.curated_dir)
        if not force and self.meta("curated_digest") == digest:
            return False
        curated = _load_curated(str(self.curated_dir), digest)
        with self._write() as conn:
            if not force and self.meta("curated_digest") == digest:
                return False
            conn.execute("DELETE FROM observations WHERE origin = 'curated'")
            conn.execute("DELETE FROM refs")
            conn.executemany("INSERT INTO refs (ref, citation, doi) VALUES (?, ?, ?)",
                             curated.references)
            placeholders = ", ".join("?" for _ in COLUMNS)
            restated = find_restatements(curated.observations)
            conn.executemany(
                f"INSERT INTO observations ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                [_row(o, None, restated.get(o.id)) for o in curated.observations],
            )
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('curated_digest', ?)",
                         (digest,))
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('curated_source', ?)",
                         (str(self.curated_dir),))
        return True

    # ------------------------------------------------------------------ writes
    def add(self, records: Iterable[Observation], *, replace: bool = False,
            sources: Sequence[tuple[str | None, int | None]] | None = None) -> AddResult:
        """Add user records in one transaction (all or nothing).

        A record with the id or the identity (material_key, quantity, sample role and
        conditions) of an existing user record raises :class:`DuplicateRecordError` unless
        ``replace=True``; a clash with a curated record is always refused. ``sources`` gives
        the (file, line) each record came from, for error messages.
        """
        items = list(records)
        where = list(sources) if sources is not None else [(None, None)] * len(items)
        if len(where) != len(items):
            raise ValueError("sources must match records one to one")
        errors: list[NasurfError] = []
        for obs, (file, line) in zip(items, where, strict=True):
            if obs.origin != "user":
                errors.append(ValidationError("only user records can be added; curated records "
                                              "come from the packaged data", file=file,
                                              line=line, field="origin"))
            elif not obs.id.startswith(USER_ID_PREFIX):
                errors.append(ValidationError(f"user record ids must start with "
                                              f"'{USER_ID_PREFIX}'", file=file, line=line,
                                              field="id"))
        if errors:
            raise combine_errors(errors)
        known_refs = {r for (r,) in self.connection.execute("SELECT ref FROM refs")}
        for obs, (file, line) in zip(items, where, strict=True):
            if obs.ref is not None and known_refs and obs.ref not in known_refs:
                errors.append(ValidationError(f"reference {obs.ref} is not in the review's "
                                              "reference list", file=file, line=line,
                                              field="ref"))
        if errors:
            raise combine_errors(errors)

        now = datetime.now(UTC).isoformat(timespec="seconds")
        added: list[str] = []
        replaced: list[str] = []
        with self._write() as conn:
            batch_ids: dict[str, int] = {}
            batch_keys: dict[tuple, int] = {}
            for i, (obs, (file, line)) in enumerate(zip(items, where, strict=True)):
                dup_in_batch = batch_ids.get(obs.id, batch_keys.get(obs.identity()))
                if dup_in_batch is not None:
                    errors.append(DuplicateRecordError(
                        f"duplicate record: same id or conditions as record {dup_in_batch + 1} "
                        "of this add", file=file, line=line, field="id"))
                    continue
                batch_ids[obs.id] = i
                batch_keys[obs.identity()] = i
                clashes = self._clashes(obs)
                curated = [c for c in clashes if c[1] == "curated"]
                if curated:
                    errors.append(DuplicateRecordError(
                        f"duplicate of curated record '{curated[0][0]}' (same material_key "
                        f"'{obs.material_key}', quantity '{obs.quantity}' and conditions); "
                        "curated records are never replaced: give your sample its own "
                        "material_key", file=file, line=line, field="material_key"))
                    continue
                if clashes and not replace:
                    same_id_only = all(c[0] == obs.id for c in clashes) and not any(
                        identity_key(*c[2:]) == obs.identity() for c in clashes)
                    what = "id" if same_id_only else "material_key"
                    errors.append(DuplicateRecordError(
                        f"duplicate of user record '{clashes[0][0]}' (same "
                        f"{'id' if what == 'id' else 'material_key, quantity and conditions'}"
                        "); pass replace=True (--replace) to replace it",
                        file=file, line=line, field=what))
                    continue
                for cid, *_ in clashes:
                    conn.execute("DELETE FROM observations WHERE id = ? AND origin = 'user'",
                                 (cid,))
                    replaced.append(cid)
                placeholders = ", ".join("?" for _ in COLUMNS)
                conn.execute(f"INSERT INTO observations ({', '.join(COLUMNS)}) "
                             f"VALUES ({placeholders})", _row(obs, now))
                added.append(obs.id)
            if errors:
                raise combine_errors(errors)  # rolls the transaction back
        return AddResult(tuple(added), tuple(replaced), db_path=str(self.path))

    def _clashes(self, obs: Observation) -> list[tuple]:
        """(id, origin, identity fields...) of rows sharing the id or the identity."""
        rows = self.connection.execute(
            "SELECT id, origin, material_key, quantity, sample_role, current_mA_g, c_rate, "
            "cycles, temperature_C FROM observations WHERE id = ? OR "
            "(material_key = ? AND quantity = ?)", (obs.id, obs.material_key, obs.quantity),
        ).fetchall()
        key = obs.identity()
        return [(r[0], r[1], *r[2:]) for r in rows
                if r[0] == obs.id or identity_key(*r[2:]) == key]

    def add_file(self, path: str | Path, *, replace: bool = False) -> AddResult:
        """Validate every record of a CSV/YAML/JSON/data-package file, then add them all."""
        known = {r for (r,) in self.connection.execute("SELECT ref FROM refs")} or None
        parsed = read_records(path, origin="user", known_refs=known,
                              c_rate_to_current=_c_rate_to_current())
        result = self.add(parsed.records, replace=replace, sources=parsed.sources)
        return AddResult(result.added, result.replaced, parsed.skipped, result.db_path)

    def remove(self, ids: Iterable[str]) -> int:
        """Delete user records by id (curated ones cannot be removed); return the count."""
        ids = list(ids)
        with self._write() as conn:
            curated = [i for i in ids if conn.execute(
                "SELECT 1 FROM observations WHERE id = ? AND origin = 'curated'", (i,)).fetchone()]
            if curated:
                raise ValidationError(f"curated records cannot be removed: {', '.join(curated)}",
                                      field="id")
            n = 0
            for i in ids:
                n += conn.execute("DELETE FROM observations WHERE id = ? AND origin = 'user'",
                                  (i,)).rowcount
        return n

    # ------------------------------------------------------------------ reads
    def frame(self, sql_where: str = "", params: Sequence[Any] = (),
              order_by: str = "id") -> pd.DataFrame:
        """Observations as a DataFrame (``sql_where`` is a trusted SQL fragment)."""
        sql = f"SELECT {', '.join(COLUMNS)} FROM observations"
        if sql_where:
            sql += f" WHERE {sql_where}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        rows = self.connection.execute(sql, tuple(params)).fetchall()
        df = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
        if not df.empty:
            df["approximate"] = df["approximate"].astype(bool)
        return df

    def observations(self) -> list[Observation]:
        """All records as :class:`Observation` objects."""
        rows = self.connection.execute(
            f"SELECT {', '.join(FIELDS)} FROM observations ORDER BY id").fetchall()
        out = []
        for r in rows:
            d = dict(zip(FIELDS, r, strict=True))
            d["approximate"] = bool(d["approximate"])
            out.append(Observation(**d))
        return out

    def get(self, record_id: str) -> Observation:
        """One record by id; raises :class:`ValidationError` if absent."""
        row = self.connection.execute(
            f"SELECT {', '.join(FIELDS)} FROM observations WHERE id = ?", (record_id,)).fetchone()
        if row is None:
            raise ValidationError(f"no record with id '{record_id}' in {self.path}", field="id")
        d = dict(zip(FIELDS, row, strict=True))
        d["approximate"] = bool(d["approximate"])
        return Observation(**d)

    def references(self) -> pd.DataFrame:
        rows = self.connection.execute("SELECT ref, citation, doi FROM refs ORDER BY ref")
        return pd.DataFrame.from_records(rows.fetchall(), columns=["ref", "citation", "doi"])

    def counts(self) -> dict[str, int]:
        out = {"curated": 0, "user": 0}
        for origin, n in self.connection.execute(
                "SELECT origin, COUNT(*) FROM observations GROUP BY origin"):
            out[origin] = n
        out["references"] = self.connection.execute("SELECT COUNT(*) FROM refs").fetchone()[0]
        return out

    def content_digest(self) -> str:
        """SHA-256 of every row of every table (to prove a failed write changed nothing)."""
        h = hashlib.sha256()
        for table, order in (("observations", "id"), ("refs", "ref"), ("meta", "key")):
            for row in self.connection.execute(f"SELECT * FROM {table} ORDER BY {order}"):
                h.update(repr(row).encode())
        return h.hexdigest()

    def info(self) -> dict[str, Any]:
        """Path, schema version, counts, curated source and unknown curated quantities."""
        from nasurf.knowledge.vocabulary import QUANTITIES

        quantities = [q for (q,) in self.connection.execute(
            "SELECT DISTINCT quantity FROM observations ORDER BY quantity")]
        return {
            "db_path": str(self.path),
            "schema_version": self.schema_version,
            "counts": self.counts(),
            "curated_source": self.meta("curated_source"),
            "curated_digest": self.meta("curated_digest"),
            "quantities": quantities,
            "quantities_outside_vocabulary": [q for q in quantities if q not in QUANTITIES],
        }


def open_kb(path: str | Path | None = None, *, curated_dir: str | Path | None = None
            ) -> KnowledgeBase:
    """Shorthand for :meth:`KnowledgeBase.open`."""
    return KnowledgeBase.open(path, curated_dir=curated_dir)
