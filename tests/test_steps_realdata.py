"""Step model and cycling numbers on real instrument files (../shared/realdata).

Truths are the instrument's own charge counters (EC-Lab ``Q charge/discharge/mA.h``) and
the integral of I dt over the rows of the step as the instrument marked it (EC-Lab
``mode``), the values quoted in issue 10.
"""

from __future__ import annotations

import numpy as np
import pytest

from nasurf.analysis.cycling import cycling_summary
from nasurf.analysis.differential_capacity import dqdv
from nasurf.io import read
from nasurf.io.steps import classify_technique, find_steps

PR182 = "yadg/gcpl.pr_182.1.mpr"
BCD = "yadg/bcd.issue_241.mpr"
MB = "yadg/mb.mpr"
JDB11 = "navani/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
GCPL149 = "yadg/gcpl.issue_149.mpr"


def mode2_integral_mAh(df, first: int, last: int) -> float:
    """∫|I| dt over rows first..last by the trapezoid: the issue's independent number."""
    t = df["Test Time / s"].to_numpy()[first:last + 1]
    i = np.abs(df["Current / A"].to_numpy()[first:last + 1])
    return float(np.trapezoid(i, t) / 3.6)


def test_pr182_cv_holds_split_per_half_cycle(realdata):
    data = read(realdata / PR182)
    df = data.data
    mode = df["mode"].to_numpy()
    # the hold rows as the instrument marked them, and ∫I dt over each block
    m2 = np.flatnonzero(mode == 2)
    blocks = np.split(m2, np.flatnonzero(np.diff(m2) > 1) + 1)
    truth = [mode2_integral_mAh(df, b[0], b[-1]) for b in blocks]
    # the values: 0.290, 0.059, 0.056, 0.096 mAh
    assert truth == pytest.approx([0.290, 0.059, 0.056, 0.096], abs=5e-4)
    res = cycling_summary(data)
    hc = res.half_cycles
    sod = hc[hc["process"] == "sodiation"]
    # plus the 1.2 ms interval from the last CC row into the hold (7.5e-8 mAh), which
    # the counter credits to the hold
    assert sod["cv_capacity_mAh"].to_numpy() == pytest.approx(truth, abs=1e-6)
    assert (hc.loc[hc["process"] == "desodiation", "cv_capacity_mAh"] == 0).all()
    # ICE with holds (the stated default) and without, against the instrument's counter:
    # sodiation CC ends at row 287 (Q = -2.961458 mAh), the two desodiation steps end
    # at 0.369602 and 2.246470 mAh (Q resets at each half cycle)
    ice_without_counter = (0.369602 + 2.246470) / 2.961458
    assert res.extra["initial_coulombic_efficiency_without_holds"] == pytest.approx(
        ice_without_counter, rel=2e-4)
    ice_with_counter = (0.369602 + 2.246470) / 3.251960
    assert res.initial_coulombic_efficiency == pytest.approx(ice_with_counter, rel=2e-4)
    assert "included" in res.conventions["ce_holds"]
    # --exclude-cv removes exactly the holds
    ex = cycling_summary(data, include_cv_steps=False)
    got = ex.half_cycles["capacity_mAh"].to_numpy()
    assert got == pytest.approx(hc["capacity_mAh"].to_numpy() - hc["cv_capacity_mAh"]
                                .to_numpy(), rel=1e-12)
    assert ex.initial_coulombic_efficiency == pytest.approx(ice_without_counter, rel=2e-4)


def test_pr182_dqdv_has_no_hold_spike(realdata):
    data = read(realdata / PR182)
    res = dqdv(data)
    assert any("constant-voltage holds left out" in w for w in res.warnings)
    sod = res.checks[res.checks["branch"] == "sodiation"].set_index("cycle")
    # the hold sits at 0.004-0.005 V; with it the sodiation peaks of cycles 2 and 4 sat
    # there (-4645, -4153 mAh/g/V); the CC plateau peaks are near 0.07 V
    for c in (2, 3, 4):
        assert sod.loc[c, "peak_voltage_V"] > 0.03
    assert res.table["dqdv"].min() > -15000


def test_bcd_rest_gap_not_charged(realdata):
    data = read(realdata / BCD)
    res = cycling_summary(data)
    des = res.half_cycles[res.half_cycles["process"] == "desodiation"]
    # the instrument's counter: 5.4521 mAh (the old rule charged the 30 s gap: 5.4567);
    # trapezoid vs the counter's own integration differ by 1e-4 mAh (0.002 %)
    assert des["capacity_mAh"].iloc[0] == pytest.approx(5.4521, abs=2e-4)
    steps = find_steps(data)
    cc = steps.table[steps.table["process"] == "desodiation"]
    assert len(cc) == 1
    assert cc["counter_charge_Ah"].iloc[0] * 1e3 == pytest.approx(5.452106, abs=1e-6)
    assert not steps.warnings


def test_mb_impedance_rows_are_not_half_cycles(realdata):
    data = read(realdata / MB)
    steps = find_steps(data)
    assert steps.counts()["impedance"] == 8
    res = cycling_summary(data)
    hc = res.half_cycles
    # 8 CC steps of 1 h at +-2.8 uA: the instrument counter gives 0.002801 / 0.002799 mAh
    assert len(hc) == 8
    assert hc["capacity_mAh"].to_numpy() == pytest.approx(
        [0.002801, 0.002799] * 4, abs=2e-6)
    # was: ICE 44.8 %, mean CE 23.7 % with impedance rows cut into half cycles
    assert 0.99 < res.initial_coulombic_efficiency < 1.01
    assert 0.99 < res.mean_ce < 1.01


def test_jdb11_cathode_ice(realdata):
    data = read(realdata / JDB11)
    res = cycling_summary(data)
    assert res.extra["electrode"] == "cathode"
    assert "inferred" in res.conventions["electrode_role"]
    # Na|NaxCoO2 starts with a partial sodiation (x0 = 0.9): cycle 0, flagged
    assert res.cycles["cycle"].iloc[0] == 0
    assert [f["flag"] for f in res.flags] == ["starts_mid_cycle"]
    # cycle 1 = desodiation then sodiation; the instrument counter's half-cycle totals
    # (Q charge/discharge at the end of each half cycle) give the truth
    steps = find_steps(data).table
    cc = steps[steps["kind"] == "constant_current"]
    q = cc["counter_charge_Ah"].to_numpy() * 1e3
    assert res.initial_coulombic_efficiency == pytest.approx(q[2] / q[1], rel=1e-5)
    assert 0.8 < res.initial_coulombic_efficiency < 1.0        # navani's pairing: 1.70


def test_gcpl149_cathode_not_flagged(realdata):
    res = cycling_summary(read(realdata / GCPL149))
    assert res.extra["electrode"] == "cathode"
    assert res.initial_coulombic_efficiency < 1.0
    assert not [f for f in res.flags if f["flag"].endswith("above_one")]


@pytest.mark.parametrize(("name", "klass"), [
    ("yadg/cv.mpr", "cv"), ("yadg/ca.mpr", "ca"), ("yadg/ocv.mpr", "ocv"),
    ("yadg/peis.mpr", "eis"), ("yadg/cp.mpr", "galvanostatic_one_direction"),
    (PR182, "cycling"), (BCD, "cycling"), (JDB11, "cycling"),
    # ten PEIS loops at rest, each closed by EC-Lab's one row without a frequency: the
    # separator rows belong to the scans, not to ten one-row current steps
    ("hybrid-drt/Sample2_PEIS_AtRest.csv", "eis"),
    # potentiostatic techniques named by the file but without a step-kind column: the
    # current is the response, so the signal's current blocks are sweeps / holds
    ("GES-echem-suite/cv_sample.DTA", "cv"), ("chemotion-converter-app/File053.pssession", "cv"),
    ("gamry_post_processing_/CHRONOA_STABILITY_#1_#1.DTA", "ca"),
])
def test_technique_classes_of_real_files(realdata, name, klass):
    assert classify_technique(read(realdata / name))[0] == klass


def test_counter_cross_check_on_neware_and_arbin(realdata):
    # the step integrals agree with the instruments' own counters within the stated
    # resolution: no step named in a warning
    for name in ("fastnda/nw4-120-1-6-53.ndax", "cellpy/20160805_test001_45_cc_01.res"):
        steps = find_steps(read(realdata / name))
        assert steps.counter is not None
        assert not steps.warnings, (name, steps.warnings)


def test_peis_loop_separator_rows_are_impedance(realdata):
    data = read(realdata / "hybrid-drt/Sample2_PEIS_AtRest.csv")
    freq = data.data["Frequency / Hz"].to_numpy(dtype=float)
    separators = np.flatnonzero(~(freq > 0))
    assert separators.size == 10                 # one after each of the ten loops
    steps = find_steps(data)
    assert steps.counts() == {"impedance": 1}
    with pytest.raises(Exception, match="rest/OCV/EIS file"):
        cycling_summary(data)


def test_fresh_full_cell_starting_near_zero_volt_is_not_an_anode(realdata):
    # cellpy's Maccor sodium-ion full cell: a fresh cell at 0.13 V charged to 3.8 V and
    # cycled 3.8 <-> 1.3 V; the role comes from where the steps end (the cut-offs), so it
    # pairs charge with the discharge after it (ICE = Q_dis,1 / Q_ch,1 from the table)
    res = cycling_summary(read(realdata / "cellpy/maccor_002.txt"))
    assert res.extra["electrode"] == "cathode"
    hc = res.half_cycles
    assert list(hc["process"][:2]) == ["desodiation", "sodiation"]
    expected = hc["capacity_mAh"].iloc[1] / hc["capacity_mAh"].iloc[0]
    assert res.initial_coulombic_efficiency == pytest.approx(expected, rel=1e-12)
    assert 0.9 < res.initial_coulombic_efficiency < 1.0
    assert not res.flags
