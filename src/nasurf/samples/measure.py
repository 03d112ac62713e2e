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

from pathlib import Path
from typing import Any

import numpy as np

from nasurf.errors import NasurfError
from nasurf.jsonio import finite_or_none

# techniques (as readers report them) analysed as voltammograms
CV_TECHNIQUES = {"CV", "CVA", "LSV", "cv", "cyclic voltammetry"}
SUMMARY_VERSION = 2   # bump when the summary changes, so caches are not reused


_f = finite_or_none   # NaN never leaves this module


def _list(values: Any) -> list[float | None]:
    return [_f(v) for v in values]


def analyze_measurement(path: str | Path, *, mass_g: float | None = None,
                        area_cm2: float | None = None, technique: str | None = None,
                        diffusion_length_cm: float | None = None) -> dict[str, Any]:
    """Analyse one file; returns ``{"file", "status", "kind", ...}`` and never raises.

    ``mass_g`` is the sample's active mass (from the sheet); the file's own mass, if it
    has one, is reported as ``file_mass_g`` so the caller can check the two agree.
    ``technique`` forces ``cycling``, ``eis``, ``cv`` or ``gitt`` instead of detecting it
    (GITT is never guessed: a pulse train also looks like cycling); ``gitt`` uses
    ``diffusion_length_cm`` (or the file's mass, area and material data).
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
        elif kind == "gitt":
            out["gitt"] = _gitt(data, mass_g, area_cm2, diffusion_length_cm, out["warnings"])
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
    from nasurf.analysis.cycling import cycling_summary

    res = cycling_summary(data, active_mass_g=mass_g, area_cm2=area_cm2)
    warnings.extend(res.all_warnings)
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
        # the analysis' named plausibility flags, so a study marks (and leaves out of its
        # statistics) exactly the values the cycling analysis itself distrusts
        "flags": [{"flag": str(fl["flag"]),
                   "cycle": None if fl.get("cycle") is None else int(fl["cycle"])}
                  for fl in res.flags],
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


def _gitt(data, mass_g: float | None, area_cm2: float | None, length_cm: float | None,
          warnings: list[str]) -> dict[str, Any]:
    from nasurf.analysis.gitt import gitt_analysis

    res = gitt_analysis(data, active_mass_g=mass_g, area_cm2=area_cm2,
                        diffusion_length_cm=length_cm)
    p = res.pulses
    flags = res.flag_columns
    flagged = p[flags].any(axis=1) if flags else np.zeros(len(p), bool)
    warnings.extend(res.warnings)
    return {"pulse": [int(x) for x in p["pulse"]], "process": [str(x) for x in p["process"]],
            "soc": _list(p["soc"]), "D_cm2_s": _list(p["D_L2_cm2_s"]),
            "flagged": [bool(x) for x in flagged],
            "flags": [",".join(c[5:] for c in flags if row[c]) or None
                      for _, row in p[flags].iterrows()] if flags else [None] * len(p),
            "diffusion_length_cm": _f(res.diffusion_length_cm),
            "length_source": res.length_source}


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
    from nasurf.analysis.kinetics import CVSet

    cvset = CVSet.from_echem(data)
    return {"scan_rates_V_s": [_f(c.scan_rate_V_s) for c in cvset.cvs],
            "warnings": list(cvset.warnings)}


def analyze_cv_set(paths: list[str], *, mass_g: float | None = None,
                   envelope_points: int = 400) -> dict[str, Any]:
    """CV kinetics of one electrode from its CV files (one per scan rate, or one file with
    several rates): b-values of the tracked peaks and Dunn capacitive fractions per rate.

    Needs at least 3 scan rates (a power law or a k1·v + k2·v^½ fit through two points
    has no check); fewer gives ``status = "failed"`` with the reason. Never raises.
    """
    out: dict[str, Any] = {"files": list(paths), "status": "ok", "error": None,
                           "warnings": []}
    try:
        from nasurf.analysis.kinetics import CVSet, b_value_peaks, dunn_analysis
        from nasurf.io import read

        datas = [read(p) for p in paths]
        cvset = CVSet.from_echem(datas if len(datas) > 1 else datas[0])
        rates = [c.scan_rate_V_s for c in cvset.cvs]
        out["scan_rates_V_s"] = _list(rates)
        if len(rates) < 3:
            raise NasurfError(f"CV kinetics need at least 3 scan rates; the sample's CV "
                              f"files hold {len(rates)}", file=paths[0])
        out["warnings"].extend(cvset.warnings)
        dunn = dunn_analysis(cvset, mass_g)
        fr = dunn.fractions
        out["dunn"] = {"scan_rate_V_s": _list(fr["scan_rate_V_s"]),
                       "capacitive_fraction": _list(fr["capacitive_fraction"]),
                       # anodic branch: the cathodic k1 carries the sign of its current
                       "k1_median": _f(np.nanmedian(dunn.k1("anodic"))),
                       "k1_unit": dunn.units.get("k1"), "current_unit": dunn.units.get("current")}
        out["warnings"].extend(dunn.warnings)
        # the envelope at the middle rate, thinned, for the figure
        mid = rates[len(rates) // 2]
        env = dunn.envelopes[np.isclose(dunn.envelopes["scan_rate_V_s"], mid)]
        step = max(1, len(env) // envelope_points)
        env = env.iloc[::step]
        out["envelope"] = {"scan_rate_V_s": _f(mid), "branch": env["branch"].tolist(),
                           "potential_V": _list(env["potential_V"]),
                           "current": _list(env["current"]),
                           "capacitive_current": _list(env["capacitive_current"])}
        try:
            kin = b_value_peaks(cvset)
            out["b_values"] = {"peak_id": [str(x) for x in kin.fits["peak_id"]],
                               "branch": [str(x) for x in kin.fits["branch"]],
                               "b": _list(kin.fits["b"]), "b_stderr": _list(kin.fits["b_stderr"])}
            out["warnings"].extend(kin.warnings)
        except NasurfError as exc:      # no trackable peak: fractions still stand
            out["b_values"] = None
            out["warnings"].append(f"b-values: {exc}")
    except NasurfError as exc:
        out.update(status="failed", error=str(exc))
    except Exception as exc:  # an analysis bug must not stop the study
        out.update(status="failed", error=f"{paths[0]}: {exc.__class__.__name__}: {exc}")
    return out
