"""The one table of file formats nasurf reads: a :class:`FormatSpec` per format.

Each spec names its sniffer and reader as ``"module:function"`` and they are imported only
when used: detecting a BioLogic ``.mpt`` imports the BioLogic reader and no other, and
listing the formats (``nasurf formats``) imports no reader at all. That is why the specs
live here and not in the reader modules: a spec declared inside its reader module could
only be found by importing every reader (and pandas with them) first.

How a file is matched (:mod:`nasurf.io.detect`): byte signatures (``magic``) first, then
the containers (zip: Excel workbooks and Neware archives; gzip: Arbin), then the byte
sniffers (``sniff_kind="bytes"``), then the text sniffers in the order of :data:`SPECS`
(``sniff_kind="text"``; the order matters: a more specific layout before a more general
one), finally generic CSV. ``sniff_kind="zip"`` formats are told apart inside the zip
container by their sniffer on the workbook's sheet names or shared strings;
``"container"`` formats by :mod:`nasurf.io.detect`'s rules for zip and gzip containers
(members, workbook names); ``"content"`` formats by their reader inside another format's
route (a PSTrace CSV inside the generic CSV reader).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

SniffKind = Literal["magic", "bytes", "text", "zip", "container", "content", "fallback"]


@dataclass(frozen=True)
class FormatSpec:
    """One file format: what it is, how it is recognised and which function reads it."""

    name: str
    description: str
    #: ``"module:function"`` reading a path into an EchemData (keywords: technique,
    #: active_mass_g, area_cm2, column_map, encoding)
    read: str
    #: ``"module:function"`` recognising the format (see ``sniff_kind``), or None
    sniff: str | None = None
    sniff_kind: SniffKind = "text"
    #: the file starts with one of these bytes: enough to recognise a ``"magic"`` format
    #: (no import needed); for a ``"bytes"`` format, needed before its sniffer is tried
    magic: tuple[bytes, ...] = ()
    #: usual file-name endings (informative: detection is by content)
    extensions: tuple[str, ...] = ()
    #: bytes that are not text (no NUL or line-length scan before reading)
    binary: bool = False

    def reader(self) -> Callable[..., Any]:
        """The read function (its module imported now)."""
        return _resolve(self.read)

    def sniffer(self) -> Callable[..., bool]:
        """The sniff function (its module imported now)."""
        if self.sniff is None:
            raise ValueError(f"format {self.name!r} has no sniffer of its own")
        return _resolve(self.sniff)

    @property
    def module(self) -> str:
        """The reader module that owns this format."""
        return self.read.partition(":")[0]


def _resolve(ref: str) -> Callable[..., Any]:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


_B = "nasurf.io.biologic"
_N = "nasurf.io.neware"
_C = "nasurf.io.cyclers"
_E = "nasurf.io.eis"
_G = "nasurf.io.gamry"
_P = "nasurf.io.palmsens"
_X = "nasurf.io.generic"

#: every format, in detection order within each ``sniff_kind``
SPECS: tuple[FormatSpec, ...] = (
    FormatSpec("biologic-mpr",
               "BioLogic EC-Lab/BT-Lab binary .mpr (galvani), all techniques incl. EIS",
               f"{_B}:read_mpr", sniff_kind="magic", magic=(b"BIO-LOGIC MODULAR FILE\x1a",),
               extensions=(".mpr",), binary=True),
    FormatSpec("biologic-mpt",
               "BioLogic EC-Lab/BT-Lab text export .mpt/.txt (own parser; decimal commas,"
               " windows-1252, with or without header block)",
               f"{_B}:read_mpt", f"{_B}:looks_like_mpt", extensions=(".mpt", ".txt")),
    FormatSpec("neware-nda", "Neware BTS binary .nda (fastnda)", f"{_N}:read_nda",
               sniff_kind="magic", magic=(b"NEWARE",), extensions=(".nda",), binary=True),
    FormatSpec("neware-ndax", "Neware BTS binary .ndax (fastnda)", f"{_N}:read_nda",
               sniff_kind="container", extensions=(".ndax",), binary=True),
    FormatSpec("neware-nda-zip", "zip archive holding one Neware .nda/.ndax",
               f"{_N}:read_nda", sniff_kind="container", extensions=(".zip",), binary=True),
    FormatSpec("neware-btsda-csv",
               "Neware BTSDA CSV export: flat record table (units in headers, or "
               "BTSDA's default units) or the three-level regular export",
               f"{_N}:read_btsda_csv", f"{_N}:looks_like_btsda", extensions=(".csv",)),
    FormatSpec("neware-xlsx", "Neware BTSDA Excel export (record sheet(s), split exports too)",
               f"{_N}:read_neware_xlsx", f"{_N}:looks_like_neware_xlsx", sniff_kind="zip",
               extensions=(".xlsx",)),
    FormatSpec("arbin-res",
               "Arbin .res (MS Access database, read with access-parser; .res.gz too)",
               f"{_C}:read_arbin_res", sniff_kind="container",
               extensions=(".res", ".res.gz"), binary=True),
    FormatSpec("arbin-csv", "Arbin CSV export", f"{_C}:read_arbin_csv",
               f"{_C}:looks_like_arbin_csv", extensions=(".csv",)),
    FormatSpec("arbin-xlsx", "Arbin Excel export (Channel_* sheets)", f"{_C}:read_arbin_xlsx",
               sniff_kind="container", extensions=(".xlsx",), binary=True),
    FormatSpec("maccor-text",
               "Maccor text/CSV export (Today's Date preamble, or Name:/Channel:/Procedure "
               "preamble; Rec/Rec# header; TestTime unit checked against DPT Time)",
               f"{_C}:read_maccor", f"{_C}:looks_like_maccor", extensions=(".txt", ".csv")),
    FormatSpec("maccor-eis", "Maccor AC impedance sweep file", f"{_E}:read_maccor_eis",
               f"{_E}:looks_like_maccor_eis", extensions=(".txt",)),
    FormatSpec("vdf-csv", "VDF (Voltaiq) CSV: [DATA START], tab header and a unit line",
               f"{_C}:read_vdf", f"{_C}:looks_like_vdf", extensions=(".csv", ".vdf")),
    FormatSpec("landt-csv",
               "LANDT CSV export in the SINTEF/BattMo layout (preamble, snake_case units)",
               f"{_C}:read_landt_csv", f"{_C}:looks_like_landt", extensions=(".csv",)),
    FormatSpec("basytec", "BaSyTec result file (~ header lines)", f"{_C}:read_basytec",
               f"{_C}:looks_like_basytec", extensions=(".txt",)),
    FormatSpec("novonix", "Novonix HPC/UHPC CSV ([Summary] ... [Data])", f"{_C}:read_novonix",
               f"{_C}:looks_like_novonix", extensions=(".csv",)),
    FormatSpec("palmsens-pssession",
               "PalmSens PSTrace session .pssession (UTF-16 JSON; every "
               "measurement, set scan rates)",
               f"{_P}:read_pssession", f"{_P}:looks_like_pssession", sniff_kind="bytes",
               magic=(b"\xff\xfe", b"\xfe\xff", b'{\x00"\x00'), extensions=(".pssession",)),
    FormatSpec("pstrace-xlsx", "PalmSens PSTrace Excel export (curves side by side as V / µA "
               "pairs)", f"{_P}:read_pstrace_xlsx", f"{_P}:looks_like_pstrace_xlsx",
               sniff_kind="zip", extensions=(".xlsx",)),
    FormatSpec("pstrace-csv",
               "PalmSens PSTrace CSV export (UTF-16; curves side by side as V / µA "
               "pairs; read through the generic CSV route)",
               f"{_P}:read_pstrace_csv", f"{_P}:looks_like_pstrace_csv", sniff_kind="content",
               extensions=(".csv",)),
    FormatSpec("gamry-dta",
               "Gamry .DTA: EIS, CV (all CURVE tables), CA, OCP, PWR800 charge/discharge;"
               " decimal commas; aborted runs too",
               f"{_G}:read_gamry", f"{_G}:looks_like_gamry", extensions=(".dta",)),
    FormatSpec("zplot", "Scribner ZPlot/ZView .z and Autolab Z60W exports", f"{_E}:read_zplot",
               f"{_E}:looks_like_zplot", extensions=(".z",)),
    FormatSpec("chi-eis", "CH Instruments A.C. impedance text", f"{_E}:read_chi",
               f"{_E}:looks_like_chi", extensions=(".txt",)),
    FormatSpec("versastudio-par", "Princeton Applied Research VersaStudio .par",
               f"{_E}:read_versastudio", f"{_E}:looks_like_versastudio", extensions=(".par",)),
    FormatSpec("parstat", "Princeton Applied Research Parstat text", f"{_E}:read_parstat",
               f"{_E}:looks_like_parstat", extensions=(".txt",)),
    FormatSpec("powersuite", "Solartron PowerSuite text", f"{_E}:read_powersuite",
               f"{_E}:looks_like_powersuite", extensions=(".txt",)),
    FormatSpec("eis-csv", "headerless CSV with three columns: frequency, Z', Z''",
               f"{_E}:read_eis_csv", f"{_E}:looks_like_eis_csv", extensions=(".csv",)),
    FormatSpec("relaxis-txt",
               "RelaxIS spectrum export (Data: Frequency / Z' / Z'' ...; several spectra)",
               f"{_E}:read_relaxis", f"{_E}:looks_like_relaxis", extensions=(".txt",)),
    FormatSpec("bdf-csv", "Battery Data Format CSV (preferred labels or machine names)",
               f"{_X}:read_bdf_csv", f"{_X}:looks_like_bdf_csv", extensions=(".csv",)),
    FormatSpec("csv", "any delimited text whose headers carry names and units, or with a "
               "column_map", f"{_X}:read_generic_text", sniff_kind="fallback",
               extensions=(".csv", ".txt", ".tsv")),
    FormatSpec("xlsx", "any Excel sheet whose headers carry names and units, or with a "
               "column_map", f"{_X}:read_generic_xlsx", sniff_kind="container",
               extensions=(".xlsx",), binary=True),
)

#: the order in which the text sniffers are tried: the more specific layouts first (a
#: Gamry or RelaxIS file could pass a looser test further down)
TEXT_ORDER: tuple[str, ...] = (
    "biologic-mpt", "gamry-dta", "relaxis-txt", "zplot", "maccor-eis", "maccor-text",
    "vdf-csv", "basytec", "novonix", "versastudio-par", "chi-eis", "neware-btsda-csv",
    "landt-csv", "parstat", "powersuite", "arbin-csv", "bdf-csv", "eis-csv",
)

_BY_NAME: dict[str, FormatSpec] = {s.name: s for s in SPECS}


def get(name: str) -> FormatSpec:
    """The spec of a format name (KeyError names the known ones)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown format {name!r}; known: {', '.join(_BY_NAME)}") from None


def formats() -> dict[str, str]:
    """Format name -> one-line description, in the table's order (no reader imported)."""
    return {s.name: s.description for s in SPECS}


def text_specs() -> tuple[FormatSpec, ...]:
    """The formats recognised by a text sniffer, in the order they are tried."""
    return tuple(_BY_NAME[n] for n in TEXT_ORDER)


def magic_specs() -> tuple[FormatSpec, ...]:
    return tuple(s for s in SPECS if s.sniff_kind == "magic")


def byte_specs() -> tuple[FormatSpec, ...]:
    return tuple(s for s in SPECS if s.sniff_kind == "bytes")
