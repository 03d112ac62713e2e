"""``nasurf analyze eis``: equivalent-circuit fit, lin-KK check and Warburg σ/D of an
impedance file (one spectrum, or every sweep of a multi-sweep file fitted as a series).

Runs :func:`nasurf.analysis.eis.analyze_eis_file` (this file only turns the option text into
its arguments) and prints rich tables, or exactly one JSON document with ``--json``;
``--out`` writes CSV tables, JSON and figures (Nyquist, Bode, lin-KK residuals, σ plot).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nasurf.clikit import FORCE_OPTION, JSON_OPTION, emit_json, guard_output, handle_errors, stderr
from nasurf.errors import ValidationError

if TYPE_CHECKING:
    from nasurf.io.table import EchemData


def read_impedance(path: Path, *, area_cm2: float | None = None) -> EchemData:
    """Read an impedance file (see :func:`nasurf.analysis.eis.read_impedance`)."""
    from nasurf.analysis.eis import read_impedance as read

    return read(path, area_cm2=area_cm2)


def _parse_assignments(text: str | None, option: str) -> dict[str, float]:
    """``"R0=5, R1=50"`` → {"R0": 5.0, "R1": 50.0} (numbers only; nothing is evaluated)."""
    if not text:
        return {}
    out: dict[str, float] = {}
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise ValidationError(f"{option}: expected NAME=VALUE pairs separated by commas "
                                  f"(e.g. 'R0=5,CPE1_1=0.9'), got {part!r}", field=option)
        try:
            out[name.strip()] = float(value.strip().replace("\u2212", "-"))
        except ValueError:
            raise ValidationError(f"{option}: value of {name.strip()} is {value.strip()!r}; "
                                  "expected a number", field=option) from None
    return out


def _parse_bounds(text: str | None) -> dict[str, tuple[float, float]]:
    """``"CPE1_1=0.5:1, R1=0:inf"`` → {"CPE1_1": (0.5, 1.0), "R1": (0.0, inf)}."""
    if not text:
        return {}
    out = {}
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, rng = part.partition("=")
        lo, sep2, hi = rng.partition(":")
        try:
            if not (sep and sep2):
                raise ValueError
            out[name.strip()] = (float(lo), float(hi))
        except ValueError:
            raise ValidationError(f"--bounds: expected NAME=LOW:HIGH (e.g. 'CPE1_1=0.5:1'), got "
                                  f"{part!r}", field="--bounds") from None
    return out


def _parse_window(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    lo, sep, hi = text.partition(":")
    try:
        if not sep:
            raise ValueError
        a, b = float(lo), float(hi)
    except ValueError:
        raise ValidationError(f"--warburg-window: expected FMIN:FMAX in Hz (e.g. '0.001:0.1'), "
                              f"got {text!r}", field="--warburg-window") from None
    if not (0 < a < b):
        raise ValidationError(f"--warburg-window: need 0 < FMIN < FMAX, got {text!r}",
                              field="--warburg-window")
    return a, b


def _parse_spectrum(text: str) -> int | None:
    if text.strip().lower() == "all":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValidationError(f"--spectrum: expected 'all' or a sweep number, got {text!r}",
                              field="--spectrum") from None


def _positive(value: float | None, option: str) -> float | None:
    if value is None:
        return None
    if not (math.isfinite(value) and value > 0):
        raise ValidationError(f"{option} must be > 0, got {value}", field=option)
    return value


def _fmt(x: Any, pattern: str = "{:.4g}") -> str:
    try:
        if x is None or x != x:
            return "-"
        return pattern.format(float(x))
    except (TypeError, ValueError):
        return "-"


def print_single(a, console: Console, source: str | None) -> None:
    fit = a.fit
    table = Table(title=f"{fit.circuit} fit: {source} (spectrum {a.index}, {fit.n_points} "
                        f"points)", title_justify="left")
    for col in ("parameter", "value", "stderr", "95 % CI", "unit"):
        table.add_column(col, justify="left" if col in ("parameter", "unit") else "right")
    for n, v in fit.parameters.items():
        lo, hi = fit.ci95[n]
        table.add_row(n, _fmt(v), _fmt(fit.stderr[n], "{:.2g}"),
                      f"[{_fmt(lo)}, {_fmt(hi)}]", fit.units[n])
    console.print(table)
    console.print(f"χ² = {fit.chi2:.4g} ({fit.weighting} weighting), relative RMSE "
                  f"{fit.relative_rmse:.2%}, starts {fit.n_starts} ({fit.n_agreeing} agreeing)")
    if a.linkk is not None:
        console.print(f"lin-KK: {a.linkk.verdict} (M = {a.linkk.n_rc}, RMS residual "
                      f"{a.linkk.rms_residual:.2%}, worst {a.linkk.max_residual:.2%})")
    d = a.derived
    if d.R_ct_Ohm is not None:
        extra = f", R_ct·A = {d.R_ct_area_Ohm_cm2:.4g} Ω cm²" if d.R_ct_area_Ohm_cm2 else ""
        console.print(f"R_ct ({d.rct_element}) = {d.R_ct_Ohm:.4g} Ω{extra}")
    for name, c in d.effective_capacitance_F.items():
        console.print(f"C_eff ({name}, Brug) = {c:.4g} F")
    w = a.warburg
    if w.real is not None:
        console.print(f"Warburg window {w.window_Hz[0]:.3g}-{w.window_Hz[1]:.3g} Hz "
                      f"({w.window_source}): σ(Z') = {w.real.slope:.4g} ± "
                      f"{w.real.slope_stderr:.2g} Ω s^-1/2, σ(−Z'') = {w.imag.slope:.4g}")
        for dd in w.diffusion:
            console.print(f"D ({dd.form}) = {dd.D_cm2_s:.3g} cm²/s")


def print_series(result, console: Console) -> None:
    t = result.table()
    names = list(result.spectra[0].fit.parameters)
    table = Table(title=f"{result.circuit}: {len(result.spectra)} spectra from {result.source}",
                  title_justify="left")
    table.add_column("spectrum", justify="right")
    for n in names:
        table.add_column(n, justify="right")
    for col in ("rel. RMSE", "lin-KK", "start"):
        table.add_column(col, justify="right")
    for _, row in t.iterrows():
        cells = [str(row["spectrum"])]
        for n in names:
            unit = result.spectra[0].fit.units[n]
            cells.append(_fmt(row[f"{n} / {unit}"]))
        cells += [_fmt(row["relative_rmse"], "{:.2%}"), str(row["linkk"]), str(row["start"])]
        table.add_row(*cells)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``eis`` to the ``nasurf analyze`` app."""

    @app.command("eis")
    @handle_errors
    @guard_output("out", kind="folder", inputs=("file",))
    def eis(
        file: Annotated[Path, typer.Argument(help="Impedance file (BioLogic .mpr/.mpt, Gamry "
                                             ".DTA, CSV ...); format detected by content.")],
        circuit: Annotated[str, typer.Option(
            "--circuit", "-c",
            help="Circuit string as in impedance.py: '-' series, 'p(a,b)' parallel, elements "
                 "R, C, L, W, Wo, Ws, CPE, La, G, Gs, K, Zarc, TLMQ with an index.")
        ] = "R0-p(R1,CPE1)-W1",
        initial_guess: Annotated[str | None, typer.Option(
            "--initial-guess", help="Start values NAME=VALUE, comma separated (SI units, "
                                    "e.g. 'R0=5,R1=50,CPE1_1=0.9'); the rest come from the "
                                    "spectrum.")] = None,
        constants: Annotated[str | None, typer.Option(
            "--constants", help="Parameters held fixed, NAME=VALUE pairs.")] = None,
        bounds: Annotated[str | None, typer.Option(
            "--bounds", help="Bounds NAME=LOW:HIGH, comma separated (default R, C, Q, σ ... "
                             ">= 0, exponents 0.3-1).")] = None,
        weighting: Annotated[str, typer.Option(
            "--weighting", help="Residual weighting: modulus (|Z|), proportional (|Z'|, "
                                "|Z''|) or unit.")] = "modulus",
        n_starts: Annotated[int, typer.Option(
            "--n-starts", help="Maximum number of starts of the multi-start fit.")] = 8,
        seed: Annotated[int, typer.Option("--seed", help="Random seed of the multi-start.")
                        ] = 0,
        area_cm2: Annotated[float | None, typer.Option(
            "--area-cm2", help="Electrode area in cm² (for R_ct·A and D).")] = None,
        concentration: Annotated[float | None, typer.Option(
            "--concentration-mol-cm3", help="Concentration of the diffusing species in "
                                            "mol/cm³ (for D, R²T² form).")] = None,
        molar_volume: Annotated[float | None, typer.Option(
            "--molar-volume-cm3-mol", help="Host molar volume in cm³/mol (for D, "
                                           "Ho–Raistrick–Huggins form).")] = None,
        dE_dx: Annotated[float | None, typer.Option(
            "--dE-dx-V", help="|dE/dx| of the OCV curve in V per x (for D, Ho–Raistrick–"
                              "Huggins form).")] = None,
        electrons: Annotated[float, typer.Option(
            "--electrons", help="Electrons per diffusing ion, n.")] = 1.0,
        temperature_K: Annotated[float, typer.Option(
            "--temperature-K", help="Temperature in K.")] = 298.15,
        fmin: Annotated[float | None, typer.Option(
            "--fmin", help="Lowest frequency to fit, Hz.")] = None,
        fmax: Annotated[float | None, typer.Option(
            "--fmax", help="Highest frequency to fit, Hz.")] = None,
        warburg_window: Annotated[str | None, typer.Option(
            "--warburg-window", help="Warburg window FMIN:FMAX in Hz (default: automatic, "
                                     "phase 45° ± 7°).")] = None,
        spectrum: Annotated[str, typer.Option(
            "--spectrum", help="'all' (every sweep, fitted as a series) or one sweep number."
        )] = "all",
        rct_element: Annotated[str | None, typer.Option(
            "--rct-element", help="Resistor taken as R_ct (default R1).")] = None,
        keep_inductive: Annotated[bool, typer.Option(
            "--keep-inductive", help="Keep points with Z'' > 0 even if the circuit has no "
                                     "inductor.")] = False,
        no_linkk: Annotated[bool, typer.Option("--no-linkk", help="Skip the lin-KK test.")
                            ] = False,
        out: Annotated[Path | None, typer.Option(
            "--out", help="Folder for CSV tables, JSON and figures.")] = None,
        no_figures: Annotated[bool, typer.Option(
            "--no-figures", help="With --out, write tables only.")] = False,
        force: bool = FORCE_OPTION,
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Fit an equivalent circuit to an impedance file; report parameters with
        confidence intervals, lin-KK validity, R_ct, C_eff, Warburg σ and D."""
        from nasurf.analysis.eis import Circuit, analyze_eis_file

        circ = Circuit(circuit)
        for opt, v in (("--fmin", fmin), ("--fmax", fmax), ("--electrons", electrons),
                       ("--temperature-K", temperature_K)):
            _positive(v, opt)
        if fmin is not None and fmax is not None and fmin >= fmax:
            raise ValidationError(f"--fmin ({fmin}) must be below --fmax ({fmax})",
                                  field="--fmin")
        result = analyze_eis_file(
            file, circ, area_cm2=_positive(area_cm2, "--area-cm2"),
            spectrum=_parse_spectrum(spectrum), fmin=fmin, fmax=fmax,
            initial_guess=_parse_assignments(initial_guess, "--initial-guess") or None,
            constants=_parse_assignments(constants, "--constants") or None,
            bounds=_parse_bounds(bounds) or None, weighting=weighting, n_starts=n_starts,
            seed=seed,
            concentration_mol_cm3=_positive(concentration, "--concentration-mol-cm3"),
            molar_volume_cm3_mol=_positive(molar_volume, "--molar-volume-cm3-mol"),
            dE_dx_V=dE_dx, n_electrons=electrons, temperature_K=temperature_K,
            warburg_window_Hz=_parse_window(warburg_window), rct_element=rct_element,
            run_linkk=not no_linkk, drop_inductive=False if keep_inductive else None,
        )
        written = result.write(out, figures=not no_figures) if out is not None else []
        if json_out:
            doc = result.to_dict()
            doc["written"] = [str(p) for p in written]
            emit_json(doc)
            return
        console = Console()
        if len(result.spectra) == 1:
            print_single(result.spectra[0], console, result.source)
        else:
            print_series(result, console)
        for note in result.notes:
            stderr.print(f"note: {escape(note)}", highlight=False)
        for a in result.spectra:
            for w in a.warnings:
                prefix = f"spectrum {a.index}: " if len(result.spectra) > 1 else ""
                stderr.print(f"[yellow]warning:[/] {escape(prefix + w)}", highlight=False)
        if written:
            stderr.print(f"wrote {len(written)} files to {out}", highlight=False)
