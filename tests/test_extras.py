"""Optional dependencies: without the ``dask`` extra, the capabilities that need it say
which extra to install (library: MissingExtraError; command line: one line, exit 2)."""

from __future__ import annotations

import subprocess
import sys

# makes the named top-level modules uninstalled for this interpreter (as after
# `pip uninstall dask distributed`), through the import system's own finder hook
BLOCK = """
import sys
class _Uninstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('dask', 'distributed'):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Uninstalled())
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True,
                          text=True, timeout=120)


def test_library_names_the_extra():
    out = _run("""
from nasurf.extras import MissingExtraError
from nasurf.samples.execute import dask_client
try:
    with dask_client("local"):
        pass
except MissingExtraError as exc:
    print("MISSING", exc)
""")
    assert out.returncode == 0, out.stderr
    assert "MISSING running samples on a Dask cluster needs the optional dependency " \
           "'distributed'" in out.stdout
    assert "pip install 'nasurf[dask]'" in out.stdout


def test_command_line_names_the_extra_in_one_line():
    out = _run("""
import typer
from nasurf.clikit import handle_errors
app = typer.Typer()
@app.command()
@handle_errors
def sweep() -> None:
    import distributed  # noqa: F401
app()
""")
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert "pip install 'nasurf[dask]'" in lines[0]


def test_the_core_needs_no_dask():
    out = _run("""
import nasurf.io, nasurf.analysis.cycling, nasurf.sim, nasurf.knowledge, nasurf.report
print("OK")
""")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "OK"
