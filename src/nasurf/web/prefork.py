"""Imported once by the fork server of :mod:`nasurf.web.simproc`: work every child would
otherwise repeat on its first call is done here, before the children are forked.

Importing a module is not enough: the unit registry (pint parses its definitions file,
about a second), the analyses' first calls (lazy imports and caches inside pandas, scipy
and the analyses, some 200 ms) and matplotlib's fonts would be paid again by every forked
child, i.e. by every upload, analysis and figure file. One cycling analysis of a small
synthetic cell, and one figure of it, pay them here.

The readers are imported here too (every format's reader and sniffer module, and the
packages they import on first use): nasurf.io imports a reader only when a file of its
format is read, so without this every upload's child imported its reader afresh (20-40
ms for a BioLogic ``.mpr``). Polars (the Neware ``.ndax`` reader's) is the exception,
see :data:`_READER_PACKAGES`.
"""

from __future__ import annotations


def _synthetic_cell():
    """Three constant-current cycles of a made-up half cell (only to exercise the code)."""
    import numpy as np
    import pandas as pd

    from nasurf.io.table import EchemData, Metadata

    t, v, i = [], [], []
    now = 0.0
    for _ in range(3):
        for current, v0, v1 in ((-1e-3, 1.5, 0.01), (1e-3, 0.01, 1.5)):  # sodiation first
            tt = np.linspace(0.0, 3600.0, 200)
            t.append(now + tt)
            v.append(np.linspace(v0, v1, 200) + 0.05 * np.sin(tt / 600.0))
            i.append(np.full(200, current))
            now += 3601.0
    df = pd.DataFrame({"Test Time / s": np.concatenate(t), "Voltage / V": np.concatenate(v),
                       "Current / A": np.concatenate(i)})
    return EchemData(df, Metadata(source="warm-up", technique="GCPL", active_mass_g=1e-3))


# What the readers import inside their read functions (third-party, on first use).
# Not fastnda (the Neware reader): it loads polars, whose background threads start at
# import, and polars documents that a process forked after that can deadlock -- every
# child here is forked from this process. A Neware file's child imports it itself.
_READER_PACKAGES = ("galvani.BioLogic",)


def _import_readers() -> None:
    import contextlib
    import importlib

    from nasurf.io import core, detect, registry  # noqa: F401  (read, detect_format)

    for spec in registry.SPECS:
        spec.reader()
        if spec.sniff is not None:
            spec.sniffer()
    for name in _READER_PACKAGES:
        with contextlib.suppress(ImportError):  # an optional reader's package missing
            importlib.import_module(name)


def _warm() -> None:
    import scipy.signal  # noqa: F401  (dQ/dV smoothing, loaded lazily by scipy)

    from nasurf.units import registry

    registry()
    try:
        _import_readers()
    except Exception:  # a warm-up only: a reader that cannot import reports it when used
        import logging

        logging.getLogger("nasurf.web").warning("fork-server reader imports failed",
                                                exc_info=True)
    try:
        from nasurf.analysis import plots_cycling as pc
        from nasurf.analysis.cycling import cycling_summary
        from nasurf.figures.style import to_svg
        from nasurf.web import figures  # noqa: F401  (figure files are drawn in children)
        from nasurf.web.analyses import cycling_document

        cell = _synthetic_cell()
        cycling_document(cell, {}, {"id": 0, "name": "warm-up", "sha256": ""})
        # matplotlib loads its fonts on the first text it draws
        to_svg(pc.capacity_ce_figure(cycling_summary(cell)))
    except Exception:  # a warm-up only: the real calls report their own errors
        import logging

        logging.getLogger("nasurf.web").warning("fork-server warm-up analysis failed; "
                                                "children will be slower", exc_info=True)


_warm()
