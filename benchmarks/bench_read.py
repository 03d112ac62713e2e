"""Reading speed: nasurf.io.read against the raw peer readers on the same real files.

nasurf.io.read = detection + the peer parser (galvani MPRfile, fastnda) + canonical table
(SI units, derived current, validation). The ratio shows the overhead over the bare parse.
Run standalone: ``.venv/bin/python benchmarks/bench_read.py``. Peer figures measured on this
machine are in ../shared/research/peer-bench/RESULTS.md (section 3).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
MPR = ["navani/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr", "yadg/cv.issue_217.mpr",
       "aurora-cycler-manager/250116_kigr_gen6_01_02_GCPL_CD8.mpr", "yadg/geis.mpr"]
NEWARE = ["fastnda/nw4-120-1-6-53.ndax", "aurora-cycler-manager/nw4-120-6-1-36.ndax",
          "navani/test.ndax", "NewareNDA/TestFile.nda"]
TEXT = ["yadg/bcd.issue_241.mpt", "yadg/cv.issue_149.mpt",
        "battery-data-format/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv",
        "navani/bs542_004_gr_li_50ua_50mv_1v_191020_Channel_11.xlsx"]


def timeit(fn, repeat: int = 7) -> float:
    fn()  # warm-up (imports, caches)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    import fastnda
    import pandas as pd
    from galvani.BioLogic import MPRfile

    from nasurf.io import read

    print("peer = galvani MPRfile + pd.DataFrame (.mpr), fastnda.read (.nda/.ndax)")
    print(f"{'file':58s} {'rows':>6s} {'peer ms':>9s} {'nasurf ms':>10s} {'ratio':>6s}")
    rows = []
    for rel in MPR + NEWARE + TEXT:
        path = REALDATA / rel
        if path.suffix == ".mpr":
            # the fair peer: galvani's parse plus the DataFrame a user builds from it
            def peer(path=path):
                with open(path, "rb") as fh:
                    return pd.DataFrame(MPRfile(fh).data)
        elif path.suffix in (".nda", ".ndax"):
            def peer(path=path):
                return fastnda.read(path, cycle_mode="raw")
        else:
            peer = None
        t_nasurf = timeit(lambda path=path: read(path))
        n = len(read(path))
        t_peer = timeit(peer) if peer else float("nan")
        ratio = t_nasurf / t_peer if peer else float("nan")
        rows.append((rel, n, t_peer, t_nasurf, ratio))
        print(f"{rel[-58:]:58s} {n:6d} {t_peer * 1e3:9.3f} {t_nasurf * 1e3:10.3f} {ratio:6.1f}")
    ratios = [r[4] for r in rows if r[4] == r[4]]
    print(f"median nasurf/peer ratio (binary files): {statistics.median(ratios):.1f}x; "
          "text formats have no peer here (own parsers)")


if __name__ == "__main__":
    main()
