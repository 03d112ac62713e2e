"""nasurf's numba cache is keyed by the whole simulator's source, not by the defining file."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nasurf

# site_coverage (compiled.py) compiles in physics.frumkin_coverage (physics.py): numba's own
# cache keys site_coverage on compiled.py alone
PROBE = textwrap.dedent("""
    import numpy as np
    from nasurf.sim import compiled
    value = compiled.site_coverage(np.array([[0.3]]), np.array([1.5]))[0, 0]
    stats = compiled.site_coverage.stats
    print(repr(float(value)), sum(stats.cache_hits.values()), sum(stats.cache_misses.values()),
          compiled.site_coverage._cache.cache_path)
""")


def _run(src: Path, cache: Path):
    env = dict(os.environ, PYTHONPATH=str(src), NUMBA_CACHE_DIR=str(cache),
               PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env=env, timeout=120, cwd=src)
    assert out.returncode == 0, out.stderr
    value, hits, misses, folder = out.stdout.split()
    return float(value), int(hits), int(misses), folder


def test_a_change_to_a_callees_module_is_not_served_stale_machine_code(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(Path(nasurf.__file__).parent, src / "nasurf",
                    ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "numba-cache"

    first = _run(src, cache)
    assert first[1:3] == (0, 1)                        # compiled and written
    again = _run(src, cache)
    assert again[:3] == (first[0], 1, 0)               # an unchanged tree loads it
    assert again[3] == first[3] and Path(first[3]).parent == cache

    physics = src / "nasurf" / "sim" / "physics.py"
    text = physics.read_text()
    old = "    return 0.5 * (lo + hi)\n"
    assert text.count(old) == 1
    physics.write_text(text.replace(old, "    return 0.25 * (lo + hi)   # edited\n"))
    changed = _run(src, cache)
    assert changed[0] == first[0] / 2                  # the edited callee, not the cached kernel
    assert changed[1:3] == (0, 1) and changed[3] != first[3]


def test_every_compiled_function_is_cached_by_the_source_tree():
    # a kernel decorated with numba's own cache=True (or defined outside SOURCES) would be
    # keyed on its one file again
    import importlib
    import inspect

    import numba
    from numba.core.registry import CPUDispatcher

    from nasurf.sim import compiled
    for name in ("kernels", "exact_kernel", "march_kernel", "march_helpers", "fast_cv",
                 "engine_march", "solver", "state"):
        importlib.import_module(f"nasurf.sim.{name}")
    found = {id(v): v for m in list(sys.modules.values())
             if getattr(m, "__name__", "").startswith("nasurf.")
             for v in vars(m).values() if isinstance(v, CPUDispatcher)}
    assert len(found) > 20
    sources = {p.resolve() for p in compiled.SOURCES}
    for d in found.values():
        assert Path(inspect.getfile(d.py_func)).resolve() in sources, d
        assert isinstance(d._cache, compiled._SourceTreeCache), d
    assert numba.config.CACHE_DIR == "" or compiled.cache_dir().startswith(
        numba.config.CACHE_DIR)


def test_the_default_cache_folder_is_nasurfs_user_cache(monkeypatch):
    import numba
    import platformdirs

    from nasurf.sim import compiled
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    assert compiled.cache_dir() == os.path.join(platformdirs.user_cache_dir("nasurf"), "numba",
                                                compiled.SOURCE_DIGEST)
    monkeypatch.setattr(numba.config, "CACHE_DIR", "/somewhere")
    assert compiled.cache_dir() == f"/somewhere/nasurf-{compiled.SOURCE_DIGEST}"
