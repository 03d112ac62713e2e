"""The packaged materials as they were before issue 13, frozen for the numerics tests.

Engine-agreement and PyBaMM-comparison tests check the solver, not the realism of a
material: they pin these parameter sets (tests/data/sim_v0/*.yaml, copied unchanged from
the package at commit 04ad6e5) so that retuning a packaged host does not change what they
test. Realism is tested against the literature in tests/test_sim_hosts.py.
"""

from __future__ import annotations

from pathlib import Path

V0 = Path(__file__).parent / "data" / "sim_v0"


def frozen(name: str) -> str:
    """Path of a frozen material file (usable wherever a material name is accepted)."""
    return str(V0 / f"{name}.yaml")
