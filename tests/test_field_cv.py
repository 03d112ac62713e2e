"""Per-cycle CV results on layouts met on public files (palmsens-sdk's cv_3scan session:
three scans that start and end inside the window at -0.5 V, so the ends are partial
sweeps and one complete sweep has no partner). Those rows must be counted, not dropped
silently. Synthetic triangle waves; the truth is the row count the test builds."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from nasurf.analysis.kinetics import CVSet, cycle_summary
from nasurf.io import CURRENT, TIME, VOLTAGE
from nasurf.io.table import EchemData, Metadata


def test_rows_outside_complete_cycles_are_counted() -> None:
    step = 0.01
    down0 = np.arange(-0.5, -1.0 - step / 2, -step)          # partial start
    up = np.arange(-1.0 + step, 1.0 + step / 2, step)
    down = np.arange(1.0 - step, -1.0 - step / 2, -step)
    end = np.arange(1.0 - step, -0.5 - step / 2, -step)      # partial end
    e = np.concatenate([down0, up, down, up, end])
    t = np.arange(e.size) * step / 0.05                       # 50 mV/s
    i = 1e-6 * np.sign(np.gradient(e))
    cvs = CVSet.from_echem(EchemData(pd.DataFrame({TIME: t, VOLTAGE: e, CURRENT: i}),
                                     Metadata(source="three-scan")))
    (cv,) = cvs.cvs
    s = cycle_summary(cv)
    in_cycles = 0
    for _, row in s.table.iterrows():
        for b in ("anodic", "cathodic"):
            a, z = map(int, row[f"{b}_rows"].split("-"))
            in_cycles += z - a + 1
    (w,) = [w for w in s.warnings if "in no complete cycle" in w]
    n_out = int(re.match(r"(\d+) row", w).group(1))
    assert n_out == e.size - in_cycles
    assert n_out > len(down0) + len(end) - 2   # the partner-less anodic sweep is in it too
    assert "rows 0-" in w


def test_no_warning_when_every_row_is_in_a_cycle() -> None:
    step = 0.01
    up = np.arange(-1.0, 1.0 + step / 2, step)
    down = np.arange(1.0 - step, -1.0 - step / 2, -step)
    e = np.concatenate([up, down, up[1:], down])
    t = np.arange(e.size) * step / 0.05
    i = 1e-6 * np.sign(np.gradient(e))
    (cv,) = CVSet.from_echem(EchemData(pd.DataFrame({TIME: t, VOLTAGE: e, CURRENT: i}),
                                       Metadata(source="two-cycles"))).cvs
    s = cycle_summary(cv)
    assert len(s.table) == 2
    assert not any("in no complete cycle" in w for w in s.warnings)


def test_an_open_circuit_file_is_refused_as_not_a_cv(tmp_path) -> None:
    # wazabicloud/Randles-Sevcik ships the OCV step of the run next to its CV files
    # ("..._01_OCV_C03.mpr"); given to `analyze cv`, it was answered "no complete cycle
    # ... at 0.06 mV/s" (a rate measured from the OCV drift)
    import pytest

    from nasurf.analysis.cli_cv import run_cv
    from nasurf.errors import ValidationError

    rows = "".join(f"\t{k}\t{k * 30.0}\t{2.3 + 1e-4 * k}\t0\t.......\n" for k in range(40))
    p = tmp_path / "ocv.DTA"
    p.write_text("EXPLAIN\nTAG\tCORPOT\nCURVE\tTABLE\t40\n\tPt\tT\tVf\tVm\tOver\n"
                 "\t#\ts\tV vs. Ref.\tV\tbits\n" + rows, encoding="latin-1")
    with pytest.raises(ValidationError, match=r"open-circuit \(OCV\) file .* not a CV"):
        run_cv([p])
