"""Top-level commands ``capacity``, ``volume``, ``crate`` and ``molar-mass``.

A thin front end over :mod:`nasurf.materials`: parse options, call the library, print a
rich table (stdout) or exactly one JSON document (``--json``); errors go to stderr with
exit status 2 via :func:`nasurf.clikit.handle_errors`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nasurf.clikit import JSON_OPTION, emit_json, handle_errors, stderr
from nasurf.errors import ValidationError
from nasurf.materials.capacity import compute_capacity, theoretical_capacity
from nasurf.materials.formula import molar_mass as compute_molar_mass
from nasurf.materials.formula import parse_formula
from nasurf.materials.quoted import quoted_capacity_check
from nasurf.materials.rates import CapacityBasis, parse_rate
from nasurf.materials.volume import (
    SYSTEMS,
    parse_phase_spec,
    sodiation_volume_change,
    volume_change,
)

stdout = Console(highlight=False)


def _print_notes(notes, warnings) -> None:
    for note in notes:
        stderr.print(f"note: {note}", highlight=False, markup=False)
    for warning in warnings:
        stderr.print(f"warning: {warning}", highlight=False, markup=False)


@handle_errors
def capacity_command(
    reaction_or_formula: str = typer.Argument(
        ..., help="A balanced sodiation reaction, e.g. 'SnO2 + 7.75 Na -> 2 Na2O + Na3.75Sn' "
                  "(arrows ->, →, =, ⇌), or a host formula together with --sodium."),
    sodium: float | None = typer.Option(
        None, "--sodium", "-n", help="Na taken up per formula unit of the host formula."),
    host: str | None = typer.Option(
        None, "--host", help="Which reactant is the host (default: the first one that is "
                             "not Na)."),
    quoted: float | None = typer.Option(
        None, "--quoted", help="A theoretical capacity quoted in a paper (mAh/g) to check "
                               "against the reaction."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Theoretical specific capacity Q = n·F/(3.6·M) in mAh/g per gram of host."""
    if host is not None:
        if sodium is not None:
            raise ValidationError("--host applies to a reaction; do not combine with --sodium",
                                  field="host")
        result = theoretical_capacity(reaction_or_formula, host=host)
    else:
        result = compute_capacity(reaction_or_formula, sodium)
    finding = None
    if quoted is not None:
        target = result.reaction if result.reaction else result.host
        finding = quoted_capacity_check(
            quoted, target, sodium=result.electrons if result.reaction is None else None)
    if json_output:
        doc = result.to_dict()
        if finding is not None:
            doc["quoted_check"] = finding.to_dict()
        emit_json(doc)
        return
    table = Table(title="Theoretical capacity (sodiation)", show_header=False)
    table.add_row("host", result.host)
    if result.reaction:
        table.add_row("reaction", result.reaction)
    table.add_row("n (Na per formula unit)", f"{result.electrons:.6g}")
    table.add_row("M (g/mol)", f"{result.molar_mass_g_mol:.4f}")
    table.add_row("Q (mAh/g)", f"{result.capacity_mAh_g:.1f}")
    stdout.print(table)
    _print_notes(result.notes, result.warnings)
    if finding is not None:
        stdout.print(f"quoted {finding.quoted_mAh_g:g} mAh/g: [bold]{finding.verdict}[/]")
        stdout.print(finding.message, markup=False)


@handle_errors
def volume_command(
    system: str | None = typer.Argument(
        None, help=f"A built-in system: {', '.join(SYSTEMS)}. Omit to list them all."),
    host: str | None = typer.Option(
        None, "--host", help="Host phase: 'FORMULA:density=RHO' (g/cm3) or "
                             "'FORMULA:SYSTEM,a=..,c=..,Z=..' (Å, degrees)."),
    product: Annotated[list[str] | None, typer.Option(
        "--product", help="Product phase per formula unit of host, e.g. "
                          "'0.25 Na15Sn4:cubic,a=13.14,Z=4'; repeat for mixtures.")] = None,
    json_output: bool = JSON_OPTION,
) -> None:
    """Volume change on full sodiation: V1/V0 and ΔV/V0 (methods.md §9)."""
    product = product or []
    if host is not None or product:
        if system is not None:
            raise ValidationError("give a built-in SYSTEM or --host/--product, not both",
                                  field="system")
        if host is None or not product:
            raise ValidationError("a custom volume change needs --host and at least one "
                                  "--product", field="host")
        coefficient, host_phase = parse_phase_spec(host)
        if coefficient != 1:
            raise ValidationError("the host phase takes no coefficient (one formula unit)",
                                  field="host")
        results = [volume_change(host_phase, [parse_phase_spec(p) for p in product])]
    elif system is not None:
        results = [sodiation_volume_change(system)]
    else:
        results = [s.compute() for s in SYSTEMS.values()]
    if json_output:
        emit_json(results[0] if system is not None or host is not None else results)
        return
    table = Table(title="Volume change on full sodiation (per formula unit of host)")
    for column in ("system", "host → products", "V1/V0", "ΔV/V0"):
        table.add_column(column)
    for r in results:
        table.add_row(r.name or "custom", f"{r.host} → {r.products}",
                      f"{r.volume_ratio_V1_V0:.2f}", f"{100 * r.volume_change_dV_V0:+.0f} %")
    stdout.print(table)
    if len(results) == 1:
        for phase in results[0].inputs:
            stderr.print(f"input: {phase.source}", highlight=False, markup=False)
        if results[0].literature:
            stderr.print(f"literature: {results[0].literature}", highlight=False, markup=False)


def _basis_from_text(text: str | None, kind: str, source: str | None) -> CapacityBasis | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        from nasurf.units import parse_quantity

        quantity = parse_quantity(text, "specific_capacity", where="--basis")
        value = float(quantity.to("mA * h / g").magnitude)
    return CapacityBasis(value, kind, source)


@handle_errors
def crate_command(
    c_rate: str | None = typer.Option(
        None, "--c-rate", help="C-rate to convert: '2', '2C', '0.1C' or 'C/10'."),
    current: str | None = typer.Option(
        None, "--current", help="Specific current to convert: a number in mA/g, or with a "
                                "unit ('0.67 A g-1')."),
    basis: str | None = typer.Option(
        None, "--basis", help="Capacity that defines 1C, in mAh/g (or with a unit). Required."),
    basis_kind: str = typer.Option(
        "unspecified", "--basis-kind", help="Kind of basis: theoretical, practical or "
                                            "unspecified."),
    basis_source: str | None = typer.Option(
        None, "--basis-source", help="Where the basis comes from (paper, measurement)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Convert a C-rate to a specific current (mA/g) or back, on an explicit basis."""
    if (c_rate is None) == (current is None):
        raise ValidationError("give exactly one of --c-rate or --current", field="c-rate")
    capacity_basis = _basis_from_text(basis, basis_kind, basis_source)
    if capacity_basis is None:
        raise ValidationError(
            "--basis is required: a C-rate is only defined relative to a stated capacity "
            "(mAh/g, theoretical or practical)", field="basis")
    if c_rate is not None:
        text = c_rate.strip()
        try:
            float(text)
            text = f"{text}C"
        except ValueError:
            pass
        rate = parse_rate(text, capacity_basis)
    else:
        text = current.strip()
        try:
            float(text)
            text = f"{text} mA/g"
        except ValueError:
            pass
        rate = parse_rate(text, capacity_basis)
    if json_output:
        emit_json(rate)
        return
    table = Table(title="C-rate conversion", show_header=False)
    table.add_row("basis (1C)", f"{capacity_basis.value_mAh_g:g} mA/g "
                                f"({capacity_basis.kind})")
    table.add_row("C-rate", f"{rate.c_rate:.6g} C")
    table.add_row("specific current", f"{rate.current_mA_g:.6g} mA/g")
    stdout.print(table)


@handle_errors
def molar_mass_command(
    formula: str = typer.Argument(..., help="Chemical formula, e.g. 'Na2Ti3O7' or 'Na3.75Sn'."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Molar mass (g/mol) of a formula unit, from IUPAC standard atomic weights."""
    composition = parse_formula(formula)
    mass = compute_molar_mass(composition)
    if json_output:
        emit_json({"formula": formula, "composition": composition, "molar_mass_g_mol": mass})
        return
    table = Table(title=f"{formula}", caption=f"M = {mass:.4f} g/mol")
    table.add_column("element")
    table.add_column("count")
    for element, n in composition.items():
        table.add_row(element, f"{n:g}")
    stdout.print(table)


def register(app: typer.Typer) -> None:
    """Add the materials commands to the top-level ``nasurf`` app."""
    app.command("capacity")(capacity_command)
    app.command("volume")(volume_command)
    app.command("crate")(crate_command)
    app.command("molar-mass")(molar_mass_command)
