"""CSV tables of the kinetics results, each written whole or not at all."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from nasurf.outputs import atomic_path


def _write_tables(directory: str | Path, tables: Mapping[str, pd.DataFrame]) -> list[Path]:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in tables.items():
        p = out / name
        with atomic_path(p) as tmp:  # no partial file on failure
            df.to_csv(tmp, index=False)
        written.append(p)
    return written
