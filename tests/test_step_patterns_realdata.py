"""Step patterns and per-cycle tables on real files that cycling used to misread (issue 10):
an HPPC test, a PSTrace CV export that names no technique, a Gamry CAPACITYCURVE summary
and a Neware CC-CV file whose hold tails read as rate steps.

Truths: the files' own labels and columns (the HPPC file's ``Segment_Label``, the Gamry
table's ``Charge`` per half cycle, the PSTrace session file's technique, the Neware
file's constant-current steps).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from nasurf.analysis.cycling import capacity_table_summary, cycling_summary, summarise_files
from nasurf.cli import app
from nasurf.io import read
from nasurf.io.gamry import read_capacity_curve
from nasurf.io.steps import HPPC_PULSE, classify_technique, find_steps

# ----------------------------------------------------------------------------- HPPC


@pytest.fixture(scope="module")
def hppc(realdata):
    return read(realdata / "battery-data-toolkit" / "p492-13-raw.csv")


def test_hppc_pulses_are_the_files_labelled_pulses(hppc):
    """Every current-carrying row the file labels ``Segment_Label == "Pulses"`` (its HPPC
    cycle) is an HPPC pulse, and no other row is."""
    steps = find_steps(hppc)
    ours = steps.rows_of(HPPC_PULSE)
    labelled = (hppc.data["Segment_Label"] == "Pulses").to_numpy()
    carrying = np.abs(hppc.data["Current / A"].to_numpy()) > steps.threshold_A
    assert ours.sum() > 0
    assert np.array_equal(ours, labelled & carrying)
    assert set(hppc.data["Cycle_Label"][ours]) == {"HPPC"}
    klass, why = classify_technique(hppc, steps)
    assert klass == "cycling" and "HPPC" in why


def test_hppc_cycle_is_not_half_cycles_with_absurd_ce(hppc):
    """Before: each pulse was a half cycle (CE 38.8, 10.6, 7.9 ... flagged ce_above_one).
    Now the pulses are left out (said in a flag and a warning) and the state-of-charge
    steps of the HPPC cycle form one sodiation; no charge is lost unsaid: half cycles plus
    pulses hold all the current-carrying charge."""
    res = cycling_summary(hppc)
    names = [f["flag"] for f in res.flags]
    assert "hppc_pulses_excluded" in names
    assert names.count("ce_above_one") <= 1            # was 9 (one per pulse "cycle")
    assert any("HPPC pulses" in w for w in res.warnings)
    ce = res.cycles["coulombic_efficiency"].to_numpy()
    assert np.nanmax(ce) < 1.1
    # charge balance against ∫|I| dt over all current-carrying rows of the file
    steps = res.extra["steps"]
    table = steps.table
    active = table["kind"].isin(["constant_current", "constant_voltage", "hppc_pulse"])
    total_mAh = table.loc[active, "charge_Ah"].sum() * 1e3
    pulses_mAh = table.loc[table["kind"] == "hppc_pulse", "charge_Ah"].sum() * 1e3
    hc_mAh = res.half_cycles["capacity_mAh"].sum()
    # (1e-5 mAh: a few one-row "rests" carry the nAh of a logged entry interval)
    assert hc_mAh + pulses_mAh == pytest.approx(total_mAh, abs=1e-5)
    note = next(w for w in res.warnings if "HPPC pulses" in w)
    # the note's charge is the pulses' own-row integral (the step table also credits
    # the logged entry interval of some pulses): same order, never more
    said = float(re.search(r"; ([\d.]+) mAh", note).group(1))
    assert 0 < said <= pulses_mAh * 1.0001


def test_fast_cycling_is_not_hppc(realdata):
    """10-s charge/discharge steps back to back (yadg gcpl.issue_149) are cycling."""
    steps = find_steps(read(realdata / "yadg" / "gcpl.issue_149.mpr"))
    assert not steps.has(HPPC_PULSE)


# ----------------------------------------------------------------------------- PSTrace CV


def test_pstrace_excel_export_is_read_as_cv(realdata, tmp_path):
    folder = realdata / "chemotion-converter-app"
    xlsx = read(folder / "p-Br-Ph-CO2Me_MeCN.xlsx")
    session = read(folder / "p-Br-Ph-CO2Me_MeCN.pssession")
    # truth: the session file of the same measurement names its technique
    assert session.metadata.technique == "CV"
    assert xlsx.metadata.technique == "CV"
    assert any("inferred from the data" in n for n in xlsx.metadata.notes)
    assert classify_technique(xlsx)[0] == "cv"
    (tmp_path / "cv.xlsx").symlink_to(folder / "p-Br-Ph-CO2Me_MeCN.xlsx")
    [row] = summarise_files([tmp_path / "cv.xlsx"], active_mass_g=None, area_cm2=None,
                      reference="after_formation", cycle_mode="sodiation_desodiation",
                      workers=1)
    assert row["technique_class"] == "cv" and row["status"] == "not cycling"
    assert row["initial_coulombic_efficiency"] is None


def test_sweep_technique_rules():
    from nasurf.io.palmsens import sweep_technique

    up = np.linspace(0.0, 1.0, 101)
    assert sweep_technique([np.concatenate((up, up[::-1][1:]))])[0] == "CV"
    assert sweep_technique([up])[0] == "LSV"
    assert sweep_technique([np.full(50, 0.3)]) is None                # a hold
    rng = np.random.default_rng(1)
    assert sweep_technique([np.cumsum(rng.uniform(0.0, 0.01, 200))]) is None  # free E


# ----------------------------------------------------------------------------- Gamry table


def _gamry_rows(path):
    """The CAPACITYCURVE rows parsed independently of nasurf: (type, cycle, charge C,
    energy J) per row, decimal commas."""
    lines = path.read_text(encoding="latin-1").splitlines()
    at = next(k for k, ln in enumerate(lines) if ln.startswith("CAPACITYCURVE"))
    out = []
    for ln in lines[at + 3:]:
        if not ln.startswith("\t"):
            break
        c = ln.strip().split("\t")
        out.append((int(c[2]), int(c[3]), float(c[4].replace(",", ".")),
                    float(c[8].replace(",", "."))))
    return out


def test_gamry_capacity_curve_summary_matches_its_columns(realdata):
    path = realdata / "GES-echem-suite" / "0,3 Cycling.DTA"
    rows = _gamry_rows(path)
    assert len(rows) == 20
    curve = read_capacity_curve(path)
    res = capacity_table_summary(curve)
    hc = res.half_cycles
    assert hc["capacity_mAh"].to_numpy() == pytest.approx([r[2] / 3.6 for r in rows],
                                                          rel=1e-12)
    assert hc["energy_mWh"].to_numpy() == pytest.approx([abs(r[3]) / 3.6 for r in rows],
                                                        rel=1e-12)
    charge = {r[1]: r[2] for r in rows if r[0] == 0}
    discharge = {r[1]: r[2] for r in rows if r[0] == 1}
    ce = res.cycles.set_index("cycle")["coulombic_efficiency"]
    for n in range(1, 11):
        assert ce[n] == pytest.approx(discharge[n] / charge[n], rel=1e-12)
    # the first charge is half the others (the cell started part-charged): flagged and
    # left out of ICE; mean CE over cycles 2..10 from the file's own columns
    assert res.initial_coulombic_efficiency is None
    assert "partial_first_half_cycle" in [f["flag"] for f in res.flags]
    assert res.mean_ce == pytest.approx(
        np.mean([discharge[n] / charge[n] for n in range(2, 11)]), rel=1e-12)


def test_gamry_capacity_curve_through_the_cli(realdata):
    path = realdata / "GES-echem-suite" / "0,3 Cycling.DTA"
    res = CliRunner().invoke(app, ["analyze", "cycling", str(path), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["format"] == "gamry-dta-capacitycurve"
    assert len(doc["cycles"]) == 10 and len(doc["half_cycles"]) == 20
    with pytest.raises(Exception, match="analyze cycling"):
        read(path)                      # still not a time series: read says where to go


# ----------------------------------------------------------------------------- rate steps


def test_cc_cv_file_is_not_a_rate_test(realdata):
    """nw4-120-6-1-36.ndax: CC-CV cycling at one current. The hold tails used to pull the
    half cycles' median current apart (0.006 vs 0.022 A) into a "rate test"; the rate
    steps now read each half cycle's constant-current rows: one step at the CC steps'
    own current."""
    res = cycling_summary(read(realdata / "aurora-cycler-manager" / "nw4-120-6-1-36.ndax"))
    assert res.rate.n_steps == 1 and not res.rate.detected
    table = res.extra["steps"].table
    cc = table[(table["kind"] == "constant_current")]
    assert abs(res.rate.steps["current_A"].iloc[0]) == pytest.approx(
        np.median(np.abs(cc["set_point"])), rel=1e-3)


def test_rate_steps_are_real_set_point_changes(realdata):
    """nw4-120-1-6-53.ndax: 1.94 mA cycling with slow check-up cycles at 0.39 mA. Before:
    48 "steps" from hold tails (currents a few per cent apart). Now every step change is
    a real change of the CC set point (x5), and each step's current is the CC steps'."""
    res = cycling_summary(read(realdata / "fastnda" / "nw4-120-1-6-53.ndax"))
    cur = np.abs(res.rate.steps["current_A"].to_numpy())
    assert res.rate.n_steps < 20
    ratio = cur[1:] / cur[:-1]
    assert np.all(np.maximum(ratio, 1 / ratio) > 4)
    table = res.extra["steps"].table
    cc = np.abs(table.loc[table["kind"] == "constant_current", "set_point"].to_numpy())
    levels = np.unique(np.round(cc[cc > 1e-4], 5))
    assert set(np.round(cur, 5)) <= set(levels)
