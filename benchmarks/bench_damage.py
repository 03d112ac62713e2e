"""The full damage corpus: every damage class on every real file, classified, as a table.

Reads each damaged variant of every file in ``../shared/realdata`` (generator and classes:
``tests/damage.py``; fixed seeds) and counts the outcomes per class. Writes the table into
``docs/robustness.md`` between its ``damage-table`` markers and exits 1 if any read was
silently wrong, raised a traceback or hung.

Run: ``.venv/bin/python benchmarks/bench_damage.py [--seeds N] [--no-write]``
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from damage import DAMAGES, FAILURES, OUTCOMES, corpus_files, run  # noqa: E402

REALDATA = ROOT.parent / "shared" / "realdata"
DOC = ROOT / "docs" / "robustness.md"
START, END = "<!-- damage-table:start -->", "<!-- damage-table:end -->"


def table(results: list, seeds: int, files: int, seconds: float) -> str:
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in results:
        counts[r.damage][r.outcome] += 1
    head = "| damage class | " + " | ".join(OUTCOMES) + " | variants |"
    rule = "|---|" + "---:|" * (len(OUTCOMES) + 1)
    lines = [head, rule]
    total: collections.Counter = collections.Counter()
    for name in DAMAGES:
        c = counts.get(name, collections.Counter())
        total.update(c)
        lines.append(f"| {name} | " + " | ".join(str(c[o]) for o in OUTCOMES)
                     + f" | {sum(c.values())} |")
    lines.append("| **all** | " + " | ".join(f"**{total[o]}**" for o in OUTCOMES)
                 + f" | **{sum(total.values())}** |")
    bad = [r for r in results if r.outcome in FAILURES]
    n_fail_intact = sum(not r.intact_reads for r in results)
    text = [f"{len(results)} damaged variants of {files} real files ({seeds} seed(s) per "
            f"class and file), read in {seconds:.0f} s by `benchmarks/bench_damage.py`. "
            f"{n_fail_intact} variants come from files whose intact read is already a clear "
            "error (formats other engineers are adding); they count as `error` when the "
            "damaged copy fails clearly too.", "", *lines, ""]
    if bad:
        text.append("Failures:")
        text += [f"- {r.outcome}: `{r.file}` [{r.damage}, seed {r.seed}] {r.detail}"
                 for r in bad]
    else:
        text.append("No variant was silently wrong, raised a traceback or hung.")
    return "\n".join(text)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    files = corpus_files(REALDATA)
    t0 = time.perf_counter()
    results = run(files, REALDATA, seeds=range(args.seeds), timeout_s=120)
    block = table(results, args.seeds, len(files), time.perf_counter() - t0)
    print(block)
    if not args.no_write:
        doc = DOC.read_text(encoding="utf-8")
        a, b = doc.index(START) + len(START), doc.index(END)
        DOC.write_text(doc[:a] + "\n" + block + "\n" + doc[b:], encoding="utf-8")
        print(f"\nwrote the table into {DOC}")
    return 1 if any(r.outcome in FAILURES for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
