"""A 2-parameter fit to one discharge curve: nasurf next to PyBOP, in one run, with ratios.

Usage:  .venv/bin/python benchmarks/bench_fit.py

The half cell of ``bench_sim.py`` (no shell, constant D, hard-carbon OCP, Na-metal counter
electrode). Each tool fits its own model's synthetic 1C sodiation curve, made at the same
true values (D = 1e-14 m²/s, k0 = 5e-11 m/s) plus 2 mV of seeded Gaussian noise, for the
particle diffusivity and the rate constant, both log-transformed, with the same bounds
(D 1e-15 … 1e-13, k0 1e-12 … 1e-9) and the same start (D 3e-15, k0 2e-10). Only the fit is
timed (PyBOP: problem set-up and optimisation; nasurf: ``fit_parameters``, which includes
reading the curve and the uncertainty analysis).

PyBOP runs in its own venv ``.venv-pybop`` (``make bench`` creates it from
``benchmarks/requirements-pybop.txt``) through ``benchmarks/peers/pybop_fit.py``; without
that venv the PyBOP side is skipped with a message.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_sim import AREA_M2, ONE_C_mA_g, halfcell  # noqa: E402

REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
TRUTH = {"diffusivity": 1e-14, "rate_constant": 5e-11}
BOUNDS = {"diffusivity": (1e-15, 1e-13), "rate_constant": (1e-12, 1e-9)}
START = {"diffusivity": 3e-15, "rate_constant": 2e-10}
NOISE_V = 2e-3
N_POINTS = 341      # as in research/sim-bench/fit_pybop.py
SEED = 8
PYBOP_PYTHON = HERE.parent / ".venv-pybop" / "bin" / "python"


def nasurf_fit() -> None:
    from nasurf.io.table import VOLTAGE, EchemData
    from nasurf.sim.fit import fit_parameters
    from nasurf.sim.simulate import simulate

    p, _ = halfcell()
    step = [f"Sodiate at {ONE_C_mA_g} mA g-1 until 0.01 V"]
    clean = simulate(p.with_changes(**TRUTH), step, electrode_area_cm2=AREA_M2 * 1e4).echem()
    df = clean.data
    # resample to N_POINTS times like the PyBOP dataset, then add the same kind of noise
    t = np.linspace(0.0, float(df["Test Time / s"].iloc[-1]), N_POINTS)
    res = df.set_index("Test Time / s")
    data = {c: np.interp(t, res.index.to_numpy(), res[c].to_numpy())
            for c in ("Voltage / V", "Current / A")}
    rng = np.random.default_rng(SEED)
    import pandas as pd

    frame = pd.DataFrame({"Test Time / s": t, VOLTAGE: data["Voltage / V"]
                          + rng.normal(0.0, NOISE_V, t.size), "Current / A": data["Current / A"]})
    measured = EchemData(frame, clean.metadata)
    spec = {"D": (*BOUNDS["diffusivity"], "log"), "k0": (*BOUNDS["rate_constant"], "log")}
    start = {"D": START["diffusivity"], "k0": START["rate_constant"]}
    for n_starts in (1, 4):
        times, result = [], None
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            result = fit_parameters(measured, material=p, parameters=spec, initial=start,
                                    n_starts=n_starts, seed=0)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        assert result is not None
        ci = result.ci95
        print(f"  nasurf fit_parameters, {n_starts} start(s): {med:.3f} s (median of {REPEATS});"
              f" D = {result.values['D']:.4g} [{ci['D'][0]:.3g}, {ci['D'][1]:.3g}], "
              f"k0 = {result.values['k0']:.4g} [{ci['k0'][0]:.3g}, {ci['k0'][1]:.3g}]; "
              f"{result.evaluations} simulated sets; RMS {result.residual_rms * 1e3:.2f} mV")
        if n_starts == 1:
            nasurf_1 = med
    return nasurf_1


def pybop_fit() -> dict | None:
    if not PYBOP_PYTHON.exists():
        print(f"  skip PyBOP: {PYBOP_PYTHON} not found (create it: python3 -m venv .venv-pybop "
              "&& .venv-pybop/bin/pip install -r benchmarks/requirements-pybop.txt)")
        return None
    _, spec = halfcell()
    spec.update({"truth": TRUTH, "fit_bounds": {k: list(v) for k, v in BOUNDS.items()},
                 "fit_start": START, "noise_V": NOISE_V, "seed": SEED, "n_points": N_POINTS,
                 "t_end": 3600.0})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        runs = []
        for _ in range(max(1, min(REPEATS, 3))):
            proc = subprocess.run([str(PYBOP_PYTHON), str(HERE / "peers" / "pybop_fit.py"),
                                   str(path)], capture_output=True, text=True, timeout=600)
            try:
                out = json.loads(proc.stdout.strip().splitlines()[-1])
            except (json.JSONDecodeError, IndexError):
                print(f"  PyBOP run failed: {proc.stderr.strip()[-500:]}")
                return None
            if "error" in out:
                print(f"  PyBOP run failed: {out['error']}")
                return None
            runs.append(out)
    best = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    x = best["x"]
    print(f"  PyBOP {best['pybop']} ({best['optimiser']}): {best['seconds']:.3f} s (median of "
          f"{len(runs)} processes); D = {x['diffusivity']:.4g}, k0 = {x['rate_constant']:.4g}; "
          f"{best['evaluations']} evaluations, {best['iterations']} iterations")
    return best


def main() -> int:
    warnings.filterwarnings("ignore")
    print(f"2-parameter fit (D, k0) to one 1C sodiation curve ({N_POINTS} points, 2 mV noise); "
          "truth D = 1e-14, k0 = 5e-11; target nasurf <= 0.2 s")
    ours = nasurf_fit()
    theirs = pybop_fit()
    if theirs is not None:
        print(f"  PyBOP/nasurf time ratio (1 start each) = {theirs['seconds'] / ours:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
