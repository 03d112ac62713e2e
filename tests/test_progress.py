"""The progress protocol: what a renderer receives from a library run."""

from __future__ import annotations

import io

from nasurf.progress import ProgressTracker, progress_callback, text_progress


def _recorder():
    calls: list[tuple[int, int, str]] = []
    return calls, lambda d, t, lab: calls.append((d, t, lab))


def test_tracker_reports_zero_first_then_cumulative_and_ends_at_total():
    calls, cb = _recorder()
    tr = ProgressTracker(cb, total=5, label="files")
    tr.advance()
    tr.advance(3)
    tr.advance(4)          # overshoot is clipped: done never exceeds total
    assert calls == [(0, 5, "files"), (1, 5, "files"), (4, 5, "files"), (5, 5, "files")]
    assert tr.done == 5


def test_tracker_without_callback_only_counts():
    tr = ProgressTracker(None, total=2, label="x")
    tr.advance(2)
    assert tr.done == 2


def test_text_progress_in_a_log_writes_a_line_per_tenth_and_the_end():
    buf = io.StringIO()                   # not a terminal
    tr = ProgressTracker(text_progress(buf), total=100, label="sweep")
    for _ in range(100):
        tr.advance()
    lines = buf.getvalue().splitlines()
    assert lines[0] == "sweep: 0/100" and lines[-1] == "sweep: 100/100"
    assert len(lines) == 11               # 0, 10, 20, ... 100


def test_progress_callback_prefers_the_callers_callback():
    _calls, cb = _recorder()
    assert progress_callback(cb, show=True) is cb
    assert progress_callback(None, show=False) is None
    assert callable(progress_callback(None, show=True))


def _square(x: int) -> int:
    return x * x


def test_run_tasks_reports_each_finished_task_in_this_process():
    from nasurf.samples.execute import run_tasks

    calls, cb = _recorder()
    got = run_tasks(_square, [{"x": i} for i in range(4)], label="files", on_progress=cb)
    assert got == [0, 1, 4, 9]
    assert calls == [(d, 4, "files") for d in range(5)]


def test_the_library_runner_imports_no_front_end():
    import subprocess
    import sys

    code = ("import sys, nasurf.samples.execute, nasurf.progress; "
            "bad = [m for m in sys.modules if m in ('nasurf.clikit', 'rich', 'typer')]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
