"""PalmSens PSTrace files: the ``.pssession`` session and the PSTrace Excel and CSV exports.

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

The PSTrace CSV export (UTF-16 with a BOM) has the same curve pairs under a title line, a
"Date and time measurement:" line and a "V,µA" unit line; it is read the same way (point
index as time); text sections after the curves are counted in a warning, not read.

Currents are anodic positive in all three (PSTrace's convention; checked on the double-layer
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
_TECHNIQUES = {"cv": "CV", "lsv": "LSV", "ca": "CA", "ad": "CA", "cp": "CP", "ocp": "OCV",
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
    # PSTrace 5.11 writes the same keys in PascalCase ("Measurements", "DataSet", "V")
    doc = _lower_keys(doc)
    if not isinstance(doc, dict) or not isinstance(doc.get("measurements"), list):
        raise FileFormatError("PalmSens session without a 'measurements' list", file=src)
    return doc


def _lower_keys(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_lower_keys(v) for v in obj]
    return obj


def _kind(a: dict[str, Any]) -> str:
    """'time', 'potential', 'current', 'charge' or '' from the array's .NET type name."""
    t = str(a.get("type", ""))
    for suffix, kind in (("DataArrayTime", "time"), ("DataArrayPotentials", "potential"),
                         ("DataArrayCurrents", "current"), ("DataArrayCharge", "charge")):
        if t.endswith(suffix):
            return kind
    return ""


def _scan_arrays(values: list[dict[str, Any]]
                 ) -> tuple[dict[str, Any] | None, list[tuple[str, dict[str, Any],
                                                               dict[str, Any],
                                                               dict[str, Any] | None]]]:
    """The time array and the (label, potential, current, charge) arrays of each scan.

    Older sessions name one potential and one current array "potential" and "current";
    a CV of several scans stores a potential, current and charge array per scan under the
    scan's name ("scan1", "scan2" or "scan1channel1"...), with one time array for the first.
    """
    by_desc = {a.get("description"): a for a in values}
    if all(n in by_desc for n in ("time", "potential", "current")):
        return by_desc["time"], [("", by_desc["potential"], by_desc["current"],
                                  by_desc.get("charge"))]
    time = next((a for a in values if _kind(a) == "time"), None)
    scans = []
    for pot in (a for a in values if _kind(a) == "potential"):
        label = pot.get("description")
        cur = next((a for a in values if _kind(a) == "current"
                    and a.get("description") == label), None)
        if cur is None:
            continue
        q = next((a for a in values if _kind(a) == "charge"
                  and a.get("description") == label), None)
        scans.append((str(label), pot, cur, q))
    return time, scans


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
    if all(_is_eis(m) for m in meas):
        return _read_session_eis(meas, doc, src, **kwargs)
    blocks: list[pd.DataFrame] = []
    info: list[dict[str, Any]] = []
    warnings: list[str] = []
    t0_ticks: int | None = None
    techniques: set[str] = set()
    for k, m in enumerate(meas, start=1):
        title = str(m.get("title") or f"measurement {k}")
        where = f"measurement {k} ('{title}')"
        values = (m.get("dataset") or {}).get("values", [])
        if _is_eis(m):
            warnings.append(f"{where} is an impedance measurement ("
                            f"{len(values[0].get('datavalues') or [])} points) in a session "
                            "with other techniques: left out of this table (a session of "
                            "impedance measurements only is read as a spectrum)")
            continue
        time_arr, scans = _scan_arrays(values)
        if time_arr is None or not scans:
            found = sorted(str(a.get("description")) for a in values)
            what = ("an impedance measurement (Frequency, ZRe, ZIm arrays), which nasurf "
                    "does not read from sessions yet; export it as a CSV table"
                    if "Frequency" in found else
                    "no time, potential and current arrays" if found else
                    "no data arrays (an empty dataset: older PSTrace sessions keep the "
                    "points only in their plot curves)")
            raise FileFormatError(f"{where} holds {what} (found {found})", file=src,
                                  field="time")
        t, _ = _array(time_arr["datavalues"], time_arr["unit"]["type"], where, src)
        pieces = []
        for n, (label, pot, cur, q_arr) in enumerate(scans, start=1):
            sw = f"{where}{' ' + label if label else ''}"
            e, _ = _array(pot["datavalues"], pot["unit"]["type"], sw, src)
            i, status = _array(cur["datavalues"], cur["unit"]["type"], sw, src)
            if e.size != i.size:
                raise FileFormatError(f"{sw}: potential and current arrays differ in length "
                                      f"({e.size}, {i.size})", file=src)
            q = None
            if q_arr is not None:
                q, _ = _array(q_arr["datavalues"], q_arr["unit"]["type"], sw, src)
            pieces.append((n, e, i, status, q))
        if pieces[0][1].size != t.size:
            raise FileFormatError(f"{where}: time, potential and current arrays differ in "
                                  f"length ({t.size}, {pieces[0][1].size}, "
                                  f"{pieces[0][2].size})", file=src)
        if len(pieces) > 1:
            # one time array for the first scan: the later scans continue at its interval
            dt = float(np.median(np.diff(t))) if t.size > 1 else 0.0
            times = [t]
            for _n, e, _i, _s, _q in pieces[1:]:
                start = times[-1][-1] + dt
                times.append(start + dt * np.arange(e.size))
            warnings.append(f"{where}: {len(pieces)} scans stored side by side with one "
                            f"time array (for scan 1); the later scans are timed on from "
                            f"it at its sampling interval {dt:g} s ('Scan / 1' numbers "
                            "them)")
            t = np.concatenate(times)
        e = np.concatenate([p[1] for p in pieces])
        i = np.concatenate([p[2] for p in pieces])
        status = np.concatenate([p[3] for p in pieces])
        scan_no = np.concatenate([np.full(p[1].size, p[0], dtype=np.int64) for p in pieces])
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
        if len(pieces) > 1:
            block["Scan / 1"] = scan_no
        charges = []
        for _n, e_k, _i, _s, q in pieces:
            if q is None:
                break
            # PSTrace stores the charge with a leading 0 (one more value than points): the
            # charge passed up to each point (of its own scan)
            if q.size == e_k.size + 1:
                q = q[1:]
            if q.size != e_k.size:
                warnings.append(f"{where}: charge array of {q.size} values for {e_k.size} "
                                "points is not kept")
                break
            charges.append(q)
        if charges and len(charges) == len(pieces):
            block["Charge / C"] = np.concatenate(charges)
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


def _is_eis(m: dict[str, Any]) -> bool:
    return any(a.get("description") == "Frequency"
               for a in (m.get("dataset") or {}).get("values", []))


def _plain(a: dict[str, Any]) -> np.ndarray:
    return np.array([p.get("v", np.nan) for p in a.get("datavalues") or []], dtype=np.float64)


def _read_session_eis(meas: list[dict[str, Any]], doc: dict[str, Any], src: str,
                      **kwargs: Any) -> EchemData:
    """Impedance spectra of a session: one block per measurement, Cycle Count numbers them.

    PSTrace stores ``ZIm`` and ``Phase`` with the sign of −Im Z and −arg Z (both positive on
    a capacitive arc: an RC electrode's 73° at 500 Hz would otherwise need an inductance of
    0.2 H), so Z'' = −ZIm. The stored ``Phase`` must agree with that sign on most points,
    and |Z| with √(ZRe² + ZIm²); otherwise the file is refused rather than guessed.
    """
    blocks = []
    titles = {}
    for k, m in enumerate(meas, start=1):
        title = str(m.get("title") or f"measurement {k}")
        where = f"measurement {k} ('{title}')"
        eis_list = m.get("eisdatalist") or []
        if len(eis_list) > 1 or any(e.get("subscans") for e in eis_list):
            names = [str(e.get("title")) for e in eis_list]
            raise FileFormatError(
                f"{where} holds {len(eis_list)} channel spectra or spectra at several dc "
                f"potentials ({'; '.join(names)}); nasurf reads sessions with one spectrum "
                "per measurement: export each spectrum from PSTrace as a CSV table",
                file=src)
        arrays = {a.get("description"): a for a in m["dataset"]["values"]}
        missing = [n for n in ("Frequency", "ZRe", "ZIm") if n not in arrays]
        if missing:
            raise FileFormatError(f"{where} has no {', '.join(missing)} array", file=src,
                                  field=missing[0])
        f, zr, zi = (_plain(arrays[n]) for n in ("Frequency", "ZRe", "ZIm"))
        if not (f.size == zr.size == zi.size) or f.size == 0:
            raise FileFormatError(f"{where}: Frequency, ZRe and ZIm differ in length "
                                  f"({f.size}, {zr.size}, {zi.size})", file=src)
        if "Phase" in arrays:
            ph = _plain(arrays["Phase"])
            both = (ph != 0) & (zi != 0) & np.isfinite(ph) & np.isfinite(zi)
            if ph.size == zi.size and both.any() and (np.sign(ph[both]) !=
                                                      np.sign(zi[both])).mean() > 0.5:
                raise FileFormatError(f"{where}: ZIm and Phase have opposite signs on most "
                                      "points; the sign of Z'' cannot be told", file=src)
        if "Z" in arrays:
            zm = _plain(arrays["Z"])
            if zm.size == zr.size and not np.allclose(np.hypot(zr, zi), zm, rtol=1e-3):
                raise FileFormatError(f"{where}: |Z| differs from √(ZRe² + ZIm²); the arrays "
                                      "are not one impedance", file=src)
        block = pd.DataFrame({tb.FREQUENCY: f, tb.Z_REAL: zr, tb.Z_IMAG: -zi,
                              tb.CYCLE: np.full(f.size, k, dtype=np.int64)})
        t = _plain(arrays["time"]) if "time" in arrays else np.array([])
        if t.size == f.size and np.all(np.diff(t) > 0):   # often one constant value
            block.insert(0, tb.TIME, t)
        titles[title] = int(f.size)
        blocks.append(block)
    md = Metadata(source=src, instrument="PalmSens PSTrace", file_format="palmsens-pssession",
                  technique="PEIS", header={"coreversion": doc.get("coreversion"),
                                            "tables": titles})
    md = md.with_note("Z'' = −ZIm: PSTrace stores ZIm and Phase as −Im Z and −arg Z "
                      "(positive on a capacitive arc)")
    if len(blocks) > 1:
        md = md.with_note(f"{len(blocks)} spectra joined in session order; Cycle Count / 1 "
                          "numbers them")
    return finish(pd.concat(blocks, ignore_index=True), md,
                  technique=kwargs.get("technique") or "PEIS",
                  active_mass_g=kwargs.get("active_mass_g"), area_cm2=kwargs.get("area_cm2"),
                  frequency_source="the session's Frequency array")


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


def _curves_table(curves: list[tuple[np.ndarray, np.ndarray, str]], src: str, file_format: str,
                  header: dict[str, Any], where: str, found_technique: str | None,
                  **kwargs: Any) -> EchemData:
    """The PSTrace exports' curves (no time, no scan rate) as one table, one cycle each."""
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
    inferred = None
    if not (kwargs.get("technique") or found_technique):
        inferred = sweep_technique([e[np.isfinite(e) & np.isfinite(i)] for e, i, _ in curves])
    md = Metadata(source=src, instrument="PalmSens PSTrace", file_format=file_format,
                  technique=kwargs.get("technique") or found_technique or (
                      inferred[0] if inferred else None),
                  header={**header, "tables": counts, "time_is_index": True})
    if inferred:
        md = md.with_note(f"technique {inferred[0]} inferred from the data (the export names "
                          f"none): {inferred[1]}")
    md = md.with_warning(
        "the PSTrace export holds no time and no scan rate: Test Time / s is the "
        "point index (1 s per point), kept only to order the rows; give the scan rates "
        "(e.g. --scan-rates) for any rate analysis, or read the .pssession instead")
    md = md.with_note(f"{len(curves)} curve(s) of {where} joined in column order; "
                      "Cycle Count / 1 numbers them")
    if gaps:
        md = md.with_warning(f"{gaps} row(s) with an empty potential or current cell left "
                             "out")
    return finish(pd.concat(blocks, ignore_index=True), md,
                  active_mass_g=kwargs.get("active_mass_g"), area_cm2=kwargs.get("area_cm2"))


#: share of a curve's potential steps within 10 % of its median step for a linear sweep
_SWEEP_UNIFORM_SHARE = 0.95


def sweep_technique(potentials: list[np.ndarray]) -> tuple[str, str] | None:
    """("CV" or "LSV", why) when every curve is a potential sweep, else None.

    A PSTrace export stores E and I per point and no technique. A sweep's potential moves
    by the same step at every point (the set E step; the current is the free response):
    at least 95 % of a curve's nonzero steps lie within 10 % of their median. A curve
    whose direction reverses is a cyclic voltammogram; one that never does, a linear
    sweep. A chronoamperometry (E constant) or a galvanostatic curve (E free) fails the
    test, and the technique stays unnamed.
    """
    steps, reversals = [], 0
    for e in potentials:
        d = np.diff(e)
        d = d[d != 0]
        if d.size < 10:
            return None
        med = float(np.median(np.abs(d)))
        if not np.mean(np.abs(np.abs(d) - med) <= 0.1 * med) >= _SWEEP_UNIFORM_SHARE:
            return None
        steps.append(med)
        reversals += int(np.count_nonzero(np.sign(d[1:]) != np.sign(d[:-1])))
    if not steps:
        return None
    kind = "CV" if reversals else "LSV"
    return kind, (f"the potential moves by a constant step per point ({min(steps) * 1e3:.4g}"
                  f" mV) in every curve, the current is free, with {reversals} reversal(s) "
                  f"of direction over {len(steps)} curve(s)")


def read_pstrace_xlsx(path: Path, **kwargs: Any) -> EchemData:
    """Read a PSTrace Excel export (curves side by side), or hand over to the generic reader."""
    from nasurf.io.generic import excel_sheets, read_generic_xlsx

    src = str(path)
    sheets = excel_sheets(path, src)
    for name, rows in sheets.items():
        curves = pstrace_curves(rows)
        if curves is None:
            continue
        return _curves_table(curves, src, "pstrace-xlsx", {"sheet": name},
                             f"sheet '{name}'", None, **kwargs)
    return read_generic_xlsx(path, **kwargs)


# ---------------------------------------------------------------------------------------
# PSTrace CSV export: UTF-16 with a BOM; "Date and time:", "Notes:" and the notes, one
# title cell per curve ("Cyclic Voltammetry: CV I vs E Scan 1,,<next title>,"), a
# "Date and time measurement:,<ts>" pair per curve, a "V,µA" unit pair per curve, then the
# rows, curves side by side; later measurements of other kinds may follow as sections.

_CSV_TECHNIQUES = (("cyclic voltammetry", "CV"), ("linear sweep", "LSV"),
                   ("square wave", "SWV"), ("differential pulse", "DPV"))


def _csv_units_line(lines: list[str]) -> tuple[int, str] | None:
    """(index, delimiter) of the first "V,<current unit>[,V,<unit>...]" line in the head."""
    for k, ln in enumerate(lines[:40]):
        for delim in (",", ";"):
            cells = [c.strip() for c in ln.split(delim)]
            while cells and not cells[-1]:
                cells.pop()
            if len(cells) >= 2 and len(cells) % 2 == 0 and all(
                    cells[j] == "V" and cells[j + 1] in _CURRENT_EXCEL_UNITS
                    for j in range(0, len(cells), 2)):
                return k, delim
    return None


def looks_like_pstrace_csv(text: str) -> bool:
    """The export's own lines: "Date and time measurement:" above a "V,µA" unit line."""
    lines = text.lstrip("\ufeff").splitlines()
    found = _csv_units_line(lines)
    return found is not None and any(ln.startswith("Date and time measurement:")
                                     for ln in lines[:found[0]])


def _csv_number(cell: str, delim: str) -> float | None:
    c = cell.strip().lstrip("\ufeff")
    if delim == ";":   # a semicolon-separated export is written under a comma locale
        c = c.replace(",", ".")
    try:
        return float(c)
    except ValueError:
        return None


def read_pstrace_csv(path: Path, *, encoding: str | None = None, **kwargs: Any) -> EchemData:
    """Read a PSTrace CSV export (curves side by side as potential / current pairs)."""
    from nasurf.io._text import decode

    src = str(path)
    lines = decode(path.read_bytes(), encoding, source=src).lstrip("\ufeff").splitlines()
    found = _csv_units_line(lines)
    if found is None:
        raise FileFormatError("no PSTrace unit line (V,µA per curve) in the first 40 lines; "
                              "expected a PSTrace CSV export", file=src)
    at, delim = found
    units = [c.strip() for c in lines[at].split(delim)]
    n_curves = len([c for c in units if c]) // 2
    titles_line = next((lines[k] for k in range(at - 1, -1, -1)
                        if lines[k].strip() and not lines[k].startswith("Date and time")),
                       "")
    titles = [c.strip() for c in titles_line.split(delim)][0:2 * n_curves:2]
    e_cols: list[list[float]] = [[] for _ in range(n_curves)]
    i_cols: list[list[float]] = [[] for _ in range(n_curves)]
    half = 0
    end = len(lines)
    for k in range(at + 1, len(lines)):
        cells = lines[k].split(delim)
        if not any(c.strip().lstrip("\ufeff") for c in cells):
            end = k
            break
        values = [_csv_number(c, delim) if c.strip() else None for c in cells]
        if any(v is None and c.strip() for v, c in zip(values, cells, strict=True)):
            end = k          # a text line: the curves end, another section begins
            break
        for c in range(n_curves):
            e = values[2 * c] if 2 * c < len(values) else None
            i = values[2 * c + 1] if 2 * c + 1 < len(values) else None
            if e is None and i is None:
                continue            # this curve is shorter than the others
            if e is None or i is None:
                half += 1
                continue
            e_cols[c].append(e)
            i_cols[c].append(i)
    rest = [ln for ln in lines[end:] if ln.strip().lstrip("\ufeff")]
    if not any(e_cols):
        raise FileFormatError(f"PSTrace CSV export without data rows under its unit line "
                              f"(line {at + 1}); expected numbers in V,µA pairs", file=src)
    curves = [(np.asarray(e_cols[c]), np.asarray(i_cols[c]) * _CURRENT_EXCEL_UNITS[
        units[2 * c + 1]], units[2 * c + 1]) for c in range(n_curves)]
    low = titles_line.lower()
    technique = next((t for key, t in _CSV_TECHNIQUES if key in low), None)
    out = _curves_table(curves, src, "pstrace-csv",
                        {"titles": [t for t in titles if t]}, "the CSV export", technique,
                        **kwargs)
    md = out.metadata
    if half:
        md = md.with_warning(f"{half} point(s) with a potential but no current (or the "
                             "reverse) left out")
    if rest:
        md = md.with_warning(f"{len(rest)} line(s) after the curves (line {end + 1} on: "
                             f"{rest[0][:60]!r}) belong to another section and are not read")
    if delim == ";":
        md = md.with_note("semicolon-separated export with decimal commas (PSTrace under a "
                          "comma locale) read as such")
    return EchemData(out.data, md)


def looks_like_pstrace_xlsx(shared_strings: str) -> bool:
    """Cheap test on the workbook's shared strings: the 'Curve' title and a current unit."""
    return ">Curve<" in shared_strings and any(f">{u}<" in shared_strings
                                               for u in ("µA", "uA", "mA", "nA"))
