"""``nasurf analyze batch``: galvanostatic summary of every file in a folder.

Each file's technique is classified first (:func:`nasurf.io.steps.classify_technique`):
only cycling files get cycling metrics (ICE, CE, retention, status ``ok``, or
``flagged`` when a plausibility flag was raised); CV, CA, EIS, GITT, OCV and one-direction
galvanostatic files are listed with status ``not cycling``, their class and a short
summary of their own, never with an ICE.

Files are read and analysed in parallel worker processes; a rich progress bar goes to
stderr, one summary table to stdout (or one JSON document with ``--json``). A file that
cannot be read or analysed is listed with its error message and does not stop the run.
Exit status: 0 when at least one file was analysed, 1 when none was.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nasurf.clikit import FORCE_OPTION, JSON_OPTION, emit_json, guard_output, handle_errors, stderr
from nasurf.companions import is_companion
from nasurf.errors import NasurfError, ValidationError

DEFAULT_WORKERS = min(os.cpu_count() or 1, 4)
SUMMARY_COLUMNS = [
    "file", "status", "format", "technique", "rows", "cycles", "capacity_unit",
    "initial_coulombic_efficiency", "first_desodiation", "last_desodiation",
    "mean_coulombic_efficiency", "retention", "retention_reference", "rate_steps",
    "warnings", "error", "technique_class", "summary", "electrode", "flags",
]


def analyse_file(path: str, active_mass_g: float | None, area_cm2: float | None,
                 reference: str, cycle_mode: str) -> dict[str, Any]:
    """Read and summarise one file; never raises (errors become the ``error`` field)."""
    from nasurf.analysis.cli_cycling import read_for_cycling
    from nasurf.analysis.galvanostatic import cycling_summary

    row: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS)
    row["file"] = path
    try:
        from nasurf.io.gamry import is_capacity_curve

        if Path(path).suffix.upper() == ".DTA" and is_capacity_curve(Path(path)):
            # a per-half-cycle capacity table (no time series): summarised as it is
            from nasurf.analysis.galvanostatic import capacity_table_summary
            from nasurf.io.gamry import read_capacity_curve

            curve = read_capacity_curve(Path(path))
            row.update(format="gamry-dta-capacitycurve", technique=curve.technique,
                       rows=len(curve.half_cycles), technique_class="cycling")
            res = capacity_table_summary(curve, active_mass_g=active_mass_g)
            return _result_row(row, res, ())
        data = read_for_cycling(Path(path), active_mass_g=active_mass_g, area_cm2=area_cm2)
        md = data.metadata
        row.update(format=md.file_format, technique=md.technique, rows=len(data.data))
        from nasurf.io.steps import classify_technique, find_steps

        steps = find_steps(data) if data.is_time_series and len(data.data) else None
        klass, why = classify_technique(data, steps)
        row.update(technique_class=klass)
        if klass != "cycling":
            row.update(status="not cycling", summary=_other_summary(data, steps, klass, why),
                       warnings="; ".join(md.warnings))
            return row
        res = cycling_summary(data, active_mass_g=active_mass_g, area_cm2=area_cm2,
                              reference=reference, cycle_mode=cycle_mode)  # type: ignore[arg-type]
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


def _result_row(row: dict[str, Any], res: Any, reader_warnings: Any) -> dict[str, Any]:
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


def list_files(folder: Path, pattern: str, recursive: bool) -> list[Path]:
    if not folder.is_dir():
        raise ValidationError("not a folder", file=str(folder))
    found = folder.rglob(pattern) if recursive else folder.glob(pattern)
    files = sorted(p for p in found if p.is_file() and not p.name.startswith(".")
                   and not is_companion(p))
    return files


def run_batch(files: list[Path], *, active_mass_g: float | None, area_cm2: float | None,
              reference: str, cycle_mode: str, workers: int,
              show_progress: bool = True) -> list[dict[str, Any]]:
    """Analyse ``files`` with ``workers`` processes (1 = in this process)."""
    rows: dict[str, dict[str, Any]] = {}
    args = (active_mass_g, area_cm2, reference, cycle_mode)
    progress = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=stderr,
                        disable=not show_progress, transient=True)
    with progress:
        task = progress.add_task("analysing", total=len(files))
        if workers <= 1 or len(files) <= 1:
            for f in files:
                rows[str(f)] = analyse_file(str(f), *args)
                progress.advance(task)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(analyse_file, str(f), *args): f for f in files}
                for fut in as_completed(futures):
                    f = futures[fut]
                    try:
                        rows[str(f)] = fut.result()
                    except Exception as exc:  # a worker that died (e.g. out of memory)
                        row = dict.fromkeys(SUMMARY_COLUMNS)
                        row.update(file=str(f), status="failed",
                                   error=f"worker failed: {exc.__class__.__name__}: {exc}")
                        rows[str(f)] = row
                    progress.advance(task)
    return [rows[str(f)] for f in files]


def _print_table(rows: list[dict[str, Any]], folder: Path, console: Console) -> None:
    table = Table(title=f"Batch summary: {folder}", title_justify="left")
    for col in ("file", "format", "class", "cycles", "ICE (%)", "first desod", "last desod",
                "unit", "retention (%)", "status"):
        table.add_column(col, justify="left" if col in ("file", "format", "status") else "right")

    def f(x: Any, pattern: str = "{:.4g}", scale: float = 1.0) -> str:
        return "-" if x is None or x != x else pattern.format(x * scale)

    for r in rows:
        name = os.path.relpath(r["file"], folder)
        status = {"ok": "ok", "flagged": f"[red]flagged[/] {r['flags']}",
                  "not cycling": f"not cycling: {r['summary']}"}.get(r["status"],
                                                                    "[red]failed[/]")
        table.add_row(name, str(r["format"] or "-"), str(r.get("technique_class") or "-"),
                      f(r["cycles"], "{:.0f}"),
                      f(r["initial_coulombic_efficiency"], "{:.2f}", 100),
                      f(r["first_desodiation"]), f(r["last_desodiation"]),
                      str(r["capacity_unit"] or "-"), f(r["retention"], "{:.2f}", 100),
                      status)
    console.print(table)
    failed = [r for r in rows if r["status"] == "failed"]
    for r in failed:
        console.print(f"[red]failed[/] {os.path.relpath(r['file'], folder)}: {r['error']}",
                      highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``batch`` command to the ``analyze`` group."""

    @app.command("batch")
    @handle_errors
    @guard_output("out", kind="file", inputs=("folder",))
    def batch(
        folder: Annotated[Path, typer.Argument(
            help="Folder of cycler files.", show_default=False)],
        pattern: Annotated[str, typer.Option(
            "--pattern", help="Glob pattern of files to analyse.")] = "*",
        recursive: Annotated[bool, typer.Option(
            "--recursive", help="Also search sub-folders.")] = False,
        mass_mg: Annotated[float | None, typer.Option(
            "--mass-mg", help="Active mass in mg for every file (default: from each "
            "file's metadata).")] = None,
        area_cm2: Annotated[float | None, typer.Option(
            "--area-cm2", help="Electrode area in cm² for every file.")] = None,
        reference: Annotated[str, typer.Option(
            "--reference", help="Retention reference convention.")] = "after_formation",
        cycle_mode: Annotated[str, typer.Option(
            "--cycle-mode", help="sodiation_desodiation or instrument.")
        ] = "sodiation_desodiation",
        workers: Annotated[int, typer.Option(
            "--workers", help="Worker processes (1 = no pool).")] = DEFAULT_WORKERS,
        out: Annotated[Path | None, typer.Option(
            "--out", help="Write the summary table as CSV.")] = None,
        force: bool = FORCE_OPTION,
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Summarise every file in FOLDER in parallel; failures are listed, not fatal.

        Exit status 0 when at least one file was analysed, 1 when none was.
        """
        import pandas as pd

        from nasurf.analysis.cli_cycling import _mass_g
        from nasurf.analysis.galvanostatic import parse_reference

        parse_reference(reference)          # refuse a bad option before starting workers
        mass = _mass_g(mass_mg)
        if workers < 1:
            raise ValidationError(f"--workers must be >= 1, got {workers}", field="--workers")
        files = list_files(folder, pattern, recursive)
        if not files:
            raise ValidationError(f"no files match '{pattern}'", file=str(folder))
        rows = run_batch(files, active_mass_g=mass, area_cm2=area_cm2, reference=reference,
                         cycle_mode=cycle_mode, workers=workers)
        n_ok = sum(r["status"] != "failed" for r in rows)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f".{out.name}.tmp")
            pd.DataFrame(rows, columns=SUMMARY_COLUMNS).to_csv(tmp, index=False)
            tmp.replace(out)
        if json_out:
            emit_json({"folder": str(folder), "files": len(rows), "ok": n_ok,
                       "failed": len(rows) - n_ok, "results": rows,
                       "units": {"capacity": "see capacity_unit per file",
                                 "initial_coulombic_efficiency": "1 (fraction)",
                                 "retention": "1 (fraction)"}})
        else:
            _print_table(rows, folder, Console())
            stderr.print(f"{n_ok} of {len(rows)} file(s) analysed")
        if n_ok == 0:
            raise typer.Exit(code=1)
