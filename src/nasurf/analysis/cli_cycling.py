"""``nasurf analyze cycling``: galvanostatic summary of one cycler file.

Runs :func:`nasurf.analysis.cycling.analyze_cycling_file` (read + summary), prints a
table (or one JSON document with ``--json``) and with ``--out`` writes the CSV tables and
figures through :func:`nasurf.analysis.cycling.write_cycling_outputs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from nasurf.clikit import FORCE_OPTION, JSON_OPTION, emit_json, guard_output, handle_errors, stderr
from nasurf.errors import ValidationError
from nasurf.io.table import EchemData


def read_for_cycling(path: Path, *, active_mass_g: float | None = None,
                     area_cm2: float | None = None) -> EchemData:
    """:func:`nasurf.analysis.cycling.read_for_cycling` (kept for callers of this name)."""
    from nasurf.analysis.cycling import read_for_cycling as read

    return read(path, active_mass_g=active_mass_g, area_cm2=area_cm2)


def _mass_g(mass_mg: float | None) -> float | None:
    if mass_mg is None:
        return None
    if not mass_mg > 0:
        raise ValidationError(f"--mass-mg must be > 0, got {mass_mg}", field="--mass-mg")
    return mass_mg / 1e3


def _fmt(x: Any, pattern: str = "{:.2f}", scale: float = 1.0) -> str:
    try:
        if x is None or x != x:
            return "-"
        return pattern.format(float(x) * scale)
    except (TypeError, ValueError):
        return "-"


def print_cycling_tables(result, console: Console, *, max_rows: int = 40) -> None:
    """Human output: one rich table of cycles and a few summary lines."""
    spec = result.capacity_unit == "mAh/g"
    unit = "mAh/g" if spec else "mAh"
    sod = "sodiation_mAh_g" if spec else "sodiation_mAh"
    des = "desodiation_mAh_g" if spec else "desodiation_mAh"
    table = Table(title=f"Galvanostatic cycles: {result.source}", title_justify="left")
    for col in ("cycle", f"sodiation ({unit})", f"desodiation ({unit})", "CE (%)",
                "retention (%)", "V̄ desod (V)", "hysteresis (V)", "flags"):
        table.add_column(col, justify="right")
    flagged = result.flagged_cycles
    c = result.cycles
    rows = c if len(c) <= max_rows else c.iloc[list(range(max_rows // 2))
                                                + list(range(len(c) - max_rows // 2, len(c)))]
    prev = None
    for idx, r in rows.iterrows():
        if prev is not None and idx != prev + 1:
            table.add_row("…", "", "", "", "", "", "", "")
        prev = idx
        table.add_row(str(int(r["cycle"])), _fmt(r[sod], "{:.4g}"), _fmt(r[des], "{:.4g}"),
                      _fmt(r["coulombic_efficiency"], "{:.2f}", 100),
                      _fmt(r.get("retention"), "{:.2f}", 100),
                      _fmt(r["desodiation_average_voltage_V"], "{:.3f}"),
                      _fmt(r["hysteresis_V"], "{:.3f}"),
                      ", ".join(flagged.get(int(r["cycle"]), [])))
    console.print(table)
    conv = result.conventions
    if "electrode_role" in conv:
        console.print(f"electrode: {conv['electrode_role']}; steps from "
                      f"{conv['steps_known_from']}; {conv['ce_holds']}")
    ret = result.retention
    console.print(f"ICE: {_fmt(result.initial_coulombic_efficiency, '{:.2f}', 100)} %   "
                  f"mean CE (2..N): {_fmt(result.mean_ce, '{:.2f}', 100)} %   "
                  f"cumulative irreversible: {_fmt(result.cumulative_irreversible, '{:.4g}')} "
                  f"{unit}")
    ex = result.extra
    if ex.get("initial_coulombic_efficiency_without_holds") is not None:
        console.print(
            f"ICE with holds: {_fmt(ex['initial_coulombic_efficiency_with_holds'], '{:.2f}', 100)}"
            f" %   without holds (CC only): "
            f"{_fmt(ex['initial_coulombic_efficiency_without_holds'], '{:.2f}', 100)} %")
    for f in result.flags:
        console.print(f"[red]flag {f['flag']}[/]: {f['message']}", highlight=False)
    console.print(f"retention: {_fmt(ret.final, '{:.2f}', 100)} % at cycle {ret.final_cycle} "
                  f"vs {ret.convention} (reference cycle {ret.reference_cycle})")
    steps = result.rate_steps
    if result.rate.detected:
        st = Table(title="Rate steps", title_justify="left")
        cur_col = "current_mA_g" if "current_mA_g" in steps else "current_A"
        for col in ("step", "cycles", cur_col.replace("_", " "), "C-rate",
                    f"mean ({unit})", f"last ({unit})", "recovery"):
            st.add_column(col, justify="right")
        for _, s in steps.iterrows():
            st.add_row(str(s["step"]), f"{s['first_cycle']}-{s['last_cycle']}",
                       _fmt(s[cur_col], "{:.4g}"), _fmt(s.get("c_rate"), "{:.3g}"),
                       _fmt(s["mean_capacity"], "{:.4g}"), _fmt(s["last_capacity"], "{:.4g}"),
                       "yes" if s["is_recovery"] else "")
        console.print(st)
        if result.rate.rate_set_by:
            console.print(f"rate set by the {result.rate.rate_set_by} current")
        if result.rate.recovery_ratio is not None:
            console.print(f"recovery ratio: {100 * result.rate.recovery_ratio:.2f} %")


def write_outputs(data: EchemData, result, out: Path, *,
                  potential_vs: str | None = None) -> list[Path]:
    """:func:`nasurf.analysis.cycling.write_cycling_outputs`, its notes on stderr."""
    from nasurf.analysis.cycling import write_cycling_outputs

    written, notes = write_cycling_outputs(data, result, out, potential_vs=potential_vs)
    for note in notes:
        stderr.print(f"[yellow]{note}[/]")
    return written


def register(app: typer.Typer) -> None:
    """Add the ``cycling`` command to the ``analyze`` group."""

    @app.command("cycling")
    @handle_errors
    @guard_output("out", kind="folder", inputs=("file",))
    def cycling(
        file: Annotated[Path, typer.Argument(
            help="Cycler file (any format nasurf.io reads).", show_default=False)],
        mass_mg: Annotated[float | None, typer.Option(
            "--mass-mg", help="Active-material mass in mg (default: from the file; "
            "without it capacities are in mAh).")] = None,
        area_cm2: Annotated[float | None, typer.Option(
            "--area-cm2", help="Electrode area in cm² (areal capacity, loading).")] = None,
        reference: Annotated[str, typer.Option(
            "--reference", help="Retention reference: first, second, max, "
            "after_formation[(k)], first_at_current.")] = "after_formation",
        formation_cycles: Annotated[int | None, typer.Option(
            "--formation-cycles", help="k in after_formation(k) (default 1).")] = None,
        cycle_mode: Annotated[str, typer.Option(
            "--cycle-mode", help="sodiation_desodiation (a sodiation and the desodiation "
            "after it) or instrument (the file's cycle counter).")] = "sodiation_desodiation",
        basis_mAh_g: Annotated[float | None, typer.Option(
            "--basis-mAh-g", help="Capacity basis for C-rates (mAh/g); no C-rate is given "
            "without it.")] = None,
        exclude_cv: Annotated[bool, typer.Option(
            "--exclude-cv", help="Exclude constant-voltage holds from capacities, ICE and "
            "CE (default: included; both are always reported).")] = False,
        electrode: Annotated[str, typer.Option(
            "--electrode", help="Working electrode: auto (inferred from the voltage window "
            "and the first step, stated in the output), anode, cathode or full.")] = "auto",
        theoretical_mAh_g: Annotated[float | None, typer.Option(
            "--theoretical-mAh-g", help="Theoretical capacity of the active material: "
            "half cycles above it are flagged.")] = None,
        capacity_source: Annotated[str, typer.Option(
            "--capacity-source", help="current (integral of |I| dt, default) or instrument "
            "(the file's capacity counters, summed over their resets; for exports whose "
            "current is rounded).")] = "current",
        out: Annotated[Path | None, typer.Option(
            "--out", help="Folder for CSV tables, summary.json and figures.")] = None,
        potential_vs: Annotated[str | None, typer.Option(
            "--potential-vs", help="Reference electrode for the potential axes of the "
            "figures, e.g. 'Li+/Li' (default: Na+/Na).")] = None,
        force: bool = FORCE_OPTION,
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Capacities, ICE, CE, retention, energy, hysteresis and rate steps of a file."""
        from nasurf.analysis.cycling import analyze_cycling_file

        mass = _mass_g(mass_mg)
        cf = analyze_cycling_file(
            file, active_mass_g=mass, area_cm2=area_cm2, reference=reference,
            formation_cycles=formation_cycles, cycle_mode=cycle_mode,
            basis_mAh_g=basis_mAh_g, include_cv_steps=not exclude_cv,
            capacity_source=capacity_source, electrode=electrode,
            theoretical_capacity_mAh_g=theoretical_mAh_g)
        result = cf.result
        written: list[Path] = []
        if out is not None:
            # a capacity table has no curves to draw: its tables only
            written = (write_outputs(cf.data, result, out, potential_vs=potential_vs)
                       if cf.data is not None else result.to_csv(out))
        for w in cf.warnings:
            stderr.print(f"[yellow]warning:[/] {w}", highlight=False)
        if json_out:
            doc = cf.to_dict()
            doc["written"] = [str(p) for p in written]
            emit_json(doc)
            return
        print_cycling_tables(result, Console())
        if written:
            stderr.print(f"wrote {len(written)} files to {out}")
