"""``nasurf analyze cv``: CV kinetics over a set of scan rates from files.

Reads one file per scan rate (or one file holding several rates) with
:func:`nasurf.io.read`, then runs peak b-values, b(E), Dunn k1/k2 and Trasatti from
:mod:`nasurf.analysis.cv`. A single scan rate gives per-cycle peaks and charges instead,
with a note on what needs more rates. ``--json`` prints one document with ``peaks``, ``dunn``,
``b_map``, ``trasatti``, ``conventions`` and ``warnings``; ``--out DIR`` writes the
tables as CSV, the JSON document and the figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nasurf.clikit import FORCE_OPTION, JSON_OPTION, emit_json, guard_output, handle_errors, stderr
from nasurf.errors import NasurfError, ValidationError


def read_measurement(path: Path, *, technique: str | None = None,
                     active_mass_g: float | None = None) -> Any:
    """Read a file through :func:`nasurf.io.read` (BDF-headed CSV fallback until it lands)."""
    if not path.is_file():
        raise NasurfError("no such file", file=str(path))
    try:
        from nasurf.io import read
    except ImportError:
        read = None
    if read is not None:
        return read(path, technique=technique, active_mass_g=active_mass_g)
    import pandas as pd

    from nasurf.errors import FileFormatError
    from nasurf.io.table import EchemData, Metadata

    if path.suffix.lower() != ".csv":
        raise FileFormatError("only CSV files with 'Name / unit' headers can be read here "
                              "until nasurf.io.read is available", file=str(path))
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # pandas raises several parser errors
        raise FileFormatError(f"not a readable CSV file ({exc})", file=str(path)) from None
    return EchemData(df, Metadata(source=str(path), active_mass_g=active_mass_g))


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


def _compact_b_map(bmap: Any, step: int) -> dict[str, Any]:
    out = {}
    for b in ("anodic", "cathodic"):
        t = bmap.table[bmap.table["branch"] == b].iloc[::step]
        out[b] = {
            "potential_V": t["potential_V"].tolist(),
            "b": t["b"].tolist(),
            "b_stderr": t["b_stderr"].tolist(),
        }
    out["masked_fraction"] = bmap.conventions.get("masked_fraction")
    return out


def run_cv(
    files: list[Path],
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
    """Everything ``nasurf analyze cv`` computes, as one JSON-able document."""
    from nasurf.analysis import cv

    if mass_mg is not None and not mass_mg > 0:
        raise ValidationError(f"--mass-mg must be > 0, got {mass_mg}", field="mass-mg")
    rates = cv.scan_rates_from_text(scan_rates) if scan_rates else None
    datas = [read_measurement(f, active_mass_g=mass_mg / 1e3 if mass_mg else None)
             for f in files]
    # techniques whose potential is not swept: a CV analysis of them would report a
    # misleading "no complete cycle" at a rate measured from drift
    not_swept = {"PEIS": "an impedance", "GEIS": "an impedance", "EIS": "an impedance",
                 "OCV": "an open-circuit (OCV)", "CA": "a chronoamperometry (CA)",
                 "CP": "a chronopotentiometry (CP)", "GCPL": "a galvanostatic cycling",
                 "CYCLING": "a galvanostatic cycling"}
    for d in datas:
        kind = not_swept.get((d.metadata.technique or "").upper())
        if kind:
            raise ValidationError(f"this is {kind} file (technique {d.metadata.technique}), "
                                  "not a CV; expected cyclic voltammetry data",
                                  file=d.metadata.source)
    cvset = cv.CVSet.from_echem(datas if len(datas) > 1 else datas[0], scan_rates_V_s=rates)
    if len(cvset) < 2:
        return _single_rate_doc(cvset, files, vertex_exclusion_mV, out)
    mass_g = mass_mg / 1e3 if mass_mg else None
    mass_source = "--mass-mg" if mass_g else None
    if mass_g is None:
        masses = {d.metadata.active_mass_g for d in datas}
        if len(masses) == 1 and None not in masses:
            mass_g = masses.pop()
            mass_source = "file settings"
    prep = cv.prepare_branches(
        cvset,
        cycle=cycle,
        ru_ohm=ru_ohm,
        window_V=_parse_window(window),
        vertex_exclusion_V=vertex_exclusion_mV / 1e3 if vertex_exclusion_mV is not None else None,
    )
    warnings = list(prep.warnings)
    kin = cv.b_value_peaks(prep, baseline=baseline, min_rates=min(3, len(cvset)))  # type: ignore[arg-type]
    bmap = cv.b_value_map(prep)
    dunn = None
    try:
        dunn = cv.dunn_analysis(prep, mass_g=mass_g)
    except ValidationError as exc:
        warnings.append(f"Dunn analysis skipped: {exc.reason}")
    tras = None
    try:
        tras = cv.trasatti_from_cvs(prep, mass_g=mass_g)
    except ValidationError as exc:
        warnings.append(f"Trasatti analysis skipped: {exc.reason}")
    for part in (kin, dunn, tras):
        if part is not None:
            warnings.extend(part.warnings)
    rs = None
    if (rs_area_cm2 is None) != (rs_conc_mol_cm3 is None):
        raise ValidationError("Randles–Sevcik needs both --rs-area-cm2 and --rs-conc",
                              field="rs-area-cm2")
    if rs_area_cm2 is not None:
        rs = {pid: r.to_dict() for pid, r in cv.randles_sevcik_from_peaks(
            kin, n=rs_n, area_cm2=rs_area_cm2, concentration_mol_cm3=rs_conc_mol_cm3).items()}
        for pid, r in rs.items():
            warnings.extend(f"Randles–Sevcik {pid}: {w}" for w in r["warnings"])
    # b(E) in the JSON every ~5 mV: enough to plot, not 4000 numbers per branch
    step = max(1, round(0.005 / prep.conventions["grid_step_V"]))
    conventions = dict(prep.conventions)
    conventions.update(
        baseline=baseline,
        mass_g=mass_g,
        mass_source=mass_source,
        scan_rates_mV_s=[float(v) * 1e3 for v in cvset.scan_rates_V_s],
        files=[str(f) for f in files],
        b_map_json_step_V=step * prep.conventions["grid_step_V"],
    )
    doc: dict[str, Any] = {
        "peaks": kin.to_dict()["peaks"],
        "couples": kin.couples,
        "dunn": dunn.to_dict()["dunn"] if dunn else [],
        "dunn_flags": dunn.flags if dunn else None,
        "dunn_units": dunn.units if dunn else None,
        "b_map": _compact_b_map(bmap, step),
        "trasatti": tras.to_dict() if tras else None,
        "randles_sevcik": rs,
        "conventions": conventions,
        "warnings": list(dict.fromkeys(warnings)),
    }
    if out is not None:
        doc["files_written"] = [str(p) for p in _write_outputs(out, kin, bmap, dunn, tras, doc)]
    return doc


def _single_rate_doc(cvset: Any, files: list[Path], vertex_exclusion_mV: float | None,
                     out: Path | None) -> dict[str, Any]:
    """One scan rate: per-cycle peaks and charges, and what needs more rates.

    Several runs of the file at that rate (separate measurements of a session) are all
    analysed, one after the other, with a ``run`` column.
    """
    import pandas as pd

    from nasurf.analysis import cv
    one = cvset.cvs[0]
    same = [r for r in cvset.repeats
            if abs(r.scan_rate_V_s - one.scan_rate_V_s) <= 0.01 * one.scan_rate_V_s]
    runs = sorted([one, *same], key=lambda c: c.rows[0] if c.rows else 0)
    excl = vertex_exclusion_mV / 1e3 if vertex_exclusion_mV is not None else None
    done: list[tuple[Any, Any]] = []
    warnings = [w for w in cvset.warnings if not (len(runs) > 1 and "is run more than once" in w)]
    for c in runs:
        try:
            done.append((c, cv.cycle_summary(c, vertex_exclusion_V=excl)))
        except ValidationError as exc:
            if len(runs) == 1:
                raise
            warnings.append(f"{c.source}: {exc.reason}; this run is left out")
    if not done:
        raise ValidationError(cv.no_cycle_reason(one), file=one.source)
    tables = []
    for r, (c, s) in enumerate(done, start=1):
        t = s.table.copy()
        if len(done) > 1:
            t.insert(0, "run", r)
            t.insert(1, "run_rows", f"{c.rows[0]}-{c.rows[1] - 1}" if c.rows else "")
        tables.append(t)
        warnings.extend(s.warnings if len(done) == 1 else (f"run {r}: {w}" for w in s.warnings))
    table = pd.concat(tables, ignore_index=True)
    summary = done[0][1]
    notes = list(summary.notes)
    if len(done) > 1:
        notes.append(f"{len(done)} runs at {one.scan_rate_mV_s:.4g} mV/s (separate "
                     "measurements or stretches of the file) analysed one after the other: "
                     "column 'run'")
    conventions = dict(summary.conventions)
    conventions.update(scan_rates_mV_s=[one.scan_rate_mV_s],
                       scan_rate_sources=[one.scan_rate_source],
                       files=[str(f) for f in files])
    doc: dict[str, Any] = {
        "mode": "single scan rate",
        "cycles": table.to_dict(orient="records"),
        "notes": notes,
        "peaks": [], "couples": [], "dunn": [], "dunn_flags": None, "dunn_units": None,
        "b_map": None, "trasatti": None, "randles_sevcik": None,
        "conventions": conventions,
        "warnings": list(dict.fromkeys(warnings)),
    }
    if out is not None:
        import json

        from nasurf.analysis import plots_kinetics as pk
        from nasurf.clikit import to_jsonable

        out.mkdir(parents=True, exist_ok=True)
        written = [out / "cv_cycles.csv"]
        table.to_csv(written[0], index=False)
        fig = pk.plot_cv_cycles(done[0][0], done[0][1], more=done[1:])
        written.append(pk.save_figure(fig, out / "cv_cycles.png"))
        p = out / "cv_kinetics.json"
        doc["files_written"] = [*map(str, written), str(p)]
        p.write_text(json.dumps(to_jsonable(doc), indent=2, allow_nan=False), encoding="utf-8")
    return doc


def _write_outputs(out: Path, kin: Any, bmap: Any, dunn: Any, tras: Any,
                   doc: dict[str, Any]) -> list[Path]:
    import json

    from nasurf.analysis import plots_kinetics as pk
    from nasurf.clikit import to_jsonable

    out.mkdir(parents=True, exist_ok=True)
    written = [*kin.to_csv(out), *bmap.to_csv(out)]
    written.append(pk.save_figure(pk.plot_log_peak_current(kin), out / "cv_log_ip_log_v.png"))
    written.append(pk.save_figure(pk.plot_b_map(bmap), out / "cv_b_map.png"))
    if dunn is not None:
        written += dunn.to_csv(out)
        written.append(pk.save_figure(pk.plot_cv_capacitive_envelope(dunn),
                                      out / "cv_capacitive_envelope.png"))
        written.append(pk.save_figure(pk.plot_capacitive_fraction_bars(dunn),
                                      out / "cv_capacitive_fraction.png"))
    if tras is not None:
        written += tras.to_csv(out)
        written.append(pk.save_figure(pk.plot_trasatti(tras), out / "cv_trasatti.png"))
    p = out / "cv_kinetics.json"
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(to_jsonable(doc), indent=2, allow_nan=False), encoding="utf-8")
    tmp.replace(p)
    written.append(p)
    return written


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
        if baseline not in ("none", "linear", "capacitive"):
            raise ValidationError("--baseline must be none, linear or capacitive",
                                  field="baseline")
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
