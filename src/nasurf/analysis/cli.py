"""``nasurf analyze``: command-line front end of :mod:`nasurf.analysis`.

Each analysis registers its command from its own module (``register(app)``), so the
modules can be developed independently; this file only assembles them. The console script
asks :func:`build_app` for the one sub-command it runs, so ``nasurf analyze cycling``
imports neither the CV, EIS nor the sample-study code; ``app`` (every sub-command, for
``nasurf analyze --help`` and tests) is built on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer

HELP = "Analyse cycler and potentiostat files."

#: module -> the sub-commands its ``register(app)`` adds, in ``--help`` order
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "nasurf.analysis.cli_cycling": ("cycling",),
    "nasurf.analysis.cli_cv": ("cv",),
    "nasurf.analysis.cli_gitt": ("gitt",),
    "nasurf.analysis.cli_eis": ("eis",),
    "nasurf.analysis.cli_batch": ("batch",),
    "nasurf.samples.cli": ("samples", "archive"),
}


def build_app(subcommand: str | None = None) -> typer.Typer:
    """The ``analyze`` group; with ``subcommand`` known, only its module is imported."""
    group = typer.Typer(help=HELP, no_args_is_help=True)
    owners = [m for m, cmds in COMMAND_MODULES.items() if subcommand in cmds]
    for module in owners or COMMAND_MODULES:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.register(group)
    return group


def __getattr__(name: str) -> Any:
    if name == "app":
        globals()["app"] = built = build_app()
        return built
    raise AttributeError(name)
