"""CV engines of the simulator: the compiled sweep kernel against the implicit march.

Usage:  .venv/bin/python benchmarks/bench_sim_cv.py

PyBaMM has no surface-redox (Frumkin) store, so the strategy-preset CVs are timed against
nasurf's own implicit engine (``engine="march"``, the engine these CVs took before the
kernel), in the same run; the no-site hard-carbon CV set against PyBaMM is in
``bench_sim.py``. Cases: 6-scan-rate CV sets (0.1 … 5 mV/s, one batch, one cycle) of

1. anatase TiO2 + ``surface_functionalisation`` (2.5 → 0.05 → 2.5 V),
2. anatase TiO2 + ``surface_structural_disorder``,
3. Na2Ti3O7 + ``surface_functionalisation``,

each with the largest difference of the sodiation peak currents between the engines, and
the first call of the kernel in a fresh process (numba compile or on-disk cache load).
Times are medians of ``REPEATS`` runs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import numpy as np

REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
SCAN_RATES_V_s = np.array([0.1, 0.2, 0.5, 1.0, 2.0, 5.0]) * 1e-3


def _median_time(fn, repeats: int = REPEATS):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench_presets() -> None:
    from nasurf.sim.experiment import cyclic_voltammetry
    from nasurf.sim.simulate import resolve_parameters
    from nasurf.sim.sweep import run_batch

    exp = cyclic_voltammetry(1.0, high_V=2.5, low_V=0.05, cycles=1)
    print("6 scan-rate CV sets with surface-redox sites (0.1 ... 5 mV/s, 2.5 -> 0.05 -> 2.5 V)")
    for material, strategy in (("anatase_tio2", "surface_functionalisation"),
                               ("anatase_tio2", "surface_structural_disorder"),
                               ("na2ti3o7", "surface_functionalisation")):
        p = resolve_parameters(material, strategy)
        runs = {}
        times = {}
        for engine in ("auto", "march"):
            def run(engine=engine, p=p):
                return run_batch(p, exp, sweep_rates_V_s=SCAN_RATES_V_s, keep_trace=True,
                                 engine=engine)
            run()   # warm: the kernel's cache load is reported separately below
            times[engine], runs[engine] = _median_time(
                run, REPEATS if engine == "auto" else max(1, REPEATS // 2))
        # sodiation peak: the most cathodic current away from the start of the run
        peaks = {}
        for engine, r in runs.items():
            t, I = r.trace["t"], r.trace["I"]
            late = t > 0.1 * np.nanmax(t, axis=0)
            peaks[engine] = -np.nanmin(np.where(late, I, np.nan), axis=0)
        diff = 100 * np.max(np.abs(peaks["auto"] / peaks["march"] - 1))
        label = f"{material} + {strategy}"
        print(f"  {label:<44} kernel {times['auto'] * 1e3:7.2f} ms   "
              f"march {times['march'] * 1e3:8.1f} ms   march/kernel = "
              f"{times['march'] / times['auto']:5.1f}x   sodiation peaks differ <= {diff:.2f} % "
              "(march at its default steps)")


def bench_first_call() -> None:
    code = ("import time, numpy as np\n"
            "from nasurf.sim.experiment import cyclic_voltammetry\n"
            "from nasurf.sim.simulate import resolve_parameters\n"
            "from nasurf.sim.sweep import run_batch\n"
            "p = resolve_parameters('anatase_tio2', 'surface_functionalisation')\n"
            "exp = cyclic_voltammetry(1.0, high_V=2.5, low_V=0.05, cycles=1)\n"
            "t0 = time.perf_counter()\n"
            "run_batch(p, exp, sweep_rates_V_s=np.array([1e-3]))\n"
            "print(time.perf_counter() - t0)\n")
    t = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.split()[-1])
    print(f"  first CV in a fresh process (numba import + cached kernel load, or compile "
          f"after a fresh install): {t:.2f} s")


def main() -> int:
    import nasurf

    print(f"nasurf {nasurf.__version__}, {os.cpu_count()} CPUs, medians of {REPEATS}")
    bench_presets()
    bench_first_call()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
