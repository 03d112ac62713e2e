"""The simulator in the workbench: strategy comparison, fitting to a measured file, the
literature validation table and parameter sweeps.

Every function here is a thin adapter over :mod:`nasurf.sim` (``simulate``,
``fit_parameters``, ``validate_literature``, ``sweep``): options are checked and
normalised in the ``normalise_*`` functions (run on the request, so a bad option is a
one-line error before anything is queued), and the ``*_run`` functions run in a child
process (:mod:`nasurf.web.simproc`) so a cancel stops them mid-simulation.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nasurf.errors import ValidationError
from nasurf.jsonio import to_jsonable
from nasurf.web.analyses import optional_positive
from nasurf.web.jobs import Progress

PROTOCOLS = ("rate", "cycling", "cv", "gitt")


# the simulator is imported when a fit runs, not when the app starts
def make_fit_target(*args: Any, **kwargs: Any) -> Any:
    """The fit's residual target (:func:`nasurf.sim.fit.make_fit_target`)."""
    from nasurf.sim.fit import make_fit_target as make

    return make(*args, **kwargs)


def parse_bounds(items: list[str]) -> dict[str, tuple[float, float, str]]:
    """``NAME=lo:hi[:log|lin]`` bounds, read as the CLI reads them (``sim.fit.parse_bounds``)."""
    from nasurf.sim.fit import parse_bounds as parse

    return parse(items)
FIT_TARGETS = ("discharge", "rate")
SWEEP_PROTOCOLS = ("rate", "discharge", "cycling", "cv")
MAX_WEB_SWEEP_SETS = 400   # a browser sweep stays interactive; the CLI takes more
MAX_WEB_FIT_STARTS = 8


def _material(opts: dict) -> str:
    from nasurf.sim import list_materials

    material = opts.get("material") or "hard_carbon"
    if material not in list_materials():
        raise ValidationError(f"unknown material preset {material!r}", field="material")
    return str(material)


def _strategy(opts: dict, default: str = "none") -> str:
    from nasurf.sim import list_strategies

    s = opts.get("strategy") or default
    if s not in list_strategies():
        raise ValidationError(f"unknown strategy preset {s!r}", field="strategy")
    return str(s)


def _int(opts: dict, key: str, default: int, lo: int, hi: int) -> int:
    v = opts.get(key)
    try:
        n = int(v) if v not in (None, "") else default
    except (TypeError, ValueError):
        raise ValidationError(f"expected a whole number, got {v!r}", field=key) from None
    if not lo <= n <= hi:
        raise ValidationError(f"must be {lo} to {hi}, got {n}", field=key)
    return n


def _float_list(opts: dict, key: str) -> list[float] | None:
    v = opts.get(key)
    if v in (None, ""):
        return None
    items = v if isinstance(v, list) else str(v).split(",")
    try:
        out = [float(x) for x in items if str(x).strip()]
    except ValueError:
        raise ValidationError(f"expected comma-separated numbers, got {v!r}", field=key) from None
    if not out or not all(math.isfinite(x) and x > 0 for x in out):
        raise ValidationError("expected positive numbers", field=key)
    return out


# ------------------------------------------------------------------ strategy comparison
def normalise_compare(opts: dict) -> dict:
    from nasurf.sim import list_strategies

    protocol = opts.get("protocol") or "rate"
    if protocol not in PROTOCOLS:
        raise ValidationError(f"expected one of {', '.join(PROTOCOLS)}, got {protocol!r}",
                              field="protocol")
    material = _material(opts)
    strategies = opts.get("strategies") or ["none", "surface_oxygen_vacancies"]
    if isinstance(strategies, str):
        strategies = [s.strip() for s in strategies.split(",") if s.strip()]
    known = set(list_strategies())
    bad = [s for s in strategies if s not in known]
    if bad:
        raise ValidationError(f"unknown strategy preset {bad[0]!r}", field="strategies")
    if not 1 <= len(strategies) <= 7:
        raise ValidationError("choose 1 to 7 strategies", field="strategies")
    cycles = _int(opts, "cycles", 20, 1, 200)
    out = {"protocol": protocol, "material": material, "strategies": list(strategies),
           "cycles": cycles}
    if protocol == "cv":
        out["scan_rate_mV_s"] = (_float_list(opts, "scan_rate_mV_s") or [0.5])[0]
    if protocol == "gitt":
        out["pulses"] = _int(opts, "pulses", 20, 2, 200)
    if opts.get("measured_file_id") not in (None, ""):
        # the file itself is an input of the result (by content, see bodies._prepare)
        out["measured_mass_mg"] = optional_positive(opts, "measured_mass_mg")
    return out




def _thinned(a: Any, n_max: int = 4000) -> list[float | None]:
    import numpy as np

    from nasurf.web.analyses import _floats

    a = np.asarray(a, dtype=float)
    return _floats(a[::max(1, int(np.ceil(len(a) / n_max)))])


def measured_overlay(data: Any, protocol: str, mass_mg: float | None) -> dict[str, Any]:
    """The measured counterpart of a simulated protocol, in the simulation's units.

    rate: the mean capacity of each rate step against its current (``cycling_summary``'s
    rate steps); cycling: capacity per cycle; cv: current per gram against potential;
    gitt: potential against time. Per-gram values need the active mass (the file's, or
    ``mass_mg``); a file without one is refused with a one-line error, never plotted in
    the wrong unit.
    """
    import numpy as np

    from nasurf.analysis.cycling import cycling_summary

    name = data.metadata.source
    if not data.is_time_series:
        raise ValidationError(f"the measured file is not a time series (technique "
                              f"{data.metadata.technique or 'unknown'}): nothing to overlay",
                              file=name)
    mass_g = mass_mg / 1e3 if mass_mg else data.metadata.active_mass_g
    if protocol != "gitt" and not mass_g:
        raise ValidationError("the measured file states no active mass; give its mass (mg) "
                              "to compare it per gram", field="measured_mass_mg")
    out: dict[str, Any] = {"name": name, "protocol": protocol,
                           "active_mass_g": mass_g, "warnings": list(data.metadata.warnings)}
    if protocol in ("rate", "cycling"):
        res = cycling_summary(data, active_mass_g=mass_g)
        anode = res.extra.get("electrode", "anode") == "anode"
        out["process"] = "desodiation" if anode else "sodiation"
        out["warnings"] += list(res.warnings)
        if protocol == "cycling":
            c = res.cycles[res.cycles["cycle"] >= 1]
            out["cycle"] = [int(x) for x in c["cycle"]]
            out["capacity_mAh_g"] = _thinned(c[f"{out['process']}_mAh_g"].to_numpy(), 10**6)
            out["complete"] = [bool(x) for x in c["complete"]]
        else:
            rs = res.rate_steps
            if not len(rs) or "current_mA_g" not in rs:
                raise ValidationError("no rate steps found in the measured file (constant-"
                                      "current cycles at one or more currents)", file=name)
            out["current_mA_g"] = _thinned(np.abs(rs["current_mA_g"].to_numpy()), 10**6)
            out["capacity_mAh_g"] = [None if v is None or v != v else float(v)
                                     for v in rs["mean_capacity"]]
            out["is_recovery"] = [bool(x) for x in rs["is_recovery"]]
        return out
    d = data.data
    step = max(1, int(np.ceil(len(d) / 4000)))
    if step > 1:   # a browser plot of 4 000 points; said, since rows are left out of the figure
        out["warnings"].append(f"the overlay shows every {step}th of the file's {len(d)} rows "
                               "(display only)")
    out["voltage_V"] = _thinned(d["Voltage / V"].to_numpy())
    if protocol == "cv":
        out["current_A_g"] = _thinned(d["Current / A"].to_numpy() / mass_g)
    else:
        t = d["Test Time / s"].to_numpy()
        out["time_h"] = _thinned((t - t[0]) / 3600.0)
    return out


def _experiment(opts: dict):
    from nasurf.sim.experiment import (
        cyclic_voltammetry,
        galvanostatic_cycling,
        gitt,
        rate_capability,
    )

    protocol = opts["protocol"]
    if protocol == "rate":
        return rate_capability()
    if protocol == "cv":
        return cyclic_voltammetry(float(opts.get("scan_rate_mV_s", 0.5)), cycles=1)
    if protocol == "gitt":
        return gitt(pulses=int(opts.get("pulses", 20)))
    return galvanostatic_cycling("100 mA g-1", cycles=opts["cycles"])


def compare(opts: dict, progress: Progress, measured: tuple[str, dict] | None = None
            ) -> dict[str, Any]:
    """Run one protocol for each strategy; per-strategy tables and plottable series.

    ``measured`` = (blob folder, file row): that measured file is overlaid
    (:func:`measured_overlay`), read from the content store's parsed table."""
    from nasurf.sim.cli import rate_table
    from nasurf.sim.simulate import simulate

    protocol = opts["protocol"]
    exp = _experiment(opts)
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
                             "current_A_g": e.data["Current / A"].to_numpy() / m,
                             "time_h": e.data["Test Time / s"].to_numpy() / 3600.0}
        runs.append(run)
    doc: dict[str, Any] = {"protocol": protocol, "material": opts["material"], "runs": runs,
                           "units": {"current_mA_g": "mA/g", "capacity": "mAh/g"}}
    if measured is not None:
        from nasurf.web.analyses import BlobStore, load

        blobs, row = measured
        progress(0.97, f"reading the measured file {row['name']}")
        doc["measured"] = measured_overlay(load(BlobStore(Path(blobs)), row), protocol,
                                           opts.get("measured_mass_mg"))
        doc["measured"]["file"] = {"id": row["id"], "name": row["name"]}
    progress(1.0, "done")
    return to_jsonable(doc)


# ------------------------------------------------------------------ fit to measured data
def normalise_fit(opts: dict) -> dict:
    from nasurf.sim.cli_fit import default_bounds
    from nasurf.sim.simulate import resolve_parameters

    material, strategy = _material(opts), _strategy(opts)
    target = opts.get("target") or "discharge"
    if target not in FIT_TARGETS:
        raise ValidationError(f"expected one of {', '.join(FIT_TARGETS)}, got {target!r}",
                              field="target")
    branch = opts.get("branch") or "sodiation"
    if branch not in ("sodiation", "desodiation"):
        raise ValidationError("expected sodiation or desodiation", field="branch")
    names = opts.get("params") or "k0"
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not 1 <= len(names) <= 3:
        raise ValidationError("fit 1 to 3 parameters", field="params")
    raw = opts.get("bounds") or ""
    given = parse_bounds([raw] if isinstance(raw, str) else list(raw))
    extra = sorted(set(given) - set(names))
    if extra:
        raise ValidationError("bounds given for a parameter not in params", field=extra[0])
    p = resolve_parameters(material, strategy)
    bounds = {n: list(given.get(n) or default_bounds(p, n)) for n in names}
    mass = opts.get("mass_mg")
    try:
        mass_mg = float(mass) if mass not in (None, "") else None
    except (TypeError, ValueError):
        raise ValidationError(f"expected a number, got {mass!r}", field="mass_mg") from None
    if mass_mg is not None and not mass_mg > 0:
        raise ValidationError("must be > 0", field="mass_mg")
    return {"material": material, "strategy": strategy, "target": target, "branch": branch,
            "params": list(names), "bounds": bounds, "mass_mg": mass_mg,
            "starts": _int(opts, "starts", 2, 1, MAX_WEB_FIT_STARTS),
            "seed": _int(opts, "seed", 0, 0, 2**31 - 1)}


def fit(path: str, name: str, opts: dict, progress: Progress) -> dict[str, Any]:
    """``fit_parameters`` on a stored file, with the measured and best-fit curves overlaid."""
    from dataclasses import replace

    import numpy as np

    from nasurf.sim.fit import fit_parameters
    from nasurf.sim.simulate import resolve_parameters
    from nasurf.web.parsed import read_parsed

    progress(0.02, "reading the measured file")
    mass_g = None if opts["mass_mg"] is None else opts["mass_mg"] * 1e-3
    blob = Path(path)   # blobs/ab/<sha256>: its parsed table is in the content store
    data = read_parsed(blob.parent.parent, blob.name, active_mass_g=mass_g)
    data = type(data)(data.data, replace(data.metadata, source=name))
    bounds = {n: tuple(b) for n, b in opts["bounds"].items()}
    progress(0.1, f"fitting {', '.join(opts['params'])} ({opts['starts']} starts)")
    res = fit_parameters(data, material=opts["material"], strategy=opts["strategy"],
                         parameters=bounds, target=opts["target"], branch=opts["branch"],
                         active_mass_g=mass_g, n_starts=opts["starts"], seed=opts["seed"])
    doc = to_jsonable(res.to_dict())
    doc["file"] = {"name": name}
    if opts["target"] == "discharge":
        progress(0.9, "simulating the best fit")
        # the fit's own comparison: the measured curve on its grid and the model at the
        # optimum (residual + measured), so the overlay shows exactly what was minimised
        tgt = make_fit_target("discharge", data, branch=opts["branch"], half_cycle=None,
                           active_mass_g=mass_g, n_points=500, experiment=None,
                           initial_voltage=None, lower_V=None, upper_V=None)
        params = resolve_parameters(opts["material"], opts["strategy"])
        over = {f: np.array([res.values[n]]) for n, f in zip(res.names, res.fields,
                                                               strict=True)}
        r = tgt.residuals(params, over, 1, None)[0]
        doc["overlay"] = {"capacity_mAh_g": tgt.grid, "measured_V": tgt.v_meas,
                          "simulated_V": tgt.v_meas + r,
                          "current_mA_g": tgt.current_mA_g}
    progress(1.0, "done")
    return to_jsonable(doc)


# ------------------------------------------------------------------ literature validation
def normalise_validate(opts: dict) -> dict:
    hosts = opts.get("hosts") or ""
    if isinstance(hosts, str):
        hosts = [h.strip() for h in hosts.split(",") if h.strip()]
    return {"hosts": sorted(hosts)}


def validate(kb_path: str, opts: dict, progress: Progress) -> dict[str, Any]:
    """The ``nasurf simulate validate`` table against this workspace's knowledge base."""
    from nasurf.sim.validate import validate_literature

    progress(0.05, "simulating every capacity record with a packaged host")
    rep = validate_literature(kb_path, hosts=opts["hosts"] or None)
    doc = rep.to_dict()
    progress(1.0, "done")
    return to_jsonable(doc)


# ------------------------------------------------------------------ sweeps
def normalise_sweep(opts: dict) -> dict:
    from nasurf.sim.sweep import parse_param_option

    material, strategy = _material(opts), _strategy(opts)
    protocol = opts.get("protocol") or "rate"
    if protocol not in SWEEP_PROTOCOLS:
        raise ValidationError(f"expected one of {', '.join(SWEEP_PROTOCOLS)}, got "
                              f"{protocol!r}", field="protocol")
    axes_text = opts.get("axes") or "k0=0.01:100:log:6"
    lines = axes_text if isinstance(axes_text, list) else \
        [a for a in str(axes_text).replace(";", "\n").splitlines() if a.strip()]
    if not 1 <= len(lines) <= 3:
        raise ValidationError("give 1 to 3 axes, one NAME=lo:hi:log|lin:n per line",
                              field="axes")
    axes = {}
    for line in lines:
        name, values = parse_param_option(line.strip())
        axes[name] = [float(v) for v in values]
    n = math.prod(len(v) for v in axes.values())
    if n > MAX_WEB_SWEEP_SETS:
        raise ValidationError(f"{n} parameter sets; the workbench runs at most "
                              f"{MAX_WEB_SWEEP_SETS} (use `nasurf simulate sweep` for more)",
                              field="axes")
    out = {"material": material, "strategy": strategy, "protocol": protocol, "axes": axes,
           "cycles": _int(opts, "cycles", 10, 1, 200),
           "currents_mA_g": _float_list(opts, "currents_mA_g"),
           "scan_rates_mV_s": _float_list(opts, "scan_rates_mV_s")}
    return out


def sweep_run(opts: dict, progress: Progress) -> dict[str, Any]:
    """``nasurf.sim.sweep`` over a grid, reporting progress after every chunk."""
    from nasurf.sim.sweep import make_protocol, sweep

    proto = make_protocol(opts["protocol"], currents_mA_g=opts["currents_mA_g"],
                          scan_rates_mV_s=opts["scan_rates_mV_s"], cycles=opts["cycles"])
    total = math.prod(len(v) for v in opts["axes"].values())
    done = [0]

    def on_result(df: Any) -> None:
        done[0] += len(df)
        progress(done[0] / total, f"{done[0]} of {total} parameter sets")

    progress(0.0, f"0 of {total} parameter sets")
    # small chunks: progress (and a cancel) is seen every few sets
    df = sweep(opts["material"], opts["axes"], proto, strategy=opts["strategy"],
               chunk_size=max(1, total // 20), progress=False, on_result=on_result)
    names = list(opts["axes"])
    metrics = [c for c in df.columns if c not in ("set_id", *names, "status", "reason")]
    return to_jsonable({"protocol": opts["protocol"], "material": opts["material"],
                        "strategy": opts["strategy"], "parameters": names, "metrics": metrics,
                        "failed": int((df["status"] != "ok").sum()),
                        "rows": df.to_dict(orient="records")})
