"""The CV-set workflow: files → CVs → b-values, b(E), Dunn, Trasatti (and Randles–Sevcik).

:func:`analyze_cv_files` is what ``nasurf analyze cv`` runs, as a library function: it reads
one file per scan rate (or one file holding several rates), refuses files whose potential is
not swept, and runs every scan-rate analysis on one :class:`PreparedBranches` (same cycle,
window and grid). A single scan rate gives per-cycle peaks and charges instead, with a note
on what needs more rates. Analyses that cannot run on the data (Dunn under 4 rates ...) are
skipped with a warning that says why, never silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.analysis.kinetics.branches import PreparedBranches, prepare_branches
from nasurf.analysis.kinetics.bvalue import BValueMap, PeakKinetics, b_value_map, b_value_peaks
from nasurf.analysis.kinetics.cvset import CV, CVSet
from nasurf.analysis.kinetics.cycles import CycleSummary, cycle_summary
from nasurf.analysis.kinetics.dunn import DunnResult, dunn_analysis
from nasurf.analysis.kinetics.peaks import BASELINES
from nasurf.analysis.kinetics.randles_sevcik import RandlesSevcikResult, randles_sevcik_from_peaks
from nasurf.analysis.kinetics.sweeps import no_cycle_reason
from nasurf.analysis.kinetics.trasatti import TrasattiResult, trasatti_from_cvs
from nasurf.errors import NasurfError, ValidationError
from nasurf.io.table import EchemData
from nasurf.options import choose

__all__ = ["CVSetResult", "analyze_cv_files", "read_measurement"]

# Techniques whose potential is not swept: a CV analysis of them would report a misleading
# "no complete cycle" at a rate measured from drift.
_NOT_SWEPT = {"PEIS": "an impedance", "GEIS": "an impedance", "EIS": "an impedance",
              "OCV": "an open-circuit (OCV)", "CA": "a chronoamperometry (CA)",
              "CP": "a chronopotentiometry (CP)", "GCPL": "a galvanostatic cycling",
              "CYCLING": "a galvanostatic cycling"}
# b(E) in the JSON document every ~5 mV: enough to plot, not 4000 numbers per branch
_B_MAP_JSON_STEP_V = 0.005


def read_measurement(path: str | Path, *, technique: str | None = None,
                     active_mass_g: float | None = None) -> EchemData:
    """Read one file through :func:`nasurf.io.read`; a missing file is one clear error."""
    path = Path(path)
    if not path.is_file():
        raise NasurfError("no such file", file=str(path))
    from nasurf.io import read

    return read(path, technique=technique, active_mass_g=active_mass_g)


@dataclass(frozen=True, eq=False)
class CVSetResult:
    """Everything :func:`analyze_cv_files` computed.

    ``mode`` is ``"scan rates"`` (two or more rates: ``peaks``, ``b_map``, ``dunn``,
    ``trasatti``, ``randles_sevcik``; an analysis the data cannot support is ``None`` with a
    warning) or ``"single scan rate"`` (``cycles``: one row per cycle, with a ``run`` column
    when the file holds several runs at that rate, and ``notes``).
    """

    mode: str
    cvset: CVSet
    conventions: dict[str, Any]
    warnings: tuple[str, ...]
    prepared: PreparedBranches | None = None
    peaks: PeakKinetics | None = None
    b_map: BValueMap | None = None
    dunn: DunnResult | None = None
    trasatti: TrasattiResult | None = None
    randles_sevcik: dict[str, RandlesSevcikResult] | None = None
    cycles: pd.DataFrame | None = None
    runs: tuple[tuple[CV, CycleSummary], ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """One JSON-able document (what ``nasurf analyze cv --json`` prints)."""
        if self.mode == "single scan rate":
            assert self.cycles is not None
            return {
                "mode": self.mode,
                "cycles": self.cycles.to_dict(orient="records"),
                "notes": list(self.notes),
                "peaks": [], "couples": [], "dunn": [], "dunn_flags": None, "dunn_units": None,
                "b_map": None, "trasatti": None, "randles_sevcik": None,
                "conventions": self.conventions,
                "warnings": list(self.warnings),
            }
        assert self.peaks is not None and self.b_map is not None and self.prepared is not None
        dunn = self.dunn
        return {
            "peaks": self.peaks.to_dict()["peaks"],
            "couples": self.peaks.couples,
            "dunn": dunn.to_dict()["dunn"] if dunn else [],
            "dunn_flags": dunn.flags if dunn else None,
            "dunn_units": dunn.units if dunn else None,
            "b_map": _compact_b_map(self.b_map, _json_step(self.prepared)),
            "trasatti": self.trasatti.to_dict() if self.trasatti else None,
            "randles_sevcik": ({pid: r.to_dict() for pid, r in self.randles_sevcik.items()}
                               if self.randles_sevcik is not None else None),
            "conventions": self.conventions,
            "warnings": list(self.warnings),
        }

    def write(self, out: str | Path) -> list[Path]:
        """CSV tables, PNG figures and the JSON document ``cv_kinetics.json`` into ``out``.

        The JSON document is :meth:`to_dict`; in the single-rate mode it also lists the files
        written (``files_written``), as ``nasurf analyze cv --out`` always did.
        """
        from nasurf.analysis import plots_kinetics as pk
        from nasurf.jsonio import write_json

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        doc = self.to_dict()
        p = out / "cv_kinetics.json"
        if self.mode == "single scan rate":
            assert self.cycles is not None
            written = [out / "cv_cycles.csv"]
            self.cycles.to_csv(written[0], index=False)
            (c0, s0), *more = self.runs
            fig = pk.plot_cv_cycles(c0, s0, more=more)
            written.append(pk.save_figure(fig, out / "cv_cycles.png"))
            doc["files_written"] = [*map(str, written), str(p)]
            return [*written, write_json(p, doc, indent=2)]
        assert self.peaks is not None and self.b_map is not None
        written = [*self.peaks.to_csv(out), *self.b_map.to_csv(out)]
        written.append(pk.save_figure(pk.plot_log_peak_current(self.peaks),
                                      out / "cv_log_ip_log_v.png"))
        written.append(pk.save_figure(pk.plot_b_map(self.b_map), out / "cv_b_map.png"))
        if self.dunn is not None:
            written += self.dunn.to_csv(out)
            written.append(pk.save_figure(pk.plot_cv_capacitive_envelope(self.dunn),
                                          out / "cv_capacitive_envelope.png"))
            written.append(pk.save_figure(pk.plot_capacitive_fraction_bars(self.dunn),
                                          out / "cv_capacitive_fraction.png"))
        if self.trasatti is not None:
            written += self.trasatti.to_csv(out)
            written.append(pk.save_figure(pk.plot_trasatti(self.trasatti),
                                          out / "cv_trasatti.png"))
        written.append(write_json(p, doc, indent=2))
        return written


def analyze_cv_files(
    paths: Sequence[str | Path | EchemData],
    *,
    mass_g: float | None = None,
    mass_source: str = "given",
    scan_rates_V_s: Sequence[float] | None = None,
    cycle: int | None = None,
    ru_ohm: float | None = None,
    baseline: str = "none",
    capacitive_window_V: tuple[float, float] | None = None,
    window_V: tuple[float, float] | None = None,
    vertex_exclusion_V: float | None = None,
    rs_area_cm2: float | None = None,
    rs_concentration_mol_cm3: float | None = None,
    rs_n: float = 1.0,
) -> CVSetResult:
    """CV kinetics of one electrode from its CV files (or measurements already read).

    ``paths``: one file per scan rate, or one file holding several rates. ``mass_g``: the
    active mass (currents per gram, k1 in F/g, charges in mAh/g); without it the files'
    setting is used when all files agree (``mass_source`` names where a given mass came
    from in the conventions). ``scan_rates_V_s``: one rate per CV in file order (default:
    the files' settings, else measured dE/dt). ``cycle``, ``ru_ohm``, ``window_V`` and
    ``vertex_exclusion_V`` go to :func:`prepare_branches`; ``baseline`` (one of
    :data:`BASELINES`) and ``capacitive_window_V`` to :func:`b_value_peaks`. Randles–Sevcik
    runs when both ``rs_area_cm2`` and ``rs_concentration_mol_cm3`` are given.
    """
    baseline_mode = choose("baseline", baseline, BASELINES, where="analyze_cv_files")
    if baseline_mode == "capacitive" and capacitive_window_V is None:
        raise ValidationError("baseline 'capacitive' needs a featureless potential window "
                              "(capacitive_window_V=(Emin, Emax))", field="capacitive_window_V")
    if mass_g is not None and not (np.isfinite(mass_g) and mass_g > 0):
        raise ValidationError(f"active mass must be > 0 g, got {mass_g}", field="mass_g")
    if window_V is not None and not window_V[1] > window_V[0]:
        raise ValidationError(f"window: Emax must exceed Emin, got {tuple(window_V)}",
                              field="window_V")
    if (rs_area_cm2 is None) != (rs_concentration_mol_cm3 is None):
        raise ValidationError("Randles–Sevcik needs both rs_area_cm2 and "
                              "rs_concentration_mol_cm3", field="rs_area_cm2")
    if not paths:
        raise ValidationError("no CV data given", field="files")
    datas = [p if isinstance(p, EchemData) else read_measurement(p, active_mass_g=mass_g)
             for p in paths]
    files = [str(p) if not isinstance(p, EchemData) else (p.metadata.source or f"data {k}")
             for k, p in enumerate(paths)]
    for d in datas:
        kind = _NOT_SWEPT.get((d.metadata.technique or "").upper())
        if kind:
            raise ValidationError(f"this is {kind} file (technique {d.metadata.technique}), "
                                  "not a CV; expected cyclic voltammetry data",
                                  file=d.metadata.source)
    cvset = CVSet.from_echem(datas if len(datas) > 1 else datas[0], scan_rates_V_s=scan_rates_V_s)
    if len(cvset) < 2:
        return _single_rate(cvset, files, vertex_exclusion_V)
    source = mass_source if mass_g else None
    if mass_g is None:
        masses = {d.metadata.active_mass_g for d in datas}
        if len(masses) == 1 and None not in masses:
            mass_g = masses.pop()
            source = "file settings"
    prep = prepare_branches(cvset, cycle=cycle, ru_ohm=ru_ohm, window_V=window_V,
                            vertex_exclusion_V=vertex_exclusion_V)
    warnings = list(prep.warnings)
    kin = b_value_peaks(prep, baseline=baseline_mode, capacitive_window_V=capacitive_window_V,
                        min_rates=min(3, len(cvset)))
    bmap = b_value_map(prep)
    dunn = None
    try:
        dunn = dunn_analysis(prep, mass_g=mass_g)
    except ValidationError as exc:
        warnings.append(f"Dunn analysis skipped: {exc.reason}")
    tras = None
    try:
        tras = trasatti_from_cvs(prep, mass_g=mass_g)
    except ValidationError as exc:
        warnings.append(f"Trasatti analysis skipped: {exc.reason}")
    for part in (kin, dunn, tras):
        if part is not None:
            warnings.extend(part.warnings)
    rs = None
    if rs_area_cm2 is not None:
        assert rs_concentration_mol_cm3 is not None
        rs = randles_sevcik_from_peaks(kin, n=rs_n, area_cm2=rs_area_cm2,
                                       concentration_mol_cm3=rs_concentration_mol_cm3)
        for pid, r in rs.items():
            warnings.extend(f"Randles–Sevcik {pid}: {w}" for w in r.warnings)
    step = _json_step(prep)
    conventions = dict(prep.conventions)
    conventions.update(
        baseline=baseline_mode,
        mass_g=mass_g,
        mass_source=source,
        scan_rates_mV_s=[float(v) * 1e3 for v in cvset.scan_rates_V_s],
        files=files,
        b_map_json_step_V=step * prep.conventions["grid_step_V"],
    )
    return CVSetResult("scan rates", cvset, conventions, tuple(dict.fromkeys(warnings)),
                       prepared=prep, peaks=kin, b_map=bmap, dunn=dunn, trasatti=tras,
                       randles_sevcik=rs)


def _single_rate(cvset: CVSet, files: list[str],
                 vertex_exclusion_V: float | None) -> CVSetResult:
    """One scan rate: per-cycle peaks and charges, and what needs more rates.

    Several runs of the file at that rate (separate measurements of a session) are all
    analysed, one after the other, with a ``run`` column.
    """
    one = cvset.cvs[0]
    same = [r for r in cvset.repeats
            if abs(r.scan_rate_V_s - one.scan_rate_V_s) <= 0.01 * one.scan_rate_V_s]
    runs = sorted([one, *same], key=lambda c: c.rows[0] if c.rows else 0)
    done: list[tuple[CV, CycleSummary]] = []
    warnings = [w for w in cvset.warnings if not (len(runs) > 1 and "is run more than once" in w)]
    for c in runs:
        try:
            done.append((c, cycle_summary(c, vertex_exclusion_V=vertex_exclusion_V)))
        except ValidationError as exc:
            if len(runs) == 1:
                raise
            warnings.append(f"{c.source}: {exc.reason}; this run is left out")
    if not done:
        raise ValidationError(no_cycle_reason(one), file=one.source)
    tables = []
    for r, (c, s) in enumerate(done, start=1):
        t = s.table.copy()
        if len(done) > 1:
            t.insert(0, "run", r)
            t.insert(1, "run_rows", f"{c.rows[0]}-{c.rows[1] - 1}" if c.rows else "")
        tables.append(t)
        warnings.extend(s.warnings if len(done) == 1 else (f"run {r}: {w}" for w in s.warnings))
    summary = done[0][1]
    notes = list(summary.notes)
    if len(done) > 1:
        notes.append(f"{len(done)} runs at {one.scan_rate_mV_s:.4g} mV/s (separate "
                     "measurements or stretches of the file) analysed one after the other: "
                     "column 'run'")
    conventions = dict(summary.conventions)
    conventions.update(scan_rates_mV_s=[one.scan_rate_mV_s],
                       scan_rate_sources=[one.scan_rate_source], files=files)
    return CVSetResult("single scan rate", cvset, conventions,
                       tuple(dict.fromkeys(warnings)),
                       cycles=pd.concat(tables, ignore_index=True), runs=tuple(done),
                       notes=tuple(notes))


def _json_step(prep: PreparedBranches) -> int:
    """Every how many grid points b(E) goes into the JSON document."""
    return max(1, round(_B_MAP_JSON_STEP_V / prep.conventions["grid_step_V"]))


def _compact_b_map(bmap: BValueMap, step: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for b in ("anodic", "cathodic"):
        t = bmap.table[bmap.table["branch"] == b].iloc[::step]
        out[b] = {
            "potential_V": t["potential_V"].tolist(),
            "b": t["b"].tolist(),
            "b_stderr": t["b_stderr"].tolist(),
        }
    out["masked_fraction"] = bmap.conventions.get("masked_fraction")
    return out
