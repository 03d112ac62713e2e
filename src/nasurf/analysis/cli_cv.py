"""``nasurf analyze cv``: CV kinetics over a set of scan rates from files.

Reads one file per scan rate (or one file holding several rates) with
:func:`nasurf.io.read`, then runs peak b-values, b(E), Dunn k1/k2 and Trasatti through
:func:`nasurf.analysis.kinetics.analyze_cv_files` (this file only turns the options into its
arguments and prints). A single scan rate gives per-cycle peaks and charges instead, with a
note on what needs more rates. ``--json`` prints one document with ``peaks``, ``dunn``,
``b_map``, ``trasatti``, ``conventions`` and ``warnings``; ``--out DIR`` writes the
tables as CSV, the JSON document and the figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nasurf.clikit import FORCE_OPTION, JSON_OPTION, emit_json, guard_output, handle_errors, stderr
from nasurf.errors import ValidationError
from nasurf.options import choose

if TYPE_CHECKING:
    from nasurf.io.table import EchemData

__all__ = ["read_measurement", "register", "run_cv", "scan_rates_from_text"]

# The analysis modules (numpy, pandas, scipy) are imported inside the functions: the
# command line assembles every command at start-up and only runs one.


def read_measurement(path: Path, *, technique: str | None = None,
                     active_mass_g: float | None = None) -> Any:
    """Read a file through :func:`nasurf.io.read` (see
    :func:`nasurf.analysis.kinetics.workflow.read_measurement`; ``analyze gitt`` uses it too)."""
    from nasurf.analysis.kinetics.workflow import read_measurement as read

    return read(path, technique=technique, active_mass_g=active_mass_g)


def scan_rates_from_text(text: str, unit: str = "mV/s") -> list[float]:
    """Parse "0.1,0.2,0.5" (in ``unit``) into V/s via :mod:`nasurf.units`."""
    from nasurf.units import convert

    vals: list[float] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            x = float(part)
        except ValueError as exc:
            raise ValidationError(
                f"scan rate '{part}' is not a number (expected e.g. 0.1,0.2,0.5 in {unit})",
                field="scan_rates",
            ) from exc
        vals.append(float(convert(x, unit, "V/s")))
    if not vals:
        raise ValidationError("no scan rate given", field="scan_rates")
    return vals


def _parse_window(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise ValidationError(f"--window must be 'Emin,Emax' in V, got {text!r}",
                              field="window") from None
    if not hi > lo:
        raise ValidationError(f"--window: Emax must exceed Emin, got {text!r}", field="window")
    return lo, hi


def run_cv(
    files: Sequence[Path | EchemData],
    *,
    mass_mg: float | None = None,
    scan_rates: str | None = None,
    cycle: int | None = None,
    ru_ohm: float | None = None,
    baseline: str = "none",
    window: str | None = None,
    vertex_exclusion_mV: float | None = None,
    rs_area_cm2: float | None = None,
    rs_conc_mol_cm3: float | None = None,
    rs_n: float = 1.0,
    out: Path | None = None,
) -> dict[str, Any]:
    """Everything ``nasurf analyze cv`` computes, as one JSON-able document.

    The options as the command line and the web form give them (mg, mV/s, text), turned
    into :func:`nasurf.analysis.kinetics.analyze_cv_files` arguments. ``files`` may also be
    measurements already read (the web workbench passes its kept tables).
    """
    from nasurf.analysis.kinetics import BASELINES, analyze_cv_files

    if mass_mg is not None and not mass_mg > 0:
        raise ValidationError(f"--mass-mg must be > 0, got {mass_mg}", field="mass-mg")
    if (rs_area_cm2 is None) != (rs_conc_mol_cm3 is None):
        raise ValidationError("Randles–Sevcik needs both --rs-area-cm2 and --rs-conc",
                              field="rs-area-cm2")
    result = analyze_cv_files(
        files,
        mass_g=mass_mg / 1e3 if mass_mg else None,
        mass_source="--mass-mg",
        scan_rates_V_s=scan_rates_from_text(scan_rates) if scan_rates else None,
        cycle=cycle,
        ru_ohm=ru_ohm,
        baseline=choose("--baseline", baseline, BASELINES, where="nasurf analyze cv"),
        window_V=_parse_window(window),
        vertex_exclusion_V=vertex_exclusion_mV / 1e3 if vertex_exclusion_mV is not None
        else None,
        rs_area_cm2=rs_area_cm2,
        rs_concentration_mol_cm3=rs_conc_mol_cm3,
        rs_n=rs_n,
    )
    doc = result.to_dict()
    if out is not None:
        doc["files_written"] = [str(p) for p in result.write(out)]
    return doc


def _print_human(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    if doc.get("mode") == "single scan rate":
        rate = doc["conventions"]["scan_rates_mV_s"][0]
        t = Table(title=f"CV cycles at {rate:.4g} mV/s (one scan rate)")
        for col in ("run.cycle" if doc["cycles"] and "run" in doc["cycles"][0] else "cycle",
                    "Ipa (A)", "Epa (V)", "Ipc (A)", "Epc (V)", "ΔEp (V)",
                    "Qa (C)", "Qc (C)", "|Qa/Qc|"):
            t.add_column(col)
        for r in doc["cycles"]:
            label = f"{r['run']}.{r['cycle']}" if "run" in r else str(r["cycle"])
            t.add_row(label, f"{r['anodic_peak_current_A']:.4g}",
                      f"{r['anodic_peak_potential_V']:.4f}",
                      f"{r['cathodic_peak_current_A']:.4g}",
                      f"{r['cathodic_peak_potential_V']:.4f}", f"{r['peak_separation_V']:.4f}",
                      f"{r['anodic_charge_C']:.4g}", f"{r['cathodic_charge_C']:.4g}",
                      f"{r['charge_ratio']:.4f}")
        con.print(t)
        for n in doc["notes"]:
            con.print(f"note: {n}", highlight=False)
        for w in doc["warnings"]:
            stderr.print(f"[yellow]warning:[/] {w}", highlight=False)
        for f in doc.get("files_written", []):
            stderr.print(f"wrote {f}", highlight=False)
        return
    t = Table(title="Peak b-values (log|ip| = log a + b log v)")
    for col in ("peak", "branch", "Ep at lowest rate (V)", "b", "± SE", "R²", "flags"):
        t.add_column(col)
    for p in doc["peaks"]:
        flags = ", ".join(k for k in ("curvature_flag", "low_r2_flag") if p.get(k))
        b = p["b"]
        t.add_row(p["peak_id"], p["branch"], f"{p['potential_V'][0]:.3f}",
                  "-" if b is None or b != b else f"{b:.3f}",
                  "-" if p["b_stderr"] != p["b_stderr"] else f"{p['b_stderr']:.3f}",
                  "-" if p["r2"] != p["r2"] else f"{p['r2']:.4f}", flags)
    con.print(t)
    if doc["dunn"]:
        d = Table(title="Dunn capacitive fraction (charge-based; area-ratio)")
        for col in ("scan rate (mV/s)", "f_cap", "anodic", "cathodic", "area ratio"):
            d.add_column(col)
        for r in doc["dunn"]:
            d.add_row(f"{r['scan_rate_mV_s']:g}", f"{r['capacitive_fraction']:.3f}",
                      f"{r['capacitive_fraction_anodic']:.3f}",
                      f"{r['capacitive_fraction_cathodic']:.3f}",
                      f"{r['capacitive_fraction_area']:.3f}")
        con.print(d)
    for pid, r in (doc.get("randles_sevcik") or {}).items():
        con.print(f"Randles–Sevcik {pid}: apparent D = {r['D_cm2_s']:.3e} cm²/s "
                  f"(with intercept {r['D_with_intercept_cm2_s']:.3e})")
    if doc["trasatti"]:
        tr = doc["trasatti"]
        con.print(f"Trasatti: q_outer = {tr['q_outer']:.4g} {tr['charge_unit']}, "
                  f"q_total = {tr['q_total']:.4g} {tr['charge_unit']}")
    for w in doc["warnings"]:
        stderr.print(f"[yellow]warning:[/] {w}", highlight=False)
    for f in doc.get("files_written", []):
        stderr.print(f"wrote {f}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``cv`` to the ``nasurf analyze`` group."""

    @app.command("cv")
    @handle_errors
    @guard_output("out", kind="folder", inputs=("files",))
    def cv_command(
        files: Annotated[list[Path], typer.Argument(
            help="CV files: one per scan rate, or one file holding several rates.")],
        mass_mg: Annotated[float | None, typer.Option(
            "--mass-mg", help="Active mass in mg (currents per gram, k1 in F/g, mAh/g); "
            "default: the files' setting when they agree.")] = None,
        scan_rates: Annotated[str | None, typer.Option(
            "--scan-rates", help="Scan rates in mV/s, comma separated, one per CV in file "
            "order (e.g. 0.1,0.2,0.5,1,2). Default: the files' settings, else dE/dt.")] = None,
        cycle: Annotated[int | None, typer.Option(
            "--cycle", help="Cycle used at every rate (1-based); default: the last cycle "
            "present at all rates.")] = None,
        ru_ohm: Annotated[float | None, typer.Option(
            "--ru-ohm", help="Uncompensated resistance in ohm for the iR correction "
            "E − i·Ru (e.g. the EIS high-frequency intercept).")] = None,
        baseline: Annotated[str, typer.Option(
            "--baseline", help="Peak baseline: none (raw current), linear (tangent under "
            "the peak) or capacitive.")] = "none",
        window: Annotated[str | None, typer.Option(
            "--window", help="Potential window 'Emin,Emax' in V (the capacitive fraction "
            "depends on it).")] = None,
        vertex_exclusion_mv: Annotated[float | None, typer.Option(
            "--vertex-exclusion-mV", help="Potential excluded at each vertex in mV "
            "(default 2 % of the window).")] = None,
        rs_area_cm2: Annotated[float | None, typer.Option(
            "--rs-area-cm2", help="Electrode area in cm² for the Randles–Sevcik apparent D "
            "(with --rs-conc).")] = None,
        rs_conc: Annotated[float | None, typer.Option(
            "--rs-conc", help="Na concentration change C in mol/cm³ for Randles–Sevcik "
            "(e.g. Δx·ρ/M, or c_max 0.01454 for hard carbon).")] = None,
        rs_n: Annotated[float, typer.Option(
            "--rs-n", help="Electrons per Na for Randles–Sevcik.")] = 1.0,
        out: Annotated[Path | None, typer.Option(
            "--out", help="Folder for CSV tables, the JSON document and PNG figures.")] = None,
        force: bool = FORCE_OPTION,
        json_out: bool = JSON_OPTION,
    ) -> None:
        """CV kinetics over scan rates: peak b-values, b(E), Dunn fraction, Trasatti."""
        from nasurf.analysis.kinetics import BASELINES

        baseline = choose("--baseline", baseline, BASELINES, where="nasurf analyze cv")
        if baseline == "capacitive":
            raise ValidationError("--baseline capacitive needs a featureless window; use the "
                                  "Python API (capacitive_window_V) or 'linear'",
                                  field="baseline")
        doc = run_cv(files, mass_mg=mass_mg, scan_rates=scan_rates, cycle=cycle,
                     ru_ohm=ru_ohm, baseline=baseline, window=window,
                     vertex_exclusion_mV=vertex_exclusion_mv, rs_area_cm2=rs_area_cm2,
                     rs_conc_mol_cm3=rs_conc, rs_n=rs_n, out=out)
        if json_out:
            emit_json(doc)
        else:
            _print_human(doc)
