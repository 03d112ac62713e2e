"""``nasurf simulate fit`` and ``nasurf simulate sweep``: front ends of fit.py and sweep.py.

``register(app)`` adds both commands to the ``simulate`` typer app (``nasurf.sim.cli``).
Heavy imports (scipy, dask) happen inside the commands, so ``nasurf --help`` stays quick.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from nasurf.clikit import FORCE_OPTION, JSON_OPTION, emit_json, guard_output, handle_errors, stderr
from nasurf.errors import ValidationError
from nasurf.limits import (
    MAX_FIT_PARAMETERS,
    MAX_FIT_STARTS,
    MAX_SWEEP_CYCLE_SETS,
    MAX_SWEEP_SETS,
    require_within,
)
from nasurf.outputs import atomic_path

stdout = Console(highlight=False)


def _floats(text: str | None, option: str) -> list[float] | None:
    if text is None or not text.strip():
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValidationError(f"expected a comma-separated list of numbers, got {text!r}",
                              field=option) from None


def __getattr__(name: str):
    # parse_bounds and default_bounds moved to the library (nasurf.sim.fit); the old names
    # stay importable from here, loaded on first use
    if name in ("_parse_bounds", "default_bounds"):
        from nasurf.sim import fit

        return fit.parse_bounds if name == "_parse_bounds" else fit.default_bounds
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _progress_bar(show: bool) -> Any:
    """The front end's rich bar as an ``on_progress`` callback (``clikit.rich_progress``)."""
    from nasurf.clikit import rich_progress

    return rich_progress(show)


def _read(path: Path, mass_mg: float | None) -> Any:
    """A rate table (CSV with current_mA_g, capacity_mAh_g) or any measurement file."""
    import pandas as pd

    from nasurf.io import read

    if not path.is_file():
        raise ValidationError("no such file", file=str(path))
    if path.suffix.lower() == ".csv":
        head = path.read_text(encoding="utf-8", errors="replace").splitlines()[:1]
        if head and {"current_mA_g", "capacity_mAh_g"} <= {c.strip() for c in
                                                             head[0].split(",")}:
            return pd.read_csv(path)
    return read(path, active_mass_g=None if mass_mg is None else mass_mg * 1e-3)


def _fit_table(result: Any) -> None:
    from rich.table import Table

    table = Table(title=f"fit to {result.target} ({result.material}, strategy "
                        f"{result.strategy})")
    for col in ("parameter", "value", "std. error", "95 % CI", "unit"):
        table.add_column(col)
    for n in result.names:
        lo, hi = result.ci95[n]
        table.add_row(n, f"{result.values[n]:.4g}", f"{result.std_errors[n]:.2g}",
                      f"{lo:.4g} – {hi:.4g}", result.units[n])
    stdout.print(table)
    stdout.print(f"residual RMS {result.residual_rms:.4g} {result.residual_unit} over "
                 f"{result.n_residuals} points; {result.evaluations} simulated sets; "
                 f"{len(result.starts)} start(s); {result.seconds:.2f} s")
    for w in result.warnings:
        stderr.print(f"[yellow]warning:[/] {w}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``fit`` and ``sweep`` to the ``simulate`` app."""

    @app.command("fit")
    @handle_errors
    def fit_command(
        files: Annotated[list[Path], typer.Argument(
            help="Measured file(s): one discharge or rate-test file, a rate table CSV "
                 "(current_mA_g, capacity_mAh_g), or one CV file per scan rate for "
                 "--target cv.")],
        material: str = typer.Option(..., "--material", "-m",
                                     help="Packaged material name or a material YAML/JSON."),
        params: str = typer.Option(..., "--params", "-p",
                                   help="Comma-separated parameters to fit, e.g. shell_D,k0 "
                                        "(names: shell_D, D, k0, Gamma, C_dl, "
                                        "shell_thickness, or any batchable field)."),
        bounds: Annotated[list[str] | None, typer.Option(
            "--bounds", "-b", help="NAME=lo:hi[:log|lin] in SI units (repeat or "
                                   "comma-separate); default: the material's value /100 to "
                                   "x100, log.")] = None,
        strategy: str = typer.Option("none", "--strategy", "-s",
                                     help="Surface-engineering preset applied to the "
                                          "material (name or file)."),
        target: str = typer.Option("discharge", "--target", "-t",
                                   help="discharge (voltage vs capacity), rate (capacity per "
                                        "current) or cv (currents on a potential grid)."),
        branch: str = typer.Option("sodiation", "--branch",
                                   help="Which half cycles to compare: sodiation or "
                                        "desodiation."),
        mass_mg: float = typer.Option(None, "--mass-mg",
                                      help="Active mass in mg (if the file does not say)."),
        scan_rates: str = typer.Option(None, "--scan-rates",
                                       help="For --target cv: scan rates in mV/s, one per "
                                            "file, comma-separated (else from the files)."),
        initial_voltage: float = typer.Option(None, "--initial-voltage",
                                              help="Equilibrate the simulated cell at this "
                                                   "voltage before the protocol [V]."),
        starts: int = typer.Option(4, "--starts", help="Number of starts (multi-start)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the start points."),
        force: bool = FORCE_OPTION,
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Fit simulator parameters to a measured curve, rate test or CV set."""
        from nasurf.sim.fit import default_bounds, fit_parameters, parse_bounds
        from nasurf.sim.simulate import resolve_parameters

        names = [n.strip() for n in params.split(",") if n.strip()]
        if not names:
            raise ValidationError("give at least one parameter", field="--params")
        require_within("fit starts", starts, MAX_FIT_STARTS, force=force, field="--starts")
        require_within("fitted parameters", len(names), MAX_FIT_PARAMETERS, force=force,
                       field="--params")
        p = resolve_parameters(material, strategy)
        given = parse_bounds(bounds)
        extra = sorted(set(given) - set(names))
        if extra:
            raise ValidationError("bounds given for a parameter not in --params",
                                  field=extra[0])
        spec = {n: given.get(n) or default_bounds(p, n) for n in names}
        if target == "cv":
            rates = _floats(scan_rates, "--scan-rates")
            data = [_read(f, mass_mg) for f in files]
            if rates is not None:
                if len(rates) != len(files):
                    raise ValidationError(f"{len(rates)} scan rates for {len(files)} files",
                                          field="--scan-rates")
                measured: Any = {r * 1e-3: d for r, d in zip(rates, data, strict=True)}
            else:
                measured = data
        else:
            if len(files) != 1:
                raise ValidationError(f"target '{target}' takes one file, got {len(files)}",
                                      field="FILES")
            measured = _read(files[0], mass_mg)
        result = fit_parameters(measured, material=p, parameters=spec, target=target,
                                branch=branch, initial_voltage=initial_voltage,
                                n_starts=starts, seed=seed,
                                active_mass_g=None if mass_mg is None else mass_mg * 1e-3)
        if json_out:
            emit_json(result)
        else:
            _fit_table(result)

    @app.command("sweep")
    @handle_errors
    @guard_output("out", kind="file", inputs=("files", "params"))
    def sweep_command(
        material: str = typer.Option(..., "--material", "-m",
                                     help="Packaged material name or a material YAML/JSON."),
        param: Annotated[list[str] | None, typer.Option(
            "--param", "-p", help="NAME=lo:hi:log|lin:n or NAME=v1,v2,... in SI units "
                                  "(repeat; full factorial grid).")] = None,
        samples: Annotated[Path | None, typer.Option(
            "--samples", help="CSV of parameter sets (one column per parameter) instead of "
                              "a grid.")] = None,
        protocol: str = typer.Option("rate", "--protocol",
                                     help="rate, discharge, cycling or cv."),
        currents: str = typer.Option(None, "--currents",
                                     help="Currents in mA/g, comma-separated (rate, "
                                          "discharge, cycling)."),
        c_rates: str = typer.Option(None, "--c-rates",
                                    help="C-rates instead of currents, comma-separated."),
        scan_rates: str = typer.Option(None, "--scan-rates",
                                       help="Scan rates in mV/s for the cv protocol."),
        cycles: int = typer.Option(10, "--cycles", help="Cycles of the cycling protocol."),
        lower_v: float = typer.Option(0.01, "--lower-v", help="Lower cut-off [V]."),
        upper_v: float = typer.Option(3.0, "--upper-v", help="Upper cut-off [V]."),
        metrics: str = typer.Option(None, "--metrics",
                                    help="Comma-separated metrics to keep (default all)."),
        strategy: str = typer.Option("none", "--strategy", "-s",
                                     help="Surface-engineering preset (name or file)."),
        out: Annotated[Path | None, typer.Option(
            "--out", "-o", help="Write the results table (CSV) here.")] = None,
        scheduler: str = typer.Option(None, "--scheduler",
                                      help="'local' (2-worker LocalCluster) or a Dask "
                                           "scheduler address tcp://host:port; default: in "
                                           "this process."),
        chunk_size: int = typer.Option(250, "--chunk-size",
                                       help="Parameter sets per batch (and per Dask task)."),
        progress: bool = typer.Option(True, "--progress/--no-progress",
                                      help="Progress bar on stderr."),
        force: bool = FORCE_OPTION,
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Sweep parameters over a grid or samples; one row of metrics per parameter set."""
        import pandas as pd

        from nasurf.sim.sweep import make_protocol, parse_param_option, sweep

        if bool(param) == (samples is not None):
            raise ValidationError("give --param axes or a --samples file (one of them)",
                                  field="--param")
        if samples is not None:
            if not samples.is_file():
                raise ValidationError("no such file", file=str(samples))
            design: Any = pd.read_csv(samples)
        else:
            design = dict(parse_param_option(p) for p in param)
        proto = make_protocol(protocol, currents_mA_g=_floats(currents, "--currents"),
                              c_rates=_floats(c_rates, "--c-rates"),
                              scan_rates_mV_s=_floats(scan_rates, "--scan-rates"),
                              cycles=cycles, lower_V=lower_v, upper_V=upper_v)
        keep = [m.strip() for m in metrics.split(",")] if metrics else None
        n_sets = len(design) if samples is not None else math.prod(len(v) for v in
                                                                      design.values())
        require_within("parameter sets in this sweep", n_sets, MAX_SWEEP_SETS, force=force,
                       field="--param")
        if protocol == "cycling":
            require_within("cycles x parameter sets", n_sets * cycles, MAX_SWEEP_CYCLE_SETS,
                           force=force, field="--cycles")
        t0 = time.perf_counter()
        show = progress and not json_out
        with _progress_bar(show) as on_progress:
            df = sweep(material, design, proto, keep, strategy=strategy, scheduler=scheduler,
                       chunk_size=chunk_size, progress=show, on_progress=on_progress)
        seconds = time.perf_counter() - t0
        if out is not None:
            with atomic_path(out) as tmp:
                df.to_csv(tmp, index=False, float_format="%.10g")
        failed = df[df["status"] != "ok"]
        summary = {"material": material, "strategy": strategy, "protocol": proto.kind,
                   "sets": len(df), "ok": int((df["status"] == "ok").sum()),
                   "failed": len(failed), "seconds": seconds,
                   "failures": failed[["set_id", "reason"]].head(50).to_dict("records"),
                   "out": str(out) if out else None,
                   "conventions": {"parameters": "SI units",
                                   "capacity": "mAh per g of active material",
                                   "current": "anodic (desodiation) positive"}}
        if json_out:
            if out is None:
                summary["rows"] = df
            emit_json(summary)
            return
        from rich.table import Table

        table = Table(title=f"sweep: {len(df)} sets, {summary['ok']} ok, {len(failed)} failed, "
                            f"{seconds:.2f} s")
        shown = [c for c in df.columns if c not in ("reason",)][:10]
        for c in shown:
            table.add_column(str(c))
        for _, row in df.head(20).iterrows():
            table.add_row(*[f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c])
                            for c in shown])
        stdout.print(table)
        if len(df) > 20:
            stdout.print(f"... {len(df) - 20} more rows" + (f" in {out}" if out else ""))
        for _, row in failed.head(10).iterrows():
            stderr.print(f"[yellow]set {row['set_id']} failed:[/] {row['reason']}",
                         highlight=False)
        if out is not None:
            stderr.print(f"wrote {out}")
