"""One measurement file -> a small, JSON-friendly summary (the unit of work of a study).

:func:`analyze_measurement` is what a Dask worker (or the serial loop) runs for each file
of a sample sheet or an archive. It reads the file, chooses the analysis by what the file
holds (impedance -> EIS fit; CV -> voltammogram; other time series -> galvanostatic
summary), and returns plain Python values only, so that the result pickles cheaply, is
bit-identical whichever process computed it, and can be cached as JSON.

It never raises on a bad file: the failure becomes ``status = "failed"`` with the error
line, so one bad file never stops a study or an archive run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nasurf.errors import NasurfError

# techniques (as readers report them) analysed as voltammograms
CV_TECHNIQUES = {"CV", "CVA", "LSV", "cv", "cyclic voltammetry"}
SUMMARY_VERSION = 1   # bump when the summary changes, so caches are not reused


def _f(x: Any) -> float | None:
    """A finite float or None (NaN never leaves this module)."""
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _list(values: Any) -> list[float | None]:
    return [_f(v) for v in values]


def analyze_measurement(path: str | Path, *, mass_g: float | None = None,
                        area_cm2: float | None = None,
                        technique: str | None = None) -> dict[str, Any]:
    """Analyse one file; returns ``{"file", "status", "kind", ...}`` and never raises.

    ``mass_g`` is the sample's active mass (from the sheet); the file's own mass, if it
    has one, is reported as ``file_mass_g`` so the caller can check the two agree.
    ``technique`` forces ``cycling``, ``eis`` or ``cv`` instead of detecting it.
    """
    out: dict[str, Any] = {"file": str(path), "status": "ok", "kind": None, "error": None,
                           "format": None, "technique": None, "rows": None,
                           "file_mass_g": None, "warnings": [], "version": SUMMARY_VERSION}
    try:
        from nasurf.io import read

        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(2, "No such file", str(p))
        data = read(p)
        md = data.metadata
        out.update(format=md.file_format, technique=md.technique, rows=len(data.data),
                   file_mass_g=_f(md.active_mass_g), warnings=list(md.warnings))
        kind = technique or _kind(data)
        out["kind"] = kind
        if kind == "eis":
            out["eis"] = _eis(data, area_cm2, out["warnings"])
        elif kind == "cv":
            out["cv"] = _cv(data)
        elif kind == "cycling":
            out["cycling"] = _cycling(data, mass_g, area_cm2, out["warnings"])
        else:
            raise NasurfError(f"nothing to analyse (technique {md.technique})", file=str(p))
    except NasurfError as exc:
        out.update(status="failed", error=str(exc))
    except FileNotFoundError as exc:
        out.update(status="failed", error=f"{exc.filename}: no such file")
    except Exception as exc:  # a reader or analysis bug must not stop the other files
        out.update(status="failed", error=f"{path}: {exc.__class__.__name__}: {exc}")
    return out


def _kind(data) -> str | None:
    if data.is_impedance:
        return "eis"
    if not data.is_time_series or len(data.data) == 0:
        return None
    if (data.metadata.technique or "") in CV_TECHNIQUES:
        return "cv"
    return "cycling"


def _cycling(data, mass_g: float | None, area_cm2: float | None,
             warnings: list[str]) -> dict[str, Any]:
    from nasurf.analysis.galvanostatic import cycling_summary

    res = cycling_summary(data, active_mass_g=mass_g, area_cm2=area_cm2)
    warnings.extend(res.warnings)
    spec = res.capacity_unit == "mAh/g"
    c = res.cycles
    c = c[c["cycle"] >= 1]
    sod = "sodiation_mAh_g" if spec else "sodiation_mAh"
    des = "desodiation_mAh_g" if spec else "desodiation_mAh"
    complete = c["complete"].to_numpy(bool) if "complete" in c else [True] * len(c)
    d: dict[str, Any] = {
        "capacity_unit": res.capacity_unit,
        "active_mass_g": _f(res.active_mass_g),
        "initial_coulombic_efficiency": _f(res.initial_coulombic_efficiency),
        "mean_coulombic_efficiency": _f(res.mean_ce),
        "retention_final": _f(res.retention.final),
        "retention_final_cycle": res.retention.final_cycle,
        "retention_convention": res.retention.convention,
        "cycles": {
            "cycle": [int(x) for x in c["cycle"]],
            "sodiation": _list(c[sod]),
            "desodiation": _list(c[des]),
            "coulombic_efficiency": _list(c["coulombic_efficiency"]),
            "desodiation_current_A": _list(c["desodiation_current_A"]),
            "complete": [bool(x) for x in complete],
        },
        "rate_steps": None,
    }
    if res.rate.detected:
        s = res.rate.steps
        d["rate_steps"] = {
            "step": [int(x) for x in s["step"]],
            "current_A": _list(s["current_A"]),
            "current_mA_g": _list(s["current_mA_g"]) if "current_mA_g" in s else None,
            "n_cycles": [int(x) for x in s["n_cycles"]],
            "mean_capacity": _list(s["mean_capacity"]),
            "is_recovery": [bool(x) for x in s["is_recovery"]],
        }
    return d


def _eis(data, area_cm2: float | None, warnings: list[str]) -> dict[str, Any]:
    from nasurf.analysis.eis import analyze_eis
    from nasurf.analysis.eis.analyze import split_spectra

    spectra, _ = split_spectra(data)
    if not spectra:
        raise NasurfError("no impedance spectrum in the file", file=data.metadata.source)
    first = spectra[0].index
    series = analyze_eis(data, spectrum=first, area_cm2=area_cm2, run_linkk=False)
    a = series.spectra[0]
    fit = a.fit
    if len(spectra) > 1:
        warnings.append(f"{len(spectra)} spectra in the file; the first (sweep {first}) is "
                        "the one summarised")
    warnings.extend(a.warnings)
    return {
        "circuit": series.circuit, "spectrum": first, "n_spectra": len(spectra),
        "parameters": {k: _f(v) for k, v in fit.parameters.items()},
        "stderr": {k: _f(v) for k, v in fit.stderr.items()},
        "units": dict(fit.units),
        "R_ct_Ohm": _f(a.derived.R_ct_Ohm), "R_s_Ohm": _f(a.derived.R_s_Ohm),
        "chi2_reduced": _f(fit.chi2_reduced), "relative_rmse": _f(fit.relative_rmse),
        "success": bool(fit.success),
        "frequency_Hz": _list(fit.frequencies_Hz),
        "Z_real_Ohm": _list(fit.Z.real), "Z_imag_Ohm": _list(fit.Z.imag),
        "Z_fit_real_Ohm": _list(fit.Z_fit.real), "Z_fit_imag_Ohm": _list(fit.Z_fit.imag),
    }


def _cv(data) -> dict[str, Any]:
    from nasurf.analysis.cv import CVSet

    cvset = CVSet.from_echem(data)
    return {"scan_rates_V_s": [_f(c.scan_rate_V_s) for c in cvset.cvs],
            "warnings": list(cvset.warnings)}
