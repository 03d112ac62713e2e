"""Peer side of bench_kinetics.py: time ampworks.gitt.extract_params on a saved record.

Run by bench_kinetics.py with a Python that has ampworks installed (``.venv-peers`` once
``ampworks`` is in requirements-peers.txt, or ``NASURF_AMPWORKS_PYTHON``).
Reads an .npz (t, E, I), builds the ampworks Dataset (untimed), times extract_params and
prints one JSON line: times (s) and the median Ds (m²/s).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def main(path: str, radius_m: float, repeats: int) -> None:
    import ampworks as amp
    from ampworks.gitt import extract_params

    z = np.load(path)
    data = amp.Dataset({"Seconds": z["t"], "Amps": z["i"], "Volts": z["e"]})
    extract_params(data, radius_m)  # warm-up
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = extract_params(data, radius_m, tmin=1, tmax=60)
        times.append(time.perf_counter() - t0)
    ds = out["Ds"].to_numpy()
    print(json.dumps({"times": times, "median_Ds_m2_s": float(np.nanmedian(ds)),
                      "n": int(np.isfinite(ds).sum()),
                      "version": getattr(amp, "__version__", "?")}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
