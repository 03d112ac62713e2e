"""Archive at scale: 1 000 files serial vs 2 local Dask workers vs the incremental re-run.

The archive is real files from ../shared/realdata repeated under different names
(symlinks in a temporary folder tree of 10 "months" x 10 "cells"): GCPL cycling
(BioLogic, Neware), impedance spectra (BioLogic, text) and one rest file that must fail
(listed, not fatal). Three runs of ``nasurf.archive.analyze_archive``:

1. serial, this process, empty cache;
2. a LocalCluster of 2 worker processes (1 thread each), empty cache;
3. the re-run of 2 on the unchanged tree (every file from the content-hash cache).

Each run happens in a fresh subprocess so that its peak memory is its own: max RSS of
the client process and, for Dask, of the largest worker process (descendants' max RSS).
Timings include the LocalCluster's start-up, as ``nasurf analyze archive`` runs it.
Prints files/s and peak memory, and checks that the serial and Dask data sets are
identical and that the re-run is >= 20x faster.

Run: ``.venv/bin/python benchmarks/bench_archive.py [--files 1000]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
FILES = ["yadg/gcpl.issue_149.mpr", "yadg/gcpl.issue_211.mpr", "yadg/gcpl.pr_182.1.mpr",
         "aurora-cycler-manager/250116_kigr_gen6_01_02_GCPL_CD8.mpr",
         "aurora-cycler-manager/nw4-120-6-1-36.ndax", "NewareNDA/TestFile.nda",
         "navani/test.nda", "yadg/peis.mpr", "impedance.py/exampleDataBioLogic.mpt",
         "yadg/ocv.mpr"]


def build_tree(root: Path, n: int) -> None:
    for i in range(n):
        src = REALDATA / FILES[i % len(FILES)]
        d = root / f"2026-{i // 100 % 12 + 1:02d}" / f"cell{i // 10 % 10:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"run{i:04d}_{src.name}").symlink_to(src)


def _maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0        # Linux: kB


def phase(kind: str, root: str, out: str) -> dict:
    from nasurf.archive import analyze_archive

    # as the CLI runs it: "local" starts a LocalCluster only when some file needs analysing
    # (the timed run includes the cluster's start-up and shut-down)
    res = analyze_archive(root, out, scheduler=None if kind == "serial" else "local",
                          n_workers=2)
    return {"elapsed_s": res.elapsed_s, "files": res.n_files, "analysed": res.n_analysed,
            "cached": res.n_cached, "failed": res.n_failed,
            "client_peak_MB": _maxrss_mb(resource.RUSAGE_SELF),
            # worker processes (and their nanny) are descendants that have exited by now
            "worker_peak_MB": _maxrss_mb(resource.RUSAGE_CHILDREN) if res.n_analysed
            and kind != "serial" else None}


def run_phase(kind: str, root: Path, out: Path) -> dict:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, __file__, "--phase", kind, str(root), str(out)],
                       capture_output=True, text=True, env=env, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--phase", nargs=3, metavar=("KIND", "ROOT", "OUT"))
    args = ap.parse_args()
    if args.phase:
        kind, root, out = args.phase
        print(json.dumps(phase(kind, root, out)))
        return
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="nasurf-bench-archive-") as tmp:
        root, t = Path(tmp) / "lab", Path(tmp)
        build_tree(root, args.files)
        serial = run_phase("serial", root, t / "out_serial")
        dask = run_phase("dask", root, t / "out_dask")
        rerun = run_phase("rerun", root, t / "out_dask")
        a = pd.read_parquet(t / "out_serial" / "files.parquet")
        b = pd.read_parquet(t / "out_dask" / "files.parquet")
        a["file"] = a["file"].str.replace(str(root), "", regex=False)
        b["file"] = b["file"].str.replace(str(root), "", regex=False)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        ca = pd.read_parquet(t / "out_serial" / "cycles.parquet")
        cb = pd.read_parquet(t / "out_dask" / "cycles.parquet")
        pd.testing.assert_frame_equal(ca, cb, check_exact=True)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / "
          f"{load[2]:.1f} (1/5/15 min; other jobs share the cores, so the parallel speed-up "
          "is only meaningful on an idle machine)")
    print(f"archive benchmark: {args.files} files ({len(FILES)} real files repeated under "
          f"different names; {serial['failed']} expected failures listed)")
    print(f"{'run':<28}{'time / s':>10}{'files/s':>10}{'analysed':>10}{'cached':>8}"
          f"{'peak MB (client | largest worker)':>36}")
    for name, r in (("serial (1 process)", serial), ("Dask LocalCluster, 2 workers", dask),
                    ("re-run, unchanged (cache)", rerun)):
        workers = "-" if r["worker_peak_MB"] is None else f"{r['worker_peak_MB']:.0f}"
        print(f"{name:<28}{r['elapsed_s']:>10.2f}{r['files'] / r['elapsed_s']:>10.1f}"
              f"{r['analysed']:>10}{r['cached']:>8}{r['client_peak_MB']:>22.0f} | {workers}")
    speedup = dask["elapsed_s"] / rerun["elapsed_s"]
    print(f"serial and Dask data sets identical (check_exact); re-run {speedup:.0f}x faster "
          f"than the first Dask run (required >= 20x)")
    if speedup < 20:
        raise SystemExit("FAIL: incremental re-run less than 20x faster")


if __name__ == "__main__":
    main()
