"""``nasurf analyze batch``: galvanostatic summary of every file in a folder.

Each file's technique is classified first (:func:`nasurf.io.steps.classify_technique`):
only cycling files get cycling metrics (ICE, CE, retention, status ``ok``, or
``flagged`` when a plausibility flag was raised); CV, CA, EIS, GITT, OCV and one-direction
galvanostatic files are listed with status ``not cycling``, their class and a short
summary of their own, never with an ICE.

The work is :func:`nasurf.analysis.cycling.summarise_files` (a library function); this
module adds the options, a progress bar and the table. Files are read and analysed in
parallel worker processes; a rich progress bar goes to
stderr, one summary table to stdout (or one JSON document with ``--json``). A file that
cannot be read or analysed is listed with its error message and does not stop the run.
Exit status: 0 when at least one file was analysed, 1 when none was.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nasurf.analysis.cycling.workflows import SUMMARY_COLUMNS, list_files, summarise_files
from nasurf.clikit import FORCE_OPTION, JSON_OPTION, emit_json, guard_output, handle_errors, stderr
from nasurf.errors import ValidationError
from nasurf.outputs import atomic_path

DEFAULT_WORKERS = min(os.cpu_count() or 1, 4)


def run_batch(files: list[Path], *, active_mass_g: float | None, area_cm2: float | None,
              reference: str, cycle_mode: str, workers: int,
              show_progress: bool = True) -> list[dict[str, Any]]:
    """Deprecated: :func:`nasurf.analysis.cycling.summarise_files` (``nasurf.sim.run_batch``
    runs simulations: one name meant two things)."""
    warnings.warn("nasurf.analysis.cli_batch.run_batch is replaced by "
                  "nasurf.analysis.cycling.summarise_files", DeprecationWarning, stacklevel=2)
    return _summarise_with_progress(files, active_mass_g=active_mass_g, area_cm2=area_cm2,
                                    reference=reference, cycle_mode=cycle_mode,
                                    workers=workers, show_progress=show_progress)


def _summarise_with_progress(files: list[Path], *, show_progress: bool = True,
                             **kwargs: Any) -> list[dict[str, Any]]:
    """:func:`summarise_files` with a progress bar on stderr."""
    progress = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=stderr,
                        disable=not show_progress, transient=True)
    with progress:
        task = progress.add_task("analysing", total=len(files))
        return summarise_files(files, on_done=lambda _f: progress.advance(task), **kwargs)


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
        from nasurf.analysis.cycling import parse_reference

        parse_reference(reference)          # refuse a bad option before starting workers
        mass = _mass_g(mass_mg)
        if workers < 1:
            raise ValidationError(f"--workers must be >= 1, got {workers}", field="--workers")
        files = list_files(folder, pattern, recursive)
        if not files:
            raise ValidationError(f"no files match '{pattern}'", file=str(folder))
        rows = _summarise_with_progress(files, active_mass_g=mass, area_cm2=area_cm2,
                                        reference=reference, cycle_mode=cycle_mode,
                                        workers=workers)
        n_ok = sum(r["status"] != "failed" for r in rows)
        if out is not None:
            with atomic_path(out) as tmp:
                pd.DataFrame(rows, columns=SUMMARY_COLUMNS).to_csv(tmp, index=False)
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
