"""PalmSens PSTrace files: the ``.pssession`` session and the PSTrace Excel export.

A ``.pssession`` is one line of UTF-16 JSON (PSTrace 5): ``measurements`` is a list, each
with a ``title``, a ``timestamp`` (.NET ticks: 100 ns since 0001-01-01), the ``method``
text (``SCAN_RATE=``, ``E_VTX1=`` ... in V and V/s) and a ``dataset`` of arrays (time in
s, potential in V, current in µA, charge in µC; each value ``{"v": number, "s": status,
"c": current range}``). The ``curves`` hold the same points re-ordered for plotting, so
the dataset is what is read.

Every measurement becomes a block of rows, in the order the session lists them (which is
the order they were run: checked on the timestamps); ``Cycle Count / 1`` numbers the
measurements, ``Test Time / s`` is the measurement's own time plus its start relative to
the first measurement (from the timestamps), so one session is one time-ordered record.
Each measurement's set scan rate is in ``Metadata.scan_rates_V_s``. Points whose reading
status is not 0 (the instrument's flag for a point at the edge of its current range) are
kept and counted in a warning. No PyPI package reads sessions without the vendor's .NET
runtime (``pypalmsens`` drives instruments through it), hence this reader.

The PSTrace Excel export puts the curves side by side as (V, µA) column pairs under a
"Curve" title row. It holds no time and no scan rate: ``Test Time / s`` is then the point
index (1 s per point) only to keep the rows in order, ``Metadata.header["time_is_index"]``
says so, and a warning says a scan rate must be given for rate analyses.

Currents are anodic positive in both (PSTrace's convention; checked on the double-layer
current of real sessions in the tests).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.errors import FileFormatError
from nasurf.io import table as tb
from nasurf.io._assemble import finish
from nasurf.io.table import EchemData, Metadata

#: PalmSens unit type -> factor to SI
_UNITS = {
    "PalmSens.Units.Time": 1.0, "PalmSens.Units.Volt": 1.0,
    "PalmSens.Units.Ampere": 1.0, "PalmSens.Units.MilliAmpere": 1e-3,
    "PalmSens.Units.MicroAmpere": 1e-6, "PalmSens.Units.NanoAmpere": 1e-9,
    "PalmSens.Units.Coulomb": 1.0, "PalmSens.Units.MilliCoulomb": 1e-3,
    "PalmSens.Units.MicroCoulomb": 1e-6, "PalmSens.Units.NanoCoulomb": 1e-9,
}
_CURRENT_EXCEL_UNITS = {"A": 1.0, "mA": 1e-3, "µA": 1e-6, "uA": 1e-6, "nA": 1e-9}
_TICKS_PER_S = 10_000_000
_TECHNIQUES = {"cv": "CV", "lsv": "LSV", "ca": "CA", "cp": "CP", "ocp": "OCV",
               "dpv": "DPV", "swv": "SWV", "eis": "EIS"}


def looks_like_pssession(head: bytes) -> bool:
    # UTF-16 with a BOM (PSTrace 5), or UTF-16LE without one: '{' 0 '"' 0 ...
    if not head.startswith((b"\xff\xfe", b"\xfe\xff", b'{\x00"\x00')):
        return False
    try:
        text = head[:400].decode("utf-16-le" if head[:1] != b"\xfe" else "utf-16-be",
                                 errors="ignore").lstrip("\ufeff")
    except UnicodeDecodeError:
        return False
    return text.startswith("{") and "PalmSens" in text


def _session_json(path: Path, src: str) -> dict[str, Any]:
    raw = path.read_bytes()
    enc = "utf-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-16-le"
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"PalmSens session is not valid UTF-16 ({exc.reason} at byte "
                              f"{exc.start})", file=src) from None
    # PSTrace pads the JSON with a trailing NUL or garbage after the closing brace
    end = text.rfind("}")
    try:
        doc = json.loads(text[:end + 1])
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"PalmSens session JSON is broken at character {exc.pos} "
                              f"({exc.msg})", file=src) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("measurements"), list):
        raise FileFormatError("PalmSens session without a 'measurements' list", file=src)
    return doc


def _method(text: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Z_0-9]+)=(.*?)\r?$", text or "", re.M))


def _array(values: list[dict[str, Any]], unit: str, where: str, src: str
           ) -> tuple[np.ndarray, np.ndarray]:
    if unit not in _UNITS:
        raise FileFormatError(f"{where}: unknown PalmSens unit {unit!r}", file=src)
    v = np.array([p.get("v", np.nan) for p in values], dtype=np.float64) * _UNITS[unit]
    s = np.array([p.get("s", 0) or 0 for p in values], dtype=np.int64)
    return v, s


def read_pssession(path: Path, **kwargs: Any) -> EchemData:
    """Read a PSTrace ``.pssession`` (see the module docstring)."""
    src = str(path)
    doc = _session_json(path, src)
    meas = doc["measurements"]
    if not meas:
        raise FileFormatError("PalmSens session holds no measurement", file=src)
    blocks: list[pd.DataFrame] = []
    info: list[dict[str, Any]] = []
    warnings: list[str] = []
    t0_ticks: int | None = None
    techniques: set[str] = set()
    for k, m in enumerate(meas, start=1):
        title = str(m.get("title") or f"measurement {k}")
        where = f"measurement {k} ('{title}')"
        arrays = {a.get("description"): a for a in (m.get("dataset") or {}).get("values", [])}
        missing = [n for n in ("time", "potential", "current") if n not in arrays]
        if missing:
            raise FileFormatError(f"{where} has no {', '.join(missing)} array (found "
                                  f"{sorted(map(str, arrays))})", file=src, field=missing[0])
        t, _ = _array(arrays["time"]["datavalues"], arrays["time"]["unit"]["type"], where, src)
        e, _ = _array(arrays["potential"]["datavalues"], arrays["potential"]["unit"]["type"],
                      where, src)
        i, status = _array(arrays["current"]["datavalues"],
                           arrays["current"]["unit"]["type"], where, src)
        if not (t.size == e.size == i.size):
            raise FileFormatError(f"{where}: time, potential and current arrays differ in "
                                  f"length ({t.size}, {e.size}, {i.size})", file=src)
        ticks = int(m.get("timestamp") or 0)
        if t0_ticks is None:
            t0_ticks = ticks
        if ticks and t0_ticks:
            offset = (ticks - t0_ticks) / _TICKS_PER_S
        elif blocks:
            # no timestamp: the measurement is put right after the previous one
            prev = blocks[-1][tb.TIME].to_numpy()
            step = float(np.median(np.diff(t))) if t.size > 1 else 0.0
            offset = float(prev[-1]) + max(step, 0.0) - float(t[0])
            warnings.append(f"{where} has no timestamp: placed right after the previous "
                            "measurement (the pause between them is unknown)")
        else:
            offset = 0.0
        block = pd.DataFrame({tb.TIME: t + offset, tb.VOLTAGE: e, tb.CURRENT: i,
                              tb.CYCLE: np.full(t.size, k, dtype=np.int64),
                              "Status": status})
        if "charge" in arrays:
            q, _ = _array(arrays["charge"]["datavalues"], arrays["charge"]["unit"]["type"],
                          where, src)
            # PSTrace stores the charge with a leading 0 (one more value than points): the
            # charge passed up to each point
            if q.size == t.size + 1:
                q = q[1:]
            if q.size == t.size:
                block["Charge / C"] = q
            else:
                warnings.append(f"{where}: charge array of {q.size} values for {t.size} "
                                "points is not kept")
        bad = int(np.count_nonzero(status))
        if bad:
            warnings.append(f"{where}: {bad} of {t.size} points carry a non-zero PalmSens "
                            "reading status (the instrument's flag for a point at the limit "
                            "of its current range); kept, see column 'Status'")
        method = _method(str(m.get("method") or ""))
        tech = _TECHNIQUES.get(method.get("METHOD_ID", "").lower(),
                               method.get("METHOD_ID") or None)
        if tech:
            techniques.add(tech)
        rate = _float(method.get("SCAN_RATE"))
        info.append({"title": title, "rows": int(t.size), "start_s": offset,
                     "scan_rate_V_s": rate, "technique": tech,
                     "E_begin_V": _float(method.get("E_BEGIN")),
                     "E_vertex1_V": _float(method.get("E_VTX1")),
                     "E_vertex2_V": _float(method.get("E_VTX2")),
                     "n_scans": _float(method.get("N_SCANS"))})
        blocks.append(block)
    for prev, nxt, about in zip(blocks, blocks[1:], info[1:], strict=False):
        if nxt[tb.TIME].iloc[0] < prev[tb.TIME].iloc[-1]:
            raise FileFormatError(
                f"measurement '{about['title']}' starts before the one listed before it ends "
                "(timestamps out of order); the session is not one time-ordered record",
                file=src)
    df = pd.concat(blocks, ignore_index=True)
    rates = tuple(r["scan_rate_V_s"] for r in info if r["scan_rate_V_s"])
    tech = techniques.pop() if len(techniques) == 1 else ("mixed" if techniques else None)
    md = Metadata(source=src, instrument="PalmSens PSTrace", file_format="palmsens-pssession",
                  technique=tech, scan_rate_V_s=rates[0] if rates else None,
                  scan_rates_V_s=rates or None,
                  header={"coreversion": doc.get("coreversion"), "measurements": info,
                          "tables": {r["title"]: r["rows"] for r in info}})
    md = md.with_note(f"{len(info)} measurement(s) joined in run order; Cycle Count / 1 "
                      "numbers them, Test Time / s counts from the first one's start "
                      "(session timestamps)")
    for w in warnings:
        md = md.with_warning(w)
    return finish(df, md, technique=kwargs.get("technique") or md.technique,
                  active_mass_g=kwargs.get("active_mass_g"), area_cm2=kwargs.get("area_cm2"))


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------
# PSTrace Excel export


def pstrace_curves(rows: list[tuple[Any, ...]]) -> list[tuple[np.ndarray, np.ndarray, str]] | None:
    """(potential V, current A, current unit) per curve, or None if not the PSTrace layout."""
    if len(rows) < 3:
        return None
    title, units = rows[0], rows[1]
    width = len(units)
    if width < 2 or width % 2:
        return None
    curves = []
    for k in range(0, width, 2):
        if str(title[k] or "").strip() != "Curve" or str(units[k] or "").strip() != "V":
            return None
        cu = str(units[k + 1] or "").strip()
        if cu not in _CURRENT_EXCEL_UNITS:
            return None
        e_col = [r[k] if k < len(r) else None for r in rows[2:]]
        i_col = [r[k + 1] if k + 1 < len(r) else None for r in rows[2:]]
        n = len(e_col)
        while n and e_col[n - 1] is None and i_col[n - 1] is None:
            n -= 1
        e = np.array([np.nan if v is None else v for v in e_col[:n]], dtype=np.float64)
        i = np.array([np.nan if v is None else v for v in i_col[:n]], dtype=np.float64)
        curves.append((e, i * _CURRENT_EXCEL_UNITS[cu], cu))
    return curves


def read_pstrace_xlsx(path: Path, **kwargs: Any) -> EchemData:
    """Read a PSTrace Excel export (curves side by side), or hand over to the generic reader."""
    from nasurf.io.generic import excel_sheets, read_generic_xlsx

    src = str(path)
    sheets = excel_sheets(path, src)
    for name, rows in sheets.items():
        curves = pstrace_curves(rows)
        if curves is None:
            continue
        blocks = []
        counts = {}
        gaps = 0
        start = 0
        for k, (e, i, _unit) in enumerate(curves, start=1):
            ok = np.isfinite(e) & np.isfinite(i)
            gaps += int((~ok).sum())
            e, i = e[ok], i[ok]
            counts[f"Curve {k}"] = int(e.size)
            blocks.append(pd.DataFrame({tb.TIME: np.arange(start, start + e.size, dtype=float),
                                        tb.VOLTAGE: e, tb.CURRENT: i,
                                        tb.CYCLE: np.full(e.size, k, dtype=np.int64)}))
            start += e.size
        md = Metadata(source=src, instrument="PalmSens PSTrace", file_format="pstrace-xlsx",
                      technique=kwargs.get("technique"),
                      header={"sheet": name, "tables": counts, "time_is_index": True})
        md = md.with_warning(
            "the PSTrace Excel export holds no time and no scan rate: Test Time / s is the "
            "point index (1 s per point), kept only to order the rows; give the scan rates "
            "(e.g. --scan-rates) for any rate analysis, or read the .pssession instead")
        md = md.with_note(f"{len(curves)} curve(s) of sheet '{name}' joined in column order; "
                          "Cycle Count / 1 numbers them")
        if gaps:
            md = md.with_warning(f"{gaps} row(s) with an empty potential or current cell left "
                                 "out")
        return finish(pd.concat(blocks, ignore_index=True), md,
                      active_mass_g=kwargs.get("active_mass_g"),
                      area_cm2=kwargs.get("area_cm2"))
    return read_generic_xlsx(path, **kwargs)


def looks_like_pstrace_xlsx(shared_strings: str) -> bool:
    """Cheap test on the workbook's shared strings: the 'Curve' title and a current unit."""
    return ">Curve<" in shared_strings and any(f">{u}<" in shared_strings
                                               for u in ("µA", "uA", "mA", "nA"))
