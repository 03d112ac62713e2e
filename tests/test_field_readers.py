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


def test_ec_lab_text_export_without_technique_line_is_a_cv(tmp_path: Path) -> None:
    # wazabicloud/Randles-Sevcik "1100°C_Randes_02_CV_C01_cycle2_0.2mVs.mpt": a 3-line
    # header (no technique name), decimal commas, one cycle at 0.2 mV/s. The .mpr of the
    # same run says CV; the text export was read with no technique and no scan rate.
    rate = 2e-4
    up = np.arange(0.0, 1.0 + 1e-9, 0.001)
    e = np.concatenate([2.5 - up, 1.5 + up[1:]])          # 2.5 -> 1.5 -> 2.5 V
    t = 40000.0 + np.concatenate([[0.0], np.cumsum(np.abs(np.diff(e)) / rate)])
    i_ma = 0.5 * np.sign(np.gradient(e))
    head = ("EC-Lab ASCII FILE\nNb header lines : 3                           \n"
            "mode\tox/red\terror\tcontrol changes\tcounter inc.\ttime/s\tcontrol/V\tEwe/V\t"
            "<I>/mA\tcycle number\t(Q-Qo)/C\tI Range\tP/W\t\n")

    def c(x: float) -> str:
        return f"{x:.15E}".replace(".", ",")

    rows = "".join(f"2\t{int(i > 0)}\t0\t1\t1\t{c(tk)}\t{c(ek)}\t{c(ek + 1e-4)}\t{c(i)}\t"
                   f"2,000000000000000E+000\t0,0E+000\t41\t0,0E+000\n"
                   for tk, ek, i in zip(t, e, i_ma, strict=True))
    p = tmp_path / "cycle2_0.2mVs.mpt"
    p.write_bytes((head + rows).encode("latin-1"))
    d = read(p)
    md = d.metadata
    assert md.technique == "CV"
    assert md.scan_rates_V_s == (rate,)
    assert any("CV inferred from the control potential" in n for n in md.notes)
    np.testing.assert_allclose(d.data[VOLTAGE], e + 1e-4, atol=1e-9)
    np.testing.assert_allclose(d.data[CURRENT], i_ma * 1e-3)


def test_constant_control_potential_is_not_taken_for_a_cv(tmp_path: Path) -> None:
    head = ("EC-Lab ASCII FILE\nNb header lines : 3                           \n"
            "mode\tox/red\terror\tcontrol changes\tcounter inc.\ttime/s\tcontrol/V\tEwe/V\t"
            "<I>/mA\tcycle number\t(Q-Qo)/C\tI Range\tP/W\t\n")
    rows = "".join(f"2\t1\t0\t0\t0\t{k}.0\t0.5\t0.5001\t0.01\t1\t0\t41\t0\n" for k in range(50))
    p = tmp_path / "hold.mpt"
    p.write_text(head + rows, encoding="latin-1")
    d = read(p)
    assert d.metadata.technique is None
    assert not any("CV inferred" in n for n in d.metadata.notes)
