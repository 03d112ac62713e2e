"""Strategy comparison on the simulator (the ``nasurf simulate compare`` protocols)."""

from __future__ import annotations

from typing import Any

from nasurf.clikit import to_jsonable
from nasurf.errors import ValidationError
from nasurf.web.jobs import Progress

PROTOCOLS = ("rate", "cycling", "cv")


def normalise_compare(opts: dict) -> dict:
    from nasurf.sim import list_materials, list_strategies

    protocol = opts.get("protocol") or "rate"
    if protocol not in PROTOCOLS:
        raise ValidationError(f"expected one of {', '.join(PROTOCOLS)}, got {protocol!r}",
                              field="protocol")
    material = opts.get("material") or "hard_carbon"
    if material not in list_materials():
        raise ValidationError(f"unknown material preset {material!r}", field="material")
    strategies = opts.get("strategies") or ["none", "surface_oxygen_vacancies"]
    if isinstance(strategies, str):
        strategies = [s.strip() for s in strategies.split(",") if s.strip()]
    known = set(list_strategies())
    bad = [s for s in strategies if s not in known]
    if bad:
        raise ValidationError(f"unknown strategy preset {bad[0]!r}", field="strategies")
    if not 1 <= len(strategies) <= 7:
        raise ValidationError("choose 1 to 7 strategies", field="strategies")
    cycles = int(opts.get("cycles") or 20)
    if not 1 <= cycles <= 200:
        raise ValidationError("cycles must be 1 to 200", field="cycles")
    return {"protocol": protocol, "material": material, "strategies": list(strategies),
            "cycles": cycles}


def compare(opts: dict, progress: Progress) -> dict[str, Any]:
    """Run one protocol for each strategy; per-strategy tables and plottable series."""
    from nasurf.sim.cli import rate_table
    from nasurf.sim.experiment import cyclic_voltammetry, galvanostatic_cycling, rate_capability
    from nasurf.sim.simulate import simulate

    protocol = opts["protocol"]
    exp = {"rate": lambda: rate_capability(),
           "cv": lambda: cyclic_voltammetry(0.5, cycles=1),
           "cycling": lambda: galvanostatic_cycling("100 mA g-1", cycles=opts["cycles"])
           }[protocol]()
    runs = []
    n = len(opts["strategies"])
    for i, name in enumerate(opts["strategies"]):
        progress(i / n, f"simulating {name} ({i + 1}/{n})")
        r = simulate(opts["material"], exp, strategy=name)
        run: dict[str, Any] = {"strategy": name, "warnings": list(getattr(r, "warnings", ()))}
        if protocol == "rate":
            run["table"] = rate_table(r)
        elif protocol == "cycling":
            run["table"] = r.cycle_capacities().to_dict(orient="records")
        else:
            e = r.echem()
            m = e.metadata.active_mass_g
            run["series"] = {"voltage_V": e.data["Voltage / V"].to_numpy(),
                             "current_A_g": e.data["Current / A"].to_numpy() / m}
        runs.append(run)
    progress(1.0, "done")
    return to_jsonable({"protocol": protocol, "material": opts["material"], "runs": runs,
                        "units": {"current_mA_g": "mA/g", "capacity": "mAh/g"}})
