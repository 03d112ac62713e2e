"""``nasurf simulate``: command-line front end of the half-cell simulator.

Each protocol command writes canonical CSV files (+ ``.json`` metadata sidecars) and a
``summary.json`` into ``--out``, and prints a table (or one JSON document with ``--json``).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nasurf.clikit import (
    FORCE_OPTION,
    JSON_OPTION,
    emit_json,
    guard_output,
    handle_errors,
    stderr,
)
from nasurf.errors import ValidationError
from nasurf.jsonio import write_json
from nasurf.limits import MAX_SIM_CYCLES, require_within

app = typer.Typer(help="Simulate surface-engineered (core-shell) anode particles in a Na "
                       "half cell.", no_args_is_help=True)

MATERIAL = typer.Option("hard_carbon", "--material", "-m",
                        help="Packaged material name or a material .yaml/.json file.")
STRATEGY = typer.Option("none", "--strategy", "-s",
                        help="Strategy preset (see 'simulate list') or a strategy file.")
PARAMS = typer.Option(None, "--params", help="Material parameter file (overrides --material).")
OUT = typer.Option(None, "--out", "-o", help="Folder for data files and summary (default: "
                   "'sim' in the user data directory, or $NASURF_DATA_DIR).")


def __getattr__(name: str):
    # rate_table lived here before it moved to the library (nasurf.sim.workflows); loaded
    # on first use, so that `nasurf --help` does not import the simulator
    if name == "rate_table":
        from nasurf.sim.workflows import rate_table

        return rate_table
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _floats(text: str, what: str) -> list[float]:
    try:
        vals = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise ValidationError(f"expected comma-separated numbers, got {text!r}",
                              field=what) from None
    if not vals or any(v <= 0 for v in vals):
        raise ValidationError("expected positive numbers", field=what)
    return vals


def _emit(summary: dict, json_out: bool, title: str, rows: list[tuple], cols: list[str]) -> None:
    if json_out:
        emit_json(summary)
        return
    table = Table(title=title)
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r])
    Console().print(table)


@app.command("list")
@handle_errors
def list_cmd(json_out: bool = JSON_OPTION) -> None:
    """List packaged materials and strategy presets."""
    from nasurf.sim.parameters import list_materials, load_material
    from nasurf.sim.strategies import list_strategies, load_strategy

    doc = {"materials": list_materials(), "strategies": list_strategies()}
    if json_out:
        emit_json(doc)
        return
    t = Table(title="materials")
    t.add_column("name")
    t.add_column("title")
    # "theoretical" in a parameter file means the host's x = 0 -> 1 capacity, which the file
    # sets from the reversibly accessible Na count (not the full reaction's theoretical value)
    t.add_column("1C basis (mAh/g)")
    for m in doc["materials"]:
        p = load_material(m)
        basis = "host capacity, x 0 to 1" if p.capacity_basis == "theoretical" \
            else "stated practical capacity"
        t.add_row(m, p.title, f"{p.capacity_basis_value / 3600:.1f} ({basis})")
    Console().print(t)
    s = Table(title="strategies")
    s.add_column("name")
    s.add_column("title")
    for n in doc["strategies"]:
        s.add_row(n, load_strategy(n).title)
    Console().print(s)


def _material(material: str, params: Path | None) -> str:
    return str(params) if params is not None else material


@app.command("rate")
@handle_errors
@guard_output("out", kind="folder", inputs=("params",), default="sim")
def rate_cmd(material: str = MATERIAL, strategy: str = STRATEGY, params: Path | None = PARAMS,
             rates: str = typer.Option("50,100,200,500,1000,2000,5000", "--rates",
                                       help="Specific currents in mA g-1, comma-separated."),
             cycles_per_rate: int = typer.Option(1, "--cycles-per-rate", min=1,
                                                 help="Cycles at each current."),
             out: Path = OUT, force: bool = FORCE_OPTION,
             json_out: bool = JSON_OPTION) -> None:
    """Rate-capability protocol (each current, then back to the first)."""
    from nasurf.sim.workflows import rate_study

    currents = _floats(rates, "rates")
    require_within("simulated cycles", len(currents) * cycles_per_rate, MAX_SIM_CYCLES,
                   force=force, field="--cycles-per-rate")
    study = rate_study(_material(material, params), currents, strategy=strategy,
                       cycles_per_rate=cycles_per_rate, out=out)
    r, summary, table = study.results[0], study.summary, study.summary["rate_table"]
    write_json(out / "summary.json", summary, indent=1)
    _emit(summary, json_out, f"rate capability: {r.params.name} / {r.params.strategy}",
          [(t["current_mA_g"], t["desodiation_mAh_g"], t["sodiation_mAh_g"], t.get("note", ""))
           for t in table],
          ["current (mA/g)", "desodiation (mAh/g)", "sodiation (mAh/g)", "note"])


@app.command("cv")
@handle_errors
@guard_output("out", kind="folder", inputs=("params",), default="sim")
def cv_cmd(material: str = MATERIAL, strategy: str = STRATEGY, params: Path | None = PARAMS,
           scan_rates: str = typer.Option("0.1,0.2,0.5,1,2", "--scan-rates",
                                          help="Scan rates in mV s-1, comma-separated."),
           high: float = typer.Option(3.0, "--high", help="Upper vertex (V vs Na+/Na)."),
           low: float = typer.Option(0.01, "--low", help="Lower vertex (V vs Na+/Na)."),
           cycles: int = typer.Option(2, "--cycles", min=1, help="CV cycles per scan rate."),
           out: Path = OUT, force: bool = FORCE_OPTION,
             json_out: bool = JSON_OPTION) -> None:
    """Cyclic voltammetry at several scan rates (one file per scan rate)."""
    from nasurf.sim.workflows import cv_study

    rates = _floats(scan_rates, "scan-rates")
    require_within("simulated CV cycles", len(rates) * cycles, MAX_SIM_CYCLES, force=force,
                   field="--cycles")
    summary = cv_study(_material(material, params), rates, strategy=strategy, high_V=high,
                       low_V=low, cycles=cycles, out=out).summary
    rows = summary["scan_rates"]
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "summary.json", summary, indent=1)
    _emit(summary, json_out, "cyclic voltammetry",
          [(x["scan_rate_mV_s"], x["peak_cathodic_A_g"], x["peak_anodic_A_g"]) for x in rows],
          ["scan rate (mV/s)", "min current (A/g)", "max current (A/g)"])


@app.command("gitt")
@handle_errors
@guard_output("out", kind="folder", inputs=("params",), default="sim")
def gitt_cmd(material: str = MATERIAL, strategy: str = STRATEGY, params: Path | None = PARAMS,
             current: str = typer.Option("20 mA g-1", "--current", help="Pulse current."),
             pulse: str = typer.Option("10 minutes", "--pulse", help="Pulse duration."),
             rest: str = typer.Option("1 hour", "--rest", help="Rest duration."),
             pulses: int = typer.Option(30, "--pulses", min=1, help="Maximum pulses."),
             out: Path = OUT, force: bool = FORCE_OPTION,
             json_out: bool = JSON_OPTION) -> None:
    """Galvanostatic intermittent titration (sodiation pulses until the cut-off)."""
    from nasurf.sim.workflows import gitt_study

    study = gitt_study(_material(material, params), current, pulse=pulse, rest=rest,
                       pulses=pulses, strategy=strategy, out=out)
    r, summary = study.results[0], study.summary
    write_json(out / "summary.json", summary, indent=1)
    recs = [s for s in r.steps[0] if s.kind != "rest"]
    _emit(summary, json_out, "GITT pulses",
          [(s.step_count, s.charge_mAh_g, s.end_voltage_V, s.ended_by) for s in recs],
          ["step", "charge (mAh/g)", "end V", "ended by"])


@app.command("cycling")
@handle_errors
@guard_output("out", kind="folder", inputs=("params",), default="sim")
def cycling_cmd(material: str = MATERIAL, strategy: str = STRATEGY,
                params: Path | None = PARAMS,
                current: str = typer.Option("100 mA g-1", "--current",
                                            help="Current (mA g-1 or a C-rate like 1C)."),
                cycles: int = typer.Option(100, "--cycles", min=1, help="Number of cycles."),
                out: Path = OUT, force: bool = FORCE_OPTION,
             json_out: bool = JSON_OPTION) -> None:
    """Long galvanostatic cycling with degradation (LAM, first-cycle SEI)."""
    from nasurf.sim.workflows import cycling_study

    require_within("simulated cycles", cycles, MAX_SIM_CYCLES, force=force, field="--cycles")
    study = cycling_study(_material(material, params), current, cycles=cycles,
                          strategy=strategy, out=out)
    r, summary = study.results[0], study.summary
    write_json(out / "summary.json", summary, indent=1)
    cyc = r.cycle_capacities()
    _emit(summary, json_out, "cycling", [tuple(x) for x in cyc.itertuples(index=False)][:10]
          + [tuple(x) for x in cyc.itertuples(index=False)][-3:],
          ["cycle", "sodiation (mAh/g)", "desodiation (mAh/g)", "CE"])


@app.command("compare")
@handle_errors
@guard_output("out", kind="folder", inputs=("params",), default="sim")
def compare_cmd(protocol: str = typer.Option("rate", "--protocol",
                                             help="rate, cv or cycling."),
                strategies: str = typer.Option("none,surface_oxygen_vacancies", "--strategies",
                                               help="Comma-separated strategy names."),
                material: str = MATERIAL, params: Path | None = PARAMS,
                out: Path = OUT, force: bool = FORCE_OPTION,
             json_out: bool = JSON_OPTION) -> None:
    """Run one protocol for several strategies and plot them side by side."""
    from nasurf.figures.style import write_figure
    from nasurf.sim.workflows import compare_strategies

    names = [s.strip() for s in strategies.split(",") if s.strip()]
    out.mkdir(parents=True, exist_ok=True)
    study = compare_strategies(_material(material, params), protocol, names, out=out)
    plot = write_figure(study.figure, out / f"compare_{study.summary['protocol']}.png")
    write_figure(study.figure, plot.with_suffix(".svg"))
    summary = {**study.summary, "material": material, "plot": str(plot)}
    write_json(out / "summary.json", summary, indent=1)
    if json_out:
        emit_json(summary)
    else:
        stderr.print(f"wrote {plot}")


KB_DB = typer.Option(None, "--db", help="Knowledge-base database (default: the user's; "
                     "curated rows synced).")
KB_HOSTS = typer.Option(None, "--host", help="Only these knowledge-base hosts, comma-separated "
                        "(e.g. TiO2,Sb).")


@app.command("validate")
@handle_errors
def validate_cmd(db: Path | None = KB_DB, host: str | None = KB_HOSTS,
                 json_out: bool = JSON_OPTION) -> None:
    """Simulated vs reported capacity for every knowledge-base record with a packaged host."""
    from nasurf.sim.validate import validate_literature

    hosts = None if host is None else [h.strip() for h in host.split(",") if h.strip()]
    rep = validate_literature(db, hosts=hosts)
    doc = rep.to_dict()
    if json_out:
        emit_json(doc)
        return
    t = Table(title="literature validation (relative error = simulated/reported - 1)")
    for c in ("record", "host / preset", "I (mA/g)", "N", "reported", "simulated", "error",
              "status", "assumed", "citation"):
        t.add_column(c)
    for r in rep.rows:
        t.add_row(r.record_id, f"{r.material or r.host} / {r.strategy}",
                  f"{r.current_mA_g:.4g}", "" if r.cycles is None else str(r.cycles),
                  f"{r.reported_mAh_g:.4g}", f"{r.simulated_mAh_g:.4g}",
                  f"{r.relative_error:+.0%}" if r.relative_error == r.relative_error else "-",
                  r.status, "; ".join(r.assumptions[:1]), r.citation)
    Console().print(t)
    s = Table(title="median |error| and worst error")
    for c in ("group", "n", "median |error|", "worst", "worst record"):
        s.add_column(c)
    groups = [("overall", rep.overall), ("reachable by the host", rep.within_host_limit)]
    groups += [(f"host {k}", v) for k, v in rep.per_host.items()]
    groups += [(f"strategy {k}", v) for k, v in rep.per_strategy.items()]
    for name, st in groups:
        s.add_row(name, str(st.n), f"{st.median_abs:.0%}", f"{st.worst:+.0%}", st.worst_record)
    Console().print(s)
    for r in rep.rows:
        if r.reason:
            stderr.print(f"{r.record_id}: {r.status}: {r.reason}")
    if rep.hosts_without_preset:
        stderr.print("records of hosts without a packaged material (not simulated): " + ", ".join(
            f"{k} ({v})" for k, v in rep.hosts_without_preset.items()))


def _register_extra_commands() -> None:
    # fitting and sweeps live in their own module (nasurf.sim.cli_fit)
    from nasurf.sim import cli_fit

    cli_fit.register(app)


_register_extra_commands()
