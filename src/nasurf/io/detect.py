"""Format detection by content (magic bytes, first lines), never by the extension alone.

:func:`detect_format` returns the name of a format of :mod:`nasurf.io.registry`;
:func:`nasurf.io.read` dispatches on it. A reader module is imported only when its
sniffer is tried. Files that are recognisably *not* measurements (reference tables,
EC-Lab logs, documentation) get a :class:`FileFormatError` that says what they are.
"""

from __future__ import annotations

import gzip
import re
import zipfile
from pathlib import Path

from nasurf.errors import FileFormatError
from nasurf.io import registry
from nasurf.io._text import SNIFF_BYTES, head_text

#: format name -> one-line description (what is read, by what); from the registry
FORMATS: dict[str, str] = registry.formats()

_JET = (b"Standard Jet DB", b"Standard ACE DB")


def _not_measurement(src: str, what: str) -> FileFormatError:
    return FileFormatError(f"unsupported: {what}; not an instrument data file nasurf reads",
                           file=src)


def _detect_zip(path: Path, src: str) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except zipfile.BadZipFile as exc:
        raise FileFormatError(f"corrupted zip container ({exc})", file=src) from None
    lower = [n.lower() for n in names]
    if "[content_types].xml" in lower and any(n.startswith("xl/") for n in lower):
        try:
            with zipfile.ZipFile(path) as zf:
                book = zf.read("xl/workbook.xml").decode("utf-8", "replace")
        except KeyError:
            book = ""
        if "Global_Info" in book and "Channel_" in book:
            return "arbin-xlsx"
        sheets = re.findall(r'<sheet [^>]*name="([^"]+)"', book)
        if registry.get("neware-xlsx").sniffer()(sheets):
            return "neware-xlsx"
        try:
            with zipfile.ZipFile(path) as zf:
                strings = zf.read("xl/sharedStrings.xml")[:20000].decode("utf-8", "replace")
        except KeyError:
            strings = ""
        if registry.get("pstrace-xlsx").sniffer()(strings):
            return "pstrace-xlsx"
        return "xlsx"
    if any(n.endswith((".nda", ".ndax")) for n in lower):
        return "neware-nda-zip"
    if any(n.endswith(".ndc") for n in lower) or "step.xml" in lower or "testinfo.xml" in lower:
        return "neware-ndax"
    if any(n.endswith((".docx", "word/document.xml")) for n in lower):
        raise _not_measurement(src, "a Word document")
    raise FileFormatError(f"unsupported zip archive (members: {names[:5]})", file=src)


def detect_bytes(head: bytes, path: Path, src: str) -> str | None:
    for spec in registry.magic_specs():
        if head.startswith(spec.magic):
            return spec.name
    if head.startswith(b"PK\x03\x04"):
        return _detect_zip(path, src)
    if head[4:19] in _JET:
        return "arbin-res"
    if head.startswith(b"\x1f\x8b"):
        try:
            with gzip.open(path, "rb") as gz:
                inner = gz.read(64)
        except (OSError, EOFError) as exc:
            raise FileFormatError(f"corrupted gzip file ({exc})", file=src) from None
        if inner[4:19] in _JET:
            return "arbin-res"
        raise FileFormatError("unsupported gzip-compressed content (nasurf reads gzipped "
                              "Arbin .res only; unpack other files first)", file=src)
    for spec in registry.byte_specs():
        if head.startswith(spec.magic) and spec.sniffer()(head):
            return spec.name
    if head.startswith(b"PAR1"):
        raise _not_measurement(src, "an Apache Parquet table")
    if head.startswith(b"ARROW1"):
        raise _not_measurement(src, "an Apache Arrow/Feather table")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileFormatError("unsupported: legacy binary Excel (.xls/OLE2) workbook; save it "
                              "as .xlsx or CSV", file=src)
    if head.startswith((b"\x89PNG", b"%PDF", b"\xff\xd8\xff")):
        raise _not_measurement(src, "an image or PDF")
    return None


def detect_text(head: str, src: str) -> str:
    text = head.lstrip("\ufeff")
    first = text.split("\n", 1)[0].strip()
    # before the sniffers (no measurement layout starts so): said what it is, not "CSV"
    if first.startswith(("EC-Lab LOG FILE", "BT-Lab LOG FILE", "EC-LAB SETTING FILE",
                         "BT-LAB SETTING FILE")):
        raise FileFormatError("unsupported: an EC-Lab log/settings file (.mpl/.mps) holds "
                              "settings, not data; read the .mpr or .mpt of the same run",
                              file=src)
    for spec in registry.text_specs():
        if spec.sniffer()(text):
            return spec.name
    if first.startswith(("# ", "#!")) and "|" in text[:2000] and "---" in text[:4000]:
        raise _not_measurement(src, "a Markdown document")
    return "csv"


def detect_format(path: str | Path) -> str:
    """The format name of a file, from its content. Raises :class:`FileFormatError`."""
    p = Path(path)
    src = str(p)
    if not p.exists():
        raise FileFormatError("no such file", file=src)
    if p.is_dir():
        raise FileFormatError("is a folder, not a file (use read_many for several files)",
                              file=src)
    size = p.stat().st_size
    if size == 0:
        raise FileFormatError("empty file (0 bytes)", file=src)
    with open(p, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    name = detect_bytes(head, p, src)
    if name is not None:
        return name
    if b"\x00" in head[:4096] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileFormatError("unsupported binary file (no known signature: not .mpr, .nda, "
                              ".ndax, .res or .xlsx)", file=src)
    return detect_text(head_text(p), src)


