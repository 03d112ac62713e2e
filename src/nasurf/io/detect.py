"""Format detection by content (magic bytes, first lines), never by the extension alone.

:func:`detect_format` returns one of the names in :data:`FORMATS`; :func:`nasurf.io.read`
dispatches on it. Files that are recognisably *not* measurements (reference tables,
EC-Lab logs, documentation) get a :class:`FileFormatError` that says what they are.
"""

from __future__ import annotations

import gzip
import re
import zipfile
from pathlib import Path

from nasurf.errors import FileFormatError
from nasurf.io import biologic, cyclers, eis, gamry, neware, palmsens
from nasurf.io._text import SNIFF_BYTES, head_text

#: format name -> one-line description (what is read, by what)
FORMATS: dict[str, str] = {
    "biologic-mpr": "BioLogic EC-Lab/BT-Lab binary .mpr (galvani), all techniques incl. EIS",
    "biologic-mpt": "BioLogic EC-Lab/BT-Lab text export .mpt/.txt (own parser; decimal commas,"
                    " windows-1252, with or without header block)",
    "neware-nda": "Neware BTS binary .nda (fastnda)",
    "neware-ndax": "Neware BTS binary .ndax (fastnda)",
    "neware-nda-zip": "zip archive holding one Neware .nda/.ndax",
    "neware-btsda-csv": "Neware BTSDA CSV export: flat record table (units in headers, or "
                        "BTSDA's default units) or the three-level regular export",
    "neware-xlsx": "Neware BTSDA Excel export (record sheet(s), split exports too)",
    "arbin-res": "Arbin .res (MS Access database, read with access-parser; .res.gz too)",
    "arbin-csv": "Arbin CSV export",
    "arbin-xlsx": "Arbin Excel export (Channel_* sheets)",
    "maccor-text": "Maccor text/CSV export (Today's Date preamble, or Name:/Channel:/Procedure "
                   "preamble; Rec/Rec# header; TestTime unit checked against DPT Time)",
    "maccor-eis": "Maccor AC impedance sweep file",
    "vdf-csv": "VDF (Voltaiq) CSV: [DATA START], tab header and a unit line",
    "landt-csv": "LANDT CSV export in the SINTEF/BattMo layout (preamble, snake_case units)",
    "basytec": "BaSyTec result file (~ header lines)",
    "novonix": "Novonix HPC/UHPC CSV ([Summary] ... [Data])",
    "palmsens-pssession": "PalmSens PSTrace session .pssession (UTF-16 JSON; every "
                          "measurement, set scan rates)",
    "pstrace-xlsx": "PalmSens PSTrace Excel export (curves side by side as V / µA pairs)",
    "pstrace-csv": "PalmSens PSTrace CSV export (UTF-16; curves side by side as V / µA "
                   "pairs; read through the generic CSV route)",
    "gamry-dta": "Gamry .DTA: EIS, CV (all CURVE tables), CA, OCP, PWR800 charge/discharge;"
                 " decimal commas; aborted runs too",
    "zplot": "Scribner ZPlot/ZView .z and Autolab Z60W exports",
    "chi-eis": "CH Instruments A.C. impedance text",
    "versastudio-par": "Princeton Applied Research VersaStudio .par",
    "parstat": "Princeton Applied Research Parstat text",
    "powersuite": "Solartron PowerSuite text",
    "eis-csv": "headerless CSV with three columns: frequency, Z', Z''",
    "relaxis-txt": "RelaxIS spectrum export (Data: Frequency / Z' / Z'' ...; several spectra)",
    "bdf-csv": "Battery Data Format CSV (preferred labels or machine names)",
    "csv": "any delimited text whose headers carry names and units, or with a column_map",
    "xlsx": "any Excel sheet whose headers carry names and units, or with a column_map",
}

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
        if neware.looks_like_neware_xlsx(sheets):
            return "neware-xlsx"
        try:
            with zipfile.ZipFile(path) as zf:
                strings = zf.read("xl/sharedStrings.xml")[:20000].decode("utf-8", "replace")
        except KeyError:
            strings = ""
        if palmsens.looks_like_pstrace_xlsx(strings):
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
    if head.startswith(biologic.MPR_MAGIC):
        return "biologic-mpr"
    if head.startswith(b"PK\x03\x04"):
        return _detect_zip(path, src)
    if head[4:19] in _JET:
        return "arbin-res"
    if head.startswith(b"NEWARE"):
        return "neware-nda"
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
    if palmsens.looks_like_pssession(head):
        return "palmsens-pssession"
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
    if biologic.looks_like_mpt(text):
        return "biologic-mpt"
    if first.startswith(("EC-Lab LOG FILE", "BT-Lab LOG FILE", "EC-LAB SETTING FILE",
                         "BT-LAB SETTING FILE")):
        raise FileFormatError("unsupported: an EC-Lab log/settings file (.mpl/.mps) holds "
                              "settings, not data; read the .mpr or .mpt of the same run",
                              file=src)
    checks = (
        (gamry.looks_like_gamry, "gamry-dta"),
        (eis.looks_like_relaxis, "relaxis-txt"),
        (eis.looks_like_zplot, "zplot"),
        (eis.looks_like_maccor_eis, "maccor-eis"),
        (cyclers.looks_like_maccor, "maccor-text"),
        (cyclers.looks_like_vdf, "vdf-csv"),
        (cyclers.looks_like_basytec, "basytec"),
        (cyclers.looks_like_novonix, "novonix"),
        (eis.looks_like_versastudio, "versastudio-par"),
        (eis.looks_like_chi, "chi-eis"),
        (neware.looks_like_btsda, "neware-btsda-csv"),
        (cyclers.looks_like_landt, "landt-csv"),
        (eis.looks_like_parstat, "parstat"),
        (eis.looks_like_powersuite, "powersuite"),
    )
    for check, name in checks:
        if check(text):
            return name
    if cyclers.looks_like_arbin_header(first):
        return "arbin-csv"
    if " / " in first and any(k in first for k in ("Test Time / s", "Voltage / V",
                                                  "Current / A", "Frequency / Hz")):
        return "bdf-csv"
    if first.startswith("test_time_second") or ("voltage_volt" in first
                                                  and "current_ampere" in first):
        return "bdf-csv"
    if eis.looks_like_eis_csv(text):
        return "eis-csv"
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


