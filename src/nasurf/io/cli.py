"""``nasurf read FILE``: what nasurf makes of an instrument file (format, columns, metadata).

Registered on the top-level app through :func:`register` (module listed in
``nasurf.cli.COMMANDS``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasurf.clikit import emit_json, handle_errors


def register(app: typer.Typer) -> None:
    """Add the ``read`` and ``formats`` commands to the top-level app."""

    @app.command("read")
    @handle_errors
    def read_command(
        path: Annotated[Path, typer.Argument(
            help="Instrument file (format detected from content).")],
        technique: Annotated[str | None, typer.Option(
            "--technique", help="Expected technique, e.g. PEIS, GCPL, CV.")] = None,
        mass: Annotated[float | None, typer.Option(
            "--mass", help="Active mass in g (overrides the file's).")] = None,
        area: Annotated[float | None, typer.Option(
            "--area", help="Electrode area in cm² (overrides the file's).")] = None,
        encoding: Annotated[str | None, typer.Option(
            "--encoding", help="Text encoding (default: UTF-8, then windows-1252).")] = None,
        cycles: Annotated[str | None, typer.Option(
            "--cycles", help="Also count cycles: 'instrument' or 'sodiation_desodiation'.")
        ] = None,
        json_out: Annotated[bool, typer.Option(
            "--json", help="Print one JSON document on stdout.")] = False,
    ) -> None:
        """Read FILE and summarise it: format, rows, canonical columns, metadata, warnings."""
        import numpy as np

        from nasurf.io import read
        from nasurf.io import table as tb

        echem = read(path, technique=technique, active_mass_g=mass, area_cm2=area,
                     encoding=encoding)
        summary = echem.summary()
        if cycles:
            from nasurf.io import assign_cycles

            echem = assign_cycles(echem, cycles)  # type: ignore[arg-type]
            col = echem.data[tb.ASSIGNED_CYCLE]
            summary["cycles"] = {"mode": cycles, "count": int(col.nunique())}
        ranges = {}
        for c in tb.FLOAT_COLUMNS:
            if c in echem.data.columns and len(echem.data):
                v = echem.data[c].to_numpy()
                v = v[np.isfinite(v)]
                if v.size:
                    ranges[c] = [float(v.min()), float(v.max())]
        summary["ranges"] = ranges
        if json_out:
            emit_json(summary)
            return
        from rich.console import Console
        from rich.table import Table

        out = Console()
        t = Table(title=f"{path.name}: {summary['file_format']} ({summary['instrument']})")
        t.add_column("field")
        t.add_column("value")
        for key in ("technique", "rows", "is_time_series", "is_impedance", "active_mass_g",
                    "electrode_area_cm2", "scan_rate_V_s"):
            t.add_row(key, str(summary[key]))
        if summary.get("scan_rates_V_s"):   # every rate of a multi-rate CV file
            t.add_row("scan_rates_V_s", ", ".join(f"{r:g}" for r in summary["scan_rates_V_s"]))
        if cycles:
            t.add_row(f"cycles ({cycles})", str(summary["cycles"]["count"]))
        for c, (lo, hi) in ranges.items():
            t.add_row(c, f"{lo:.6g} .. {hi:.6g}")
        out.print(t)
        from nasurf.clikit import stderr

        for w in summary["warnings"]:
            stderr.print(f"[yellow]warning:[/] {w}", highlight=False)
        for n in summary["notes"]:
            stderr.print(f"note: {n}", highlight=False)

    @app.command("formats")
    @handle_errors
    def formats_command(json_out: Annotated[bool, typer.Option(
            "--json", help="Print one JSON document on stdout.")] = False) -> None:
        """List the file formats nasurf reads."""
        from nasurf.io.registry import SPECS, formats

        if json_out:
            emit_json(formats())
            return
        from rich.console import Console
        from rich.table import Table

        t = Table(title="formats read by nasurf.io.read (recognised by content; usual "
                        "file endings for orientation)")
        t.add_column("format")
        t.add_column("what")
        t.add_column("files")
        for spec in SPECS:
            t.add_row(spec.name, spec.description, " ".join(spec.extensions))
        Console().print(t)
