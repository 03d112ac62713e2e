"""The public entry points: :func:`read`, :func:`read_many`, :func:`supported_formats`.

``read`` detects the format by content (:mod:`nasurf.io.detect`) and hands the file to the
reader that owns that format (:mod:`nasurf.io.registry`, which imports it only then).
Every reader returns an :class:`~nasurf.io.table.EchemData` that passed
:func:`~nasurf.io.table.validate`, or raises :class:`FileFormatError`; anything else a
third-party parser raises on a malformed file is turned into a FileFormatError that names
the file, so callers never see a bare traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from nasurf.errors import FileFormatError, NasurfError
from nasurf.io import plausibility, registry
from nasurf.io._binary import check_arbin_end, check_jet, check_nda
from nasurf.io._text import (
    audit_text_columns,
    check_padding,
    check_text_file,
    collect_warnings,
)
from nasurf.io.detect import detect_format
from nasurf.io.table import EchemData

#: formats whose bytes are not text (no NUL or line-length scan)
BINARY_FORMATS = frozenset(s.name for s in registry.SPECS if s.binary)


def __getattr__(name: str) -> dict[str, Callable[..., EchemData]]:
    # the old format -> reader table, for callers that used it (imports every reader)
    if name == "_READERS":
        return {s.name: s.reader() for s in registry.SPECS if s.sniff_kind != "content"}
    raise AttributeError(name)


def supported_formats() -> dict[str, str]:
    """Format name -> what is read (and with which library)."""
    return registry.formats()


def read(path: str | Path, *, technique: str | None = None,
         column_map: dict[str, str] | None = None, active_mass_g: float | None = None,
         area_cm2: float | None = None, encoding: str | None = None) -> EchemData:
    """Read one instrument file into the canonical table.

    Parameters
    ----------
    path:
        The file. Its format is detected from its content.
    technique:
        Optional: what the caller expects, e.g. ``"PEIS"`` (then frequency and impedance
        columns are required and their absence is an error naming the missing column),
        ``"GCPL"``, ``"CV"``. Overrides the technique the file states (noted).
    column_map:
        Raw column -> canonical quantity with the file's unit, e.g.
        ``{"Zeit": "Test Time / min", "U": "Voltage / V", "Strom": "Current / mA"}``;
        a leading ``-`` negates (``{"-Im(Z)": "-Z Imag / Ohm"}``).
    active_mass_g, area_cm2:
        Override the file's active mass (g) and electrode area (cm²).
    encoding:
        Text encoding; by default UTF-8, then windows-1252.

    Raises
    ------
    FileFormatError
        Unknown, unsupported, empty or corrupted file; the message names the file.
    """
    p = Path(path)
    src = str(p)
    fmt = "unknown"
    kwargs: dict[str, Any] = {"technique": technique, "active_mass_g": active_mass_g,
                              "area_cm2": area_cm2}
    if column_map:
        kwargs["column_map"] = column_map
    if encoding:
        kwargs["encoding"] = encoding
    try:
        with collect_warnings() as found:
            if p.is_file():
                check_padding(p)   # before detection: a padded file is named as such
            fmt = detect_format(p)
            if fmt not in BINARY_FORMATS:
                check_text_file(p)
            if fmt == "neware-nda":
                check_nda(p)
            elif fmt == "arbin-res":
                check_jet(p)
            data = registry.get(fmt).reader()(p, **kwargs)
            if fmt in ("csv", "bdf-csv"):
                # a simulated CSV carries its mass and scan rate in a nasurf sidecar (X.json)
                from nasurf.io.sidecar import apply_sidecar

                data = apply_sidecar(p, data, active_mass_g=active_mass_g, area_cm2=area_cm2,
                                     technique=technique)
            audit_text_columns(data.data)
            if fmt == "arbin-res":
                check_arbin_end(data)
        if found:
            extra = tuple(w for w in found if w not in data.metadata.warnings)
            data = replace(data, metadata=replace(
                data.metadata, warnings=(*extra, *data.metadata.warnings)))
        return plausibility.check(data)
    except NasurfError:
        raise
    except RecursionError:
        raise FileFormatError(f"cannot read as {fmt}: nesting too deep (damaged file?)",
                              file=src) from None
    except MemoryError:
        raise FileFormatError(f"cannot read as {fmt}: out of memory (the file is larger than "
                              "this machine can hold, or damaged)", file=src) from None
    except Exception as exc:  # a third-party parser failing on a malformed file
        msg = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise FileFormatError(f"cannot read as {fmt} ({exc.__class__.__name__}: {msg})",
                              file=src) from exc


def read_many(paths: Iterable[str | Path], **kwargs: Any) -> list[EchemData]:
    """Read several files (same keyword arguments as :func:`read`), in the given order.

    A folder expands to the files directly inside it, sorted by name.
    """
    out = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            out.extend(read(f, **kwargs) for f in sorted(p.iterdir()) if f.is_file())
        else:
            out.append(read(p, **kwargs))
    return out
