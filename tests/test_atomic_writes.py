"""The one atomic writer (nasurf.outputs.atomic_path and friends) and every writer built on it.

Truths: the file a writer leaves has the mode ``open(path, "w")`` gives under the same umask
(the kernel's own rule, measured here on a reference file, not a constant); a failure leaves
the old file and no temporary sibling; the written bytes are what was asked.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nasurf.outputs import atomic_path, atomic_write_bytes, atomic_write_text, write_file


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _reference_mode(folder: Path) -> int:
    ref = folder / "reference.txt"
    with open(ref, "w") as fh:
        fh.write("x")
    mode = _mode(ref)
    ref.unlink()
    return mode


def _kb_csv(p: Path) -> None:
    from nasurf.knowledge import KnowledgeBase
    from nasurf.knowledge.exchange import export_csv

    with KnowledgeBase.open(p.parent / "kb.sqlite") as kb:
        export_csv(kb, p)


def _figure(p: Path) -> None:
    from nasurf.figures.style import new_figure, write_figure

    fig, ax = new_figure()
    ax.plot([0, 1], [0, 1])
    write_figure(fig, p)


def _summary(p: Path) -> None:
    from nasurf.exports import write_summary

    write_summary(pd.DataFrame({"a": [1.0, np.nan]}), p)


WRITERS: dict[str, Callable[[Path], object]] = {
    "atomic_write_text": lambda p: atomic_write_text(p, "héllo\n"),
    "atomic_write_bytes": lambda p: atomic_write_bytes(p, b"\x00\x01"),
    "write_file": lambda p: write_file(p, lambda t: t.write_text("x")),
    "exports.write_summary csv": lambda p: _summary(p.with_suffix(".csv")),
    "exports.write_summary xlsx": lambda p: _summary(p.with_suffix(".xlsx")),
    "knowledge export_csv": _kb_csv,
    "figures write_figure png": lambda p: _figure(p.with_suffix(".png")),
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_written_files_get_the_mode_a_plain_open_gives(tmp_path: Path, umask: int,
                                                       name: str) -> None:
    want = _reference_mode(tmp_path)
    assert want == 0o666 & ~umask        # the kernel's rule, so the comparison means something
    WRITERS[name](tmp_path / "out.txt")
    written = [p for p in tmp_path.iterdir() if p.name.startswith("out")]
    assert len(written) == 1
    assert _mode(written[0]) == want, f"{name}: {oct(_mode(written[0]))} != {oct(want)}"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temporary left


def test_atomic_text_and_bytes_write_what_was_asked(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "t.txt"            # the folder is made
    atomic_write_text(p, "a\nb\n", newline="")
    assert p.read_bytes() == b"a\nb\n"
    atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"new"


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path,
                                                              exc: BaseException) -> None:
    p = tmp_path / "t.csv"
    p.write_text("old")
    with pytest.raises(type(exc)), atomic_path(p) as tmp:
        assert tmp.parent == p.parent and tmp.exists()
        tmp.write_text("half")
        raise exc
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["t.csv"]


def test_durable_write_lands_like_a_plain_one(tmp_path: Path, umask: int) -> None:
    p = tmp_path / "blob"
    with atomic_path(p, durable=True) as tmp:
        tmp.write_bytes(b"abc")
    assert p.read_bytes() == b"abc"
    assert _mode(p) == _reference_mode(tmp_path)
    assert [x.name for x in tmp_path.iterdir()] == ["blob"]
