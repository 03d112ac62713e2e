"""Results as JSON: the one converter behind every ``--json`` document and JSON export.

Policy (the same for the CLI, the exports, the knowledge base and the web workbench):

- dataclasses: their ``to_dict()`` if they have one, else their fields in order;
- mappings: keys as ``str``; lists, tuples and sets: lists (sets in iteration order);
- numpy scalars: the Python number; numpy arrays: nested lists;
- pandas: a DataFrame is a list of row records, a Series a ``{index: value}`` mapping;
- floats that are not finite (NaN, +-inf) and missing values (``pd.NA``, ``NaT``):
  ``null``. JSON has no NaN; a ``NaN`` token would break strict parsers, and a
  document is written with ``allow_nan=False`` so a missed case fails loudly;
- paths and strings: text, with a running command's staging folder named by its final
  place (:func:`nasurf.outputs.unstage`; a no-op outside a staged command);
- pint quantities: ``{"value": magnitude, "unit": "unit text"}``; pint units: their text;
- any other object with ``to_dict()``: that; anything else: ``str(obj)`` (e.g. complex).

numpy and pandas are never imported here: an object can only be an array or a frame if
its library is already loaded, so serialising a small result costs no import.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["dumps", "finite_or_none", "to_jsonable", "write_json"]


def finite_or_none(x: Any) -> float | None:
    """``float(x)`` if that is a finite number, else None (NaN, inf, None, text)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _pint_kind(obj: Any) -> str | None:
    mod = type(obj).__module__
    if not mod.startswith("pint"):
        return None
    if hasattr(obj, "magnitude") and hasattr(obj, "units"):
        return "quantity"
    return "unit" if hasattr(obj, "dimensionality") else None


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values (dict, list, str, int, float, bool, None); see the
    module docstring for the policy."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if hasattr(obj, "to_dict"):
            return to_jsonable(obj.to_dict())
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict | Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float):   # also numpy.float64, a float subclass
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Path | str):
        from nasurf.outputs import unstage

        return unstage(str(obj))
    if obj is None or isinstance(obj, int | bool):
        return obj
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(obj, pd.DataFrame):
            return [to_jsonable(r) for r in obj.to_dict(orient="records")]
        if isinstance(obj, pd.Series):
            return to_jsonable(obj.to_dict())
        if obj is pd.NA or obj is pd.NaT:
            return None
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(obj, np.ndarray):
            return [to_jsonable(v) for v in obj.tolist()]
        if isinstance(obj, np.generic):
            return to_jsonable(obj.item())
    kind = _pint_kind(obj)
    if kind == "quantity":
        return {"value": to_jsonable(obj.magnitude), "unit": str(obj.units)}
    if kind == "unit":
        return str(obj)
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    return str(obj)


def dumps(obj: Any, *, indent: int | None = None, ensure_ascii: bool = True,
          sort_keys: bool = False) -> str:
    """``obj`` as one strict JSON text (:func:`to_jsonable`, then no NaN allowed)."""
    return json.dumps(to_jsonable(obj), indent=indent, ensure_ascii=ensure_ascii,
                      sort_keys=sort_keys, allow_nan=False)


def write_json(path: str | Path, obj: Any, *, indent: int | None = 2,
               ensure_ascii: bool = True) -> Path:
    """Write ``obj`` to ``path`` as strict JSON (UTF-8, ``\\n`` line ends, atomically)."""
    from nasurf.outputs import atomic_write_text

    return atomic_write_text(path, dumps(obj, indent=indent, ensure_ascii=ensure_ascii),
                             newline="")
