"""Cycler export layouts met on public projects nasurf had not seen.

The short Neware BTSDA CSV (``DataPoint,Step Type,Time,Total Time,Current(mA),...``, no
cycle or step-index column) is the layout used by other converters' regression tests
(their synthetic files, with "Total Time" past 24 h such as ``25:00:02.5``). It was read
as a generic CSV: the per-step capacity and the step types were left as unknown columns.
The truths are the numbers written into the file here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nasurf.io import CURRENT, TIME, VOLTAGE, read


def test_short_btsda_export_without_cycle_column(tmp_path: Path) -> None:
    p = tmp_path / "neware.csv"
    p.write_text(
        "DataPoint,Step Type,Time,Total Time,Current(mA),Voltage(V),Capacity(mAh),"
        "Energy(Wh),Date,Power(W)\n"
        "1,Rest,00:00:00,25:00:00,0,3,0,0,2025-03-27,0\n"
        "2,CC DChg,00:00:01,25:00:02.5,-1,2.9,0.0003,0,2025-03-27,0\n"
        "3,CC DChg,00:00:02,25:00:03.5,-1,2.8,0.0006,0,2025-03-27,0\n"
        "4,Rest,00:00:00,25:00:04,0,3,0,0,2025-03-27,0\n", encoding="utf-8")
    e = read(p)
    assert e.metadata.file_format == "neware-btsda-csv"
    # Total Time (h:mm:ss past 24 h), not the per-step Time that restarts at 0
    np.testing.assert_allclose(e.data[TIME], [90000.0, 90002.5, 90003.5, 90004.0])
    np.testing.assert_allclose(e.data[CURRENT], [0, -1e-3, -1e-3, 0])
    np.testing.assert_allclose(e.data[VOLTAGE], [3, 2.9, 2.8, 3])
    # the per-step capacity in mAh becomes the discharging capacity in Ah
    np.testing.assert_allclose(e.data["Discharging Capacity / Ah"], [0, 3e-7, 6e-7, 0])
    assert not any("time goes backwards" in w for w in e.metadata.warnings)
