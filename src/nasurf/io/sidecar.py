"""Metadata sidecars written by the nasurf simulator (``X.csv`` + ``X.json``).

A simulated data file is a canonical CSV; its active mass, electrode area, scan rate and
technique travel in a sibling ``X.json`` written by :func:`nasurf.sim.write_echem_csv`
(``"source": "simulation"``, ``"instrument": "nasurf simulator"``). :func:`apply_sidecar`
fills those fields into the metadata that the CSV reader returned, so ``nasurf analyze``
reads simulated files with their mass and scan rate like instrument files with settings.
Only sidecars that say they come from the simulator are used; anything else next to a CSV
is ignored. Values the caller passed to :func:`nasurf.io.read` win over the sidecar.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from nasurf.errors import FileFormatError
from nasurf.io.table import EchemData

SIDECAR_SOURCE = "simulation"
SIDECAR_INSTRUMENT = "nasurf simulator"


def _positive(doc: dict[str, Any], key: str, src: str) -> float | None:
    v = doc.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
        raise FileFormatError(f"sidecar field must be a positive number, got {v!r}", file=src,
                              field=key)
    return float(v)


def read_sidecar(data_path: str | Path) -> dict[str, Any] | None:
    """The simulator sidecar next to ``data_path`` (``X.csv`` → ``X.json``), or None."""
    p = Path(data_path)
    side = p.with_suffix(".json")
    if p.suffix.lower() != ".csv" or not side.is_file():
        return None
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None   # not ours (or not JSON): a CSV's neighbour is no business of the reader
    if not isinstance(doc, dict) or doc.get("source") != SIDECAR_SOURCE \
            or doc.get("instrument") != SIDECAR_INSTRUMENT:
        return None
    return doc


def apply_sidecar(data_path: str | Path, data: EchemData, *,
                  active_mass_g: float | None = None, area_cm2: float | None = None,
                  technique: str | None = None) -> EchemData:
    """``data`` with mass, area, scan rate, technique and instrument from a simulator sidecar.

    Caller overrides (the keyword arguments of :func:`nasurf.io.read`) are kept; the fields
    taken from the sidecar are recorded in ``metadata.notes``.
    """
    doc = read_sidecar(data_path)
    if doc is None:
        return data
    src = str(Path(data_path).with_suffix(".json"))
    md = data.metadata
    changes: dict[str, Any] = {"instrument": SIDECAR_INSTRUMENT}
    taken = []
    mass = _positive(doc, "active_mass_g", src)
    if mass is not None and active_mass_g is None:
        changes["active_mass_g"] = mass
        taken.append("active_mass_g")
    area = _positive(doc, "electrode_area_cm2", src)
    if area is not None and area_cm2 is None:
        changes["electrode_area_cm2"] = area
        taken.append("electrode_area_cm2")
    rate = _positive(doc, "scan_rate_V_s", src)
    if rate is not None:
        changes["scan_rate_V_s"] = rate
        taken.append("scan_rate_V_s")
    tech = doc.get("technique")
    if isinstance(tech, str) and tech and technique is None:
        changes["technique"] = tech
        taken.append("technique")
    header = doc.get("header")
    if isinstance(header, dict):
        changes["header"] = {**md.header, "simulation": header}
    md = replace(md, **changes).with_note(
        f"simulated data: {', '.join(taken) or 'instrument'} from the sidecar {src}")
    return EchemData(data.data, md)
