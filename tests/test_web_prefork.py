"""What the fork server (nasurf.web.prefork) loads before it forks the upload and
analysis children: every reader nasurf has (so no child imports one afresh), and not
polars, which documents that a process forked after its import can deadlock."""

from __future__ import annotations

import json
import subprocess
import sys

from web_server import REPO


def test_fork_server_preloads_readers_but_not_polars():
    code = (
        "import json, sys\n"
        "import nasurf.web.prefork\n"
        "from nasurf.io import registry\n"
        "mods = {s.module for s in registry.SPECS}\n"
        "print(json.dumps({'missing': sorted(m for m in mods if m not in sys.modules),\n"
        "                  'n': len(mods), 'polars': 'polars' in sys.modules,\n"
        "                  'galvani': 'galvani.BioLogic' in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["n"] >= 5 and got["missing"] == []
    assert got["galvani"] and not got["polars"]
