"""Integrity checks for binary formats, made from the bytes before or after a reader runs.

Readers of binary formats (fastnda, galvani, access-parser) read what is there: a Neware
``.nda`` cut in half gives half its rows and no complaint. These checks compare what the
file's own header announces with what the file holds and report the difference as a read
warning (:func:`nasurf.io._text.warn`), so the rows read are never mistaken for the test.
"""

from __future__ import annotations

import struct
from pathlib import Path

from nasurf.io import table as tb
from nasurf.io._text import warn
from nasurf.io.table import EchemData

#: the .nda versions whose header holds a {begin, length} u32 pointer to the data block at
#: byte 64 (fastnda's readers for versions 1-29); BTS9 (version >= 130) has u64 at 82
_NDA_POINTER_U32 = 64
_NDA_POINTER_U64 = 82


def nda_block(head: bytes) -> tuple[int, int] | None:
    """The (begin, length) of the main data block a Neware .nda header announces."""
    if len(head) < 98 or not head.startswith(b"NEWARE"):
        return None
    version = head[14]
    if version >= 100:
        begin, length = struct.unpack_from("<QQ", head, _NDA_POINTER_U64)
    else:
        begin, length = struct.unpack_from("<II", head, _NDA_POINTER_U32)
    if begin <= 0 or length <= 0:
        return None   # a chained (multi-block) or pointer-less layout: nothing to compare
    return begin, length


def check_nda(path: Path) -> None:
    """Warn when a .nda ends before the data block its header announces."""
    with open(path, "rb") as fh:
        head = fh.read(128)
    block = nda_block(head)
    if block is None:
        return
    begin, length = block
    size = path.stat().st_size
    if begin + length <= size:
        return
    held = max(0, size - begin)
    warn(f"truncated Neware file: its header announces a {length}-byte data block at byte "
         f"{begin}, the file holds {held} bytes of it ({100.0 * held / length:.0f} %); the "
         "rows read are only the first part of the test")


#: Jet (MS Access) page sizes by the version byte at offset 0x14: Jet 3 uses 2 KiB pages
_JET_VERSION_AT = 0x14


def check_jet(path: Path) -> None:
    """Warn when an Arbin .res (an MS Access database, maybe gzipped) is not whole pages.

    A Jet database is a sequence of fixed-size pages; a copy cut short ends inside one, and
    the parser then reads the pages that remain (losing rows) without complaint.
    """
    import gzip

    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if gz:
        size = 0
        with gzip.open(path, "rb") as fh:   # streamed: memory stays at one block
            while block := fh.read(1 << 20):
                if not size:
                    head = block[:64]
                size += len(block)
    else:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(64)
    if size == 0 or len(head) <= _JET_VERSION_AT:
        return
    page = 2048 if head[_JET_VERSION_AT] == 0 else 4096
    if size % page:
        warn(f"truncated Arbin .res database: {size} bytes is not a whole number of its "
             f"{page}-byte pages (the last {size % page} bytes are a cut page); rows stored "
             "past the cut are missing")


def check_arbin_end(data: EchemData) -> None:
    """Warn when an Arbin .res table ends before the time its Resume/Event tables record.

    A copy cut at a page boundary is whole pages (no :func:`check_jet` finding), but the
    run's end time lives in small tables written on other pages.
    """
    import json

    ends = data.metadata.header.get("resume") or []
    if isinstance(ends, str):   # the reader keeps header values as text
        try:
            ends = [float(x) for x in json.loads(ends)]
        except (ValueError, TypeError):
            return
    if not ends or tb.TIME not in data.data.columns or not len(data.data):
        return
    import numpy as np

    end = max(ends)
    t = data.data[tb.TIME].to_numpy()
    last = float(t[-1])
    # the end is recorded when the run stops, after the last logged row: allow for the
    # logging interval (and 1 % of the run), so only a real loss of rows is reported
    step = float(np.median(np.diff(t[-50:]))) if len(t) > 2 else 0.0
    if end - last > max(60.0, 10.0 * step, 0.01 * end):
        warn(f"truncated Arbin .res: the data rows end at Test_Time {last:.6g} s, but the "
             f"file records that the test ran to {end:.6g} s; rows past the cut are missing")
