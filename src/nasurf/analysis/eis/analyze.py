"""The EIS workflow on a measured file: split into spectra, validate (lin-KK), fit the
circuit (one spectrum, or a series seeded spectrum by spectrum), read σ off the diffusion
line, derive R_ct, C_eff and D, and write tables, JSON and figures.

Owns :func:`split_spectra` (rows of a canonical :class:`~nasurf.io.table.EchemData` →
spectra, one per ``Cycle Count / 1`` value, or per frequency sweep when the file has no
sweep counter), :func:`analyze_eis` / :func:`analyze_spectrum`, and
:func:`analyze_eis_file`, what ``nasurf analyze eis`` runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.analysis.eis.circuits import Circuit
from nasurf.analysis.eis.derived import DerivedEIS, derived_quantities
from nasurf.analysis.eis.fit import EISFit, fit_circuit, fit_series, prepare_spectrum
from nasurf.analysis.eis.linkk import LinKKResult, linkk
from nasurf.analysis.eis.warburg import WarburgAnalysis, warburg_analysis
from nasurf.errors import ValidationError
from nasurf.io.table import CYCLE, FREQUENCY, Z_IMAG, Z_REAL, EchemData

__all__ = ["EISAnalysis", "EISSeriesAnalysis", "Spectrum", "analyze_eis", "analyze_eis_file",
           "analyze_spectrum", "read_impedance", "split_spectra"]

DEFAULT_CIRCUIT = "R0-p(R1,CPE1)-W1"


@dataclass(frozen=True, eq=False)
class Spectrum:
    """One impedance sweep: frequencies (Hz) and Z = Z' + jZ'' (Ohm), as measured."""

    index: int                 # sweep number in the file (Cycle Count, or 1.. by sweep)
    frequencies_Hz: np.ndarray
    Z: np.ndarray
    source_rows: np.ndarray    # row positions in the file's table


def split_spectra(data: EchemData, *, source: str | None = None) -> tuple[list[Spectrum],
                                                                          list[str]]:
    """Spectra in file order, and notes on rows left out (non-impedance rows: f ≤ 0, NaN).

    A file with ``Cycle Count / 1`` is split on it (BioLogic's sweep counter); otherwise a
    new sweep starts wherever the frequency jumps back by more than a factor of 2 against
    the sweep direction.
    """
    src = source or data.metadata.source
    df = data.data
    missing = [c for c in (FREQUENCY, Z_REAL, Z_IMAG) if c not in df.columns]
    if missing:
        raise ValidationError(
            f"no impedance columns {missing} in the file (technique "
            f"{data.metadata.technique or 'unknown'}); EIS analysis needs '{FREQUENCY}', "
            f"'{Z_REAL}' and '{Z_IMAG}'",
            file=src, field=missing[0],
        )
    f = pd.to_numeric(df[FREQUENCY], errors="coerce").to_numpy(float)
    zr = pd.to_numeric(df[Z_REAL], errors="coerce").to_numpy(float)
    zi = pd.to_numeric(df[Z_IMAG], errors="coerce").to_numpy(float)
    good = np.isfinite(f) & (f > 0) & np.isfinite(zr) & np.isfinite(zi) & ((zr != 0) | (zi != 0))
    notes = []
    if (~good).any():
        notes.append(f"{int((~good).sum())} rows without an impedance point (frequency ≤ 0, "
                     "missing or zero Z) were left out")
    rows = np.nonzero(good)[0]
    if rows.size == 0:
        raise ValidationError("the file holds no impedance points (all frequencies are "
                              "missing or ≤ 0)", file=src, field=FREQUENCY)
    if CYCLE in df.columns and df[CYCLE].iloc[rows].nunique() > 1:
        labels = pd.to_numeric(df[CYCLE], errors="coerce").to_numpy()[rows]
        groups = []
        for lab in pd.unique(labels):
            groups.append((int(lab) if np.isfinite(lab) else -1, rows[labels == lab]))
    else:
        fr = f[rows]
        direction = -1.0 if fr.size < 2 or fr[0] >= fr[-1] else 1.0
        # Going high → low, a jump up by more than 2× starts a new sweep (and vice versa).
        ratio = fr[1:] / fr[:-1]
        breaks = np.nonzero(ratio > 2.0 if direction < 0 else ratio < 0.5)[0] + 1
        groups = [(k + 1, seg) for k, seg in enumerate(np.split(rows, breaks))]
    spectra = [Spectrum(idx, f[r], zr[r] + 1j * zi[r], r) for idx, r in groups if r.size]
    return spectra, notes


@dataclass(frozen=True, eq=False)
class EISAnalysis:
    """Everything computed for one spectrum."""

    index: int
    fit: EISFit
    linkk: LinKKResult | None
    warburg: WarburgAnalysis
    derived: DerivedEIS
    notes: tuple[str, ...]

    @property
    def warnings(self) -> tuple[str, ...]:
        out = list(self.fit.warnings)
        if self.linkk is not None:
            out += [f"lin-KK: {w}" for w in self.linkk.warnings]
        out += [f"Warburg: {w}" for w in self.warburg.warnings]
        out += [f"derived: {w}" for w in self.derived.warnings]
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        d = self.fit.to_dict()
        d.update({
            "spectrum": self.index,
            "linkk": self.linkk.to_dict() if self.linkk is not None else None,
            "warburg": self.warburg.to_dict(),
            "derived": self.derived.to_dict(),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
        })
        return d

    def write(self, out_dir: str | Path, stem: str = "eis", *, figures: bool = True
              ) -> list[Path]:
        """CSV tables, JSON summary and (optionally) Nyquist, Bode, lin-KK and σ figures."""
        from nasurf.jsonio import write_json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / f"{stem}_parameters.csv", out / f"{stem}_residuals.csv",
                 out / f"{stem}.json"]
        self.fit.parameter_table().to_csv(paths[0], index=False)
        res = self.fit.residual_table()
        if self.linkk is not None:
            lk = self.linkk.residual_table().rename(columns={
                "Residual Real / 1": "linKK Residual Real / 1",
                "Residual Imag / 1": "linKK Residual Imag / 1"})
            res = res.merge(lk, on="Frequency / Hz", how="left")
        res.to_csv(paths[1], index=False)
        write_json(paths[2], self.to_dict(), indent=2)
        if not self.warburg.table.empty:
            p = out / f"{stem}_warburg.csv"
            self.warburg.table.to_csv(p, index=False)
            paths.append(p)
        if figures:
            from nasurf.analysis.eis.plots import plot_bode, plot_linkk, plot_nyquist, plot_sigma

            title = f"{self.fit.circuit} (spectrum {self.index})"
            for name, make in (
                ("nyquist", lambda p: plot_nyquist(self.fit, title=title, path=p)),
                ("bode", lambda p: plot_bode(self.fit, title=title, path=p)),
                ("linkk", lambda p: plot_linkk(self.linkk, path=p) if self.linkk else None),
                ("sigma", lambda p: plot_sigma(self.warburg, self.fit.frequencies_Hz,
                                               self.fit.Z, path=p)),
            ):
                p = out / f"{stem}_{name}.png"
                if make(p) is not None:
                    paths.append(p)
        return paths


@dataclass(frozen=True, eq=False)
class EISSeriesAnalysis:
    """A series of spectra from one file, fitted in order."""

    source: str | None
    circuit: str
    spectra: tuple[EISAnalysis, ...]
    notes: tuple[str, ...]

    def table(self) -> pd.DataFrame:
        """One row per spectrum: parameters with standard errors, χ², R_ct, σ, verdicts."""
        rows = []
        for a in self.spectra:
            row: dict[str, Any] = {"spectrum": a.index, "n_points": a.fit.n_points}
            for n, v in a.fit.parameters.items():
                row[f"{n} / {a.fit.units[n]}"] = v
                row[f"{n} stderr"] = a.fit.stderr[n]
            row.update({
                "chi2": a.fit.chi2, "weighted_rms": a.fit.weighted_rms,
                "relative_rmse": a.fit.relative_rmse,
                "R_ct / Ohm": a.derived.R_ct_Ohm,
                "sigma / Ohm s-1/2": a.warburg.sigma,
                "linkk": a.linkk.verdict if a.linkk else None,
                "start": a.fit.start_origin, "n_warnings": len(a.warnings),
            })
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        first = Circuit(self.circuit)
        d: dict[str, Any] = {
            "file": self.source, "circuit": self.circuit,
            "parameter_names": list(first.parameter_names),
            "units": dict(first.parameter_units),
            "n_spectra": len(self.spectra),
            "notes": list(self.notes),
            "spectra": [a.to_dict() for a in self.spectra],
        }
        if len(self.spectra) == 1:
            # A single spectrum also gets its results at the top level (parameters, chi2 ...).
            single = self.spectra[0].to_dict()
            single["notes"] = [*self.notes, *single["notes"]]
            d.update(single)
        return d

    def write(self, out_dir: str | Path, *, figures: bool = True) -> list[Path]:
        from nasurf.jsonio import write_json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        many = len(self.spectra) > 1
        for a in self.spectra:
            stem = f"eis_s{a.index}" if many else "eis"
            paths += a.write(out, stem, figures=figures)
        if many:
            p = out / "eis_series.csv"
            self.table().to_csv(p, index=False)
            paths.append(p)
            if figures:
                paths.append(_plot_series(self, out / "eis_series.png"))
        paths.append(write_json(out / "eis_result.json", self.to_dict(), indent=2))
        return paths


def _unit_tex(unit: str) -> str:
    """'Ohm^-1 s^alpha' -> 'Ω$^{-1}$ s$^{α}$' (the circuit's plain-text units, typeset)."""
    greek = {"alpha": "α", "gamma": "γ", "phi": "φ"}
    out = []
    for part in unit.split():
        base, _, power = part.partition("^")
        base = "Ω" if base == "Ohm" else base
        out.append(f"{base}$^{{{greek.get(power, power)}}}$" if power else base)
    return " ".join(out)


def series_figure(series: EISSeriesAnalysis) -> Any:
    """Each fitted parameter (± standard error) against the spectrum number, one panel per
    parameter, single-column width in the paper style."""
    from matplotlib.ticker import MaxNLocator

    from nasurf.figures.style import new_figure, paper_style

    names = [n for n in series.spectra[0].fit.parameters]
    idx = [a.index for a in series.spectra]
    with paper_style():
        # ~22 mm per panel keeps each readable; the page height caps very long circuits
        fig, axes = new_figure("single", aspect=min(0.26 * len(names) + 0.1, 2.6),
                               nrows=len(names), sharex=True)
        axes = np.atleast_1d(axes)
        for ax, n in zip(axes, names, strict=True):
            v = np.array([a.fit.parameters[n] for a in series.spectra])
            e = np.array([a.fit.stderr[n] for a in series.spectra])
            # a power of ten goes into the label, not into an offset text above the panel
            mag = np.nanmax(np.abs(v)) if np.isfinite(v).any() else 1.0
            exp = int(np.floor(np.log10(mag))) if mag > 0 else 0
            exp = exp if abs(exp) >= 3 else 0
            k = 10.0 ** -exp
            ax.errorbar(idx, v * k, yerr=np.where(np.isfinite(e), e, 0) * k, fmt="o-", ms=3,
                        lw=1, capsize=1.5, elinewidth=0.6)
            unit = series.spectra[0].fit.units[n]
            unit = "" if unit in ("", "1") else _unit_tex(unit)
            scale = f"10$^{{{exp}}}$ " if exp else ""
            ax.set_ylabel(f"{n}\n/ {scale}{unit}" if unit or scale else f"{n}\n/ 1")
            ax.yaxis.get_major_formatter().set_useOffset(False)
        axes[-1].set_xlabel("Spectrum number")
        axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.align_ylabels(axes)
    return fig


def _plot_series(series: EISSeriesAnalysis, path: Path) -> Path:
    from nasurf.figures.style import write_figure

    return write_figure(series_figure(series), path)


def _has_inductor(circ: Circuit) -> bool:
    return any(e.spec.code in ("L", "La") for e in circ.elements)


def analyze_spectrum(frequencies_Hz: Any, Z: Any, circuit: str | Circuit = DEFAULT_CIRCUIT, *,
                     index: int = 1, fmin: float | None = None, fmax: float | None = None,
                     initial_guess: Mapping[str, float] | Sequence[float] | None = None,
                     area_cm2: float | None = None,
                     concentration_mol_cm3: float | None = None,
                     molar_volume_cm3_mol: float | None = None, dE_dx_V: float | None = None,
                     n_electrons: float = 1.0, temperature_K: float = 298.15,
                     warburg_window_Hz: tuple[float, float] | None = None,
                     rct_element: str | None = None, run_linkk: bool = True,
                     drop_inductive: bool | None = None,
                     **fit_options: Any) -> EISAnalysis:
    """lin-KK, circuit fit, Warburg σ/D and derived quantities for one spectrum."""
    circ = circuit if isinstance(circuit, Circuit) else Circuit(circuit)
    if drop_inductive is None:
        drop_inductive = not _has_inductor(circ)
    f, z, notes = prepare_spectrum(frequencies_Hz, Z, fmin=fmin, fmax=fmax,
                                   drop_inductive=drop_inductive)
    fit = fit_circuit(f, z, circ, initial_guess=initial_guess, **fit_options)
    return _complete(index, fit, notes, area_cm2=area_cm2,
                     concentration_mol_cm3=concentration_mol_cm3,
                     molar_volume_cm3_mol=molar_volume_cm3_mol, dE_dx_V=dE_dx_V,
                     n_electrons=n_electrons, temperature_K=temperature_K,
                     warburg_window_Hz=warburg_window_Hz, rct_element=rct_element,
                     run_linkk=run_linkk)


def _complete(index: int, fit: EISFit, notes: Sequence[str], *, area_cm2, concentration_mol_cm3,
              molar_volume_cm3_mol, dE_dx_V, n_electrons, temperature_K, warburg_window_Hz,
              rct_element, run_linkk) -> EISAnalysis:
    f, z = fit.frequencies_Hz, fit.Z
    lk = linkk(f, z) if run_linkk and f.size >= 4 else None
    wb = warburg_analysis(f, z, window_Hz=warburg_window_Hz, area_cm2=area_cm2,
                          concentration_mol_cm3=concentration_mol_cm3,
                          molar_volume_cm3_mol=molar_volume_cm3_mol, dE_dx_V=dE_dx_V,
                          n_electrons=n_electrons, temperature_K=temperature_K)
    der = derived_quantities(fit, rct_element=rct_element, area_cm2=area_cm2,
                             concentration_mol_cm3=concentration_mol_cm3,
                             n_electrons=n_electrons, temperature_K=temperature_K)
    return EISAnalysis(index, fit, lk, wb, der, tuple(notes))


def analyze_eis(data: EchemData, circuit: str | Circuit = DEFAULT_CIRCUIT, *,
                spectrum: int | None = None, fmin: float | None = None,
                fmax: float | None = None,
                initial_guess: Mapping[str, float] | Sequence[float] | None = None,
                area_cm2: float | None = None, concentration_mol_cm3: float | None = None,
                molar_volume_cm3_mol: float | None = None, dE_dx_V: float | None = None,
                n_electrons: float = 1.0, temperature_K: float = 298.15,
                warburg_window_Hz: tuple[float, float] | None = None,
                rct_element: str | None = None, run_linkk: bool = True,
                drop_inductive: bool | None = None, **fit_options: Any) -> EISSeriesAnalysis:
    """Analyse every spectrum of a measurement (or only sweep ``spectrum``).

    Several spectra are fitted as a series, each seeded by the previous fit. The area
    defaults to the file's ``electrode_area_cm2`` metadata when not given.
    """
    circ = circuit if isinstance(circuit, Circuit) else Circuit(circuit)
    src = data.metadata.source
    spectra, notes = split_spectra(data)
    if spectrum is not None:
        chosen = [s for s in spectra if s.index == spectrum]
        if not chosen:
            raise ValidationError(
                f"spectrum {spectrum} not in the file; it holds spectra "
                f"{[s.index for s in spectra]}",
                file=src, field="spectrum",
            )
        spectra = chosen
    if area_cm2 is None and data.metadata.electrode_area_cm2:
        area_cm2 = data.metadata.electrode_area_cm2
        notes.append(f"electrode area {area_cm2:g} cm² taken from the file's metadata")
    if drop_inductive is None:
        drop_inductive = not _has_inductor(circ)
    prepared = []
    for s in spectra:
        f, z, pnotes = prepare_spectrum(s.frequencies_Hz, s.Z, fmin=fmin, fmax=fmax,
                                        drop_inductive=drop_inductive,
                                        where=f"{src or 'data'}, spectrum {s.index}")
        min_points = max(4, math.ceil(circ.n_params / 2) + 1)
        if f.size < min_points:
            raise ValidationError(
                f"spectrum {s.index} has {f.size} usable points after the frequency window "
                f"and inductive-point filter; {min_points} are needed for {str(circ)!r}",
                file=src, field=FREQUENCY,
            )
        prepared.append((s.index, f, z, pnotes))
    fits = fit_series([(f, z) for _, f, z, _ in prepared], circ, initial_guess=initial_guess,
                      **fit_options)
    analyses = tuple(
        _complete(idx, fit, pnotes, area_cm2=area_cm2,
                  concentration_mol_cm3=concentration_mol_cm3,
                  molar_volume_cm3_mol=molar_volume_cm3_mol, dE_dx_V=dE_dx_V,
                  n_electrons=n_electrons, temperature_K=temperature_K,
                  warburg_window_Hz=warburg_window_Hz, rct_element=rct_element,
                  run_linkk=run_linkk)
        for (idx, _, _, pnotes), fit in zip(prepared, fits, strict=True)
    )
    return EISSeriesAnalysis(src, str(circ), analyses, tuple(notes))


def read_impedance(path: str | Path, *, area_cm2: float | None = None) -> EchemData:
    """Read an impedance file with :func:`nasurf.io.read` (format detected by content) and
    check that it holds impedance data."""
    from nasurf.io import read

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    data = read(path, area_cm2=area_cm2)
    if not data.is_impedance:
        raise ValidationError(
            f"the file holds no impedance data (technique {data.metadata.technique}); "
            f"expected '{FREQUENCY}' and Z columns", file=str(path), field=FREQUENCY)
    return data


def analyze_eis_file(path: str | Path, circuit: str | Circuit = DEFAULT_CIRCUIT, *,
                     area_cm2: float | None = None, **options: Any) -> EISSeriesAnalysis:
    """Read an impedance file and run :func:`analyze_eis` on it (every spectrum, fitted as a
    series, or only sweep ``spectrum=``): what ``nasurf analyze eis`` runs.

    ``area_cm2`` overrides the file's electrode area (else the file's value is used, with a
    note); ``options`` are :func:`analyze_eis`'s keywords (``fmin``, ``fmax``,
    ``initial_guess``, ``constants``, ``bounds``, ``weighting``, ``n_starts``, ``seed``,
    ``concentration_mol_cm3`` ...). The result's ``write(folder)`` writes the tables, JSON and
    figures of ``--out``.
    """
    circ = circuit if isinstance(circuit, Circuit) else Circuit(circuit)
    data = read_impedance(path, area_cm2=area_cm2)
    return analyze_eis(data, circ, area_cm2=area_cm2, **options)
