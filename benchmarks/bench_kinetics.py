"""CV kinetics (Dunn k1/k2) and GITT: nasurf vs the peers' approaches, same data, one run.

    .venv/bin/python benchmarks/bench_kinetics.py
    .venv/bin/python benchmarks/bench_kinetics.py --repeats 3 --pulses 200

Dunn: no maintained package computes k1/k2; public scripts (e.g. the
CyclicVoltammetryDeconvolution notebook) call ``scipy.optimize.curve_fit`` once per
potential on i/√v = k1·√v + k2. That loop is the peer here, timed on the exact
methods.md §2 set (5 rates × 2 branches × 2001 potentials) and on a dense set
(10 rates × 2 × 20 001). nasurf's time includes branch splitting and gridding from the
raw CV loops; the peer gets the gridded arrays for free (the comparison favours it).

GITT: ampworks (``ampworks.gitt.extract_params``, the only maintained open GITT
routine) on an exact slab record (Crank constant-flux solution, D = 1e-11 cm²/s,
L = 1 µm, τ = 60 s, 6000 s rests, 0.2 s / 10 s sampling). ampworks runs in its own
interpreter: ``NASURF_AMPWORKS_PYTHON`` or ``.venv-peers/bin/python`` if it has ampworks;
otherwise that side is skipped with a message. Both tools' D are printed next to the truth.
Times are the shortest of the repeats (the build machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))

import pandas as pd  # noqa: E402
from scipy.optimize import curve_fit  # noqa: E402

from nasurf.analysis.gitt import gitt_analysis  # noqa: E402
from nasurf.analysis.kinetics import CVSet, dunn_analysis  # noqa: E402
from nasurf.io.table import CURRENT, TIME, VOLTAGE, EchemData, Metadata  # noqa: E402
from timing import timed  # noqa: E402  (benchmarks/timing.py: the shared protocol)


def dunn_set(n_rates: int, n_points: int):
    rates = np.geomspace(1e-4, 2e-3, n_rates)
    e = np.linspace(0.0, 2.0, n_points)
    k2a = 2e-3 * np.exp(-(((e - 0.5) / 0.1) ** 2))
    k2c = -2e-3 * np.exp(-(((e - 0.3) / 0.1) ** 2))
    loops_e, loops_i, grids = [], [], []
    for v in rates:
        ia = 0.02 * v + k2a * np.sqrt(v)
        ic = -0.02 * v + k2c * np.sqrt(v)
        loops_e.append(np.concatenate([e, e[::-1], e, e[::-1]]))
        loops_i.append(np.concatenate([ia, ic[::-1], ia, ic[::-1]]))
        grids.append((ia, ic))
    return rates, e, loops_e, loops_i, grids


def peer_curve_fit_loop(rates, grids):
    """Per-potential curve_fit of i/√v = k1·√v + k2, both branches (public-script way)."""
    x = np.sqrt(rates)
    out = []
    for b in (0, 1):
        cur = np.array([g[b] for g in grids])  # (rates, points)
        k1 = np.empty(cur.shape[1])
        with warnings.catch_warnings():
            # exact data: zero residuals make curve_fit warn about the covariance
            warnings.simplefilter("ignore")
            for j in range(cur.shape[1]):
                popt, _ = curve_fit(lambda xx, a, c: a * xx + c, x, cur[:, j] / x)
                k1[j] = popt[0]
        out.append(k1)
    return out


def bench_dunn(repeats: int) -> None:
    print("## Dunn k1/k2 (nasurf.dunn_analysis vs per-potential curve_fit loop)")
    print(f"{'case':34s} {'nasurf (s)':>11s} {'peer (s)':>10s} {'peer/nasurf':>12s} "
          f"{'max|Δk1| (F)':>13s}")
    for n_rates, n_points in ((5, 2001), (10, 20001)):
        rates, _e, le, li, grids = dunn_set(n_rates, n_points)
        cvs = CVSet.from_arrays(rates, le, li)
        step = 2.0 / (n_points - 1)
        t_ours, res = timed(lambda cvs=cvs, step=step: dunn_analysis(
            cvs, vertex_exclusion_V=0, grid_step_V=step), repeats)
        t_peer, k1_peer = timed(lambda r=rates, g=grids: peer_curve_fit_loop(r, g),
                                max(1, repeats // 3))
        dk1 = float(np.max(np.abs(res.k1("anodic") - k1_peer[0])))
        ours, peer = min(t_ours), min(t_peer)  # shortest call: least disturbed by the load
        print(f"{f'{n_rates} rates x 2 x {n_points} potentials':34s} {ours:11.4f} "
              f"{peer:10.3f} {peer / ours:11.0f}x {dk1:13.2e}")


def slab_pulse(tau: float, D: float, L: float, J: float, t: np.ndarray) -> np.ndarray:
    n = np.arange(1, 401)

    def f(tt):
        out = np.zeros_like(tt)
        m = tt > 0
        x = tt[m][:, None]
        out[m] = (J * L / D) * (D * x[:, 0] / L**2 + 1 / 3 - (2 / np.pi**2) * np.sum(
            n**-2.0 * np.exp(-(n**2) * np.pi**2 * D * x / L**2), axis=1))
        return out

    return f(t) - f(t - tau)


def gitt_record(n_pulses: int):
    """Exact slab GITT record: each pulse relaxes fully (rest = 6 L²/D) before the next."""
    D, L, J, tau, rest, dEdc, R = 1e-11, 1e-4, 1e-10, 60.0, 6000.0, -5.0, 20.0
    current = -J * 96485.33212
    # uniform sampling across each switch (the last rest sample is at the switch time);
    # rounded so that the last pulse sample is exactly τ
    tp = np.round(np.arange(1, round(tau / 0.2) + 1) * 0.2, 9)
    tr = tau + np.arange(10.0, rest + 1e-9, 10.0)
    t_seg = np.concatenate([tp, tr])
    shape = dEdc * slab_pulse(tau, D, L, J, t_seg)
    step = dEdc * J * tau / L  # equilibrium shift per pulse
    t0 = np.arange(0.0, 300.0 + 1e-9, 10.0)
    ts, es, cs = [t0], [np.full(t0.size, 1.0)], [np.zeros(t0.size)]
    start = 300.0
    for k in range(n_pulses):
        ts.append(start + t_seg)
        es.append(1.0 + k * step + shape + np.where(t_seg <= tau, current * R, 0.0))
        cs.append(np.where(t_seg <= tau, current, 0.0))
        start += t_seg[-1]
    t, e, i = np.concatenate(ts), np.concatenate(es), np.concatenate(cs)
    return t, e, i, D, L


def ampworks_python() -> Path | None:
    cands = [os.environ.get("NASURF_AMPWORKS_PYTHON"),
             str(REPO / ".venv-peers" / "bin" / "python")]
    for c in cands:
        if c and Path(c).exists():
            ok = subprocess.run([c, "-c", "import ampworks"], capture_output=True)
            if ok.returncode == 0:
                return Path(c)
    return None


def bench_gitt(repeats: int, n_pulses: int) -> None:
    print(f"\n## GITT ({n_pulses} pulses; nasurf.gitt_analysis vs ampworks.gitt.extract_params)")
    t, e, i, D, L = gitt_record(n_pulses)
    data = EchemData(pd.DataFrame({TIME: t, VOLTAGE: e, CURRENT: i}), Metadata(source="bench"))
    t_ours, res = timed(lambda: gitt_analysis(data, diffusion_length_cm=L), repeats)
    d_ours = float(np.median(res.pulses["D_L2_cm2_s"]))
    d_ours_sqrt = float(np.median(res.pulses["D_sqrt_t_cm2_s"]))
    ours = min(t_ours)
    print(f"rows: {t.size}; truth D = {D:.3e} cm²/s")
    print(f"nasurf   : {ours:8.4f} s  D_L2/D = {d_ours / D:.4f}  D_√t/D = {d_ours_sqrt / D:.4f}"
          f"  pulses = {len(res.pulses)}")
    py = ampworks_python()
    if py is None:
        print("ampworks : skipped (no interpreter with ampworks: set NASURF_AMPWORKS_PYTHON or "
              "add ampworks to benchmarks/requirements-peers.txt)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gitt.npz"
        np.savez(path, t=t, e=e, i=i)
        # ampworks uses the sphere form with L = r/3: r = 3 L, in metres
        proc = subprocess.run([str(py), str(HERE / "peers" / "ampworks_gitt.py"), str(path),
                               str(3 * L * 1e-2), str(repeats)], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"ampworks : failed: {proc.stderr.strip().splitlines()[-1:]}")
        return
    peer = json.loads(proc.stdout.strip().splitlines()[-1])
    tp = min(peer["times"])
    d_peer = peer["median_Ds_m2_s"] * 1e4  # m²/s → cm²/s
    print(f"ampworks : {tp:8.4f} s  D/D_true = {d_peer / D:.4f}  (ampworks {peer['version']}, "
          f"{peer['n']} pulses)")
    print(f"ratio ampworks/nasurf time: {tp / ours:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pulses", type=int, default=100)
    args = ap.parse_args()
    bench_dunn(args.repeats)
    bench_gitt(args.repeats, args.pulses)


if __name__ == "__main__":
    main()
