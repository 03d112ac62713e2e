"""Optional dependencies (pip extras): one clear error when one is missing.

nasurf's core reads, analyses and simulates without them; a few capabilities need more
(``dask``: parameter sweeps and sample studies on a Dask cluster). Their modules are
imported only inside those capabilities, after :func:`require_extra` has checked that
they are installed, so a missing extra is an error that says what to install instead of a
bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib

from nasurf.errors import NasurfError

#: top-level module -> the pip extra of nasurf that installs it
EXTRA_OF: dict[str, str] = {"dask": "dask", "distributed": "dask"}


class MissingExtraError(NasurfError):
    """An optional dependency is not installed; the message names the pip extra."""


def missing_extra_message(module: str, purpose: str | None = None) -> str:
    """The one-line message for a missing optional ``module``."""
    extra = EXTRA_OF.get(module.split(".")[0], module)
    what = f"{purpose} needs" if purpose else "this needs"
    return (f"{what} the optional dependency '{module.split('.')[0]}', which is not "
            f"installed: pip install 'nasurf[{extra}]'")


def require_extra(module: str, purpose: str | None = None) -> None:
    """Raise :class:`MissingExtraError` unless ``module`` can be imported."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module.startswith(exc.name.split(".")[0]):
            raise   # the extra is there but broken: not a missing-extra message
        raise MissingExtraError(missing_extra_message(module, purpose)) from None
