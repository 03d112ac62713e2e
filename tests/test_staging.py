"""Result sets are built in a staging folder and moved into place whole.

Real commands in real subprocesses, killed with SIGKILL while they write: the output folder
is afterwards either absent / as it was, or the whole new set; never a part of it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasurf.cli import app

runner = CliRunner()
SRC = str(Path(__file__).resolve().parents[1] / "src")
SIM = ["simulate", "gitt", "--pulses", "2"]
SET = ["gitt.csv", "gitt.json", "summary.json"]   # what SIM writes


def _start(args: list[str], delay: float = 0.0) -> subprocess.Popen[bytes]:
    env = {"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    if delay:
        env["NASURF_TEST_STAGE_DELAY"] = str(delay)
    return subprocess.Popen([sys.executable, "-m", "nasurf.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _staging(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.*.part"))


def _kill_when(proc: subprocess.Popen[bytes], ready, timeout: float = 120.0) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()`` holds; False if it finished first."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    proc.kill()
    raise AssertionError("the command neither wrote nor finished")


def _whole(out: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == SET
    summary = json.loads((out / "summary.json").read_text())
    assert summary["files"] and all(Path(f).parent == out for f in summary["files"])
    json.loads((out / "gitt.json").read_text())


def test_sigkill_while_writing_a_new_set_leaves_nothing(tmp_path: Path) -> None:
    """Killed the moment its first file exists in the staging folder (the others are still
    being written): no output folder; the next run sweeps the dead run's staging folder."""
    out = tmp_path / "sim"

    def first_file_written() -> bool:
        return any(any(p.is_file() for p in box.rglob("*")) for box in _staging(out))

    proc = _start([*SIM, "--out", str(out)])
    assert _kill_when(proc, first_file_written), proc.stderr.read().decode()[-2000:]
    assert not out.exists()
    assert len(_staging(out)) == 1   # the dead run's, hidden, not the result
    r = subprocess.run([sys.executable, "-m", "nasurf.cli", *SIM, "--out", str(out)],
                       env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"}, capture_output=True)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    _whole(out)
    assert _staging(out) == []


def test_sigkill_before_the_move_into_an_existing_set_keeps_the_old_set(
        tmp_path: Path) -> None:
    """--force over a previous set: killed after the new set was complete in staging but
    before the swap (the test hook holds it there), every old file is as it was."""
    out = tmp_path / "sim"
    (out).mkdir()
    (out / "notes.txt").write_text("keep me")
    (out / "summary.json").write_text('{"old": true}')
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def set_complete() -> bool:
        return any(all((box / "sim" / n).is_file() for n in SET) for box in _staging(out))

    proc = _start([*SIM, "--out", str(out), "--force"], delay=30.0)
    assert _kill_when(proc, set_complete), proc.stderr.read().decode()[-2000:]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_sigkill_at_random_moments_never_leaves_a_partial_set(tmp_path: Path) -> None:
    """Kills at spread-out moments of a whole run (start-up, computing, writing, moving):
    each time the folder is absent or whole."""
    seen = set()
    for i, frac in enumerate((0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0)):
        out = tmp_path / f"k{i}"
        t0 = time.monotonic()
        proc = _start([*SIM, "--out", str(out)])
        # the reference run's length calibrates the kill moments
        if i == 0:
            proc.wait()
            full = time.monotonic() - t0
            seen.add("finished")
            _whole(out)
            continue
        time.sleep(full * frac)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if out.exists():
            _whole(out)
            seen.add("whole")
        else:
            seen.add("absent")
    assert "finished" in seen


def test_exception_mid_write_leaves_nothing(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The command fails after it wrote gitt.csv and gitt.json but before summary.json:
    no folder, no staging folder, one error line."""
    import nasurf.sim.cli as sim_cli

    def broken(path, obj, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sim_cli, "write_json", broken)
    out = tmp_path / "sim"
    r = runner.invoke(app, [*SIM, "--out", str(out)])
    assert r.exit_code == 2 and "No space left" in r.output, r.output
    assert list(tmp_path.iterdir()) == []


def test_messages_and_json_name_the_final_folder(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    r = runner.invoke(app, [*SIM, "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert ".part" not in r.stdout
    assert all(Path(f).parent == out for f in json.loads(r.stdout)["files"])
    _whole(out)
