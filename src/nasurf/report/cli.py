"""Top-level ``nasurf demo``: write the self-contained HTML overview and print its path."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasurf.clikit import FORCE_OPTION, JSON_OPTION, emit_json, guard_output, handle_errors, stderr


@handle_errors
@guard_output("out", kind="folder", inputs=("db",), default="demo")
def demo_command(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (index.html "
                                             "is written inside; default: 'demo' in the user "
                                             "data directory, or $NASURF_DATA_DIR).")] = None,
    db: Annotated[Path | None, typer.Option("--db", help="Show this knowledge-base database "
                                            "(default: a fresh temporary one built from the "
                                            "packaged data; your database is not touched).")]
    = None,
    force: bool = FORCE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Write the HTML overview (strategy summary, rate and cycling maps, findings)."""
    from nasurf.report.demo import write_demo

    result = write_demo(out, db=db)
    for name in result.failed_sections:
        stderr.print(f"warning: section {name} failed; see the page", markup=False)
    if json_output:
        emit_json(result)
    else:
        typer.echo(str(result.path))


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to the top-level app."""
    app.command("demo")(demo_command)
