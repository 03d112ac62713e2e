"""JSON values of results: one conversion for the command line, the web and the exports.

Library code (no front end): a result written to a ``.json`` file by the library and the
document printed by ``nasurf ... --json`` are made by the same function.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any


def to_jsonable(obj: Any) -> Any:
    """Convert results (dataclasses, numpy, pandas, paths) into JSON-compatible values.

    Non-finite floats become ``null``: JSON has no NaN, and a silent ``NaN`` token would
    break strict parsers.
    """
    import numpy as np
    import pandas as pd

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if hasattr(obj, "to_dict"):
            return to_jsonable(obj.to_dict())
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, pd.DataFrame):
        return [to_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path | str):
        from nasurf.outputs import unstage

        return unstage(str(obj))
    if obj is None or isinstance(obj, int | bool):
        return obj
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    return str(obj)
