"""What ``nasurf analyze cycling`` and ``nasurf analyze batch`` do, as library functions.

:func:`analyze_cycling_file` reads one file and summarises it (a time series through
:func:`~nasurf.analysis.cycling.cycling_summary`, a Gamry per-half-cycle capacity table
through :func:`~nasurf.analysis.cycling.capacity_table_summary`);
:func:`write_cycling_outputs` writes its tables and figures; :func:`summarise_file`,
:func:`summarise_files` and :func:`summarise_folder` classify and summarise many files
(cycling metrics only for cycling data), in worker processes when asked. The command line
calls these and only formats what they return.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasurf.analysis.cycling._shared import CAPACITY_SOURCES, CYCLE_MODES, ELECTRODE_ROLES
from nasurf.analysis.cycling.results import CyclingResult
from nasurf.errors import NasurfError, ValidationError
from nasurf.io.table import EchemData
from nasurf.options import choose

#: columns of a batch row (:func:`summarise_file`), in table order
SUMMARY_COLUMNS = [
    "file", "status", "format", "technique", "rows", "cycles", "capacity_unit",
    "initial_coulombic_efficiency", "first_desodiation", "last_desodiation",
    "mean_coulombic_efficiency", "retention", "retention_reference", "rate_steps",
    "warnings", "error", "technique_class", "summary", "electrode", "flags",
]


def read_for_cycling(path: str | os.PathLike[str], *, active_mass_g: float | None = None,
                     area_cm2: float | None = None) -> EchemData:
    """Read a measurement with :func:`nasurf.io.read` (a missing file is reported as such)."""
    from nasurf.io import read

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    return read(path, active_mass_g=active_mass_g, area_cm2=area_cm2)


def _is_capacity_table(path: Path) -> bool:
    from nasurf.io.gamry import is_capacity_curve

    return path.suffix.upper() == ".DTA" and is_capacity_curve(path)


@dataclass(frozen=True)
class CyclingFile:
    """One file's cycling summary with what the reader said about the file.

    ``data`` is None for a per-half-cycle capacity table (no time series to plot).
    """

    path: Path
    result: CyclingResult
    data: EchemData | None
    file_format: str | None
    technique: str | None
    reader_warnings: tuple[str, ...] = ()
    reader_notes: tuple[str, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """The reader's warnings, then the analysis'."""
        return (*self.reader_warnings, *self.result.all_warnings)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``nasurf analyze cycling --json`` (without ``written``)."""
        doc = {"file": str(self.path), "format": self.file_format,
               "technique": self.technique, **self.result.to_dict()}
        if self.data is not None:
            doc["reader_warnings"] = list(self.reader_warnings)
            doc["reader_notes"] = list(self.reader_notes)
        return doc


def analyze_cycling_file(
    path: str | os.PathLike[str],
    *,
    active_mass_g: float | None = None,
    area_cm2: float | None = None,
    reference: str = "after_formation",
    formation_cycles: int | None = None,
    cycle_mode: str = "sodiation_desodiation",
    basis_mAh_g: float | None = None,
    include_cv_steps: bool = True,
    capacity_source: str = "current",
    electrode: str = "auto",
    theoretical_capacity_mAh_g: float | None = None,
) -> CyclingFile:
    """Read ``path`` and summarise its galvanostatic cycling (see
    :func:`~nasurf.analysis.cycling.cycling_summary` for the options). A Gamry
    ``CAPACITYCURVE`` summary (one row per half cycle, no time series) is summarised from
    its own charges. A file that is not a time series is refused with one line."""
    from nasurf.analysis.cycling.capacity_table import capacity_table_summary
    from nasurf.analysis.cycling.summary import cycling_summary

    path = Path(path)
    where = str(path)
    if path.exists() and _is_capacity_table(path):
        from nasurf.io.gamry import read_capacity_curve

        curve = read_capacity_curve(path)
        result = capacity_table_summary(curve, active_mass_g=active_mass_g)
        return CyclingFile(path, result, None, "gamry-dta-capacitycurve", curve.technique)
    data = read_for_cycling(path, active_mass_g=active_mass_g, area_cm2=area_cm2)
    if not data.is_time_series:
        raise ValidationError(
            f"not a time series (technique {data.metadata.technique or 'unknown'}); "
            "galvanostatic analysis needs time, voltage and current", file=str(path))
    result = cycling_summary(
        data, active_mass_g=active_mass_g, area_cm2=area_cm2, reference=reference,
        formation_cycles=formation_cycles,
        cycle_mode=choose("cycle_mode", cycle_mode, CYCLE_MODES, where=where),
        basis_mAh_g=basis_mAh_g, include_cv_steps=include_cv_steps,
        capacity_source=choose("capacity_source", capacity_source, CAPACITY_SOURCES,
                               where=where),
        electrode=choose("electrode", electrode, ELECTRODE_ROLES, where=where),
        theoretical_capacity_mAh_g=theoretical_capacity_mAh_g)
    md = data.metadata
    return CyclingFile(path, result, data, md.file_format, md.technique,
                       tuple(md.warnings), tuple(md.notes))


def write_cycling_outputs(data: EchemData, result: CyclingResult, out: Path, *,
                          potential_vs: str | None = None) -> tuple[list[Path], list[str]]:
    """CSV tables, summary.json, dQ/dV table and figures into ``out``; returns the files
    written and notes on what was skipped (e.g. dQ/dV of a file without usable half
    cycles).

    ``potential_vs`` labels the potential axes (e.g. ``"Li+/Li"``); by default the file's
    ``Metadata.electrode_reference``, else the Na half-cell convention.
    """
    from nasurf.analysis import plots_cycling as pc
    from nasurf.analysis.cycling.profiles import voltage_profiles
    from nasurf.analysis.differential_capacity import dqdv

    notes: list[str] = []
    written = result.to_csv(out)
    mass = result.active_mass_g
    role = result.extra.get("electrode", "auto")
    prof = voltage_profiles(data, active_mass_g=mass, electrode=role,
                            cycles=pc._default_cycles(sorted(result.cycles["cycle"])))
    reference = potential_vs or data.metadata.electrode_reference
    figs = {"voltage_profiles": pc.voltage_profile_figure(prof, reference=reference),
            "capacity_ce": pc.capacity_ce_figure(result)}
    if result.rate.detected:
        figs["rate_capability"] = pc.rate_capability_figure(result)
    try:
        dq = dqdv(data, active_mass_g=mass, electrode=role,
                  cycles=pc._default_cycles(sorted(result.cycles["cycle"])))
    except ValidationError as exc:
        notes.append(f"dQ/dV skipped: {exc}")
    else:
        path = out / "dqdv.csv"
        dq.table.to_csv(path, index=False)
        written.append(path)
        if len(dq.table):
            figs["dqdv"] = pc.dqdv_figure(dq, reference=reference)
    written += pc.save_figures(figs, out)
    return written, notes


# --------------------------------------------------------------------------- many files
def summarise_file(path: str | os.PathLike[str], active_mass_g: float | None = None,
                   area_cm2: float | None = None, reference: str = "after_formation",
                   cycle_mode: str = "sodiation_desodiation") -> dict[str, Any]:
    """One batch row (:data:`SUMMARY_COLUMNS`): the file's technique class first
    (:func:`nasurf.io.steps.classify_technique`), cycling metrics only for cycling data,
    a short summary of its own for any other technique. Never raises: an error becomes
    the ``error`` field with status ``failed``."""
    path = str(path)
    row: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS)
    row["file"] = path
    try:
        if _is_capacity_table(Path(path)):
            cf = analyze_cycling_file(path, active_mass_g=active_mass_g)
            row.update(format=cf.file_format, technique=cf.technique,
                       rows=len(cf.result.half_cycles), technique_class="cycling")
            return _result_row(row, cf.result, ())
        from nasurf.analysis.cycling.summary import cycling_summary
        from nasurf.io.steps import classify_technique, find_steps

        data = read_for_cycling(Path(path), active_mass_g=active_mass_g, area_cm2=area_cm2)
        md = data.metadata
        row.update(format=md.file_format, technique=md.technique, rows=len(data.data))
        steps = find_steps(data) if data.is_time_series and len(data.data) else None
        klass, why = classify_technique(data, steps)
        row.update(technique_class=klass)
        if klass != "cycling":
            row.update(status="not cycling", summary=_other_summary(data, steps, klass, why),
                       warnings="; ".join(md.warnings))
            return row
        res = cycling_summary(data, active_mass_g=active_mass_g, area_cm2=area_cm2,
                              reference=reference, cycle_mode=choose(
                                  "cycle_mode", cycle_mode, CYCLE_MODES, where=str(path)))
    except NasurfError as exc:
        row.update(status="failed", error=str(exc))
        return row
    except FileNotFoundError as exc:
        row.update(status="failed", error=f"no such file: {exc.filename}")
        return row
    except Exception as exc:  # a reader bug must not stop the batch; report it
        row.update(status="failed", error=f"{exc.__class__.__name__}: {exc}")
        return row
    return _result_row(row, res, md.warnings)


def _result_row(row: dict[str, Any], res: CyclingResult, reader_warnings: Any
                ) -> dict[str, Any]:
    """The batch row of one cycling summary."""
    spec = res.capacity_unit == "mAh/g"
    des = res.cycles[res.cycles["cycle"] >= 1]["desodiation_mAh_g" if spec else "desodiation_mAh"]
    des = des.dropna()
    row.update(
        status="flagged" if res.flags else "ok",
        cycles=int((res.cycles["cycle"] >= 1).sum()),
        electrode=res.extra.get("electrode"),
        flags="; ".join(f"{f['flag']}" + (f" (cycle {f['cycle']})" if f.get("cycle")
                                          is not None else "") for f in res.flags),
        summary=res.conventions.get("electrode_role"),
        capacity_unit=res.capacity_unit,
        initial_coulombic_efficiency=res.initial_coulombic_efficiency,
        first_desodiation=float(des.iloc[0]) if len(des) else None,
        last_desodiation=float(des.iloc[-1]) if len(des) else None,
        mean_coulombic_efficiency=res.mean_ce, retention=res.retention.final,
        retention_reference=res.retention.convention,
        rate_steps=len(res.rate_steps) if res.rate.detected else 0,
        warnings="; ".join((*reader_warnings, *res.all_warnings)),
    )
    return row


def _other_summary(data: Any, steps: Any, klass: str, why: str) -> str:
    """One line on a file that is not cycling data: what it holds, in its own terms."""
    df = data.data
    parts = [why]
    if klass == "eis":
        from nasurf.io.table import FREQUENCY

        if FREQUENCY in df.columns:
            f = df[FREQUENCY].to_numpy(dtype=float)
            f = f[f > 0]
            if f.size:
                parts.append(f"{f.size} points, {f.min():.3g}-{f.max():.3g} Hz")
    elif steps is not None:
        tab = steps.columns
        if klass == "cv":
            from nasurf.io.table import VOLTAGE

            v = df[VOLTAGE].to_numpy(dtype=float)
            parts.append(f"{v.min():.3g}-{v.max():.3g} V")
            rates = tab["set_point"][tab["kind"] == "sweep"]
            if rates.size:
                parts.append(f"|dV/dt| {np.nanmedian(np.abs(rates)) * 1e3:.3g} mV/s")
        elif klass == "ca":
            holds = tab["kind"] == "constant_voltage"
            levels = ", ".join(f"{x:.3g}" for x in tab["set_point"][holds][:5])
            parts.append(f"holds at {levels} V, "
                         f"{tab['charge_Ah'][holds].sum() * 1e3:.4g} mAh")
        elif klass == "gitt":
            pulses = tab["kind"] == "pulse"
            parts.append(f"pulse {np.median(tab['duration_s'][pulses]):.4g} s at "
                         f"{np.median(np.abs(tab['set_point'][pulses])) * 1e3:.3g} mA")
        elif klass == "hppc":
            pulses = tab["kind"] == "hppc_pulse"
            parts.append(f"{int(pulses.sum())} pulses of "
                         f"{np.median(np.abs(tab['set_point'][pulses])) * 1e3:.3g} mA")
        elif klass == "galvanostatic_one_direction":
            cc = tab["kind"] == "constant_current"
            parts.append(f"{tab['charge_Ah'][cc].sum() * 1e3:.4g} mAh passed")
    return "; ".join(parts)


def summarise_files(files: Iterable[str | os.PathLike[str]], *,
                    active_mass_g: float | None = None, area_cm2: float | None = None,
                    reference: str = "after_formation",
                    cycle_mode: str = "sodiation_desodiation", workers: int = 1,
                    on_done: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """:func:`summarise_file` of each file, in ``workers`` processes (1 = in this one);
    rows in the order of ``files``. ``on_done(file)`` is called as each file finishes (a
    progress bar). A worker that dies is a ``failed`` row, never a lost file."""
    from nasurf.analysis.cycling.retention import parse_reference

    parse_reference(reference)          # refuse a bad option before starting workers
    if workers < 1:
        raise ValidationError(f"workers must be >= 1, got {workers}", field="workers")
    names = [str(f) for f in files]
    rows: dict[str, dict[str, Any]] = {}
    args = (active_mass_g, area_cm2, reference, cycle_mode)
    if workers <= 1 or len(names) <= 1:
        for f in names:
            rows[f] = summarise_file(f, *args)
            if on_done is not None:
                on_done(f)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(summarise_file, f, *args): f for f in names}
            for fut in as_completed(futures):
                f = futures[fut]
                try:
                    rows[f] = fut.result()
                except Exception as exc:  # a worker that died (e.g. out of memory)
                    row = dict.fromkeys(SUMMARY_COLUMNS)
                    row.update(file=f, status="failed",
                               error=f"worker failed: {exc.__class__.__name__}: {exc}")
                    rows[f] = row
                if on_done is not None:
                    on_done(f)
    return [rows[f] for f in names]


def list_files(folder: str | os.PathLike[str], pattern: str = "*",
               recursive: bool = False) -> list[Path]:
    """The data files of ``folder`` matching ``pattern`` (companion files and hidden files
    left out), sorted."""
    from nasurf.companions import is_companion

    folder = Path(folder)
    if not folder.is_dir():
        raise ValidationError("not a folder", file=str(folder))
    found = folder.rglob(pattern) if recursive else folder.glob(pattern)
    return sorted(p for p in found if p.is_file() and not p.name.startswith(".")
                  and not is_companion(p))


def summarise_folder(folder: str | os.PathLike[str], *, pattern: str = "*",
                     recursive: bool = False, **kwargs: Any) -> list[dict[str, Any]]:
    """:func:`summarise_files` of the files :func:`list_files` finds in ``folder``."""
    files = list_files(folder, pattern, recursive)
    if not files:
        raise ValidationError(f"no files match '{pattern}'", file=str(folder))
    return summarise_files(files, **kwargs)
