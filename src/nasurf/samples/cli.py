"""``nasurf analyze samples`` and ``nasurf analyze archive``: the command-line front ends.

``samples SHEET`` analyses a sample sheet (replicate statistics per group, differences
against the reference group); ``archive DIR --out OUT`` analyses a folder tree on Dask into
a Parquet data set with an incremental cache. Nothing is written unless ``--out`` is given,
and an existing output is never overwritten without ``--force``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from nasurf.clikit import JSON_OPTION, emit_json, handle_errors, rich_progress, stderr
from nasurf.errors import ValidationError

# metric -> short row label of the human table (the JSON keeps the full names)
HEADLINE = {"initial_coulombic_efficiency": "ICE", "mean_coulombic_efficiency": "mean CE",
            "retention": "retention", "first_desodiation_capacity": "Q desod, cycle 1",
            "last_desodiation_capacity": "Q desod, last", "rate_capacity": "Q desod",
            "rate_recovery": "rate recovery", "eis_R_s": "R_s", "eis_R_ct": "R_ct",
            "capacitive_fraction": "capacitive", "dunn_k1": "Dunn k1",
            "gitt_log10_D_median": "log10 D (GITT)"}


def _fmt(x: Any, unit: str | None = None, *, points: bool = False) -> str:
    """A value for the table; fractions as % (differences of fractions in percentage
    points, ``pp``, which is what a difference of two percentages is)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if unit == "1":
        return f"{100 * x:.2f} {'pp' if points else '%'}"
    return f"{x:.4g}"


def _print_study(res) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    g = res.groups
    g = g[g["metric"].isin(HEADLINE)]
    table = Table(title=f"Study {res.sheet.path.name}: group mean ± SD [95 % CI] (n)",
                  title_justify="left")
    for col in ("metric", "at", *res.sheet.groups):
        table.add_column(col, justify="left" if col in ("metric", "at") else "right",
                         no_wrap=col in ("metric", "at"))
    keys = list(dict.fromkeys(zip(g["metric"], g["key"], strict=True)))
    for metric, key in keys:
        sel = g[(g["metric"] == metric) & ((g["key"].isna()) if key is None else
                                           (g["key"] == key))]
        unit = sel["unit"].iloc[0]
        cells = []
        for grp in res.sheet.groups:
            r = sel[sel["group"] == grp]
            if r.empty:
                cells.append("-")
                continue
            r = r.iloc[0]
            cells.append(f"{_fmt(r['mean'], unit)} ± {_fmt(r['sd'], unit)} "
                         f"[{_fmt(r['ci95_low'], unit)}, {_fmt(r['ci95_high'], unit)}] "
                         f"({r['n']})")
        at = "" if key is None else f"{key:g} {sel['key_unit'].iloc[0]}"
        table.add_row(f"{HEADLINE[metric]} ({'%' if unit == '1' else unit})", at, *cells)
    con.print(table)
    d = res.differences
    d = d[d["metric"].isin(HEADLINE)]
    if len(d):
        t2 = Table(title=f"Differences vs {res.reference_group} (Welch 95 % CI)",
                   title_justify="left")
        for col in ("group", "metric", "at", "difference", "95 % CI"):
            t2.add_column(col, justify="left" if col in ("group", "metric", "at") else "right",
                          no_wrap=col in ("metric", "at"))
        for _, r in d.iterrows():
            at = "" if r["key"] is None else f"{r['key']:g} {r['key_unit']}"
            unit = "pp" if r["unit"] == "1" else r["unit"]
            t2.add_row(r["group"], f"{HEADLINE[r['metric']]} ({unit})",
                       at, _fmt(r["difference"], r["unit"], points=True),
                       f"[{_fmt(r['ci95_low'], r['unit'], points=True)}, "
                       f"{_fmt(r['ci95_high'], r['unit'], points=True)}]")
        con.print(t2)
    for f in res.failures:
        stderr.print(f"[red]failed[/] {f['sample']}: {f['error']}", highlight=False)
    for w in res.warnings:
        stderr.print(f"[yellow]warning[/] {w}", highlight=False)


def check_out_dir(out: Path, force: bool) -> Path:
    """An output folder that is new or empty, or ``force``; never silently overwritten."""
    if out.exists():
        if not out.is_dir():
            raise ValidationError("exists and is not a folder", file=str(out))
        if any(out.iterdir()) and not force:
            raise ValidationError("output folder is not empty; pass --force to overwrite",
                                  file=str(out))
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_study(res, out: Path, *, force: bool = False, figures: bool = True,
                profile_cycles: list[int] | None = None) -> list[Path]:
    """Tables (CSV + XLSX with units row), ``study.json`` and the study figures."""
    from nasurf.exports import write_summary
    from nasurf.jsonio import write_json

    written = []
    for name, df in (("metrics", res.metrics), ("groups", res.groups),
                     ("differences", res.differences)):
        for ext in ("csv", "xlsx"):
            written.append(write_summary(df, out / f"{name}.{ext}", force=force,
                                         units={"value": "see unit column",
                                                "mean": "see unit column"}))
    p = out / "study.json"
    if p.exists() and not force:
        raise ValidationError("exists; pass --force to overwrite", file=str(p))
    write_json(p, res.to_dict(), indent=1)
    written.append(p)
    if figures:
        from nasurf.figures.study import study_figures

        written.extend(study_figures(res, out / "figures", profile_cycles=profile_cycles))
    return written


def register(app: typer.Typer) -> None:
    """Add ``samples`` and ``archive`` to the ``analyze`` group."""

    @app.command("samples")
    @handle_errors
    def samples(
        sheet: Annotated[Path, typer.Argument(help="Sample sheet (.csv, .toml, .yaml).",
                                              show_default=False)],
        out: Annotated[Path | None, typer.Option(
            "--out", help="Write tables (CSV, XLSX), study.json and figures here.")] = None,
        reference_group: Annotated[str | None, typer.Option(
            "--reference-group", help="Group subtracted in the differences (default: the "
            "sheet's first group).")] = None,
        scheduler: Annotated[str | None, typer.Option(
            "--scheduler", help="'local' (Dask LocalCluster) or a scheduler address; "
            "default: this process.")] = None,
        workers: Annotated[int, typer.Option("--workers", help="Workers of a local "
                                                                "cluster.")] = 2,
        figures: Annotated[bool, typer.Option("--figures/--no-figures",
                                              help="Draw the study figures with --out.")
                           ] = True,
        profile_cycles: Annotated[str | None, typer.Option(
            "--profile-cycles", help="Cycles of the voltage-profile figure, e.g. '1,2,50' "
            "(default: 1, 2 and the last complete cycle).")] = None,
        force: Annotated[bool, typer.Option("--force", help="Overwrite files in --out.")
                         ] = False,
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Analyse every file of a sample sheet; group statistics and differences.

        Exit status 0 when every file was analysed, 1 when some failed (listed).
        """
        from nasurf.samples import analyze_samples, read_sample_sheet

        cycles = None
        if profile_cycles:
            try:
                cycles = [int(c) for c in profile_cycles.split(",") if c.strip()]
            except ValueError:
                raise ValidationError(f"expected cycle numbers like '1,2,50', got "
                                      f"'{profile_cycles}'", field="--profile-cycles") from None
        sh = read_sample_sheet(sheet)
        if out is not None:
            check_out_dir(out, force)
        with rich_progress(not json_out) as on_progress:
            res = analyze_samples(sh, scheduler=scheduler, n_workers=workers,
                                  reference_group=reference_group, on_progress=on_progress)
        if out is not None:
            from nasurf.outputs import staged

            # built in a staging folder, moved into place whole (a kill leaves no half set)
            with staged(out, force=force, inputs=[sheet]) as tmp:
                written = write_study(res, tmp, force=True, figures=figures,
                                      profile_cycles=cycles)
            stderr.print(f"wrote {len(written)} file(s) to {out}")
        if json_out:
            emit_json(res.to_dict())
        else:
            _print_study(res)
        if res.failures:
            raise typer.Exit(code=1)

    @app.command("archive")
    @handle_errors
    def archive(
        folder: Annotated[Path, typer.Argument(help="Root of the folder tree.",
                                               show_default=False)],
        out: Annotated[Path, typer.Option(
            "--out", help="Output folder (Parquet data set + cache); required.",
            show_default=False)],
        scheduler: Annotated[str, typer.Option(
            "--scheduler", help="'local' (a LocalCluster), 'serial' (this process), or the "
            "address of a running Dask scheduler (tcp://host:8786).")] = "local",
        workers: Annotated[int, typer.Option("--workers", help="Workers of a local "
                                                                "cluster.")] = 2,
        pattern: Annotated[str, typer.Option("--pattern", help="Glob of files.")] = "*",
        rebuild: Annotated[bool, typer.Option("--rebuild", help="Ignore the cache.")] = False,
        retry_failed: Annotated[bool, typer.Option(
            "--retry-failed", help="Re-analyse files that failed last time.")] = False,
        force: Annotated[bool, typer.Option(
            "--force", help="Write into a folder that holds other files.")] = False,
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Analyse a lab's folder tree on Dask into Parquet (files, cycles).

        Re-runs are incremental: unchanged files are taken from the cache. A failed file
        is listed and never stops the others. Exit status 1 if any file failed.
        """
        from nasurf.archive import analyze_archive

        if workers < 1:
            raise ValidationError(f"--workers must be >= 1, got {workers}", field="--workers")
        with rich_progress(not json_out) as on_progress:
            res = analyze_archive(folder, out, scheduler=None if scheduler == "serial"
                                  else scheduler, n_workers=workers, pattern=pattern,
                                  force=force, rebuild=rebuild, retry_failed=retry_failed,
                                  on_progress=on_progress)
        if json_out:
            emit_json(res.to_dict())
        else:
            stderr.print(f"{res.n_files} file(s): {res.n_analysed} analysed, "
                         f"{res.n_cached + res.n_rehashed} from the cache, {res.n_failed} "
                         f"failed, in {res.elapsed_s:.2f} s -> {res.files_path}, "
                         f"{res.cycles_path}", highlight=False)
            for f in res.failures:
                stderr.print(f"[red]failed[/] {f['file']}: {f['error']}", highlight=False)
        if res.failures:
            raise typer.Exit(code=1)
