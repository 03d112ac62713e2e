"""nasurf: a workbench for surface-engineered sodium-ion battery anodes.

Capabilities live in subpackages, each with its public API in its ``__init__``:

- :mod:`nasurf.knowledge`  cited literature knowledge base (the review's Table 1 and text figures)
- :mod:`nasurf.materials`  theoretical capacity, volume change, C-rate conversion
- :mod:`nasurf.io`         readers for cycler and potentiostat files into one canonical table
- :mod:`nasurf.analysis`   galvanostatic, CV kinetics, GITT and EIS analyses
- :mod:`nasurf.sim`        core-shell particle simulation of a Na half cell
- :mod:`nasurf.report`     the HTML overview written by ``nasurf demo``

Front ends (``nasurf.cli``) are thin layers over these plain-Python APIs.
"""

from nasurf.errors import NasurfError

__version__ = "0.1.0"

__all__ = ["NasurfError", "__version__"]
