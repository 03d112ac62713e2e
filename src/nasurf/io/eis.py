"""Impedance text formats: ZView/ZPlot ``.z`` (and Autolab's Z60W export),
CH Instruments, VersaStudio ``.par``, Parstat, PowerSuite, Maccor EIS, and plain CSV
(frequency, Z', Z'' without a header).

All give ``Frequency / Hz``, ``Z Real / Ohm``, ``Z Imag / Ohm`` with Z = Z' + jZ'' (so a
capacitive arc has Z'' < 0). Every format here already writes Z'' that way (checked
against the phase column where the file has one, and against impedance.py's readers in the
tests), so nothing is negated; BioLogic's ``-Im(Z)`` is handled in :mod:`nasurf.io.biologic`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.errors import FileFormatError
from nasurf.io import gamry
from nasurf.io import table as tb
from nasurf.io._assemble import finish
from nasurf.io._text import decode, is_number, read_delimited, to_float
from nasurf.io.columns import ColumnMap
from nasurf.io.eis_table import complete_impedance
from nasurf.io.generic import assemble, nan_impedance_off_sweep, table_from_text
from nasurf.io.table import EchemData, Metadata


def _finish_eis(df: pd.DataFrame, md: Metadata, kwargs: dict[str, Any]) -> EchemData:
    return finish(df, md, technique=kwargs.get("technique") or md.technique,
                  active_mass_g=kwargs.get("active_mass_g"), area_cm2=kwargs.get("area_cm2"))


# ---------------------------------------------------------------------------------------
# Gamry: moved to nasurf.io.gamry (it reads every Gamry technique, not only impedance);
# re-exported here so existing imports keep working

looks_like_gamry = gamry.looks_like_gamry
read_gamry = gamry.read_gamry


# ---------------------------------------------------------------------------------------
# ZView / ZPlot (.z) and Scribner-format exports (Autolab "Z60W Data File")


def looks_like_zplot(head: str) -> bool:
    first = head.lstrip("\ufeff").split("\n", 1)[0].strip().strip('"')
    return first.startswith(("ZPlotW Data File", "Z60W Data File", "ZPLOT2 ASCII"))


def read_zplot(path: Path, *, encoding: str | None = None, **kwargs: Any) -> EchemData:
    src = str(path)
    lines = decode(path.read_bytes(), encoding, source=src).splitlines()
    # data rows follow "End Comments" (commented files) or the quoted column-title line;
    # the numeric settings line before it ("0,3,0,1,300000,0.005") is not data
    start = 0
    for i, ln in enumerate(lines):
        if ln.strip() == "End Comments" or re.search(r"Freq\s*\(Hz\)", ln):
            start = i + 1
    rows, sep, decimal, skipped = _zplot_rows(lines[start:])
    if not rows:
        raise FileFormatError("ZPlot/ZView file without data rows "
                              "(freq, ampl, bias, time, Z', Z'')", file=src)
    arr = np.asarray(rows, dtype=np.float64)
    df = pd.DataFrame({tb.FREQUENCY: arr[:, 0], tb.Z_REAL: arr[:, 4], tb.Z_IMAG: arr[:, 5],
                       "Ampl": arr[:, 1], "Bias": arr[:, 2], "Time(Sec)": arr[:, 3]})
    first = lines[0].strip().strip('"') if lines else ""
    md = Metadata(source=src, instrument="Scribner ZPlot/ZView" if "ZPlot" in first
                  else "Autolab/ZView export", file_format="zplot", technique="EIS",
                  header={"first_line": first})
    if decimal == ",":
        md = md.with_note(f"decimal commas read as decimal points (fields separated by "
                          f"{sep!r})")
    if skipped:
        n, line_no, text = len(skipped), skipped[0][0] + start + 1, skipped[0][1]
        md = md.with_warning(f"dropped {n} data line(s) whose first six fields are not all "
                             f"numbers (first at line {line_no}: '{text[:60]}')")
    return _finish_eis(df, md, kwargs)


_DECIMAL_COMMA_CELL = re.compile(r"^[-+]?\d*,\d+([eE][-+]?\d+)?$")


def _zplot_rows(lines: list[str]) -> tuple[list[list[float]], str, str,
                                            list[tuple[int, str]]]:
    """Rows of (freq, ampl, bias, time, Z', Z''); separator and decimal mark from the data.

    Tab-separated exports written in a decimal-comma locale hold ``3,0E+05``; splitting on
    commas too would read garbage, so the separator is decided once: tab, else ';', else ','.
    A line with six or more fields that are not all numbers (a damaged cell, ``inf``) is
    dropped and counted, never skipped silently.
    """
    body = [(i, ln.strip()) for i, ln in enumerate(lines) if ln.strip()]
    if not body:
        return [], "\t", ".", []
    probe = body[0][1]
    sep = "\t" if "\t" in probe else (";" if ";" in probe else ",")
    decimal = "."
    if sep != ",":
        cells = [c.strip() for c in probe.split(sep)]
        if any(_DECIMAL_COMMA_CELL.match(c) for c in cells):
            decimal = ","
    rows: list[list[float]] = []
    skipped: list[tuple[int, str]] = []
    for i, ln in body:
        cells = [c.strip() for c in ln.split(sep)]
        if len(cells) < 6:
            continue
        head = [c.replace(",", ".") for c in cells[:6]] if decimal == "," else cells[:6]
        if decimal == "." and any("," in c for c in head):
            skipped.append((i, ln))
            continue
        try:
            values = [float(c) for c in head]
        except ValueError:
            skipped.append((i, ln))
            continue
        if not all(np.isfinite(values)):
            skipped.append((i, ln))
            continue
        rows.append(values)
    return rows, sep, decimal, skipped


# ---------------------------------------------------------------------------------------
# CH Instruments


def _table_after_header(path: Path, encoding: str | None, header_prefix: str, sep: str,
                        missing: str) -> tuple[list[str], int, Any]:
    """Lines of a text export, the index of its column-header line (the first line that
    starts with ``header_prefix``) and the table read from there on, blank lines dropped."""
    src = str(path)
    lines = decode(path.read_bytes(), encoding, source=src).splitlines()
    idx = next((i for i, ln in enumerate(lines) if ln.startswith(header_prefix)), None)
    if idx is None:
        raise FileFormatError(missing, file=src)
    body = [lines[idx]] + [ln for ln in lines[idx + 1:] if ln.strip()]
    return lines, idx, read_delimited("\n".join(body), sep=sep, skiprows=0, source=src)


def looks_like_chi(head: str) -> bool:
    return "A.C. Impedance" in head[:300] and "Freq/Hz" in head


def read_chi(path: Path, *, encoding: str | None = None, **kwargs: Any) -> EchemData:
    src = str(path)
    lines, idx, raw = _table_after_header(path, encoding, "Freq/Hz", ",",
                                          "CH Instruments file without a 'Freq/Hz' column line")
    header = {}
    for ln in lines[:idx]:
        key, sep, value = ln.partition("=")
        if sep:
            header[key.strip()] = value.strip()
    explicit = {"Freq/Hz": ColumnMap(tb.FREQUENCY, "Hz"), "Z'/ohm": ColumnMap(tb.Z_REAL, "ohm"),
                'Z"/ohm': ColumnMap(tb.Z_IMAG, "ohm")}
    md = Metadata(source=src, instrument="CH Instruments", file_format="chi-eis",
                  technique="EIS", header=header)
    df, md = assemble(raw, md, explicit=explicit, known_extra=set(raw.columns), guess=False)
    return _finish_eis(df, md, kwargs)


# ---------------------------------------------------------------------------------------
# VersaStudio (.par)


def looks_like_versastudio(head: str) -> bool:
    return head.lstrip("\ufeff").startswith("<Application>") and "VersaStudio" in head[:300]


def read_versastudio(path: Path, *, encoding: str | None = None, **kwargs: Any) -> EchemData:
    src = str(path)
    lines = decode(path.read_bytes(), encoding, source=src).splitlines()
    header: dict[str, Any] = {}
    for ln in lines:
        if ln.startswith("<Segment"):
            break
        key, sep, value = ln.partition("=")
        if sep and key not in header:
            header[key.strip()] = value.strip()
    try:
        seg = next(i for i, ln in enumerate(lines) if ln.startswith("<Segment1>"))
        dfn = next(i for i in range(seg, len(lines)) if lines[i].startswith("Definition="))
    except StopIteration:
        raise FileFormatError("VersaStudio file without a <Segment1> data block", file=src
                              ) from None
    names = [n.strip() for n in lines[dfn].split("=", 1)[1].split(",")]
    body = []
    for ln in lines[dfn + 1:]:
        if ln.startswith("</Segment"):
            break
        body.append(ln)
    width = len(names)
    rows, decimal = _versastudio_rows([r for r in body if r.strip()], header, src)
    rows = [r[:width] + [""] * (width - len(r)) for r in rows]
    raw = pd.DataFrame(rows, columns=names)
    explicit = {"Frequency(Hz)": ColumnMap(tb.FREQUENCY, "Hz"),
                "Z Real": ColumnMap(tb.Z_REAL, "ohm"), "Z Imag": ColumnMap(tb.Z_IMAG, "ohm"),
                "Elapsed Time(s)": ColumnMap(tb.TIME, "s"), "E(V)": ColumnMap(tb.VOLTAGE, "V"),
                "I(A)": ColumnMap(tb.CURRENT, "A")}
    md = Metadata(source=src, instrument="Princeton Applied Research VersaStudio",
                  file_format="versastudio-par", technique="EIS", header=header)
    if decimal == ",":
        md = md.with_note("decimal commas read as decimal points (fields separated by ';')")
    df, md = assemble(raw, md, explicit=explicit, known_extra=set(raw.columns), guess=False,
                      decimal=decimal)
    return _finish_eis(df, md, kwargs)


# locales whose numbers use a decimal comma (VersaStudio names its UI locale, e.g. de-DE)
_COMMA_LOCALES = ("de", "fr", "it", "es", "nl", "pt", "ru", "pl", "cs", "sk", "sv", "fi",
                  "da", "nb", "no", "tr", "hu", "ro", "el", "bg", "uk", "id", "vi")


def _versastudio_rows(body: list[str], header: dict[str, Any], src: str
                      ) -> tuple[list[list[str]], str]:
    """Split the data rows; decimal commas are read when ';' separates the fields and
    refused (naming the locale) when they collide with the ',' separator."""
    if not body:
        return [], "."
    if all(";" in r for r in body[:5]):
        return [r.split(";") for r in body], ","
    lang = next((str(v) for k, v in header.items() if k.startswith("Language")), "")
    m = re.search(r"\[([a-z]{2})(?:-[A-Za-z]{2})?\]", lang)
    if m and m.group(1) in _COMMA_LOCALES:
        raise FileFormatError(f"VersaStudio file written in the {m.group(0)[1:-1]} locale, "
                              "whose decimal commas collide with the ',' field separator; "
                              "export it again with the en-US locale", file=src)
    rows = [r.split(",") for r in body]
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise FileFormatError(f"VersaStudio data rows have between {min(widths)} and "
                              f"{max(widths)} fields (decimal commas, or a damaged row?)",
                              file=src)
    return rows, "."


# ---------------------------------------------------------------------------------------
# Parstat / PowerSuite / Maccor EIS / CSV


def looks_like_parstat(head: str) -> bool:
    first = head.lstrip("\ufeff").split("\n", 1)[0]
    return "Frequency (Hz)" in first and "Zre (ohms)" in first and "Zim (ohms)" in first


def read_parstat(path: Path, *, encoding: str | None = None, **kwargs: Any) -> EchemData:
    src = str(path)
    text = decode(path.read_bytes(), encoding, source=src)
    raw, _pre, _sep, decimal = table_from_text(text, src=src, header_line=0, sep="\t")
    explicit = {"Frequency (Hz)": ColumnMap(tb.FREQUENCY, "Hz"),
                "Zre (ohms)": ColumnMap(tb.Z_REAL, "ohm"), "Zim (ohms)": ColumnMap(tb.Z_IMAG,
                                                                                  "ohm"),
                "Elapsed Time (s)": ColumnMap(tb.TIME, "s"),
                "Potential (V)": ColumnMap(tb.VOLTAGE, "V"),
                "Current (A)": ColumnMap(tb.CURRENT, "A")}
    md = Metadata(source=src, instrument="Princeton Applied Research Parstat",
                  file_format="parstat", technique=None)
    df, md = assemble(raw, md, explicit=explicit, known_extra=set(raw.columns), guess=False,
                      decimal=decimal)
    df, md = nan_impedance_off_sweep(df, md)
    return _finish_eis(df, md, kwargs)


def looks_like_powersuite(head: str) -> bool:
    first = [c.strip() for c in head.lstrip("\ufeff").split("\n", 1)[0].split("\t")]
    return first[:3] == ["Frequency", "Zre", "Zimg"]


def read_powersuite(path: Path, *, encoding: str | None = None, **kwargs: Any) -> EchemData:
    src = str(path)
    text = decode(path.read_bytes(), encoding, source=src)
    raw, _pre, _sep, decimal = table_from_text(text, src=src, header_line=0, sep="\t")
    explicit = {"Frequency": ColumnMap(tb.FREQUENCY, "Hz"), "Zre": ColumnMap(tb.Z_REAL, "ohm"),
                "Zimg": ColumnMap(tb.Z_IMAG, "ohm")}
    md = Metadata(source=src, instrument="Solartron PowerSuite", file_format="powersuite",
                  technique="EIS")
    df, md = assemble(raw, md, explicit=explicit, known_extra=set(raw.columns), guess=False,
                      decimal=decimal)
    return _finish_eis(df, md, kwargs)


def looks_like_maccor_eis(head: str) -> bool:
    return head.lstrip("\ufeff").startswith("MACCOR") and "Impedance" in head[:200]


def read_maccor_eis(path: Path, *, encoding: str | None = None, **kwargs: Any) -> EchemData:
    src = str(path)
    lines, idx, raw = _table_after_header(path, encoding, "Freq(Hz)", "\t",
                                          "Maccor impedance file without its 'Freq(Hz)' header")
    explicit = {"Freq(Hz)": ColumnMap(tb.FREQUENCY, "Hz"), "Z'(a)": ColumnMap(tb.Z_REAL, "ohm"),
                "Z''(b)": ColumnMap(tb.Z_IMAG, "ohm")}
    md = Metadata(source=src, instrument="Maccor", file_format="maccor-eis", technique="EIS",
                  header={"preamble": lines[:idx]})
    df, md = assemble(raw, md, explicit=explicit, known_extra=set(raw.columns), guess=False)
    return _finish_eis(df, md, kwargs)


def _eis_csv_sep(line: str) -> str:
    # ';' or tab when present: then ',' can only be a decimal comma (de_DE exports)
    return next((s for s in (";", "\t") if s in line), ",")


def looks_like_eis_csv(head: str) -> bool:
    lines = [ln for ln in head.splitlines()[:20] if ln.strip()]
    if len(lines) < 3:
        return False
    if len(head) >= 16000:
        lines = lines[:-1]   # the last sniffed line may be cut
    for ln in lines:
        sep = _eis_csv_sep(ln)
        cells = [c.strip() for c in ln.strip().rstrip(sep).split(sep)]
        if len(cells) != 3 and (sep != "," or "," not in ln):
            cells = [c.strip() for c in re.split(r"\s+", ln.strip())]
        if len(cells) != 3 or not all(is_number(c) for c in cells):
            return False
    return True


def read_eis_csv(path: Path, *, encoding: str | None = None, **kwargs: Any) -> EchemData:
    """Three numeric columns, no header: frequency / Hz, Z' / Ohm, Z'' / Ohm.

    Separators ``,``, ``;``, tab or spaces; with ``;`` or tab a decimal comma is read
    (noted).
    """
    src = str(path)
    text = decode(path.read_bytes(), encoding, source=src)
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    sep = _eis_csv_sep(first)
    if sep == "," and "," not in first:
        sep = r"\s+"
    from nasurf.io.generic import detect_decimal

    decimal = detect_decimal(text.splitlines()[:30], sep) if sep in (";", "\t") else "."
    raw = read_delimited(text, sep=sep, skiprows=0, header=False, source=src, decimal=decimal,
                         names=["frequency", "z_real", "z_imag"])
    explicit = {"frequency": ColumnMap(tb.FREQUENCY, "Hz"), "z_real": ColumnMap(tb.Z_REAL, "ohm"),
                "z_imag": ColumnMap(tb.Z_IMAG, "ohm")}
    md = Metadata(source=src, file_format="eis-csv", technique="EIS").with_note(
        "headerless three-column CSV read as frequency / Hz, Z' / Ohm, Z'' / Ohm "
        "(Z = Z' + jZ'')")
    if decimal == ",":
        md = md.with_note("decimal commas read as decimal points")
    df, md = assemble(raw, md, explicit=explicit, guess=False, decimal=decimal)
    df, md = complete_impedance(raw, df, md, decimal=decimal)
    return _finish_eis(df, md, kwargs)


# ---------------------------------------------------------------------------------------
# RelaxIS (rhd instruments) spectrum export


def looks_like_relaxis(head: str) -> bool:
    first = head.lstrip("\ufeff").split("\n", 1)[0].strip()
    return first.startswith("RelaxIS") and "Data: Frequency" in head


def read_relaxis(path: Path, *, encoding: str | None = None, **kwargs: Any) -> EchemData:
    """RelaxIS "Spectrum export": preamble, a ``Data: <quantity>`` header without units,
    then per spectrum one tab-separated label line (``DC=..., TM=...``, model, source file)
    followed by its rows. Z'' is written signed (Im Z), checked against ``Theta (Z)``.

    Units: RelaxIS exports frequency in Hz and impedance in ohm (the values of the
    hybrid-drt export equal its source .mpr's to float32 precision), so they are taken as
    such. Several spectra in one export get a ``Spectrum / 1``-style counter column
    ``spectrum`` (1, 2, ...) and their label lines are kept in the header.
    """
    src = str(path)
    lines = decode(path.read_bytes(), encoding, source=src).splitlines()
    idx = next((i for i, ln in enumerate(lines[:50]) if ln.startswith("Data: ")), None)
    if idx is None:
        raise FileFormatError("RelaxIS export without its 'Data: Frequency ...' header line",
                              file=src)
    names = [n.strip() for n in lines[idx].rstrip("\t").split("\t")]
    width = len(names)
    decimal = "." if not any(re.search(r"\d,\d", ln) and "." not in ln
                             for ln in lines[idx + 1:idx + 20]) else ","
    rows: list[list[str]] = []
    spectrum: list[int] = []
    labels: list[str] = []
    bad: list[int] = []
    for n, ln in enumerate(lines[idx + 1:], start=idx + 2):
        if not ln.strip():
            continue
        cells = [c.strip() for c in ln.rstrip("\t").split("\t")]
        if len(cells) >= width and all(is_number(c) for c in cells[:width]):
            if not labels:
                labels.append("")
            rows.append(cells[:width])
            spectrum.append(len(labels))
        elif is_number(cells[0]) or sum(is_number(c) for c in cells[:width]) >= width - 1:
            bad.append(n)   # a cut or damaged data row, not a spectrum label
        else:
            labels.append(ln.strip())
    if not rows:
        raise FileFormatError(f"RelaxIS export without data rows after line {idx + 1}",
                              file=src)
    raw = pd.DataFrame(rows, columns=[n.removeprefix("Data: ").strip() for n in names])
    raw = raw.apply(lambda col: to_float(col, decimal=decimal))
    decimal = "."
    md = Metadata(source=src, instrument="RelaxIS (rhd instruments)",
                  file_format="relaxis-txt", technique="EIS",
                  header={"preamble": lines[:idx], "spectra": labels})
    if bad:
        md = md.with_warning(f"left out {len(bad)} line(s) that start with a number but do not "
                             f"hold {width} numbers (first at line {bad[0]})")
    if any(re.search(r"\d,\d", r[0]) for r in rows[:5]):
        md = md.with_note("decimal commas read as decimal points")
    explicit = {"Frequency": ColumnMap(tb.FREQUENCY, "Hz"), "Z'": ColumnMap(tb.Z_REAL, "ohm"),
                "Z''": ColumnMap(tb.Z_IMAG, "ohm")}
    df, md = assemble(raw, md, explicit=explicit, known_extra=set(raw.columns), guess=False,
                      decimal=decimal)
    if len(labels) > 1:
        df["spectrum"] = np.asarray(spectrum, dtype=np.int64)
        md = md.with_note(f"{len(labels)} spectra in the export: column 'spectrum' numbers them")
    df, md = complete_impedance(raw, df, md, decimal=decimal)
    return _finish_eis(df, md, kwargs)
