"""Regression table of the cycling numbers on every readable real file, before and after.

    .venv/bin/python benchmarks/regression_realdata.py --before-src /tmp/base/src \
        > docs/regression-realdata.md

"Before" is another checkout's ``src`` (e.g. ``git archive <commit> | tar -x -C /tmp/base``),
"after" is this checkout. Each side runs in its own interpreter (``--emit``) with its own
``src`` first on the path and prints one JSON document; this script joins the two into a
Markdown table. For every file under the shared ``realdata`` folder that ``nasurf.io.read``
reads as a time series: the technique class (after only), the electrode role (after only),
half cycles, ICE, mean CE, the constant-voltage hold capacities of the first half cycles,
and the flags (after only). Files the reader refuses are counted at the end, by reason.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REALDATA = Path(os.environ.get("NASURF_REALDATA", REPO.parent / "shared" / "realdata"))
SKIP_SUFFIXES = {".md", ".mpl", ".ftr", ".parquet", ".json", ".png"}
MAX_BYTES = 60_000_000


def files() -> list[Path]:
    return sorted(p for p in REALDATA.rglob("*") if p.is_file()
                  and p.suffix.lower() not in SKIP_SUFFIXES and p.stat().st_size < MAX_BYTES)


def emit() -> None:
    """Run inside one checkout: the numbers of every file as JSON on stdout."""
    import warnings

    warnings.filterwarnings("ignore")
    from nasurf.analysis import cycling_summary  # the public name, in every version
    from nasurf.io import read

    try:
        from nasurf.io.steps import classify_technique
    except ImportError:                 # the checkout before the step model
        classify_technique = None
    out = {}
    for p in files():
        rel = str(p.relative_to(REALDATA))
        try:
            data = read(p)
        except Exception as exc:
            out[rel] = {"unreadable": f"{type(exc).__name__}"}
            continue
        if not data.is_time_series or len(data.data) < 2:
            out[rel] = {"not_time_series": True}
            continue
        row: dict = {}
        if classify_technique is not None:
            row["class"] = classify_technique(data)[0]
        try:
            res = cycling_summary(data)
        except Exception as exc:
            row["error"] = str(exc).split(": ", 1)[-1][:90]
            out[rel] = row
            continue
        hc = res.half_cycles
        cv = [round(float(x), 4) for x in hc["cv_capacity_mAh"].to_numpy()[:8] if x > 0]
        row.update(
            half_cycles=len(hc),
            ice=res.initial_coulombic_efficiency, mean_ce=res.mean_ce,
            holds_mAh=cv[:4],
            flags=sorted({f["flag"] for f in getattr(res, "flags", ())}),
            electrode=res.extra.get("electrode"),
        )
        out[rel] = row
    json.dump(out, sys.stdout)


def run_side(src: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    proc = subprocess.run([sys.executable, __file__, "--emit"], capture_output=True,
                          text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stdout)


def pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before-src", type=Path, required=False)
    ap.add_argument("--emit", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.emit:
        emit()
        return 0
    after = run_side(REPO / "src")
    before = run_side(a.before_src) if a.before_src else {}
    print("| file | class | electrode | half cycles (before → after) | ICE % | mean CE % | "
          "holds mAh (after) | flags |")
    print("|---|---|---|---|---|---|---|---|")
    unreadable: dict[str, int] = {}
    for rel, r in after.items():
        if "unreadable" in r:
            unreadable[r["unreadable"]] = unreadable.get(r["unreadable"], 0) + 1
            continue
        if r.get("not_time_series"):
            continue
        b = before.get(rel, {})

        def pair(key, fmt=str, b=b, r=r):
            old = b.get(key) if "error" not in b else None
            new = r.get(key) if "error" not in r else None
            o = fmt(old) if old is not None else ("error" if "error" in b else "-")
            n = fmt(new) if new is not None else ("error" if "error" in r else "-")
            return o if o == n else f"{o} → **{n}**"

        print(f"| {rel} | {r.get('class', '-')} | {r.get('electrode') or '-'} | "
              f"{pair('half_cycles')} | {pair('ice', pct)} | {pair('mean_ce', pct)} | "
              f"{', '.join(map(str, r.get('holds_mAh', []))) or '-'} | "
              f"{', '.join(r.get('flags', [])) or (r.get('error', '-') if 'error' in r else '-')}"
              " |")
    if unreadable:
        print("\nNot readable by nasurf.io today (not in the table): "
              + ", ".join(f"{n} × {k}" for k, n in sorted(unreadable.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
