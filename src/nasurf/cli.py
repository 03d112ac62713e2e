"""The ``nasurf`` command: a thin typer front end over the Python API.

Each capability contributes its own sub-command group (``kb``, ``analyze``, ``simulate``)
or top-level commands (``capacity``, ``demo`` ...) from its subpackage's ``cli`` module;
this module only assembles them. The console script imports only the module that owns
the requested command, because importing every capability (scipy, matplotlib, dask ...)
would make a quick ``nasurf capacity P --sodium 3`` wait a second or more for nothing.
"""

from __future__ import annotations

import importlib
import sys

import typer

# sub-command group name -> module exposing ``app``
GROUPS: dict[str, str] = {
    "kb": "nasurf.knowledge.cli",
    "analyze": "nasurf.analysis.cli",
    "simulate": "nasurf.sim.cli",
}
# modules exposing ``register(app)`` for top-level commands, with the commands they add
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "nasurf.materials.cli": ("capacity", "volume", "crate", "molar-mass"),
    "nasurf.report.cli": ("demo",),
    "nasurf.io.cli": ("read", "formats"),
    "nasurf.export_cli": ("export",),
    "nasurf.web.cli": ("serve", "token"),
}


def _import_optional(module: str):
    """Import a capability's CLI module; None while that capability has not landed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


def build_app(command: str | None = None) -> typer.Typer:
    """Assemble the CLI; with ``command`` given, load only the module that owns it."""
    root = typer.Typer(
        name="nasurf",
        help="Workbench for surface-engineered sodium-ion battery anodes.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    owner_groups = {command: GROUPS[command]} if command in GROUPS else None
    owner_modules = [m for m, cmds in COMMAND_MODULES.items() if command in cmds]
    load_all = owner_groups is None and not owner_modules
    for name, module in (GROUPS if load_all else (owner_groups or {})).items():
        mod = _import_optional(module)
        if mod is not None:
            root.add_typer(mod.app, name=name)
    for module in COMMAND_MODULES if load_all else owner_modules:
        mod = _import_optional(module)
        if mod is not None:
            mod.register(root)

    @root.command()
    def version() -> None:
        """Print the nasurf version."""
        from nasurf import __version__

        typer.echo(__version__)

    return root


def __getattr__(name: str) -> typer.Typer:
    # ``nasurf.cli.app`` (the full CLI, e.g. for CliRunner tests) is built on first access,
    # so that importing ``main`` for the console script loads nothing else.
    if name == "app":
        return build_app()
    raise AttributeError(name)


def main() -> None:
    """Entry point of the ``nasurf`` console script."""
    command = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else None
    build_app(command)()


if __name__ == "__main__":
    main()
