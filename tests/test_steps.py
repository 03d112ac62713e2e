"""The step model (nasurf.io.steps) and the cycling numbers built on it, on synthetic
files whose answers are known exactly: every step kind, a rest logged as one row, holds
at both ends, PEIS between steps, a cathode, a partial first half cycle, a rate test in
each direction, implausible results flagged."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nasurf.analysis.cycling import cycling_summary, group_rate_steps
from nasurf.io.steps import classify_technique, electrode_role, find_steps
from nasurf.io.table import (
    CHARGE_CAPACITY,
    CURRENT,
    DISCHARGE_CAPACITY,
    FREQUENCY,
    STEP_INDEX,
    TIME,
    VOLTAGE,
    EchemData,
    Metadata,
)

I0 = 1e-3          # 1 mA
DT = 60.0          # s between rows of a current step


class Builder:
    """Rows appended step by step; each step's first row is logged at the step's start
    (as EC-Lab and Neware do), its last row at its end."""

    def __init__(self) -> None:
        self.t: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.i: list[np.ndarray] = []
        self.mode: list[np.ndarray] = []
        self.step: list[np.ndarray] = []
        self.freq: list[np.ndarray] = []
        self.now = 0.0
        self.n_steps = 0

    def add(self, t_rel, v, i, mode, freq=None) -> None:
        t_rel = np.asarray(t_rel, float)
        n = t_rel.size
        self.t.append(self.now + t_rel)
        self.v.append(np.broadcast_to(np.asarray(v, float), (n,)).copy())
        self.i.append(np.broadcast_to(np.asarray(i, float), (n,)).copy())
        self.mode.append(np.full(n, mode))
        self.n_steps += 1
        self.step.append(np.full(n, self.n_steps))
        self.freq.append(np.full(n, np.nan) if freq is None else np.asarray(freq, float))
        self.now = float(self.t[-1][-1])

    def cc(self, current, duration, v0, v1, dt=DT) -> None:
        rel = np.arange(0.0, duration + dt / 2, dt)
        self.add(rel, np.linspace(v0, v1, rel.size), current, 1)

    def hold(self, v_hold, i_start, tau, duration, dt=DT) -> None:
        rel = np.arange(dt, duration + dt / 2, dt)
        self.add(rel, v_hold, i_start * np.exp(-rel / tau), 2)

    def rest(self, duration, v, rows=1) -> None:
        # one row: logged at the start of the rest, the next step's first row an
        # interval of ``duration`` later
        rel = np.linspace(1.0, duration, rows) if rows > 1 else np.array([1.0])
        self.add(rel, v, 0.0, 3)
        self.now += duration - float(rel[-1])

    def eis(self, n=20, v=0.5, amplitude=2e-4) -> None:
        f = np.logspace(5, -1, n)
        rel = np.cumsum(np.maximum(1 / f, 0.5))
        self.add(rel, v, amplitude * np.sin(np.arange(n)), 0, freq=f)

    def frame(self, *, mode=True, step=False, freq=False) -> pd.DataFrame:
        cols = {TIME: np.concatenate(self.t), VOLTAGE: np.concatenate(self.v),
                CURRENT: np.concatenate(self.i)}
        if mode:
            cols["mode"] = np.concatenate(self.mode)
        if step:
            cols[STEP_INDEX] = np.concatenate(self.step).astype(np.int64)
        if freq:
            cols[FREQUENCY] = np.concatenate(self.freq)
        return pd.DataFrame(cols)


def cc_mAh(duration_s: float, current_A: float = I0) -> float:
    return abs(current_A) * duration_s / 3.6


def data(df: pd.DataFrame, technique: str | None = None) -> EchemData:
    return EchemData(df, Metadata(source="synthetic", technique=technique))


# ------------------------------------------------------------------ rest logged as one row
@pytest.mark.parametrize("columns", ["mode", "signal", "step+counters"])
def test_rest_logged_as_one_row_does_not_charge_the_gap(columns):
    b = Builder()
    b.cc(-I0, 36000, 1.0, 0.01)
    b.rest(3600, 0.05, rows=1)          # a 1 h rest, one row
    b.cc(I0, 30000, 0.05, 1.2)
    df = b.frame(mode=columns == "mode", step=columns == "step+counters")
    if columns == "step+counters":
        # Neware-like counters reset at each step, logged at the step's start
        step = df[STEP_INDEX].to_numpy()
        dq = np.abs(df[CURRENT].to_numpy()) * np.diff(df[TIME].to_numpy(), prepend=0.0)
        dq[np.r_[True, step[1:] != step[:-1]]] = 0.0
        cum = pd.Series(dq).groupby(step).cumsum().to_numpy() / 3600
        df[CHARGE_CAPACITY] = np.where(df[CURRENT] > 0, cum, 0.0)
        df[DISCHARGE_CAPACITY] = np.where(df[CURRENT] < 0, cum, 0.0)
    res = cycling_summary(data(df))
    hc = res.half_cycles
    # truth: the integral over each step's own rows (30000 s at 1 mA); crediting the
    # 1 h gap would add 3600 s (+12 %)
    assert hc["capacity_mAh"].to_numpy() == pytest.approx([cc_mAh(36000), cc_mAh(30000)],
                                                          rel=1e-12)
    assert res.initial_coulombic_efficiency == pytest.approx(30000 / 36000, rel=1e-12)
    steps = find_steps(df)
    assert not any("disagree" in w for w in steps.warnings)


def test_entry_interval_is_credited_for_steady_logging_without_step_columns():
    # a cycler without step columns that logs at the end of each 60 s interval: the
    # interval into the first desodiation row is 60 s of desodiation
    t = np.arange(0, 121) * DT
    i = np.where(np.arange(121) <= 60, -I0, I0)
    i[0] = 0.0
    df = pd.DataFrame({TIME: t, VOLTAGE: np.linspace(1, 0.1, 121), CURRENT: i})
    hc = cycling_summary(df).half_cycles
    assert hc["capacity_mAh"].to_numpy() == pytest.approx([cc_mAh(3600), cc_mAh(3600)],
                                                          rel=1e-12)


# ------------------------------------------------------------------ holds at both ends
def cccv_file(mode=True) -> tuple[pd.DataFrame, dict[str, float]]:
    tau, dur = 1800.0, 7200.0
    b = Builder()
    b.cc(-I0, 36000, 1.0, 0.005)
    b.hold(0.005, -I0, tau, dur)        # hold at the bottom
    b.rest(600, 0.02, rows=5)
    b.cc(I0, 30000, 0.02, 2.0)
    b.hold(2.0, I0, tau, dur)           # hold at the top
    b.rest(600, 1.9, rows=5)
    b.cc(-I0, 28200, 1.0, 0.005)
    b.hold(0.005, -I0, tau, dur)
    b.rest(600, 0.02, rows=5)
    b.cc(I0, 27000, 0.02, 2.0)
    # the hold's trapezoid on its own rows from t = dt: exact for an exponential up to
    # (dt/tau)^2/12 ~ 1e-4 relative; the first interval (CC end -> hold) is at I0 level
    rel = np.arange(DT, dur + DT / 2, DT)
    y = I0 * np.exp(-rel / tau)
    hold = (np.trapezoid(y, rel) + 0.5 * (I0 + y[0]) * DT) / 3.6
    return b.frame(mode=mode), {"hold": hold, "sod1": cc_mAh(36000), "des1": cc_mAh(30000),
                                "sod2": cc_mAh(28200), "des2": cc_mAh(27000)}


@pytest.mark.parametrize("mode", [True, False], ids=["instrument-mode", "signal"])
def test_holds_at_both_ends_split_and_ice_with_and_without(mode):
    df, q = cccv_file(mode)
    res = cycling_summary(data(df))
    hc = res.half_cycles
    tol = 2e-3 if not mode else 1e-9    # signal rule: the hold may start a row late
    assert hc["cv_capacity_mAh"].to_numpy() == pytest.approx(
        [q["hold"], q["hold"], q["hold"], 0.0], rel=tol, abs=tol * q["hold"])
    assert hc["capacity_mAh"].to_numpy() == pytest.approx(
        [q["sod1"] + q["hold"], q["des1"] + q["hold"], q["sod2"] + q["hold"], q["des2"]],
        rel=tol)
    ice_with = (q["des1"] + q["hold"]) / (q["sod1"] + q["hold"])
    ice_without = q["des1"] / q["sod1"]
    assert res.initial_coulombic_efficiency == pytest.approx(ice_with, rel=tol)
    assert res.extra["initial_coulombic_efficiency_without_holds"] == pytest.approx(
        ice_without, rel=tol)
    assert "included" in res.conventions["ce_holds"]
    ex = cycling_summary(data(df), include_cv_steps=False)
    assert ex.initial_coulombic_efficiency == pytest.approx(ice_without, rel=tol)
    assert ex.half_cycles["capacity_mAh"].iloc[0] == pytest.approx(q["sod1"], rel=tol)
    assert "excluded" in ex.conventions["ce_holds"]


def test_dqdv_leaves_holds_out():
    from nasurf.analysis.differential_capacity import dqdv

    df, _ = cccv_file()
    res = dqdv(data(df))
    assert any("constant-voltage holds left out" in w for w in res.warnings)
    # the CC branch is linear in V: |dQ/dV| = Q / span everywhere; a hold would add a
    # spike of Q_hold / (a few mV)
    sod1 = res.table[(res.table["cycle"] == 1) & (res.table["branch"] == "sodiation")]
    expected = cc_mAh(36000) / (1.0 - 0.005)
    # (Savitzky-Golay end effects stay within 10 %; the hold's 0.49 mAh at one voltage
    # would give ~490 mAh/V on a 1 mV grid)
    assert np.abs(sod1["dqdv"]).max() == pytest.approx(expected, rel=0.1)


# ------------------------------------------------------------------ PEIS between steps
def test_impedance_rows_between_steps_never_form_half_cycles():
    b = Builder()
    b.rest(60, 0.8, rows=3)
    b.eis()
    b.cc(-I0, 7200, 0.8, 0.01)
    b.eis(v=0.01)
    b.cc(I0, 6000, 0.01, 0.9)
    b.eis(v=0.9)
    b.cc(-I0, 6600, 0.8, 0.01)
    b.eis(v=0.01)
    b.cc(I0, 6300, 0.01, 0.9)
    df = b.frame(freq=True)
    steps = find_steps(df)
    assert steps.counts()["impedance"] == 4
    res = cycling_summary(data(df))
    assert len(res.half_cycles) == 4
    assert res.half_cycles["capacity_mAh"].to_numpy() == pytest.approx(
        [cc_mAh(7200), cc_mAh(6000), cc_mAh(6600), cc_mAh(6300)], rel=1e-12)
    assert res.initial_coulombic_efficiency == pytest.approx(6000 / 7200, rel=1e-12)
    assert res.mean_ce == pytest.approx(6300 / 6600, rel=1e-12)
    assert classify_technique(data(df), steps)[0] == "cycling"


# ------------------------------------------------------------------ cathode
def cathode_file(first_sodiation_s: float | None = None) -> pd.DataFrame:
    b = Builder()
    if first_sodiation_s:
        b.cc(-I0, first_sodiation_s, 3.4, 2.0)
        b.rest(600, 2.3, rows=3)
    # durations are whole multiples of the 60 s logging interval
    for des, sod in ((36000, 32400), (33000, 32520), (32820, 32400)):
        b.cc(I0, des, 2.5, 4.2)
        b.rest(600, 4.0, rows=3)
        b.cc(-I0, sod, 4.0, 2.0)
        b.rest(600, 2.3, rows=3)
    return b.frame()


def test_cathode_role_inferred_and_ice_right():
    res = cycling_summary(data(cathode_file()))
    assert res.extra["electrode"] == "cathode"
    assert "inferred" in res.conventions["electrode_role"]
    hc = res.half_cycles
    assert list(hc["process"][:2]) == ["desodiation", "sodiation"]
    assert res.initial_coulombic_efficiency == pytest.approx(32400 / 36000, rel=1e-12)
    assert res.mean_ce == pytest.approx((32520 / 33000 + 32400 / 32820) / 2, rel=1e-12)
    c = res.cycles.set_index("cycle")
    assert c.loc[1, "desodiation_mAh"] == pytest.approx(cc_mAh(36000), rel=1e-12)
    assert c.loc[1, "coulombic_efficiency"] == pytest.approx(0.9, rel=1e-12)
    assert c.loc[1, "irreversible_mAh"] == pytest.approx(cc_mAh(3600), rel=1e-9)
    assert not res.flags
    # the anode pairing (what tools without a role do) pairs the wrong half cycles
    wrong = cycling_summary(data(cathode_file()), electrode="anode")
    assert wrong.initial_coulombic_efficiency == pytest.approx(33000 / 32400, rel=1e-12)
    assert wrong.extra["electrode"] == "anode"
    assert [f["flag"] for f in wrong.flags][:2] == ["starts_mid_cycle", "ice_above_one"]


def test_role_inference_rules():
    df = cathode_file()
    steps = find_steps(df)
    assert electrode_role(df[VOLTAGE].to_numpy(), steps)[0] == "cathode"
    assert electrode_role(df[VOLTAGE].to_numpy(), steps, "full") == ("full", "full (given)")
    # a window through 0 V (dummy/symmetric cell): the first step decides
    v = df[VOLTAGE].to_numpy() - 3.0
    role, how = electrode_role(v, steps)
    assert role == "cathode" and "first step" in how


def test_cathode_that_starts_with_a_partial_sodiation():
    res = cycling_summary(data(cathode_file(first_sodiation_s=7200)))
    assert res.cycles["cycle"].iloc[0] == 0
    assert res.initial_coulombic_efficiency == pytest.approx(0.9, rel=1e-12)
    assert [f["flag"] for f in res.flags] == ["starts_mid_cycle"]


# ------------------------------------------------------------------ partial first half cycle
def test_partial_first_half_cycle_flagged_and_excluded_from_ice():
    b = Builder()
    b.cc(-I0, 3000, 0.3, 0.01)          # the cell was taken over part-way
    b.rest(600, 0.05, rows=3)
    for sod, des in ((30000, 28000), (29000, 28500), (28800, 28400)):
        b.cc(I0, des, 0.05, 1.5)
        b.rest(600, 1.2, rows=3)
        b.cc(-I0, sod, 1.2, 0.01)
        b.rest(600, 0.05, rows=3)
    # last desodiation
    b.cc(I0, 28300, 0.05, 1.5)
    res = cycling_summary(data(b.frame()))
    names = [f["flag"] for f in res.flags]
    assert "partial_first_half_cycle" in names
    # without the stub the first complete cycle would show ICE 28000/3000 = 9.3
    assert res.initial_coulombic_efficiency is None
    assert res.half_cycles["complete"].iloc[0] == np.False_


# ------------------------------------------------------------------ implausible numbers
def test_ce_above_one_and_below_floor_flagged_and_figure_not_clipped():
    from nasurf.analysis.plots_cycling import capacity_ce_figure

    b = Builder()
    b.rest(60, 1.0, rows=3)
    # cycle 3 keeps a full-length successor, so it is not the end-of-test stub
    for sod, des in ((30000, 31020), (30000, 29700), (30000, 3000), (30000, 29400)):
        b.cc(-I0, sod, 1.0, 0.01)
        b.rest(600, 0.05, rows=3)
        b.cc(I0, des, 0.05, 1.2)
        b.rest(600, 1.0, rows=3)
    res = cycling_summary(data(b.frame()))
    flags = {(f["flag"], f["cycle"]) for f in res.flags}
    assert ("ice_above_one", 1) in flags
    assert ("ce_below_floor", 3) in flags
    assert ("ce_above_one", 2) not in flags
    assert any("ICE 1.034" in w for w in res.warnings)
    assert res.flagged_cycles == {1: ["ice_above_one"], 3: ["ce_below_floor"]}
    fig = capacity_ce_figure(res)
    ce_ax = fig.axes[1]
    lo, hi = ce_ax.get_ylim()
    assert hi >= 100 * 31020 / 30000 and lo <= 10.0
    flagged_line = [ln for ln in ce_ax.get_lines() if ln.get_label() == "flagged"]
    assert flagged_line and sorted(flagged_line[0].get_xdata()) == [1, 3]


def test_capacity_above_theoretical_flagged():
    b = Builder()
    b.cc(-I0, 36000, 1.0, 0.01)
    b.cc(I0, 30000, 0.01, 1.2)
    df = b.frame()
    res = cycling_summary(data(df), active_mass_g=0.02, theoretical_capacity_mAh_g=372)
    # 10 mAh / 0.02 g = 500 mAh/g > 372
    hit = [f for f in res.flags if f["flag"] == "capacity_above_theoretical"]
    assert [f["half_cycle"] for f in hit] == [1, 2]
    assert hit[0]["value"] == pytest.approx(500.0, rel=1e-12)


# ------------------------------------------------------------------ rate tests
def rate_file(sod_A, des_A) -> pd.DataFrame:
    b = Builder()
    b.rest(60, 1.0, rows=3)
    for s, d in zip(sod_A, des_A, strict=True):
        b.cc(-s, 36 / s, 1.0, 0.01, dt=2.0)         # 0.01 mAh each way
        b.rest(60, 0.05, rows=3)
        b.cc(d, 36 / d * 0.98, 0.05, 1.2, dt=2.0)
        b.rest(60, 1.0, rows=3)
    return b.frame()


@pytest.mark.parametrize("direction", ["desodiation", "sodiation", "both"])
def test_rate_steps_in_either_direction(direction):
    levels = [0.27e-3, 0.53e-3, 0.88e-3, 1.33e-3, 2.67e-3, 5.34e-3]
    fixed = [0.27e-3] * len(levels)
    sod, des = {"desodiation": (fixed, levels), "sodiation": (levels, fixed),
                "both": (levels, levels)}[direction]
    res = cycling_summary(data(rate_file(sod, des)))
    assert res.rate.detected
    assert res.rate.rate_set_by == direction
    steps = res.rate.steps
    assert len(steps) == len(levels)
    assert steps["current_A"].to_numpy() == pytest.approx(levels, rel=1e-9)
    assert res.to_dict()["rate_capability"]["rate_set_by"] == direction
    again = group_rate_steps(res)
    assert again.rate_set_by == direction


def test_maccor_like_discharge_rate_test_on_a_full_cell():
    # charge fixed 0.5 A, discharge 0.5/2.5/5/10 A, 2 cycles each, window 2.7-4.2 V
    b = Builder()
    for d in (0.5, 2.5, 5.0, 10.0):
        for _ in range(2):
            b.cc(0.5, 3600, 3.0, 4.2, dt=30.0)
            b.rest(600, 4.1, rows=3)
            b.cc(-d, 0.45 * 3600 / d * 2, 4.1, 2.7, dt=5.0)
            b.rest(600, 3.0, rows=3)
    res = cycling_summary(data(b.frame()))
    assert res.extra["electrode"] == "cathode"
    assert res.rate.detected and res.rate.rate_set_by == "sodiation"
    assert res.rate.steps["current_A"].to_numpy() == pytest.approx([0.5, 2.5, 5, 10])


# ------------------------------------------------------------------ every step kind
def test_every_step_kind_and_how_it_was_known():
    b = Builder()
    b.rest(60, 1.0, rows=3)                               # rest (mode 3)
    b.eis()                                               # impedance (frequency)
    b.cc(-I0, 3600, 1.0, 0.3)                             # constant current
    b.hold(0.3, -I0, 600, 1200)                           # constant voltage
    b.rest(60, 0.3, rows=2)
    rel = np.arange(0, 101) * 1.0                         # sweep: 10 mV/s
    b.add(rel, 0.3 + 0.01 * rel, 1e-4 * np.sin(rel / 10) + 2e-4, 2)
    df = b.frame(freq=True)
    steps = find_steps(data(df))
    assert steps.known_from.startswith("instrument: EC-Lab")
    kinds = list(steps.columns["kind"])
    assert kinds == ["rest", "impedance", "constant_current", "constant_voltage", "rest",
                     "sweep"]
    sp = steps.columns["set_point"]
    assert sp[2] == pytest.approx(-I0) and steps.columns["set_point_unit"][2] == "A"
    assert sp[5] == pytest.approx(0.01, rel=1e-9)
    assert steps.columns["set_point_unit"][5] == "V/s"
    assert steps.columns["process"][2] == "sodiation"
    assert steps.columns["charge_Ah"][2] == pytest.approx(I0 * 3600 / 3600, rel=1e-12)
    # OCV technique: rest rows are OCV
    ocv = pd.DataFrame({TIME: [0.0, 1, 2], VOLTAGE: [1.0, 1, 1], CURRENT: [0.0, 0, 0],
                        "mode": [3, 3, 3]})
    assert list(find_steps(ocv, technique="OCV").columns["kind"]) == ["ocv"]
    assert classify_technique(data(ocv))[0] == "ocv"


def test_neware_step_types_and_signal_only_steps():
    t = np.arange(0, 40) * 10.0
    i = np.r_[np.zeros(5), np.full(15, -1e-3), np.full(20, 1e-3)]
    v = np.r_[np.full(5, 1.0), np.linspace(1, 0.1, 15), np.linspace(0.1, 1, 20)]
    st = ["Rest"] * 5 + ["CC_DChg"] * 15 + ["CP_Chg"] * 20
    df = pd.DataFrame({TIME: t, VOLTAGE: v, CURRENT: i, "step_type": st})
    steps = find_steps(df)
    assert steps.known_from == "instrument: Neware step_type"
    assert list(steps.columns["kind"]) == ["rest", "constant_current", "constant_power"]
    assert steps.columns["set_point_unit"][2] == "W"
    sig = find_steps(df.drop(columns="step_type"))
    assert sig.known_from == "signal"
    assert list(sig.columns["kind"]) == ["rest", "constant_current", "constant_current"]
    assert list(sig.columns["process"]) == ["", "sodiation", "desodiation"]


def test_gitt_pulses_and_classification():
    b = Builder()
    b.rest(600, 1.0, rows=3)
    for k in range(5):
        b.cc(-I0, 600, 1.0 - 0.1 * k, 0.95 - 0.1 * k, dt=10.0)
        b.rest(3600, 0.97 - 0.1 * k, rows=20)
    df = b.frame()
    steps = find_steps(df)
    assert steps.counts()["pulse"] == 5
    assert classify_technique(data(df), steps)[0] == "gitt"


def test_chronoamperometry_and_cv_classes():
    t = np.arange(0, 200) * 1.0
    ca = pd.DataFrame({TIME: t, VOLTAGE: np.full(200, 0.3),
                       CURRENT: -1e-3 * np.exp(-t / 50) - 1e-6, "mode": 2})
    assert classify_technique(data(ca, "CA"))[0] == "ca"
    tri = 0.5 + 0.4 * (1 - 2 * np.abs((t / 100) % 2 - 1))
    cv = pd.DataFrame({TIME: t, VOLTAGE: tri, CURRENT: 1e-4 * np.sign(np.gradient(tri)),
                       "mode": 2})
    assert classify_technique(data(cv, "CV"))[0] == "cv"
    assert classify_technique(data(cv))[0] == "cv"       # from the signal alone


def test_empty_and_bad_input_errors_name_the_problem():
    from nasurf.errors import ValidationError

    empty = pd.DataFrame({TIME: [], VOLTAGE: [], CURRENT: []})
    with pytest.raises(ValidationError, match="no data rows"):
        find_steps(empty)
    with pytest.raises(ValidationError, match="unknown electrode role 'metal'"):
        cycling_summary(cathode_file(), electrode="metal")
    rest_only = pd.DataFrame({TIME: [0.0, 1, 2], VOLTAGE: [1.0, 1, 1], CURRENT: [0.0, 0, 0]})
    with pytest.raises(ValidationError, match="outside rest/OCV/impedance steps"):
        cycling_summary(rest_only)
    assert math.isfinite(find_steps(rest_only).threshold_A)
