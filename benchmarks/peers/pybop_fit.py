"""PyBaMM/PyBOP side of the simulator benchmarks (runs in .venv-pybop, or imported by bench_sim).

Two roles:

* :func:`pybamm_halfcell` builds PyBaMM parameter values for a working electrode against a
  Na-metal counter electrode (PyBaMM's ``{"working electrode": "positive"}`` half cell) from a
  plain-JSON description of the same half cell nasurf simulates (``spec``; SI units). It
  imports nothing from nasurf, so it runs in the PyBOP venv too.
* ``python benchmarks/peers/pybop_fit.py SPEC.json`` makes a synthetic discharge curve with
  PyBaMM's SPM at ``spec["truth"]`` plus seeded Gaussian noise (not timed), then fits two
  parameters (particle diffusivity and rate constant k0, both log-transformed) with PyBOP,
  timing only the fit (problem set-up and optimisation), and prints one JSON document.

spec keys: radius, diffusivity, rate_constant, j0_scale, alpha, c_max, x0, ocp ({kind:
"lattice_gas", E0, slope_factor, x_max} or {kind: "table", x, y}), temperature, c_e,
c_e_ref, j0_counter, loading (kg/m2), density, area (m2), c_dl (F/m2), lower_V, upper_V,
current_A (sodiation magnitude). Optional (a packaged material's own SPM, bench_sim
``--materials``): diffusivity or rate_constant as a table {x: stoichiometry, y} (then k0 is
a scale of 1 on it), the exchange-current law's exponents j0_exp_c, j0_exp_a, its log
offset j0_log_offset and vacancy limit c_vac (defaults: 1 − α, α, 0, c_max: the standard
law), and contact_resistance (Ω; needs the model option {"contact resistance": "true"}).
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any

F = 96485.33212
R_GAS = 8.314462618
K0_NAME = "Positive electrode rate constant [m.s-1]"
THICKNESS = 50e-6  # m; SPM results depend on eps_s·L only (= loading / density)


def pybamm_halfcell(spec: dict[str, Any], *, current_input: bool = False) -> Any:
    """PyBaMM ParameterValues of the half cell described by ``spec``.

    k0 is a named parameter (:data:`K0_NAME`) used inside the exchange-current function, so
    PyBOP can fit it; ``current_input`` makes the applied current an input parameter.
    """
    import pybamm

    p = pybamm.ParameterValues("Chayambuka2022")
    c_max = float(spec["c_max"])
    ocp = spec["ocp"]
    T = float(spec["temperature"])

    if ocp["kind"] == "lattice_gas":
        E0, n, xm = float(ocp["E0"]), float(ocp["slope_factor"]), float(ocp["x_max"])

        def U(sto):
            # x kept inside the range where the logarithm is finite, as nasurf's
            # physics.lattice_gas_ocp does (a step of the solver may overshoot x_max)
            x = pybamm.minimum(pybamm.maximum(sto, 1e-290 * xm), xm * (1 - 1e-15))
            return E0 + n * R_GAS * T / F * pybamm.log((xm - x) / x)
    else:
        xs = [float(v) for v in ocp["x"]]
        ys = [float(v) for v in ocp["y"]]

        def U(sto):
            import numpy as np

            return pybamm.Interpolant(np.array(xs), np.array(ys), sto, interpolator="linear",
                                      extrapolate=True)

    j0_scale = float(spec["j0_scale"])
    alpha = float(spec["alpha"])
    c_e_ref = float(spec["c_e_ref"])
    e_c = float(spec.get("j0_exp_c", 1 - alpha))
    e_a = float(spec.get("j0_exp_a", alpha))
    j0_factor = math.exp(float(spec.get("j0_log_offset", 0.0)))
    c_vac = spec.get("c_vac")

    def _table(tab, sto):
        import numpy as np

        return pybamm.Interpolant(np.array(tab["x"], dtype=float),
                                  np.array(tab["y"], dtype=float), sto,
                                  interpolator="linear", extrapolate=True)

    k_tab = spec["rate_constant"] if isinstance(spec["rate_constant"], dict) else None

    def j0(c_e, c_s_surf, c_s_max, T):
        k0_value = pybamm.Parameter(K0_NAME)
        if k_tab is not None:
            k0_value = k0_value * _table(k_tab, c_s_surf / c_max)
        cv = c_s_max if c_vac is None else float(c_vac)
        # nasurf: j0 = s·F·k0·(c_e/c_e,ref)^α·e^offset·c_s^e_c·(c_v − c_s)^e_a (the
        # standard law: e_c = 1 − α, e_a = α, c_v = c_max, offset 0)
        return (j0_scale * F * j0_factor * k0_value * (c_e / c_e_ref) ** alpha
                * c_s_surf ** e_c * (cv - c_s_surf) ** e_a)

    d_tab = spec["diffusivity"] if isinstance(spec["diffusivity"], dict) else None

    def diffusivity(sto, T):
        return _table(d_tab, sto)

    D_value: Any = diffusivity if d_tab is not None else float(spec["diffusivity"])

    j0_na = float(spec["j0_counter"])

    def j0_metal(c_e, c_Na, T):
        return j0_na + 0 * c_e

    loading, density = float(spec["loading"]), float(spec["density"])
    eps_s = loading / (density * THICKNESS)
    area = float(spec["area"])
    current: Any = "[input]" if current_input else float(spec["current_A"])
    p.update({
        "Positive particle radius [m]": float(spec["radius"]),
        "Positive particle diffusivity [m2.s-1]": D_value,
        K0_NAME: 1.0 if k_tab is not None else float(spec["rate_constant"]),
        "Contact resistance [Ohm]": float(spec.get("contact_resistance", 0.0)),
        "Positive electrode OCP [V]": U,
        "Positive electrode OCP entropic change [V.K-1]": 0.0,
        "Positive electrode exchange-current density [A.m-2]": j0,
        "Positive electrode charge transfer coefficient": alpha,
        "Maximum concentration in positive electrode [mol.m-3]": c_max,
        "Initial concentration in positive electrode [mol.m-3]": float(spec["x0"]) * c_max,
        "Positive electrode thickness [m]": THICKNESS,
        "Positive electrode active material volume fraction": eps_s,
        "Positive electrode porosity": 1.0 - eps_s,
        "Positive electrode conductivity [S.m-1]": 1e8,
        "Positive electrode double-layer capacity [F.m-2]": float(spec.get("c_dl", 0.2)),
        "Negative electrode OCP [V]": 0.0,
        "Negative electrode conductivity [S.m-1]": 1e8,
        "Negative electrode thickness [m]": 250e-6,
        "Negative electrode double-layer capacity [F.m-2]": 0.2,
        "Exchange-current density for lithium metal electrode [A.m-2]": j0_metal,
        "Lithium metal partial molar volume [m3.mol-1]": 23.7e-6,
        "Initial concentration in electrolyte [mol.m-3]": float(spec["c_e"]),
        "Reference temperature [K]": T,
        "Ambient temperature [K]": T,
        "Initial temperature [K]": T,
        "Electrode height [m]": area ** 0.5,
        "Electrode width [m]": area ** 0.5,
        "Lower voltage cut-off [V]": float(spec["lower_V"]),
        "Upper voltage cut-off [V]": float(spec["upper_V"]),
        "Open-circuit voltage at 0% SOC [V]": float(spec["lower_V"]),
        "Open-circuit voltage at 100% SOC [V]": float(spec["upper_V"]),
        "Nominal cell capacity [A.h]": 1.0,
        "Current function [A]": current,
    }, check_already_exists=False)
    return p


def _fit(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import pybamm
    import pybop

    # synthetic data from PyBaMM's own SPM at the true values (not timed)
    truth = dict(spec)
    truth.update(spec["truth"])
    sim = pybamm.Simulation(pybamm.lithium_ion.SPM({"working electrode": "positive"}),
                            parameter_values=pybamm_halfcell(truth))
    t_end = float(spec["t_end"])
    sol = sim.solve([0, 1.5 * t_end])
    t = np.linspace(0.0, min(t_end, float(sol["Time [s]"].entries[-1])), int(spec["n_points"]))
    rng = np.random.default_rng(int(spec["seed"]))
    v = sol["Voltage [V]"](t) + rng.normal(0.0, float(spec["noise_V"]), t.size)
    dataset = pybop.Dataset({"Time [s]": t, "Current [A]": np.full(t.size, spec["current_A"]),
                             "Voltage [V]": v})
    bounds = spec["fit_bounds"]
    start = spec["fit_start"]
    t0 = time.perf_counter()
    p = pybamm_halfcell(spec)
    p.update({
        "Positive particle diffusivity [m2.s-1]": pybop.Parameter(
            bounds=bounds["diffusivity"], initial_value=start["diffusivity"],
            transformation=pybop.LogTransformation()),
        K0_NAME: pybop.Parameter(
            bounds=bounds["rate_constant"], initial_value=start["rate_constant"],
            transformation=pybop.LogTransformation()),
    })
    model = pybamm.lithium_ion.SPM({"working electrode": "positive"})
    sim = pybop.pybamm.Simulator(model, parameter_values=p, protocol=dataset)
    problem = pybop.Problem(sim, pybop.SumSquaredError(dataset))
    optim = pybop.SciPyMinimize(problem, options=pybop.SciPyMinimizeOptions(
        method="L-BFGS-B", jac=False, maxiter=100))
    res = optim.run()
    seconds = time.perf_counter() - t0
    x = [float(v) for v in np.ravel(res.x)]
    return {"pybop": pybop.__version__, "pybamm": pybamm.__version__, "seconds": seconds,
            "optimiser": "SciPyMinimize L-BFGS-B (finite-difference jac)",
            "x": {"diffusivity": x[0], "rate_constant": x[1]},
            "best_cost": float(res.best_cost),
            "iterations": int(np.ravel(res.n_iterations)[0]),
            "evaluations": int(np.ravel(res.n_evaluations)[0])}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(json.dumps({"error": "usage: pybop_fit.py SPEC.json"}))
        return 2
    with open(argv[0], encoding="utf-8") as fh:
        spec = json.load(fh)
    try:
        out = _fit(spec)
    except Exception as exc:  # report, do not crash the benchmark run
        out = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
