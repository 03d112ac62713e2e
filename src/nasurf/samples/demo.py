"""A synthetic pristine-vs-treated study with known answers (README tour, tests).

Six hard-carbon half cells, three "pristine" and three "H2-treated", each with three files
written as BDF CSV (the project's own exporter): a formation + cycling test, a rate test
(50 to 5000 mA/g) and an impedance spectrum. Capacities are built exactly by
:func:`nasurf.analysis.cycling.synthetic_cycling` and spectra by
:meth:`nasurf.analysis.eis.Circuit.impedance`, so every per-cell value is known in advance
(:data:`DESIGN`) and a study of these files can be checked against them. The replicate
scatter is drawn from a seeded generator: the same call writes the same files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

RATES_MA_G = (50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 50.0)
CYCLES_PER_RATE = 3
N_CYCLES = 20
GROUPS: dict[str, dict[str, float]] = {
    # first-cycle desodiation capacity, ICE, fade per cycle, rate-loss exponent, R_ct
    "pristine": {"q1": 275.0, "ice": 0.71, "fade": 0.0040, "alpha": 0.23, "rct": 180.0,
                 "k1": 12.0},
    "H2-treated": {"q1": 318.0, "ice": 0.83, "fade": 0.0015, "alpha": 0.12, "rct": 65.0,
                   "k1": 21.0},
}
CV_RATES_V_S = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3)
CIRCUIT = "R0-p(R1,CPE1)-W1"


def _design(seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    cells = []
    for gi, (g, p) in enumerate(GROUPS.items()):
        for k in range(3):
            mass_mg = float(np.round(rng.uniform(1.2, 2.4), 3))
            q1 = p["q1"] * (1 + rng.normal(0, 0.03))
            ice = min(p["ice"] * (1 + rng.normal(0, 0.02)), 0.99)
            fade = p["fade"] * (1 + rng.normal(0, 0.1))
            n = np.arange(N_CYCLES)
            des = q1 * (1 - fade) ** n                                # mAh/g
            ce = np.full(N_CYCLES, 0.995 + rng.normal(0, 0.001))
            ce[0] = ice
            ce[1:4] = [0.97, 0.985, 0.992]
            sod = des / ce
            rates = np.repeat(RATES_MA_G, CYCLES_PER_RATE)
            rate_q = q1 * 0.97 * (rates / 50.0) ** (-p["alpha"] * (1 + rng.normal(0, 0.05)))
            rct = p["rct"] * (1 + rng.normal(0, 0.08))
            cells.append({"sample": f"{'PT'[gi]}{k + 1}", "group": g, "mass_mg": mass_mg,
                          "desodiation_mAh_g": des, "sodiation_mAh_g": sod,
                          "rate_mA_g": rates, "rate_desodiation_mAh_g": rate_q,
                          "R_ct_Ohm": rct, "R_s_Ohm": 4.0 + rng.normal(0, 0.3),
                          "k1_F_g": p["k1"] * (1 + rng.normal(0, 0.05))})
    return cells


def write_demo_study(directory: str | Path, *, seed: int = 14) -> Path:
    """Write the six cells' files and ``study.csv`` into ``directory``; return the sheet."""
    from nasurf.analysis.cycling import synthetic_cycling
    from nasurf.analysis.eis import Circuit
    from nasurf.exports import to_bdf_csv
    from nasurf.io.table import FREQUENCY, Z_IMAG, Z_REAL, EchemData, Metadata

    out = Path(directory)
    (out / "data").mkdir(parents=True, exist_ok=True)
    circuit = Circuit(CIRCUIT)
    f = np.logspace(5, -2, 50)
    lines = ["sample,group,file,mass_mg,material,strategy,electrode,electrolyte"]
    for c in _design(seed):
        m_g = c["mass_mg"] / 1e3
        cyc = synthetic_cycling(c["sodiation_mAh_g"] * m_g, c["desodiation_mAh_g"] * m_g,
                                current_A=50e-3 * m_g, points_per_half_cycle=120,
                                active_mass_g=m_g, voltage_noise_V=0.0005, seed=len(lines))
        rate_des = c["rate_desodiation_mAh_g"] * m_g
        rate = synthetic_cycling(rate_des / 0.995, rate_des, current_A=c["rate_mA_g"] * 1e-3 * m_g,
                                 points_per_half_cycle=120, active_mass_g=m_g,
                                 rest_s=300.0, seed=len(lines) + 100)
        z = circuit.impedance({"R0": c["R_s_Ohm"], "R1": c["R_ct_Ohm"], "CPE1_0": 2e-5,
                               "CPE1_1": 0.88, "W1": 35.0}, f)
        import pandas as pd

        eis = EchemData(pd.DataFrame({FREQUENCY: f, Z_REAL: z.real.copy(),
                                      Z_IMAG: z.imag.copy()}),
                        Metadata(source="synthetic", technique="PEIS"))
        names = [f"data/{c['sample']}_cycling.csv", f"data/{c['sample']}_rate.csv",
                 f"data/{c['sample']}_eis.csv"]
        for name, d in zip(names, (cyc, rate, eis), strict=True):
            to_bdf_csv(d, out / name, force=True)
        for v, d in zip(CV_RATES_V_S, _cv_files(c["k1_F_g"], m_g), strict=True):
            name = f"data/{c['sample']}_cv_{v * 1e3:g}mVs.csv"
            to_bdf_csv(d, out / name, force=True)
        # BDF CSV does not record the technique: the sheet says it ("cv:" prefix)
        names.append(f"cv:data/{c['sample']}_cv_*mVs.csv")
        lines.append(f"{c['sample']},{c['group']},{';'.join(names)},{c['mass_mg']},"
                     f"hard carbon,{'none' if c['group'] == 'pristine' else 'H2 reduction'},"
                     "anode,1 M NaPF6 in diglyme")
    sheet = out / "study.csv"
    sheet.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sheet


def _cv_files(k1_F_g: float, mass_g: float) -> list[Any]:
    """One CV per scan rate (2 loops, 0.01–1.5 V): i = k1·v + k2(E)·v^½ (methods.md §2),
    with a Gaussian diffusive peak; per-gram coefficients times the cell's mass."""
    import pandas as pd

    from nasurf.io.table import CURRENT, TIME, VOLTAGE, EchemData, Metadata

    e = np.linspace(0.01, 1.5, 1491)
    k2a = 0.6 * np.exp(-(((e - 0.35) / 0.08) ** 2))
    k2c = -0.6 * np.exp(-(((e - 0.2) / 0.08) ** 2))
    out = []
    for v in CV_RATES_V_S:
        ia = (k1_F_g * v + k2a * np.sqrt(v)) * mass_g
        ic = (-k1_F_g * v + k2c * np.sqrt(v)) * mass_g
        pot = np.concatenate([e, e[::-1][1:], e[1:], e[::-1][1:]])
        cur = np.concatenate([ia, ic[::-1][1:], ia[1:], ic[::-1][1:]])
        t = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(pot)) / v)])
        out.append(EchemData(pd.DataFrame({TIME: t, VOLTAGE: pot, CURRENT: cur}),
                             Metadata(source="synthetic", technique="CV", scan_rate_V_s=v)))
    return out


DESIGN = _design
