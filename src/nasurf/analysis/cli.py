"""``nasurf analyze``: command-line front end of :mod:`nasurf.analysis`.

Each analysis registers its command from its own module (``register(app)``), so the
modules can be developed independently; this file only assembles them.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(help="Analyse cycler and potentiostat files.", no_args_is_help=True)

_COMMAND_MODULES = [
    "nasurf.analysis.cli_cycling",
    "nasurf.analysis.cli_cv",
    "nasurf.analysis.cli_gitt",
    "nasurf.analysis.cli_eis",
    "nasurf.analysis.cli_batch",
    "nasurf.samples.cli",
]

for _module in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(_module)
    except ModuleNotFoundError as exc:
        if exc.name != _module:
            raise
        continue
    _mod.register(app)
