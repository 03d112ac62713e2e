"""Data sets with exact known answers for the kinetics analyses (docs/methods.md §2, §5).

* :func:`synthetic_dunn_cvset`: whole CV loops built from i = k1·v + k2·v^½ with
  k1 = 0.02 F and Gaussian k2 peaks at 0.1–2 mV/s, so the Dunn fractions and b-values
  are known in closed form;
* :func:`synthetic_gitt_record`: a planar-slab GITT record from the Crank constant-flux
  solution (D, L, dE/dc and the pulse current given), so Weppner–Huggins must return D.

The demo report and the tests run the analyses on them and print the answers beside.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from nasurf.constants import FARADAY_C_PER_MOL

RATES_V_S = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3)


def synthetic_dunn_cvset(rates_V_s: tuple[float, ...] = RATES_V_S) -> Any:
    """The exact methods.md §2 set as whole CV loops (2 cycles per rate, 0–2 V)."""
    from nasurf.analysis.kinetics import CVSet

    e = np.linspace(0.0, 2.0, 2001)
    k2a = 2e-3 * np.exp(-(((e - 0.5) / 0.1) ** 2))
    k2c = -2e-3 * np.exp(-(((e - 0.3) / 0.1) ** 2))
    pots, curs = [], []
    for v in rates_V_s:
        ia = 0.02 * v + k2a * np.sqrt(v)
        ic = -0.02 * v + k2c * np.sqrt(v)
        pots.append(np.concatenate([e, e[::-1], e, e[::-1]]))
        curs.append(np.concatenate([ia, ic[::-1], ia, ic[::-1]]))
    return CVSet.from_arrays(rates_V_s, pots, curs)


def synthetic_gitt_record(n_pulses: int = 8, tau_s: float = 60.0) -> Any:
    """Exact planar-slab GITT record: D = 1e-11 cm²/s, L = 1 µm, dE/dc = −5 V cm³/mol,
    J = 1e-10 mol cm⁻² s⁻¹ sodiation pulses, each fully relaxed (6000 s rests)."""
    from nasurf.io.table import CURRENT, TIME, VOLTAGE, EchemData, Metadata

    D, L, J, dEdc, R = 1e-11, 1e-4, 1e-10, -5.0, 20.0
    n = np.arange(1, 401)

    def response(t: np.ndarray) -> np.ndarray:
        out = np.zeros_like(t)
        m = t > 0
        x = t[m][:, None]
        out[m] = (J * L / D) * (D * x[:, 0] / L**2 + 1 / 3 - (2 / np.pi**2) * np.sum(
            n**-2.0 * np.exp(-(n**2) * np.pi**2 * D * x / L**2), axis=1))
        return out

    current = -J * FARADAY_C_PER_MOL
    tp = np.round(np.arange(1, round(tau_s) + 1) * 1.0, 9)
    tr = tau_s + np.arange(10.0, 6000.0 + 1e-9, 10.0)
    seg = np.concatenate([tp, tr])
    shape = dEdc * (response(seg) - response(seg - tau_s))
    step = dEdc * J * tau_s / L
    ts, es, cs = [np.arange(0.0, 300.0 + 1e-9, 10.0)], [], []
    es.append(np.full(ts[0].size, 1.0))
    cs.append(np.zeros(ts[0].size))
    start = 300.0
    for k in range(n_pulses):
        on = seg <= tau_s
        ts.append(start + seg)
        es.append(1.0 + k * step + shape + np.where(on, current * R, 0.0))
        cs.append(np.where(on, current, 0.0))
        start += seg[-1]
    df = pd.DataFrame({TIME: np.concatenate(ts), VOLTAGE: np.concatenate(es),
                       CURRENT: np.concatenate(cs)})
    return EchemData(df, Metadata(source="synthetic slab GITT (Crank solution)"))
