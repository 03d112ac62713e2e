"""Group comparison of samples: cycling per sample (stored results reused), mean ± SD per group.

Each sample's first time-series file is analysed with its sample mass through the same
cycling job body as the file page, so a group figure and a file page never disagree.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from nasurf.errors import NasurfError, ValidationError
from nasurf.web import bodies
from nasurf.web.workspace import Workspace


def _stats(values: list[float]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    mean = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return mean, sd


def compare_groups(ws: Workspace) -> dict[str, Any]:
    per_group: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    warnings: list[str] = []
    files = ws.list_files()
    for s in ws.list_samples():
        mine = [f for f in files if f["sample_id"] == s["id"]]
        if not mine:
            warnings.append(f"sample {s['name']}: no file assigned, left out")
            continue
        params = {"file_ids": [mine[0]["id"]], "options": {"mass_mg": s["mass_mg"]}}
        inputs, options = bodies._prepare(ws, "cycling", params)
        rid = ws.cached_result("cycling", inputs, options)
        try:
            if rid is None:
                _, _, doc = bodies.BODIES["cycling"](ws, params, lambda *_: None)
                rid = ws.put_result("cycling", inputs, options, doc)
            doc = ws.get_result(rid)["doc"]
        except NasurfError as exc:
            warnings.append(f"sample {s['name']}: {exc}")
            continue
        per_group[s["grp"] or "(no group)"].append((s["name"], doc))
    if not per_group:
        raise ValidationError("no sample has an analysable cycling file; assign files to "
                              "samples first", field="samples")
    units = {d["capacity_unit"] for docs in per_group.values() for _, d in docs}
    unit = units.pop() if len(units) == 1 else "mixed"
    if unit == "mixed":
        warnings.append("some samples have no mass: capacities mix mAh/g and mAh")
    groups = []
    for g, docs in sorted(per_group.items()):
        by_cycle: dict[int, list[float]] = defaultdict(list)
        for _, d in docs:
            key = "desodiation_mAh_g" if d["capacity_unit"] == "mAh/g" else "desodiation_mAh"
            for c in d["cycles"]:
                by_cycle[int(c["cycle"])].append(c.get(key))
        cycles = sorted(by_cycle)
        stats = [_stats(by_cycle[c]) for c in cycles]
        ice_mean, ice_sd = _stats([d.get("initial_coulombic_efficiency") for _, d in docs])
        groups.append({"group": g, "n": len(docs), "samples": [n for n, _ in docs],
                       "cycles": cycles, "mean": [m for m, _ in stats],
                       "sd": [s for _, s in stats],
                       "ice_mean_pct": None if ice_mean is None else 100 * ice_mean,
                       "ice_sd_pct": None if ice_sd is None else 100 * ice_sd})
    return {"unit": unit.replace("mAh/g", "mAh g⁻¹"), "groups": groups, "warnings": warnings}
