"""Quantities papers report from a fitted circuit: R_ct (and R_ct·A), Brug effective
capacitance of each CPE, characteristic frequencies, and Warburg σ/D from the fitted
diffusion element (methods.md §6 step 2 and the "D from σ" forms).

Conventions, recorded in the result: R_ct is the resistor named by ``rct_element``
(default ``R1``, the impedance.py Randles convention), else the first resistor inside a
parallel block; R_s is the sum of the top-level series resistors. Brug (J. Electroanal.
Chem. 176 (1984) 275): C_eff = Q^(1/α)·(R_s⁻¹ + R_ct⁻¹)^((α−1)/α) for a CPE in parallel
with a faradaic resistance, C_eff = Q^(1/α)·R_s^((1−α)/α) for a blocking CPE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from nasurf.analysis.eis.circuits import Circuit, Element, Node, Parallel, Series
from nasurf.analysis.eis.fit import EISFit
from nasurf.analysis.eis.warburg import DiffusionEstimate, diffusion_from_sigma
from nasurf.errors import ValidationError

__all__ = ["DerivedEIS", "derived_quantities"]


@dataclass(frozen=True)
class DerivedEIS:
    """Derived quantities with their units and the conventions they were computed under."""

    rct_element: str | None
    R_ct_Ohm: float | None
    R_ct_stderr_Ohm: float | None
    R_ct_area_Ohm_cm2: float | None
    R_s_Ohm: float | None
    area_cm2: float | None
    effective_capacitance_F: dict[str, float] = field(default_factory=dict)    # Brug, per CPE
    characteristic_frequency_Hz: dict[str, float] = field(default_factory=dict)
    warburg_sigma_Ohm_s_half: dict[str, float] = field(default_factory=dict)
    diffusion: dict[str, DiffusionEstimate] = field(default_factory=dict)
    diffusion_time_constant_D_cm2_s: dict[str, float] = field(default_factory=dict)  # L²/τ
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rct_element": self.rct_element, "R_ct_Ohm": self.R_ct_Ohm,
            "R_ct_stderr_Ohm": self.R_ct_stderr_Ohm, "R_ct_area_Ohm_cm2": self.R_ct_area_Ohm_cm2,
            "R_s_Ohm": self.R_s_Ohm, "area_cm2": self.area_cm2,
            "effective_capacitance_F": self.effective_capacitance_F,
            "effective_capacitance_formula": "Brug: Q^(1/a) (1/Rs + 1/Rct)^((a-1)/a)",
            "characteristic_frequency_Hz": self.characteristic_frequency_Hz,
            "warburg_sigma_Ohm_s_half": self.warburg_sigma_Ohm_s_half,
            "diffusion": {k: v.to_dict() for k, v in self.diffusion.items()},
            "diffusion_from_tau_cm2_s": self.diffusion_time_constant_D_cm2_s,
            "warnings": list(self.warnings),
        }


def _elements(node: Node) -> list[Element]:
    if isinstance(node, Element):
        return [node]
    return [e for c in node.children for e in _elements(c)]


def _blocks(node: Node) -> list[Parallel]:
    if isinstance(node, Element):
        return []
    out = [node] if isinstance(node, Parallel) else []
    for c in node.children:
        out.extend(_blocks(c))
    return out


def _value(fit: EISFit, el: Element, k: int = 0) -> float:
    name = el.name if el.spec.n_params == 1 else f"{el.name}_{k}"
    return fit.parameters[name]


def derived_quantities(fit: EISFit, *, rct_element: str | None = None,
                       area_cm2: float | None = None,
                       concentration_mol_cm3: float | None = None,
                       n_electrons: float = 1.0, temperature_K: float = 298.15,
                       diffusion_length_cm: float | None = None) -> DerivedEIS:
    """R_ct, R_ct·A, Brug C_eff, characteristic frequencies and Warburg σ/D of a fit."""
    circ = Circuit(fit.circuit)
    warnings: list[str] = []
    top = list(circ.tree.children) if isinstance(circ.tree, Series) else [circ.tree]
    series_rs = [e for e in top if isinstance(e, Element) and e.spec.code == "R"]
    R_s = sum(_value(fit, e) for e in series_rs) if series_rs else None
    blocks = _blocks(circ.tree)
    in_blocks = [e for b in blocks for e in _elements(b)]

    # --- R_ct -------------------------------------------------------------------------
    if rct_element is not None:
        el = circ.element(rct_element)
        if el.spec.code != "R":
            raise ValidationError(f"R_ct element {rct_element!r} is a {el.spec.code}, not a "
                                  "resistor", field="rct_element")
        rct_name: str | None = rct_element
    elif "R1" in {e.name for e in circ.elements}:
        rct_name = "R1"
    else:
        rct_name = next((e.name for e in in_blocks if e.spec.code == "R"), None)
    R_ct = fit.parameters[rct_name] if rct_name else None
    R_ct_se = fit.stderr[rct_name] if rct_name else None
    if rct_name is None:
        warnings.append("no resistor inside a parallel block: R_ct is undefined for this "
                        "circuit")
    elif rct_name not in {e.name for e in in_blocks}:
        warnings.append(f"R_ct element {rct_name} is not inside a parallel block; check that "
                        "it is the charge-transfer resistance")
    R_ct_area = None
    if area_cm2 is not None:
        if not (math.isfinite(area_cm2) and area_cm2 > 0):
            raise ValidationError(f"area_cm2 must be > 0, got {area_cm2}", field="area_cm2")
        if R_ct is not None:
            R_ct_area = R_ct * area_cm2

    # --- per parallel block: C_eff and characteristic frequency ------------------------
    c_eff: dict[str, float] = {}
    f_char: dict[str, float] = {}
    for block in blocks:
        branches = block.children
        for bi, branch in enumerate(branches):
            if not isinstance(branch, Element) or branch.spec.code not in ("CPE", "C"):
                continue
            others = [e for bj, b in enumerate(branches) if bj != bi for e in _elements(b)]
            r_par = sum(_value(fit, e) for e in others if e.spec.code == "R")
            if branch.spec.code == "C":
                C = _value(fit, branch)
                if r_par > 0:
                    f_char[branch.name] = 1.0 / (2 * math.pi * r_par * C)
                continue
            Q, alpha = _value(fit, branch, 0), _value(fit, branch, 1)
            if r_par > 0 and R_s:
                c_eff[branch.name] = Q ** (1 / alpha) * (1 / R_s + 1 / r_par) ** (
                    (alpha - 1) / alpha)
            elif r_par > 0:
                c_eff[branch.name] = Q ** (1 / alpha) * r_par ** ((1 - alpha) / alpha)
                warnings.append(f"no series resistance: C_eff of {branch.name} uses R_ct only")
            if r_par > 0:
                f_char[branch.name] = 1.0 / (2 * math.pi * (r_par * Q) ** (1 / alpha))
    for el in circ.elements:
        if el.spec.code == "CPE" and el.name not in c_eff and el not in in_blocks and R_s:
            Q, alpha = _value(fit, el, 0), _value(fit, el, 1)
            c_eff[el.name] = Q ** (1 / alpha) * R_s ** ((1 - alpha) / alpha)

    # --- diffusion elements -------------------------------------------------------------
    sigma: dict[str, float] = {}
    diffusion: dict[str, DiffusionEstimate] = {}
    d_tau: dict[str, float] = {}
    for el in circ.elements:
        code = el.spec.code
        if code == "W":
            sigma[el.name] = _value(fit, el)
        elif code in ("Wo", "Ws"):
            Z0, tau = _value(fit, el, 0), _value(fit, el, 1)
            # High-frequency limit of both finite Warburgs: Z → Z0/√(jωτ) = σ(1−j)/√ω.
            sigma[el.name] = Z0 / math.sqrt(2.0 * tau)
            if diffusion_length_cm is not None:
                d_tau[el.name] = diffusion_length_cm**2 / tau
    if area_cm2 is not None and concentration_mol_cm3 is not None:
        for name, s in sigma.items():
            if s > 0:
                diffusion[name] = diffusion_from_sigma(
                    s, area_cm2=area_cm2, concentration_mol_cm3=concentration_mol_cm3,
                    n_electrons=n_electrons, temperature_K=temperature_K)
    return DerivedEIS(rct_name, R_ct, R_ct_se, R_ct_area, R_s, area_cm2, c_eff, f_char,
                      sigma, diffusion, d_tau, tuple(warnings))
