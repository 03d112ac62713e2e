"""Parameter sweeps (nasurf.sim.sweep) and ``simulate sweep``.

Truths: the analytic equilibrium capacity of a lattice-gas host at a slow rate; the
double-layer charge C_dl·a·ΔV (and b = 1) of a CV with insertion blocked; the core
driver ``simulate`` for the same protocol; and, for the distributed run, the in-process
(serial) sweep, which a real 2-worker Dask LocalCluster must reproduce exactly.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from nasurf.errors import ValidationError
from nasurf.io.table import CURRENT, TIME
from nasurf.sim.parameters import R_GAS, F, load_material
from nasurf.sim.simulate import simulate
from nasurf.sim.sweep import (
    latin_hypercube,
    make_protocol,
    parse_axis,
    parse_param_option,
    run_batch,
    run_chunk,
    sweep,
)
from sim_v0 import frozen


@pytest.fixture(scope="module")
def anatase():
    return load_material(frozen("anatase_tio2")).with_changes(
        double_layer_capacitance=0.0, site_density=0.0, sei_capacity=0.0)


def test_slow_discharge_capacity_equals_equilibrium_capacity(anatase):
    # Lattice gas U(x) = E0 + n(RT/F) ln((x_max − x)/x): at a vanishing rate with fast
    # transport the sodiation ends where U(x) = cut-off, so Q = (x(V_cut) − x0)·c_max·F/ρ.
    p = anatase.with_changes(diffusivity=1e-15, rate_constant=1e-8, area_resistance=0.0)
    proto = make_protocol("discharge", c_rates=(0.01,), lower_V=0.3, upper_V=1.2)
    df = run_chunk(p, ["k0"], np.array([[1e-8]]), 0, proto)
    ocp = p.ocp
    nf = ocp.slope_factor * R_GAS * p.temperature / F
    x_cut = ocp.x_max / (1 + math.exp((0.3 - ocp.E0) / nf))
    expected = (x_cut - p.initial_stoichiometry) * p.c_max * F / p.density / 3600.0
    # C/100 through 20 nm particles: the kinetic and diffusion shifts are < 1 mV; the OCP
    # slope there turns 1 mV into ~0.1 % of capacity
    assert df.loc[0, "sodiation_mAh_g"] == pytest.approx(expected, rel=2e-3)
    assert df.loc[0, "status"] == "ok"
    # no capacitive store: everything passed went into the host
    assert abs(df.loc[0, "capacitive_fraction"]) < 1e-9


def test_rate_protocol_matches_the_core_driver(anatase):
    proto = make_protocol("rate", currents_mA_g=(100.0, 1000.0))
    p = anatase.with_changes(diffusivity=3e-18)
    row = run_chunk(p, ["D"], np.array([[3e-18]]), 0, proto).iloc[0]
    sim = simulate(p, proto.experiment()).echem()
    df, mass_g = sim.data, sim.metadata.active_mass_g
    desod = []
    for hc in sorted(df["Half Cycle / 1"].unique()):
        seg = df[df["Half Cycle / 1"] == hc]
        if seg[CURRENT].median() > 0:
            desod.append(np.trapezoid(seg[CURRENT], seg[TIME]) / mass_g / 3.6)
    # capacity from the core driver's output rows (trapezoid of a constant current: exact)
    assert row["desodiation_mAh_g@100mA_g"] == pytest.approx(desod[0], rel=1e-9)
    assert row["desodiation_mAh_g@1000mA_g"] == pytest.approx(desod[1], rel=1e-9)
    assert row["recovery"] == pytest.approx(desod[2] / desod[0], rel=1e-9)
    assert row["retention"] == pytest.approx(desod[1] / desod[0], rel=1e-9)


def test_cv_protocol_double_layer_charge_and_b_value():
    p = load_material(frozen("anatase_tio2")).with_changes(
        site_density=0.0, sei_capacity=0.0, area_resistance=0.0, rate_constant=1e-20,
        diffusivity=1e-24)
    proto = make_protocol("cv", scan_rates_mV_s=(1.0, 4.0), lower_V=0.6, upper_V=1.0)
    df = run_chunk(p, ["C_dl"], np.array([[0.2], [1.0]]), 0, proto)
    area = 3.0 / (p.density * p.particle_radius)            # m² per kg
    for c_dl, (_, row) in zip((0.2, 1.0), df.iterrows(), strict=True):
        expected = c_dl * area * 0.4 / 3600.0               # C/kg -> mAh/g
        # the interface lags the applied potential by the ohmic drop (~1 mV at the vertex)
        assert row["sodiation_mAh_g@1mV_s"] == pytest.approx(expected, rel=5e-3)
        assert row["capacitive_fraction@1mV_s"] == pytest.approx(1.0, abs=1e-3)
        assert row["b_value"] == pytest.approx(1.0, abs=0.01)
        # i = C_dl·a·v in A/g
        assert row["peak_sodiation_A_g@4mV_s"] == pytest.approx(c_dl * area * 4e-3 / 1e3,
                                                                 rel=0.02)


def test_failed_sets_are_rows_with_reasons(anatase):
    grid = {"D": [3e-18, -1.0, 3e-18], "k0": [2e-11]}
    df = sweep(anatase, grid, "discharge", progress=False, chunk_size=2)
    assert list(df["set_id"]) == [0, 1, 2]
    assert list(df["status"]) == ["ok", "failed", "ok"]
    assert "diffusivity must be > 0" in df.loc[1, "reason"]
    assert np.isnan(df.loc[1, "sodiation_mAh_g"])
    # the good rows are unaffected by the bad one in their chunk
    assert df.loc[0, "sodiation_mAh_g"] == df.loc[2, "sodiation_mAh_g"]
    shell = sweep(anatase.with_changes(shell_thickness=2e-9, shell_diffusivity=1e-19),
                  {"shell_thickness": [2e-9, 5e-8, 0.0]}, "discharge", progress=False)
    assert list(shell["status"]) == ["ok", "failed", "ok"]
    assert "smaller than particle_radius" in shell.loc[1, "reason"]


def test_distributed_sweep_equals_serial_exactly(anatase):
    grid = {"D": np.geomspace(1e-18, 1e-17, 3), "k0": [1e-11, 3e-11], "x0": [0.002, -0.5]}
    serial = sweep(anatase, grid, "discharge", progress=False, chunk_size=4)
    dist = sweep(anatase, grid, "discharge", scheduler="local", progress=False,
                 chunk_size=4, max_in_flight=2)
    assert len(dist) == 12
    pd.testing.assert_frame_equal(serial, dist, check_exact=True)
    assert (dist["status"] == "failed").sum() == 6
    assert dist[dist["status"] == "failed"]["reason"].str.contains(
        "initial_stoichiometry").all()


def test_axes_samples_and_protocol_errors(anatase):
    assert np.allclose(parse_axis("1e-15:1e-12:log:4"), [1e-15, 1e-14, 1e-13, 1e-12])
    assert np.allclose(parse_axis("0:1:lin:3"), [0, 0.5, 1])
    assert np.allclose(parse_axis("1,2,5"), [1, 2, 5])
    name, vals = parse_param_option("shell_D=1e-16:1e-14:log:3")
    assert name == "shell_D" and vals.size == 3
    with pytest.raises(ValidationError, match="cannot read axis"):
        parse_axis("1e-15:1e-12:log")
    with pytest.raises(ValidationError, match="positive bounds"):
        parse_axis("0:1:log:3")
    with pytest.raises(ValidationError, match="unknown or non-sweepable"):
        parse_param_option("colour=1,2")
    lhs = latin_hypercube({"D": (1e-19, 1e-17, "log"), "k0": (1e-12, 1e-10, "log")}, 8, seed=1)
    assert lhs.shape == (8, 2)
    # one sample per stratum of each axis
    strata = np.floor(np.log10(lhs["D"] / 1e-19) / 2 * 8).astype(int)
    assert sorted(strata) == list(range(8))
    with pytest.raises(ValidationError, match="unknown protocol"):
        make_protocol("eis")
    with pytest.raises(ValidationError, match="unknown metric"):
        sweep(anatase, {"D": [1e-18]}, "discharge", ["fade_percent"], progress=False)
    with pytest.raises(ValidationError, match="no shell"):
        sweep(anatase, {"shell_D": [1e-18]}, "discharge", progress=False)
    with pytest.raises(ValidationError, match="scheduler"):
        sweep(anatase, {"D": [1e-18]}, "discharge", scheduler="localhost", progress=False)


def test_run_batch_reports_insertion_and_charge(anatase):
    # a rest passes no charge; insertion equals charge without capacitive stores
    run = run_batch(anatase, ["Sodiate at 1C until 0.3 V", "Rest for 10 minutes"],
                    overrides={"diffusivity": [1e-18, 1e-17]})
    assert run.charge_mAh_g.shape == (2, 2)
    assert np.allclose(run.charge_mAh_g[1], 0.0)
    assert np.allclose(run.insertion_mAh_g[0], run.charge_mAh_g[0], rtol=1e-9)
    assert np.all(run.ok)


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_app():
    from nasurf.sim.cli_fit import register

    app = typer.Typer()
    register(app)
    return app


def test_cli_sweep_writes_table_and_json(cli_app, tmp_path):
    out = tmp_path / "res.csv"
    res = CliRunner().invoke(cli_app, [
        "sweep", "--material", "na2ti3o7", "--param", "D=1e-16:1e-15:log:2",
        "--param", "k0=3e-11", "--protocol", "discharge", "--currents", "100",
        "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["sets"] == 2 and doc["out"] == str(out)
    table = pd.read_csv(out)
    assert list(table["set_id"]) == [0, 1]
    assert {"D", "k0", "sodiation_mAh_g", "status", "reason"} <= set(table.columns)
    assert (table["sodiation_mAh_g"] > 0).all()
    # samples instead of a grid; without --out the rows come in the JSON document
    samples = tmp_path / "samples.csv"
    pd.DataFrame({"D": [1e-16, 1e-15], "k0": [3e-11, 3e-11]}).to_csv(samples, index=False)
    res = CliRunner().invoke(cli_app, [
        "sweep", "--material", "na2ti3o7", "--samples", str(samples), "--protocol",
        "discharge", "--currents", "100", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["rows"]
    assert [r["D"] for r in rows] == [1e-16, 1e-15]
    # same sets as the grid above: same metrics
    assert [r["sodiation_mAh_g"] for r in rows] == pytest.approx(
        list(table["sodiation_mAh_g"]), rel=1e-9)


def test_cli_sweep_errors(cli_app):
    res = CliRunner().invoke(cli_app, ["sweep", "--material", "na2ti3o7", "--json"])
    assert res.exit_code == 2
    assert "--param" in res.output
    res = CliRunner().invoke(cli_app, ["sweep", "--material", "na2ti3o7", "--param",
                                       "D=abc", "--json"])
    assert res.exit_code == 2
    assert "cannot read axis" in " ".join(res.output.split())
