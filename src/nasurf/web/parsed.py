"""Parsed tables in the content store: each file is parsed once, not once per request.

An uploaded file is read at upload (to detect it and flag an unreadable file); the
canonical table that read produced is kept next to the store, keyed by the content hash,
the reader arguments (mass, area) and the nasurf and pandas versions, so an analysis child
process loads it in milliseconds instead of parsing the instrument file again. A new
nasurf version (new or fixed readers) never sees an old table: its key differs, and
:func:`prune` removes tables of other versions at start-up.

Layout: ``parsed/ab/<sha256>.<version>.<tag>.pkl`` beside ``blobs/``. The files are pickles
of :class:`nasurf.io.table.EchemData` (exact dtypes, metadata and reader header). They are
written only by this module, from the server's own reads, under names no upload can take
(uploads are named by their hash alone, inside ``blobs/``); a file that cannot be loaded
(torn by a crash, another pandas) counts as absent and is parsed again. Each is written
to a temporary name and renamed, so a reader never sees half a table.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

_SUFFIX = ".pkl"


def _version_tag() -> str:
    import pandas as pd

    from nasurf import __version__

    # dots would split the file name's fields
    return f"{__version__}+pd{pd.__version__}".replace(".", "_")


def parsed_dir(blobs: Path) -> Path:
    return Path(blobs).parent / "parsed"


def parsed_path(blobs: Path, sha256: str, active_mass_g: float | None,
                area_cm2: float | None) -> Path:
    """Where the table of ``read(blob, active_mass_g=..., area_cm2=...)`` is kept."""
    args = hashlib.sha256(json.dumps([active_mass_g, area_cm2]).encode()).hexdigest()[:12]
    return parsed_dir(blobs) / sha256[:2] / f"{sha256}.{_version_tag()}.{args}{_SUFFIX}"


def read_parsed(blobs: Path, sha256: str, *, active_mass_g: float | None = None,
                area_cm2: float | None = None) -> Any:
    """``nasurf.io.read`` of a stored blob, from its kept table when there is one.

    Equal to reading the blob with the same arguments (the kept table *is* such a read);
    a read that fails raises its one-line error and keeps nothing.
    """
    from nasurf.io import read

    path = parsed_path(blobs, sha256, active_mass_g, area_cm2)
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except FileNotFoundError:
        pass
    except Exception:  # torn or unreadable: parse again and replace it
        with contextlib.suppress(OSError):
            path.unlink()
    data = read(Path(blobs) / sha256[:2] / sha256, active_mass_g=active_mass_g,
                area_cm2=area_cm2)
    _write_atomic(path, pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
    return data


def _write_atomic(path: Path, body: bytes) -> None:
    from nasurf.outputs import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    # a cache: a full disk costs speed, never the analysis (the temp file is removed)
    with contextlib.suppress(OSError):
        atomic_write_bytes(path, body)


def prune(blobs: Path, known: set[str]) -> int:
    """Remove kept tables of files no longer stored, of other versions, and temp files."""
    root = parsed_dir(blobs)
    if not root.is_dir():
        return 0
    tag = _version_tag()
    removed = 0
    for sub in root.iterdir():
        for p in sub.iterdir() if sub.is_dir() else ():
            parts = p.name.split(".")
            keep = (len(parts) == 4 and parts[0] in known and parts[1] == tag
                    and p.name.endswith(_SUFFIX))
            if not keep:
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed += 1
    return removed
