"""Cycle summary: nasurf.analysis.cycling_summary vs navani.echem.cycle_summary.

    .venv/bin/python benchmarks/bench_cycling.py                    # real files + 0.2/2/10 M rows
    .venv/bin/python benchmarks/bench_cycling.py --sizes 100x2000   # cycles x rows per cycle
    .venv/bin/python benchmarks/bench_cycling.py --no-real --no-peer
    .venv/bin/python benchmarks/bench_cycling.py --baseline ../base/src --rounds 10 --repeats 30

``--baseline SRC`` times the ``src/`` folder of another checkout (e.g. a detached worktree
of an older commit) against this one, both in fresh worker processes
(``benchmarks/summary_worker.py``), alternately with navani, round by round (which tree
goes first alternates too); the minimum over all rounds is the figure to compare on a loaded
machine, the median ratio is printed next to it, and each row says whether this / baseline
meets issue 10's target (<= 1.10). ``NASURF_PEER_PYTHON``
points at navani's interpreter when ``.venv-peers`` lives elsewhere.

Same data for both tools in one run. Real files: each tool reads the file its own way
(untimed), then only the summary call is timed. Synthetic hard-carbon long cycling: one
table from nasurf's generator, saved to a temporary .npz; navani gets it as the frame its
loaders would build (state, half cycle, per-half-cycle Capacity; construction untimed).
navani needs numpy<2, so it runs in ``.venv-peers``
(``benchmarks/peers/navani_summary.py``, timing only ``cycle_summary`` inside that
process); without the venv the peer side is skipped with a message. The two are timed
alternately (3 rounds of our calls then navani's process; 1 round above 1 M rows), so
load that drifts during a run on a shared machine affects both sides of each ratio
alike. nasurf's timing includes its own half-cycle segmentation, which
navani does in its loader (untimed here): the comparison favours navani.

Peak memory: a fresh subprocess loads the table, resets the kernel's high-water mark
(/proc/self/clear_refs), runs the summary and reads VmHWM; reported as (table + extra
peak) / table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEER_PY = Path(os.environ.get("NASURF_PEER_PYTHON", REPO / ".venv-peers" / "bin" / "python"))
WORKER = HERE / "summary_worker.py"
PEER_SCRIPT = HERE / "peers" / "navani_summary.py"
REALDATA = Path(os.environ.get("NASURF_REALDATA", REPO.parent / "shared" / "realdata"))
REAL_FILES = [
    ("graphite|Li Arbin .xlsx", "navani/bs542_004_gr_li_50ua_50mv_1v_191020_Channel_11.xlsx"),
    ("Na|NaxCoO2 BioLogic .mpr", "navani/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"),
    ("Neware .ndax CC-CV 150 cycles", "fastnda/nw4-120-1-6-53.ndax"),
]

sys.path.insert(0, str(REPO / "src"))
from nasurf.analysis.cycling import (  # noqa: E402
    cycling_summary,
    synthetic_cycling,
)
from nasurf.io.table import CURRENT, TIME, VOLTAGE, EchemData, Metadata  # noqa: E402
from timing import timed  # noqa: E402  (benchmarks/timing.py: the shared protocol)


def summary(data):
    """What is timed on our side: the summary including its per-cycle DataFrame (navani's
    output); the half-cycle and rate-step tables are built lazily on first access."""
    res = cycling_summary(data)
    res.cycles  # noqa: B018 - force the per-cycle table
    return res


def long_cycling(n_cycles: int, rows_per_cycle: int, seed: int = 0) -> EchemData:
    """Hard-carbon-like long cycling: ~0.3 mAh with slow fade, first sodiation 25 % larger
    (SEI), CE 80 % then 99.5 %, C/10-like current with 0.1 % noise, 0.3 mV voltage noise,
    10 rest rows after every half cycle."""
    k = np.arange(1, n_cycles + 1)
    des = 0.30 * (1 - 0.15 * (1 - np.exp(-k / 300))) * 0.995
    sod = des / 0.995
    sod[0] = des[0] / 0.80
    return synthetic_cycling(sod, des, current_A=3e-5,
                             points_per_half_cycle=rows_per_cycle // 2 - 10, rest_points=10,
                             current_noise=1e-3, voltage_noise_V=3e-4, seed=seed)


def run_peer(tasks: list[dict]) -> list[dict] | None:
    if not PEER_PY.exists():
        print(f"  [peer skipped] {PEER_PY} not found: create it with `make bench` or "
              "`python3 -m venv .venv-peers && .venv-peers/bin/pip install -r "
              "benchmarks/requirements-peers.txt`")
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"tasks": tasks}, fh)
        name = fh.name
    try:
        proc = subprocess.run([str(PEER_PY), str(PEER_SCRIPT), name], capture_output=True,
                              text=True)
    finally:
        os.unlink(name)
    if proc.returncode != 0:
        print(f"  [peer failed] {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(proc.stdout)["results"]


def run_worker(src: Path, tasks: list[dict]) -> list[dict]:
    """Time ``cycling_summary`` of the nasurf in ``src`` on ``tasks`` in a fresh process."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"tasks": tasks}, fh)
        name = fh.name
    try:
        proc = subprocess.run([sys.executable, str(WORKER), str(src), name],
                              capture_output=True, text=True)
    finally:
        os.unlink(name)
    if proc.returncode != 0:
        raise SystemExit(f"worker on {src} failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)["results"]


def versus_baseline(tasks: list[dict], labels: list[str], baseline: Path, peer: bool,
                    rounds: int) -> None:
    """This tree and ``baseline`` (and navani) timed alternately, round by round, each
    in a fresh process; prints the minima and their ratios."""
    ours: list[list[float]] = [[] for _ in tasks]
    base: list[list[float]] = [[] for _ in tasks]
    nav: list[list[float]] | None = [[] for _ in tasks] if peer else None
    for rnd in range(rounds):
        # which tree goes first alternates round by round (no side always gets the
        # warmer or the quieter half of a round)
        order = [(ours, REPO / "src"), (base, baseline)]
        for side, src in (order if rnd % 2 == 0 else order[::-1]):
            for k, r in enumerate(run_worker(src, tasks)):
                side[k] += r["times_s"]
        if nav is not None:
            out = run_peer(tasks)
            if out is None:
                nav = None
            else:
                for k, r in enumerate(out):
                    nav[k] += r["times_s"]
    print(f"\n## This tree vs baseline {baseline} ({rounds} alternating rounds x "
          f"{tasks[0]['repeats']} calls; minimum over all calls; target: this / baseline "
          f"<= {TARGET_RATIO:.2f})")
    print("| file | calls | baseline min | this tree min | this / baseline | target | "
          "median this / baseline | navani min | navani / baseline | navani / this |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for k, label in enumerate(labels):
        b, o = min(base[k]), min(ours[k])
        med = statistics.median(ours[k]) / statistics.median(base[k])
        nv = min(nav[k]) if nav else None
        met = "met" if o / b <= TARGET_RATIO else "NOT met"
        print(f"| {label} | {len(ours[k])} | {b * 1e3:.3f} ms | {o * 1e3:.3f} ms | "
              f"{o / b:.3f} | {met} | {med:.3f} | "
              + (f"{nv * 1e3:.3f} ms | {nv / b:.2f} | {nv / o:.2f} |"
                 if nv else "- | - | - |"), flush=True)


def memory_probe(npz: str) -> dict:
    """In a fresh process: table in memory, reset the high-water mark, summary, read it."""
    code = f"""
import json, sys, numpy as np, pandas as pd
sys.path.insert(0, {str(REPO / 'src')!r})
from nasurf.analysis.cycling import cycling_summary
from nasurf.io.table import TIME, VOLTAGE, CURRENT
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
a = np.load({npz!r})
df = pd.DataFrame({{TIME: a['t'], VOLTAGE: a['V'], CURRENT: a['I']}}, copy=False)
del a
table = int(df.memory_usage(index=True, deep=False).sum())
before = status('VmRSS')
try:
    open('/proc/self/clear_refs', 'w').write('5')
    method = 'VmHWM after clear_refs'
except OSError:
    method = 'VmHWM (not reset: includes loading)'
cycling_summary(df).cycles
peak = status('VmHWM')
print(json.dumps({{'table_bytes': table, 'rss_before': before, 'hwm': peak, 'method': method}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout)


def compare(ours, nav: dict) -> str:
    """Worst relative difference of the capacities, half cycle by half cycle.

    navani's Discharge/Charge Capacity per full cycle, flattened in order, against our
    sodiation/desodiation half cycles in order (pairing differs when a file starts with
    a desodiation, so cycles are not matched by number). When the two tools find a
    different number of half cycles (navani counts every current reversal, nasurf drops
    reversals shorter than 5 s) the counts are printed instead.
    """
    hc = ours.half_cycles
    diffs = []
    for proc, key in (("sodiation", "discharge_mAh"), ("desodiation", "charge_mAh")):
        sel = hc["process"] == proc
        a = hc.loc[sel, "capacity_mAh"].to_numpy()
        whole = hc.loc[sel, "complete"].to_numpy()
        b = np.asarray(nav[key], float)
        b = b[np.isfinite(b)]
        if a.size != b.size:
            return f"n/a ({proc}: nasurf {a.size}, navani {b.size} half cycles)"
        m = (b > 0) & whole          # a stub cut short by the end of the test is skipped
        diffs.append(np.abs(a[m] / b[m] - 1))
    worst = np.concatenate(diffs)
    return f"{worst.max():.1e}" if worst.size else "-"


def ratio(nav_times: list[float], our_times: list[float]) -> str:
    """navani / nasurf from the medians and from the minima (the minimum is the better
    estimate of the intrinsic cost when other processes share the CPUs)."""
    med = statistics.median(nav_times) / statistics.median(our_times)
    low = min(nav_times) / min(our_times)
    return f"{med:.0f}x / {low:.0f}x"


def fmt_ms(times: list[float]) -> str:
    return (f"{min(times) * 1e3:.3g} / {statistics.median(times) * 1e3:.3g} / "
            f"{max(times) * 1e3:.3g} ms")


ROUNDS = 3
#: issue 10: the cycle summary stays within 10 % of the pre-step-model baseline
TARGET_RATIO = 1.10


def alternate(ours, tasks: list[dict], peer: bool, rounds: int) -> tuple[list, list | None]:
    """Time nasurf and navani alternately: ``rounds`` times, all of our calls, then all
    of navani's (its process); machine load that drifts during the run hits both alike.
    ``ours`` is a list of zero-argument callables returning (times, result)."""
    our_times: list[list[float]] = [[] for _ in ours]
    results: list = [None] * len(ours)
    nav_times: list[list[float]] | None = [[] for _ in ours] if peer else None
    nav_last = None
    for _ in range(rounds):
        for k, fn in enumerate(ours):
            times, results[k] = fn()
            our_times[k] += times
        if nav_times is not None:
            out = run_peer(tasks)
            if out is None:
                nav_times = None
                continue
            for k, r in enumerate(out):
                nav_times[k] += r["times_s"]
            nav_last = out
    nav = None
    if nav_times is not None and nav_last is not None:
        nav = [dict(r, times_s=nav_times[k]) for k, r in enumerate(nav_last)]
    return [(our_times[k], results[k]) for k in range(len(ours))], nav


def bench_real(repeats: int, peer: bool) -> None:
    from nasurf.io import read

    print(f"\n## Real files (summary only; loading untimed; {ROUNDS} alternating rounds)")
    rows, tasks, calls = [], [], []
    for label, rel in REAL_FILES:
        path = REALDATA / rel
        if not path.exists():
            print(f"  {label}: {path} missing, skipped")
            continue
        data = read(path)
        calls.append(lambda data=data: timed(lambda: summary(data), repeats // ROUNDS))
        rows.append((label, path, data))
        tasks.append({"kind": "file", "path": str(path), "repeats": repeats // ROUNDS,
                      "warmup": 1})
    timings, nav = alternate(calls, tasks, peer and bool(tasks), ROUNDS)
    rows = [(*r, *timings[k]) for k, r in enumerate(rows)]
    print("| file | rows | half cycles | nasurf (min/med/max) | navani (min/med/max) | "
          "navani / nasurf (median / min) | worst rel. diff of capacities |")
    print("|---|---|---|---|---|---|---|")
    for k, (label, _path, data, times, res) in enumerate(rows):
        nv = nav[k] if nav else None
        rt = ratio(nv["times_s"], times) if nv else "-"
        diff = compare(res, nv) if nv else "-"
        print(f"| {label} | {len(data.data)} | {len(res.half_cycles)} | {fmt_ms(times)} | "
              f"{fmt_ms(nv['times_s']) if nv else '-'} | {rt} | {diff} |")
    print("(capacity differences: navani takes the max of the instrument counter per half "
          "cycle, nasurf integrates |I| dt; on CC-CV files the counter resets at the CV "
          "step and navani under-reports, see docs/analysis-cycling.md)")


def bench_synthetic(sizes: list[tuple[int, int]], repeats: int, peer: bool,
                    memory: bool) -> None:
    print("\n## Synthetic hard-carbon long cycling (same table for both tools)")
    print("| cycles x rows/cycle | rows | nasurf (min/med/max) | navani (min/med/max) | "
          "navani / nasurf (median / min) | worst rel. diff | peak memory / table |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n_cyc, rpc in sizes:
            data = long_cycling(n_cyc, rpc)
            df = data.data
            npz = str(Path(tmp) / f"synthetic_{n_cyc}x{rpc}.npz")
            np.savez(npz, t=df[TIME].to_numpy(), V=df[VOLTAGE].to_numpy(),
                     I=df[CURRENT].to_numpy())
            data = EchemData(df, Metadata(source="synthetic"))
            reps = repeats if len(df) <= 2_000_000 else max(3, repeats // 2)
            big = len(df) > 2_000_000
            # navani takes seconds to minutes here: alternate over fewer rounds
            rounds = 1 if len(df) > 1_000_000 else ROUNDS
            per_round = max(reps // rounds, 2)
            [(times, res)], out = alternate(
                [lambda data=data, n=per_round: timed(lambda: summary(data), n)],
                [{"kind": "npz", "path": npz, "repeats": 1 if big else 3,
                  "warmup": 0 if big else 1}], peer, rounds)
            nv = out[0] if out else None
            mem = memory_probe(npz) if memory else None
            rt = ratio(nv["times_s"], times) if nv else "-"
            diff = compare(res, nv) if nv else "-"
            if mem and "error" not in mem:
                extra = max(mem["hwm"] - mem["rss_before"], 0)
                memtxt = (f"{(mem['table_bytes'] + extra) / mem['table_bytes']:.2f}x "
                          f"(table {mem['table_bytes'] / 1e6:.0f} MB, +{extra / 1e6:.0f} MB)")
            else:
                memtxt = "-" if mem is None else str(mem["error"])
            print(f"| {n_cyc} x {rpc} | {len(df) / 1e6:.1f} M | {fmt_ms(times)} | "
                  f"{fmt_ms(nv['times_s'])} | {rt} | {diff} | {memtxt} |"
                  if nv else
                  f"| {n_cyc} x {rpc} | {len(df) / 1e6:.1f} M | {fmt_ms(times)} | - | - | - | "
                  f"{memtxt} |", flush=True)
            os.unlink(npz)
            del data, df, res
    print("(worst rel. diff: per-cycle capacities, nasurf trapezoid vs navani's right-point "
          "counter; differs by about one sampling interval per half cycle)")


def baseline_run(baseline: Path, sizes: list[tuple[int, int]], repeats: int, rounds: int,
                 real: bool, peer: bool) -> None:
    if real:
        tasks, labels = [], []
        for label, rel in REAL_FILES:
            path = REALDATA / rel
            if path.exists():
                tasks.append({"kind": "file", "path": str(path), "repeats": repeats,
                              "warmup": 1})
                labels.append(label)
        versus_baseline(tasks, labels, baseline, peer, rounds)
    with tempfile.TemporaryDirectory() as tmp:
        for n_cyc, rpc in sizes:
            df = long_cycling(n_cyc, rpc).data
            npz = str(Path(tmp) / f"synthetic_{n_cyc}x{rpc}.npz")
            np.savez(npz, t=df[TIME].to_numpy(), V=df[VOLTAGE].to_numpy(),
                     I=df[CURRENT].to_numpy())
            reps = max(2, repeats // 10) if len(df) > 1_000_000 else repeats
            versus_baseline([{"kind": "npz", "path": npz, "repeats": reps, "warmup": 1}],
                            [f"synthetic {n_cyc} x {rpc} ({len(df) / 1e6:.1f} M rows)"],
                            baseline, peer and len(df) <= 1_000_000,
                            max(2, rounds // 3) if len(df) > 1_000_000 else rounds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100x2000,1000x2000,1000x10000",
                    help="cycles x rows per cycle, comma separated")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="src/ folder of another checkout to time against this one "
                         "(real files and --sizes, alternately, fresh processes)")
    ap.add_argument("--rounds", type=int, default=10,
                    help="alternating rounds with --baseline")
    a = ap.parse_args()
    sizes = [tuple(int(x) for x in s.split("x")) for s in a.sizes.split(",") if s]
    print(f"# bench_cycling: nasurf cycling_summary vs navani cycle_summary "
          f"(python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs)")
    if a.baseline is not None:
        baseline_run(a.baseline.resolve(), sizes, a.repeats, a.rounds, not a.no_real,
                     not a.no_peer)
        return 0
    if not a.no_real:
        bench_real(max(a.repeats, 5) * 4, not a.no_peer)
    bench_synthetic(sizes, a.repeats, not a.no_peer, not a.no_memory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
