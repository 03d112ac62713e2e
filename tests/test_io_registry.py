"""The reader registry (nasurf.io.registry): one spec per format, readers imported lazily."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from nasurf.io import detect, registry, supported_formats

SRC = Path(registry.__file__).resolve().parent
READER_MODULES = ("biologic", "neware", "cyclers", "eis", "gamry", "palmsens", "generic")


def test_every_spec_resolves_to_functions_of_its_module():
    for spec in registry.SPECS:
        assert callable(spec.reader()), spec.name
        assert spec.module.startswith("nasurf.io."), spec.name
        if spec.sniff is not None:
            assert callable(spec.sniffer()), spec.name
            assert spec.sniff.partition(":")[0] == spec.module, spec.name
        elif spec.sniff_kind in ("text", "bytes", "zip", "content"):
            pytest.fail(f"{spec.name}: a {spec.sniff_kind} format needs a sniffer")
        if spec.sniff_kind == "magic":
            assert spec.magic, spec.name


def test_names_are_unique_and_text_order_covers_the_text_formats():
    names = [s.name for s in registry.SPECS]
    assert len(names) == len(set(names))
    text = {s.name for s in registry.SPECS if s.sniff_kind == "text"}
    assert set(registry.TEXT_ORDER) == text
    assert len(registry.TEXT_ORDER) == len(text)
    assert supported_formats() == registry.formats() == detect.FORMATS
    assert list(supported_formats()) == names


def test_every_public_reader_is_registered():
    """Every public function that reads a file into an EchemData is a registered format.

    (A reader of another kind of table, such as Gamry's per-cycle CAPACITYCURVE summary,
    returns its own type and is reached through the analysis that uses it.)"""
    registered = {s.read for s in registry.SPECS}
    checked = 0
    for mod_name in READER_MODULES:
        mod = importlib.import_module(f"nasurf.io.{mod_name}")
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if not (name.startswith("read_") and fn.__module__ == mod.__name__):
                continue
            if "EchemData" not in str(inspect.signature(fn).return_annotation):
                continue
            checked += 1
            assert f"{mod.__name__}:{name}" in registered, f"{mod_name}.{name}"
    assert checked >= 15


def test_detect_returns_only_registered_names():
    tree = ast.parse((SRC / "detect.py").read_text(encoding="utf-8"))
    returned = {n.value.value for n in ast.walk(tree)
                if isinstance(n, ast.Return) and isinstance(n.value, ast.Constant)
                and isinstance(n.value.value, str)}
    assert returned, "detect.py returns no literal names: update this test"
    assert returned <= set(registry.formats())


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                          "print(' '.join(m for m in sys.modules if m.startswith('nasurf')))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_listing_formats_imports_no_reader():
    loaded = _modules_after("from nasurf.io import supported_formats; supported_formats()")
    assert not {f"nasurf.io.{m}" for m in READER_MODULES} & loaded


def test_reading_imports_only_the_formats_reader(realdata):
    mpt = realdata / "yadg" / "cv.mpt"
    loaded = _modules_after(f"from nasurf.io import read; read({str(mpt)!r})")
    readers = {m for m in loaded if m.rpartition(".")[2] in READER_MODULES}
    assert readers == {"nasurf.io.biologic"}
