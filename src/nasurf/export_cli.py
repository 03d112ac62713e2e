"""``nasurf export FILE OUT``: the canonical table of any instrument file as BDF CSV or
Parquet (by OUT's suffix), for tools that do not read the instrument's own format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasurf.clikit import handle_errors, stderr
from nasurf.errors import ValidationError


def register(app: typer.Typer) -> None:
    """Add the top-level ``export`` command."""

    @app.command("export")
    @handle_errors
    def export(
        file: Annotated[Path, typer.Argument(help="Instrument file (any format nasurf "
                                                  "reads).", show_default=False)],
        out: Annotated[Path, typer.Argument(help="Output: *.csv (BDF CSV) or *.parquet.",
                                            show_default=False)],
        all_columns: Annotated[bool, typer.Option(
            "--all-columns", help="Also the instrument's own extra columns.")] = False,
        force: Annotated[bool, typer.Option("--force", help="Overwrite OUT.")] = False,
    ) -> None:
        """Write FILE's canonical table (BDF 'Name / unit' columns, SI) to OUT."""
        from nasurf.exports import to_bdf_csv, to_parquet
        from nasurf.io import read

        if not file.exists():
            raise ValidationError("no such file", file=str(file))
        suffix = out.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise ValidationError(f"unknown export format '{out.suffix}'; expected .csv "
                                  "(BDF CSV) or .parquet", file=str(out))
        data = read(file)
        writer = to_parquet if suffix == ".parquet" else to_bdf_csv
        path = writer(data, out, extra_columns=all_columns, force=force)
        stderr.print(f"wrote {len(data.data)} rows to {path}", highlight=False)
