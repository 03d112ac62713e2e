"""Start-up: the quick commands import only what their path needs (issue 12). Timing is
measured by benchmarks/bench_startup.py; this test pins the cause, which does not depend
on the machine: which heavy modules a command's process ends up importing."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("pint", "scipy", "numba", "matplotlib", "dask", "distributed")

PROBE = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("LOADED " + " ".join(
    m for m in {heavy!r} if m in sys.modules) + "\\n"))
from nasurf.cli import main
sys.argv[0] = "nasurf"
main()
"""


def _loaded(*args: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(heavy=(*HEAVY, "rich")), *args],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("LOADED")][-1]
    return set(line.split()[1:])


@pytest.mark.parametrize("name", ["yadg/cv.mpt", "yadg/cv.mpr"])
def test_read_json_imports_no_heavy_module(realdata, name):
    assert _loaded("read", str(realdata / name), "--json") == set()


def test_analyze_cycling_imports_no_heavy_module(realdata):
    f = realdata / "navani" / "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
    assert not _loaded("analyze", "cycling", str(f), "--json") & set(HEAVY)


def test_formats_and_version_import_no_heavy_module():
    assert _loaded("formats", "--json") == set()
    assert _loaded("version") == set()
