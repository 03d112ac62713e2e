"""EIS fitting: nasurf vs impedance.py 1.7.1 on the same spectra and circuits, in one run.

    .venv/bin/python benchmarks/bench_eis.py            # everything (~1-2 min on 2 cores)
    .venv/bin/python benchmarks/bench_eis.py --quick    # fewer repeats / starts / spectra

Measures, for real spectra (impedance.py's BioLogic and CSV examples, BDF PEIS-0.mpr) and
synthetic ones (methods.md §6 Randles, 81 points, 0.5 % noise):

* time per fit (median of repeats after a warm-up) and the ratio impedance.py / nasurf;
  impedance.py starts from nasurf's spectrum-derived guess (the same point our first start
  uses) and both minimise the same |Z|-weighted χ² (impedance.py ``weight_by_modulus``);
* parameter agreement (largest relative difference over parameters the data determine) and
  both χ²;
* robustness: success rate over random poor starting guesses (log-uniform ×/÷100 around the
  truth, α uniform in [0.3, 1]) for both tools; success = χ² within 1e-6 of the best known;
  nasurf's default multi-start and, like for like, nasurf with one start against
  impedance.py's one start from the same guesses;
* a 100-spectrum series (R1 ageing 50 → 100 Ω, fresh noise each): nasurf ``fit_series`` vs
  impedance.py started from the previous fit;
* the lin-KK test, nasurf vs impedance.validation.linKK.

impedance.py runs in ``.venv-peers`` through ``benchmarks/peers/impedance_fit.py --serve``
(one task per line), which times only the fit calls inside its own process. The two tools
alternate repeat by repeat, so both see the same machine load (the build machine is
shared). Without that venv the peer side is skipped with a message; ``NASURF_PEER_PYTHON``
points at another interpreter.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from nasurf.analysis.eis import (
    Circuit,
    fit_circuit,
    fit_series,
    guess_parameters,
    linkk,
    prepare_spectrum,
)
from nasurf.io import read

warnings.filterwarnings("ignore")

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
PEER_PYTHON = Path(os.environ.get("NASURF_PEER_PYTHON", ROOT / ".venv-peers" / "bin" / "python"))
PEER_SCRIPT = ROOT / "benchmarks" / "peers" / "impedance_fit.py"
CIRCUITS = ("R0-p(R1,CPE1)-W1", "R0-p(R1-W1,CPE1)")
TRUTH = {"R0": 5.0, "R1": 50.0, "CPE1_0": 2e-5, "CPE1_1": 0.9, "W1": 16.663}
F_SYN = np.logspace(5, -3, 81)
NOISE = 0.005


def synthetic(circuit, seed, truth=TRUTH):
    c = Circuit(circuit)
    Z = c.impedance({n: truth[n] for n in c.parameter_names}, F_SYN)
    rng = np.random.default_rng(seed)
    return F_SYN, Z + NOISE * np.abs(Z) * (rng.normal(size=Z.size) + 1j * rng.normal(size=Z.size))


def real_spectra():
    out = {}
    for label, rel in (("BioLogic .mpt", "impedance.py/exampleDataBioLogic.mpt"),
                       ("CSV example", "impedance.py/exampleData.csv"),
                       ("BDF PEIS-0.mpr", "battery-data-format/PEIS-0.mpr")):
        path = REALDATA / rel
        if not path.exists():
            print(f"  (missing {rel}; skipped)")
            continue
        d = read(path).data
        f, Z, _ = prepare_spectrum(d["Frequency / Hz"].to_numpy(),
                                   d["Z Real / Ohm"].to_numpy() + 1j * d["Z Imag / Ohm"].to_numpy(),
                                   drop_inductive=True)
        out[label] = (f, Z)
    return out


def timed(fn, repeats):
    fn()                                            # warm-up, untimed
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def chi2_modulus(circuit, params, f, Z):
    d = Circuit(circuit).impedance(params, f) - Z
    return float(np.sum((np.abs(d) / np.abs(Z)) ** 2))


def spectrum_task(kind, id_, f, Z, **kw):
    return {"kind": kind, "id": id_, "f": [float(v) for v in f],
            "Z_re": [float(v) for v in Z.real], "Z_im": [float(v) for v in Z.imag], **kw}


class Peer:
    """impedance.py in its own venv, answering one task per line (``--serve``)."""

    def __init__(self) -> None:
        self.proc = None
        if not PEER_PYTHON.exists():
            print(f"\n*** impedance.py side skipped: {PEER_PYTHON} not found (create it with "
                  "`make bench` or: python3 -m venv .venv-peers && .venv-peers/bin/pip install "
                  "-r benchmarks/requirements-peers.txt) ***\n")
            return
        self.proc = subprocess.Popen([str(PEER_PYTHON), str(PEER_SCRIPT), "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        info = json.loads(self.proc.stdout.readline())
        print(f"peer: impedance {info['impedance_version']} (numpy {info['numpy']}) in "
              f"{PEER_PYTHON.parent.parent.name}")

    def __bool__(self) -> bool:
        return self.proc is not None

    def ask(self, task):
        self.proc.stdin.write(json.dumps(task) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("impedance.py peer process died")
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def max_rel_diff(ours, theirs, determined):
    diffs = [abs(ours[n] / theirs[n] - 1) for n in determined if theirs[n] != 0]
    return max(diffs) if diffs else math.nan


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, starts and spectra")
    ap.add_argument("--json-out", type=Path, help="also write the raw numbers to this file")
    args = ap.parse_args(argv)
    repeats = 3 if args.quick else 7
    n_poor = 15 if args.quick else 50
    n_series = 30 if args.quick else 100

    peer = Peer()
    report = {"fits": [], "robust": {}, "series": {}, "linkk": []}

    # --- single fits: nasurf and impedance.py alternate repeat by repeat ------------------
    cases = []
    for label, (f, Z) in real_spectra().items():
        for circuit in CIRCUITS:
            cases.append((label, circuit, f, Z))
    for circuit in CIRCUITS:
        f, Z = synthetic(circuit, seed=0)
        cases.append(("synthetic (0.5 % noise)", circuit, f, Z))

    print("\n## Single fits (|Z| weighting; time = median per fit; impedance.py starts from "
          "nasurf's spectrum-derived guess)")
    print(f"{'spectrum':26s} {'circuit':18s} {'pts':>4s} {'nasurf ms':>10s} {'(1 start)':>10s} "
          f"{'imp.py ms':>10s} {'ratio':>7s} {'ratio 1st':>9s} {'max rel diff':>12s} "
          f"{'chi2 nasurf':>12s} {'chi2 imp.py':>12s}")
    ratios, ratios_one = [], []
    for label, circuit, f, Z in cases:
        c = Circuit(circuit)
        g = guess_parameters(c, f, Z)
        task = spectrum_task("fit", "fit", f, Z, circuit=circuit,
                             initial_guess=[g[n] for n in c.parameter_names],
                             weight_by_modulus=True, repeats=1, warmup=False)
        fit_circuit(f, Z, c)                                   # warm-ups, untimed
        if peer:
            peer.ask(task)
        t_multi, t_one, t_imp = [], [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fit = fit_circuit(f, Z, c)
            t_multi.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            fit_circuit(f, Z, c, n_starts=1)
            t_one.append(time.perf_counter() - t0)
            if peer:
                p = peer.ask(task)
                t_imp.append(p["times_s"][0])
        tm, t1 = statistics.median(t_multi), statistics.median(t_one)
        row = {"spectrum": label, "circuit": circuit, "points": int(f.size),
               "nasurf_ms": tm * 1e3, "nasurf_one_start_ms": t1 * 1e3,
               "nasurf_starts": fit.n_starts, "chi2_nasurf": fit.chi2,
               "parameters_nasurf": fit.parameters}
        line = f"{label:26s} {circuit:18s} {f.size:4d} {tm * 1e3:10.2f} {t1 * 1e3:10.2f}"
        if peer:
            ti = statistics.median(t_imp)
            chi2_imp = chi2_modulus(circuit, p["parameters"], f, Z)
            determined = [n for n in fit.parameters
                          if not any(w.startswith(f"{n} =") for w in fit.warnings)]
            same_min = abs(chi2_imp / fit.chi2 - 1) < 1e-4
            diff = max_rel_diff(fit.parameters, p["parameters"], determined)
            ratios.append(ti / tm)
            ratios_one.append(ti / t1)
            row.update({"impedance_py_ms": ti * 1e3, "ratio": ti / tm, "ratio_one_start": ti / t1,
                        "max_rel_param_diff": diff, "chi2_impedance_py": chi2_imp,
                        "same_minimum": same_min, "parameters_impedance_py": p["parameters"]})
            note = "" if same_min else "  <- impedance.py stopped in a worse minimum"
            line += (f" {ti * 1e3:10.2f} {ti / tm:6.1f}x {ti / t1:8.1f}x "
                     f"{(diff if same_min else math.nan):12.2e} {fit.chi2:12.5g} "
                     f"{chi2_imp:12.5g}{note}")
        print(line, flush=True)
        report["fits"].append(row)
    if ratios:
        gm = math.exp(statistics.mean(math.log(r) for r in ratios))
        gm1 = math.exp(statistics.mean(math.log(r) for r in ratios_one))
        print(f"speed-up, geometric mean over {len(ratios)} fits: {gm:.1f}x with nasurf's "
              f"default multi-start, {gm1:.1f}x with a single start (impedance.py: single start)")
        report["speedup_geomean"] = gm
        report["speedup_geomean_one_start"] = gm1

    # --- robustness ------------------------------------------------------------------------
    print(f"\n## Robustness: {n_poor} random poor starting guesses (×/÷100 around the truth, "
          "α uniform in [0.3, 1]); success = best known χ² reached")
    rng = np.random.default_rng(2024)
    for circuit in CIRCUITS:
        f, Z = synthetic(circuit, seed=0)
        names = Circuit(circuit).parameter_names
        guesses = [[TRUTH[n] * 10 ** rng.uniform(-2, 2) if n != "CPE1_1"
                    else rng.uniform(0.3, 1.0) for n in names] for _ in range(n_poor)]
        best = fit_circuit(f, Z, circuit, n_starts=30, min_agreeing=30).chi2
        modes = {"default": {}, "around guess only": {"use_spectrum_guess": False},
                 "single start": {"n_starts": 1}}
        entry = {"n": n_poor}
        parts = []
        for mode, kw in modes.items():
            ok, t_total = 0, 0.0
            for i, g in enumerate(guesses):
                t0 = time.perf_counter()
                r = fit_circuit(f, Z, circuit, initial_guess=dict(zip(names, g, strict=True)),
                                seed=i, **kw)
                t_total += time.perf_counter() - t0
                ok += r.chi2 <= best * (1 + 1e-6)
            entry[f"nasurf_{mode}_success"] = ok / n_poor
            entry[f"nasurf_{mode}_ms_per_fit"] = t_total / n_poor * 1e3
            parts.append(f"nasurf {mode} {ok}/{n_poor} ({t_total / n_poor * 1e3:.1f} ms/fit)")
        if peer:
            res = peer.ask(spectrum_task("robust", "robust", f, Z, circuit=circuit,
                                         guesses=guesses, weight_by_modulus=True))["results"]
            ok_imp = sum(1 for r in res if r["error"] is None and
                         chi2_modulus(circuit, r["parameters"], f, Z) <= best * (1 + 1e-6))
            errors = sum(1 for r in res if r["error"] is not None)
            t_imp = statistics.mean(r["time_s"] for r in res)
            entry.update({"impedance_py_success": ok_imp / n_poor, "impedance_py_errors": errors,
                          "impedance_py_ms_per_fit": t_imp * 1e3})
            parts.append(f"impedance.py {ok_imp}/{n_poor} ({t_imp * 1e3:.1f} ms/fit, "
                         f"{errors} raised)")
        print(f"{circuit:18s} " + " | ".join(parts), flush=True)
        if peer:
            # Like for like: one start each, from the same poor guesses (nasurf ``n_starts=1``
            # uses only the given guess, no spectrum-derived start and no restarts).
            one = round(entry["nasurf_single start_success"] * n_poor)
            print(f"{'':18s} single start vs single start (same {n_poor} guesses): nasurf "
                  f"{one}/{n_poor} ({entry['nasurf_single start_ms_per_fit']:.1f} ms/fit) | "
                  f"impedance.py {ok_imp}/{n_poor} ({t_imp * 1e3:.1f} ms/fit)", flush=True)
        report["robust"][circuit] = entry

    # --- series ------------------------------------------------------------------------------
    series_specs = []
    for i in range(n_series):
        t = dict(TRUTH, R1=50.0 + 50.0 * i / max(n_series - 1, 1))
        series_specs.append(synthetic(CIRCUITS[0], seed=1000 + i, truth=t))
    print(f"\n## Series of {n_series} spectra ({CIRCUITS[0]}, R1 50 → 100 Ω)")
    r1_true = 50.0 + 50.0 * np.arange(n_series) / max(n_series - 1, 1)
    t0 = time.perf_counter()
    fits = fit_series(series_specs, CIRCUITS[0])
    t_ours = time.perf_counter() - t0
    err_ours = float(np.max(np.abs(np.array([ft.parameters["R1"] for ft in fits]) / r1_true - 1)))
    reseeded = sum(ft.start_origin != "previous spectrum" for ft in fits[1:])
    line = (f"nasurf fit_series: {t_ours:.3f} s ({n_series / t_ours:.0f} fits/s), R1 max rel err "
            f"{err_ours:.2%}, {reseeded} re-seeded")
    report["series"] = {"n": n_series, "nasurf_s": t_ours, "nasurf_R1_max_rel_err": err_ours}
    if peer:
        g0 = guess_parameters(Circuit(CIRCUITS[0]), *series_specs[0])
        s = peer.ask({"kind": "series", "id": "series", "circuit": CIRCUITS[0],
                      "weight_by_modulus": True,
                      "initial_guess": [g0[n] for n in Circuit(CIRCUITS[0]).parameter_names],
                      "spectra": [spectrum_task("s", None, f, Z) for f, Z in series_specs]})
        idx = s["names"].index("R1")
        err_imp = float(np.max(np.abs(np.array([p[idx] for p in s["parameters"]]) / r1_true - 1)))
        line += (f" | impedance.py (previous fit as start): {s['total_s']:.3f} s "
                 f"({n_series / s['total_s']:.0f} fits/s), R1 max rel err {err_imp:.2%} | "
                 f"ratio {s['total_s'] / t_ours:.1f}x")
        report["series"].update({"impedance_py_s": s["total_s"],
                                 "impedance_py_R1_max_rel_err": err_imp,
                                 "ratio": s["total_s"] / t_ours})
    print(line)

    # --- lin-KK ------------------------------------------------------------------------------
    print("\n## lin-KK (fit_type='real', impedance.py's search: min_rc=1, no capacitance)")
    lk_cases = [(label, f, Z) for label, (f, Z) in real_spectra().items()]
    for label, f, Z in lk_cases:
        task = spectrum_task("linkk", label, f, Z, fit_type="real")
        r = linkk(f, Z, fit_type="real", min_rc=1, add_capacitance=False)   # warm-up
        t_ours, t_imp, p = [], [], None
        if peer:
            peer.ask(task)
        for _ in range(repeats):
            t0 = time.perf_counter()
            r = linkk(f, Z, fit_type="real", min_rc=1, add_capacitance=False)
            t_ours.append(time.perf_counter() - t0)
            if peer:
                p = peer.ask(task)
                t_imp.append(p["time_s"])
        t = statistics.median(t_ours)
        line = f"{label:26s} nasurf {t * 1e3:7.2f} ms, M = {r.n_rc}, μ = {r.mu:.4f}"
        row = {"spectrum": label, "nasurf_ms": t * 1e3, "M": r.n_rc, "mu": r.mu}
        if peer:
            ti = statistics.median(t_imp)
            diff = max(np.max(np.abs(np.array(p["res_real"]) - r.residuals_real)),
                       np.max(np.abs(np.array(p["res_imag"]) - r.residuals_imag)))
            line += (f" | impedance.py {ti * 1e3:7.2f} ms, M = {p['M']}, μ = "
                     f"{p['mu']:.4f} | ratio {ti / t:.1f}x, max residual diff {diff:.1e}")
            row.update({"impedance_py_ms": ti * 1e3, "M_impedance_py": p["M"],
                        "max_residual_diff": float(diff)})
        print(line, flush=True)
        report["linkk"].append(row)

    peer.close()
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
