"""A generator of synthetic galvanostatic cycling data, for tests and demonstrations only.

Nothing here analyses a measurement: :func:`synthetic_cycling` writes a table with known
capacities (hard-carbon-like voltage curve) so tests, benchmarks and demos have data whose
answer is known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nasurf.analysis.cycling._shared import SECONDS_PER_HOUR
from nasurf.errors import ValidationError
from nasurf.io.table import (
    CURRENT,
    TIME,
    VOLTAGE,
    EchemData,
)


# --------------------------------------------------------------------------- synthetic data
def hard_carbon_voltage(x: np.ndarray) -> np.ndarray:
    """Equilibrium-like voltage (V vs Na+/Na) of hard carbon at sodiation fraction x in [0, 1]:
    a sloping region from about 1.2 V, then the low-voltage plateau ending near 0.01 V."""
    x = np.clip(x, 0.0, 1.0)
    return 0.08 - 0.07 * x + 1.1 * np.exp(-x / 0.12) * (1.0 - x)


def synthetic_cycling(
    sodiation_mAh: np.ndarray | list[float],
    desodiation_mAh: np.ndarray | list[float],
    *,
    current_A: float | np.ndarray | list[float] = 3e-5,
    points_per_half_cycle: int = 200,
    rest_points: int = 10,
    rest_s: float = 600.0,
    overpotential_V: float = 0.01,
    voltage_noise_V: float = 0.0,
    current_noise: float = 0.0,
    active_mass_g: float | None = None,
    seed: int = 0,
) -> EchemData:
    """A hard-carbon-like half-cell test with exactly known capacities (a generator of test
    and demonstration data, not an analysis).

    After one OCV row at t = 0, every cycle is sodiation (I = -current), rest,
    desodiation (I = +current), rest. Each
    half cycle lasts Q/|I|, its first row one sampling interval after the previous rest
    row, so that the integral of |I| dt equals the requested capacity exactly (without
    current noise). ``current_A`` may be one value per cycle (rate tests). Vectorised:
    builds 10 M rows in well under a second.
    """
    q_sod = np.asarray(sodiation_mAh, float)
    q_des = np.asarray(desodiation_mAh, float)
    n_cyc = q_sod.size
    if q_des.size != n_cyc or n_cyc == 0:
        raise ValidationError("need one sodiation and one desodiation capacity per cycle")
    cur = np.broadcast_to(np.asarray(current_A, float), (n_cyc,)).copy()
    na, nr = int(points_per_half_cycle), int(rest_points)
    ppc = 2 * (na + nr)
    rng = np.random.default_rng(seed)
    dur_sod = q_sod / 1e3 * SECONDS_PER_HOUR / cur
    dur_des = q_des / 1e3 * SECONDS_PER_HOUR / cur
    frac = np.arange(1, na + 1) / na                      # end of each sampling interval
    rest_frac = np.arange(1, nr + 1) / max(nr, 1)
    # time increments of each block, then one cumulative sum over the whole test
    dt = np.empty((n_cyc, ppc))
    a, b, c = na, na + nr, 2 * na + nr
    dt[:, :a] = (dur_sod / na)[:, None]
    dt[:, a:b] = rest_s / max(nr, 1)
    dt[:, b:c] = (dur_des / na)[:, None]
    dt[:, c:] = rest_s / max(nr, 1)
    time = np.cumsum(dt.ravel())
    del dt
    current = np.zeros((n_cyc, ppc))
    current[:, :a] = -cur[:, None]
    current[:, b:c] = cur[:, None]
    if current_noise:
        current[:, :a] *= 1 + rng.normal(0, current_noise, (n_cyc, na))
        current[:, b:c] *= 1 + rng.normal(0, current_noise, (n_cyc, na))
    volt = np.empty((n_cyc, ppc))
    # both branches run over the reversible range; the irreversible (SEI) charge of a
    # sodiation is spread along it, so the sodiation curve is only stretched in time
    depth = (q_des / max(q_des.max(), 1e-300))[:, None]
    volt[:, :a] = hard_carbon_voltage(frac[None, :] * depth) - overpotential_V
    relax = overpotential_V * np.exp(-3 * rest_frac)[None, :]
    volt[:, a:b] = hard_carbon_voltage(depth) - relax
    volt[:, b:c] = hard_carbon_voltage((1 - frac[None, :]) * depth) + overpotential_V
    volt[:, c:] = hard_carbon_voltage(np.zeros_like(depth)) + relax
    if voltage_noise_V:
        volt += rng.normal(0, voltage_noise_V, volt.shape)
    # the test starts from OCV: one rest row at t = 0 before the first sodiation
    frame = pd.DataFrame({TIME: np.concatenate(([0.0], time)),
                          VOLTAGE: np.concatenate(([float(hard_carbon_voltage(np.zeros(1))[0])],
                                                   volt.ravel())),
                          CURRENT: np.concatenate(([0.0], current.ravel()))}, copy=False)
    from nasurf.io.table import Metadata

    meta = Metadata(source="synthetic", instrument="nasurf.synthetic_cycling",
                    technique="GCPL", active_mass_g=active_mass_g)
    return EchemData(frame, meta)
