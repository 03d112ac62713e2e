"""impedance.py's example spectra as the EIS tests compare them with impedance.py 1.7.1."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nasurf.analysis.eis import prepare_spectrum
from nasurf.io import read


def read_example(realdata: Path, which: str) -> tuple[np.ndarray, np.ndarray]:
    """``which`` = "csv" or "biologic"; inductive points dropped (= its ignoreBelowX)."""
    if which == "csv":
        # headerless f, Z', Z'' as impedance.preprocessing.readCSV reads it
        a = np.loadtxt(realdata / "impedance.py" / "exampleData.csv", delimiter=",")
        f, Z = a[:, 0], a[:, 1] + 1j * a[:, 2]
    else:
        d = read(realdata / "impedance.py" / "exampleDataBioLogic.mpt").data
        f = d["Frequency / Hz"].to_numpy()
        Z = d["Z Real / Ohm"].to_numpy() + 1j * d["Z Imag / Ohm"].to_numpy()
    f, Z, _ = prepare_spectrum(f, Z, drop_inductive=True)
    return f, Z
