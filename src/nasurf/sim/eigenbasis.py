"""Eigenbases of the particles' diffusion operators (symmetric tridiagonal), memoised.

Owns :func:`tridiagonal_eigh`, which :meth:`nasurf.sim.model.Model.build_modes` calls for
every distinct particle operator of a batch.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh_tridiagonal
from scipy.linalg.lapack import dstevd

#: eigen-decompositions of particle operators, keyed by the operator's exact bytes
_EIGH_CACHE: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
_EIGH_CACHE_SIZE = 128


def tridiagonal_eigh(d: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors of the symmetric tridiagonal (d, off), memoised.

    LAPACK dstevd (divide and conquer) directly: eigh_tridiagonal's argument checks cost
    as much as the decomposition of these small operators, which still costs ~70 µs for
    34 cells, more than the rest of a 7-rate solve. The key is the operator's exact
    bytes, so a hit returns what a fresh decomposition would (the same particle
    simulated again: a rate table, a fit's repeated model, the CLI's default material);
    a different D or radius is a different key. Bounded: the oldest entry goes first.
    """
    key = d.tobytes() + off.tobytes()
    hit = _EIGH_CACHE.get(key)
    if hit is not None:
        return hit
    w, z, info = dstevd(d, off)
    if info != 0:
        w, z = eigh_tridiagonal(d, off)
    w.flags.writeable = False
    z.flags.writeable = False
    if len(_EIGH_CACHE) >= _EIGH_CACHE_SIZE:
        del _EIGH_CACHE[next(iter(_EIGH_CACHE))]
    _EIGH_CACHE[key] = (w, z)
    return w, z
