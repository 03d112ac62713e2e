"""Names of a package imported on first use: the one rule behind ``nasurf.io`` and
``nasurf.analysis`` exposing their whole public API without importing every module (and
pandas, scipy …) when the package is imported, so a quick command starts quickly.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, owners: Mapping[str, str], namespace: dict[str, Any]
                    ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: a name in ``owners`` is imported from the
    module that owns it and kept in ``namespace`` (the package's globals); any other name is
    tried as a submodule not imported yet (``nasurf.io.table`` after ``import nasurf.io``)."""

    def getattr_(name: str) -> Any:
        module = owners.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module), name)
            namespace[name] = value   # later look-ups skip this function
            return value
        if name.startswith("__"):   # probes such as __wrapped__ are not submodules
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.{name}":
                raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted({*namespace, *owners})

    return getattr_, dir_
