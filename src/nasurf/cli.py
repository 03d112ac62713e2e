"""The ``nasurf`` command: a thin typer front end over the Python API.

Each capability contributes its own sub-command group (``kb``, ``analyze``, ``simulate``)
or top-level commands (``capacity``, ``demo`` ...) from its subpackage's ``cli`` module;
this module only assembles them. The console script imports only the module that owns
the requested command, because importing every capability (scipy, matplotlib, dask ...)
would make a quick ``nasurf capacity P --sodium 3`` wait a second or more for nothing.
For the same reason ``nasurf --help`` is printed from :data:`COMMANDS` (a static table,
kept equal to the commands' own help by ``tests/test_cli_help.py``) without importing
typer or any capability.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import shutil
import sys
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

HELP = "Workbench for surface-engineered sodium-ion battery anodes."

#: every top-level command, in the order of ``nasurf --help``: name -> (module, one-line
#: help). A module either exposes ``app`` (a sub-command group, added under the name) or
#: ``register(app)`` (adds top-level commands); ``None``: defined in this module.
COMMANDS: dict[str, tuple[str | None, str]] = {
    "capacity": ("nasurf.materials.cli",
                 "Theoretical specific capacity Q = n·F/(3.6·M) in mAh/g per gram of host."),
    "volume": ("nasurf.materials.cli",
               "Volume change on full sodiation: V1/V0 and ΔV/V0 (methods.md §9)."),
    "crate": ("nasurf.materials.cli",
              "Convert a C-rate to a specific current (mA/g) or back, on an explicit basis."),
    "molar-mass": ("nasurf.materials.cli",
                   "Molar mass (g/mol) of a formula unit, from IUPAC standard atomic weights."),
    "demo": ("nasurf.report.cli",
             "Write the HTML overview (strategy summary, rate and cycling maps, findings)."),
    "read": ("nasurf.io.cli",
             "Read FILE and summarise it: format, rows, canonical columns, metadata, warnings."),
    "formats": ("nasurf.io.cli", "List the file formats nasurf reads."),
    "export": ("nasurf.export_cli",
               "Write FILE's canonical table (BDF 'Name / unit' columns, SI) to OUT."),
    "serve": ("nasurf.web.cli",
              "Start the web workbench (FastAPI under uvicorn) and print its URL."),
    "version": (None, "Print the nasurf version."),
    "kb": ("nasurf.knowledge.cli",
           "The cited literature knowledge base: query, summarise, check, extend, export, plot."),
    "analyze": ("nasurf.analysis.cli", "Analyse cycler and potentiostat files."),
    "simulate": ("nasurf.sim.cli",
                 "Simulate surface-engineered (core-shell) anode particles in a Na half cell."),
    "token": ("nasurf.web.cli", "Access tokens for a workbench reachable off this machine."),
}

# sub-command group name -> module exposing ``app``
GROUPS: dict[str, str] = {"kb": "nasurf.knowledge.cli", "analyze": "nasurf.analysis.cli",
                          "simulate": "nasurf.sim.cli"}
# modules exposing ``register(app)`` for top-level commands, with the commands they add
COMMAND_MODULES: dict[str, tuple[str, ...]] = {}
for _name, (_module, _help) in COMMANDS.items():
    if _module is not None and _name not in GROUPS:
        COMMAND_MODULES.setdefault(_module, ())
        COMMAND_MODULES[_module] += (_name,)


def _import_optional(module: str):
    """Import a capability's CLI module; None while that capability has not landed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


def build_app(command: str | None = None, subcommand: str | None = None) -> typer.Typer:
    """Assemble the CLI; with ``command`` given, load only the module that owns it.

    ``subcommand`` (the word after a group's name) lets a group that offers
    ``build_app(subcommand)`` load only the module of that sub-command.
    """
    import typer

    root = typer.Typer(
        name="nasurf",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    owner_groups = {command: GROUPS[command]} if command in GROUPS else None
    owner_modules = [m for m, cmds in COMMAND_MODULES.items() if command in cmds]
    # an unknown command (or none): everything, so that typer can list the real commands
    load_all = owner_groups is None and not owner_modules and command not in COMMANDS
    for name, module in (GROUPS if load_all else (owner_groups or {})).items():
        mod = _import_optional(module)
        if mod is None:
            continue
        if subcommand is not None and hasattr(mod, "build_app"):
            root.add_typer(mod.build_app(subcommand), name=name)
        else:
            root.add_typer(mod.app, name=name)
    for module in COMMAND_MODULES if load_all else owner_modules:
        mod = _import_optional(module)
        if mod is not None:
            mod.register(root)

    @root.callback()
    def _root() -> None:
        # a group even when only one command is loaded (``nasurf version``): typer would
        # otherwise make that command the whole program and refuse its name as an argument
        pass

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


def static_help(prog: str = "nasurf") -> str:
    """The text of ``nasurf --help``, from :data:`COMMANDS` alone (nothing imported)."""
    width = max(40, min(100, shutil.get_terminal_size((80, 24)).columns))
    pad = max(len(n) for n in COMMANDS) + 4
    lines = [f"Usage: {prog} [OPTIONS] COMMAND [ARGS]...", "", f"  {HELP}", "",
             "Options:", f"  {'--help':<{pad - 2}}Show this message and exit.", "",
             "Commands:"]
    for name, (_module, text) in COMMANDS.items():
        wrapped = textwrap.wrap(text, width - pad - 2) or [""]
        lines.append(f"  {name:<{pad - 2}}{wrapped[0]}")
        lines.extend(" " * pad + more for more in wrapped[1:])
    lines += ["", f"Run '{prog} COMMAND --help' for the options of a command."]
    return "\n".join(lines) + "\n"


def _skip_exit_collection() -> None:
    """Freeze every live object so the interpreter's last garbage collections skip them.

    A one-shot command that imported pandas leaves ~10^5 objects behind; walking them
    again at exit cost ~40 ms of the ~0.45 s that ``nasurf read`` takes. Registered
    first, the hook runs after every other atexit handler (they run last-in, first-out),
    and the interpreter still flushes its streams and clears its modules as usual.
    """
    gc.freeze()


def main() -> None:
    """Entry point of the ``nasurf`` console script."""
    atexit.register(_skip_exit_collection)
    args = sys.argv[1:]
    if not args or args == ["--help"]:
        # without a command, typer would have to import every command module to list them
        sys.stdout.write(static_help())
        sys.stdout.flush()
        raise SystemExit(0 if args else 2)
    command = args[0] if not args[0].startswith("-") else None
    subcommand = args[1] if command in GROUPS and len(args) > 1 and not \
        args[1].startswith("-") else None
    build_app(command, subcommand)()


if __name__ == "__main__":
    main()
