"""``nasurf analyze gitt``: Weppner–Huggins GITT analysis of one file.

Reads the file with :func:`nasurf.io.read`, runs :func:`nasurf.analysis.gitt.gitt_analysis`
with the material and geometry inputs given as options (user units converted here:
mg → g, µm → cm), prints a per-pulse table or one JSON document (``pulses`` with
``soc``, ``D_L2_cm2_s``, ``D_sqrt_t_cm2_s``, ``ir_drop_V``, ``tau_s``, ``flags``; and a
``summary``), and with ``--out`` writes the CSV, the JSON and the figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nasurf.clikit import (
    FORCE_OPTION,
    JSON_OPTION,
    emit_json,
    guard_output,
    handle_errors,
    stderr,
)
from nasurf.errors import ValidationError


def run_gitt(
    file: Path,
    *,
    mass_mg: float | None = None,
    molar_mass: float | None = None,
    density: float | None = None,
    molar_volume: float | None = None,
    area_cm2: float | None = None,
    area_kind: str = "geometric",
    radius_um: float | None = None,
    length_um: float | None = None,
    out: Path | None = None,
    data: Any = None,
) -> dict[str, Any]:
    """Everything ``nasurf analyze gitt`` computes, as one JSON-able document: the
    options in user units (mg, µm) converted for :func:`nasurf.analysis.gitt.gitt_file`
    (``data``: ``file`` already read, passed on to it)."""
    from nasurf.analysis.gitt import gitt_file, write_gitt_outputs

    for name, val in (("--mass-mg", mass_mg), ("--radius-um", radius_um),
                      ("--length-um", length_um)):
        if val is not None and not val > 0:
            raise ValidationError(f"{name} must be > 0, got {val}", field=name.lstrip("-"))
    gf = gitt_file(
        file,
        data=data,
        active_mass_g=mass_mg / 1e3 if mass_mg else None,
        molar_mass_g_mol=molar_mass,
        density_g_cm3=density,
        molar_volume_cm3_mol=molar_volume,
        area_cm2=area_cm2,
        area_kind=area_kind,
        particle_radius_cm=radius_um * 1e-4 if radius_um else None,
        diffusion_length_cm=length_um * 1e-4 if length_um else None,
    )
    doc = gf.to_dict()
    if out is not None:
        doc["files_written"] = [str(w) for w in write_gitt_outputs(gf, out)]
    return doc


def _fmt(x: Any, spec: str) -> str:
    return "-" if x is None or x != x else format(x, spec)


def _print_human(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"GITT pulses (L = {_fmt(doc['diffusion_length_cm'], '.3g')} cm, "
                    f"{doc['length_source']})")
    for col in ("#", "proc.", "SOC", "τ (s)", "IR (mV)", "ΔEs (mV)", "ΔEτ (mV)",
                "D L² (cm²/s)", "D √t (cm²/s)", "flags"):
        t.add_column(col)
    codes: dict[str, str] = {}
    for p in doc["pulses"]:
        for f in p["flags"]:
            codes.setdefault(f, chr(ord("a") + len(codes)))
        t.add_row(str(p["pulse"]), "sod" if p["process"] == "sodiation" else "desod",
                  _fmt(p["soc"], ".3f"), _fmt(p["tau_s"], ".0f"),
                  _fmt(p["ir_drop_V"] and p["ir_drop_V"] * 1e3, ".2f"),
                  _fmt(p["delta_Es_V"] and p["delta_Es_V"] * 1e3, ".2f"),
                  _fmt(p["delta_Etau_V"] and p["delta_Etau_V"] * 1e3, ".2f"),
                  _fmt(p["D_L2_cm2_s"], ".3e"), _fmt(p["D_sqrt_t_cm2_s"], ".3e"),
                  "".join(codes[f] for f in p["flags"]))
    Console().print(t)
    if codes:
        Console().print("flags: " + "; ".join(f"{c} = {f}" for f, c in codes.items()))
    for w in doc["warnings"]:
        stderr.print(f"[yellow]warning:[/] {w}", highlight=False)
    for f in doc.get("files_written", []):
        stderr.print(f"wrote {f}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``gitt`` to the ``nasurf analyze`` group."""

    @app.command("gitt")
    @handle_errors
    @guard_output("out", kind="folder", inputs=("file",))
    def gitt_command(
        file: Annotated[Path, typer.Argument(help="GITT record (time, voltage, current).")],
        mass_mg: Annotated[float | None, typer.Option(
            "--mass-mg", help="Active mass in mg (capacity per gram; L = m/(ρ·S)).")] = None,
        molar_mass: Annotated[float | None, typer.Option(
            "--molar-mass", help="Molar mass of the host in g/mol (x and L = m·V_M/(M·S)).",
        )] = None,
        density: Annotated[float | None, typer.Option(
            "--density", help="Density in g/cm³ (L = m/(ρ·S)); or give --molar-volume.")] = None,
        molar_volume: Annotated[float | None, typer.Option(
            "--molar-volume", help="Molar volume in cm³/mol (L = m·V_M/(M·S)).")] = None,
        area_cm2: Annotated[float | None, typer.Option(
            "--area-cm2", help="Area S in cm² used for L (label it with --area-kind).")] = None,
        area_kind: Annotated[str, typer.Option(
            "--area-kind", help="What S is: geometric, BET or particle.")] = "geometric",
        radius_um: Annotated[float | None, typer.Option(
            "--radius-um", help="Particle radius in µm (spheres: L = r/3).")] = None,
        length_um: Annotated[float | None, typer.Option(
            "--length-um", help="Diffusion length L in µm, given directly.")] = None,
        out: Annotated[Path | None, typer.Option(
            "--out", help="Folder for the pulse CSV, the JSON document and figures.")] = None,
        force: bool = FORCE_OPTION,
        json_out: bool = JSON_OPTION,
    ) -> None:
        """GITT: pulses, IR drop, Weppner–Huggins D (L² and √t forms) vs SOC, checks."""
        doc = run_gitt(file, mass_mg=mass_mg, molar_mass=molar_mass, density=density,
                       molar_volume=molar_volume, area_cm2=area_cm2, area_kind=area_kind,
                       radius_um=radius_um, length_um=length_um, out=out)
        if json_out:
            emit_json(doc)
        else:
            _print_human(doc)
