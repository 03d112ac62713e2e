"""impedance.py side of the EIS benchmark; runs inside the peers venv (.venv-peers).

    .venv-peers/bin/python benchmarks/peers/impedance_fit.py TASKS.json
    .venv-peers/bin/python benchmarks/peers/impedance_fit.py --serve   # one task per line


TASKS.json holds {"tasks": [...]}; each task has a "kind":

* ``fit``: one CustomCircuit.fit on (f, Z) from ``initial_guess`` (optionally
  ``weight_by_modulus``), repeated ``repeats`` times after one untimed warm-up;
* ``robust``: one fit per start vector in ``guesses`` (exceptions count as failures);
* ``series``: fit ``spectra`` in order, each started from the previous result;
* ``linkk``: impedance.validation.linKK with the given ``c``, ``max_M``, ``fit_type``;
* ``read``: impedance.preprocessing readers on a file path (for the test reference values).

Only the fit/linKK calls are timed (time.perf_counter inside this process), so interpreter
start-up and imports do not count. With a file, one JSON document is printed on stdout;
with ``--serve``, each line read on stdin is one task and each answer one line on stdout,
so the benchmark can alternate nasurf and impedance.py case by case (both then see the
same machine load).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")

from impedance import preprocessing  # noqa: E402
from impedance.models.circuits import CustomCircuit  # noqa: E402
from impedance.validation import linKK  # noqa: E402


def _spectrum(task):
    f = np.asarray(task["f"], dtype=float)
    Z = np.asarray(task["Z_re"], dtype=float) + 1j * np.asarray(task["Z_im"], dtype=float)
    return f, Z


def _fit(f, Z, circuit, guess, weight_by_modulus=False):
    c = CustomCircuit(circuit, initial_guess=[float(g) for g in guess])
    c.fit(f, Z, weight_by_modulus=weight_by_modulus)
    return c


def _chi2(c, f, Z, weight_by_modulus):
    d = c.predict(f) - Z
    w = np.abs(Z) if weight_by_modulus else np.ones_like(f)
    return float(np.sum((d.real / w) ** 2 + (d.imag / w) ** 2))


def _summary(c, f, Z, weight_by_modulus):
    names = c.get_param_names()[0]
    conf = c.conf_ if c.conf_ is not None else [float("nan")] * len(names)
    return {
        "parameters": dict(zip(names, map(float, c.parameters_), strict=True)),
        "conf_1sigma": dict(zip(names, map(float, conf), strict=True)),
        "chi2": _chi2(c, f, Z, weight_by_modulus),
    }


def run_fit(task):
    f, Z = _spectrum(task)
    wbm = bool(task.get("weight_by_modulus", False))
    if task.get("warmup", True):
        _fit(f, Z, task["circuit"], task["initial_guess"], wbm)      # warm-up, untimed
    times = []
    for _ in range(int(task.get("repeats", 5))):
        t0 = time.perf_counter()
        c = _fit(f, Z, task["circuit"], task["initial_guess"], wbm)
        times.append(time.perf_counter() - t0)
    return {"times_s": times, **_summary(c, f, Z, wbm)}


def run_robust(task):
    f, Z = _spectrum(task)
    wbm = bool(task.get("weight_by_modulus", False))
    out = []
    t_all = time.perf_counter()
    for guess in task["guesses"]:
        t0 = time.perf_counter()
        try:
            c = _fit(f, Z, task["circuit"], guess, wbm)
            item = _summary(c, f, Z, wbm)
            item["error"] = None
        except Exception as exc:  # a failed fit is a data point, not a crash
            item = {"parameters": None, "chi2": None, "error": f"{type(exc).__name__}: {exc}"}
        item["time_s"] = time.perf_counter() - t0
        out.append(item)
    return {"results": out, "total_s": time.perf_counter() - t_all}


def run_series(task):
    circuit = task["circuit"]
    wbm = bool(task.get("weight_by_modulus", False))
    spectra = [_spectrum(s) for s in task["spectra"]]
    t0 = time.perf_counter()
    guess = list(task["initial_guess"])
    params = []
    for f, Z in spectra:
        c = _fit(f, Z, circuit, guess, wbm)
        guess = list(c.parameters_)
        params.append([float(v) for v in c.parameters_])
    total = time.perf_counter() - t0
    names = CustomCircuit(circuit, initial_guess=guess).get_param_names()[0]
    return {"total_s": total, "names": names, "parameters": params}


def run_linkk(task):
    f, Z = _spectrum(task)
    t0 = time.perf_counter()
    M, mu, _Z_fit, res_re, res_im = linKK(f, Z, c=task.get("c", 0.85),
                                         max_M=task.get("max_M", 50),
                                         fit_type=task.get("fit_type", "real"),
                                         add_cap=task.get("add_cap", False))
    return {"time_s": time.perf_counter() - t0, "M": int(M), "mu": float(mu),
            "res_real": [float(v) for v in res_re], "res_imag": [float(v) for v in res_im]}


def run_read(task):
    reader = {"biologic": preprocessing.readBioLogic, "csv": preprocessing.readCSV,
              "gamry": preprocessing.readGamry}[task["reader"]]
    f, Z = reader(task["path"])
    if task.get("ignore_below_x", True):
        f, Z = preprocessing.ignoreBelowX(f, Z)
    return {"f": [float(v) for v in f], "Z_re": [float(v) for v in Z.real],
            "Z_im": [float(v) for v in Z.imag]}


RUNNERS = {"fit": run_fit, "robust": run_robust, "series": run_series, "linkk": run_linkk,
           "read": run_read}


def _run(task):
    # impedance.py prints progress (linKK every 10 M) on stdout; keep stdout for the JSON.
    with contextlib.redirect_stdout(io.StringIO()):
        r = RUNNERS[task["kind"]](task)
    r["id"] = task.get("id")
    return r


def main(argv):
    import impedance

    info = {"impedance_version": impedance.__version__, "numpy": np.__version__}
    if len(argv) > 1 and argv[1] == "--serve":
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        for line in sys.stdin:
            if line.strip():
                sys.stdout.write(json.dumps(_run(json.loads(line))) + "\n")
                sys.stdout.flush()
        return 0
    with open(argv[1], encoding="utf-8") as fh:
        tasks = json.load(fh)["tasks"]
    json.dump({**info, "results": [_run(t) for t in tasks]}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
