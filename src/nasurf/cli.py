"""The ``nasurf`` command: a thin typer front end over the Python API.

Each capability contributes its own sub-command group from its subpackage's ``cli``
module; this module only assembles them and hosts the top-level commands.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="nasurf",
    help="Workbench for surface-engineered sodium-ion battery anodes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module, attribute, sub-command name); a group whose module is absent is skipped so that
# capabilities can land one at a time.
_GROUPS = [
    ("nasurf.knowledge.cli", "app", "kb"),
    ("nasurf.analysis.cli", "app", "analyze"),
    ("nasurf.sim.cli", "app", "simulate"),
]
# Modules that register top-level commands on ``app`` through a ``register(app)`` function.
_COMMANDS = [
    "nasurf.materials.cli",
    "nasurf.report.cli",
]

for _module, _attr, _name in _GROUPS:
    try:
        _mod = importlib.import_module(_module)
    except ModuleNotFoundError as exc:
        if exc.name != _module:
            raise
        continue
    app.add_typer(getattr(_mod, _attr), name=_name)

for _module in _COMMANDS:
    try:
        _mod = importlib.import_module(_module)
    except ModuleNotFoundError as exc:
        if exc.name != _module:
            raise
        continue
    _mod.register(app)


@app.command()
def version() -> None:
    """Print the nasurf version."""
    from nasurf import __version__

    typer.echo(__version__)


def main() -> None:
    """Entry point of the ``nasurf`` console script."""
    app()


if __name__ == "__main__":
    main()
