"""Initial guesses for equivalent-circuit parameters, derived from the spectrum itself.

Owns the mapping from spectrum features to start values (methods.md §6, step 2):
high-frequency intercept → series resistance, arc diameter → the resistance of each
parallel (R‖C/CPE) block, arc apex frequency → its capacitance or CPE Q, low-frequency
slope of Z' against ω^-½ → Warburg σ, α ≈ 0.9. The rules work on the circuit's structure,
not on fixed parameter names, so they apply to any string the parser accepts.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks

from nasurf.analysis.eis.circuits import Circuit, Element, Node, Parallel, Series

__all__ = ["SpectrumFeatures", "guess_parameters", "spectrum_features"]

ALPHA_GUESS = 0.9   # typical CPE exponent of battery electrodes (depressed arcs)


class SpectrumFeatures:
    """Numbers read off a spectrum that the guesses are built from (SI units)."""

    def __init__(self, f: np.ndarray, Z: np.ndarray) -> None:
        order = np.argsort(f)[::-1]                      # high → low frequency
        self.f = f[order]
        self.Z = Z[order]
        self.w = 2.0 * np.pi * self.f
        self.scale = float(np.median(np.abs(self.Z)))
        self.r_hf = self._hf_intercept()
        self.sigma = self._warburg_sigma()
        self.inductance = self._inductance()
        self.apexes = self._arc_apexes()
        self.arc_resistance = self._arc_resistance()

    def _hf_intercept(self) -> float:
        re, mim = self.Z.real, -self.Z.imag
        # Interpolate the crossing of −Z'' = 0 (from inductive to capacitive) at high f.
        cross = np.nonzero((mim[:-1] <= 0) & (mim[1:] > 0))[0]
        if cross.size:
            k = cross[0]
            t = -mim[k] / (mim[k + 1] - mim[k])
            r = re[k] + t * (re[k + 1] - re[k])
        else:
            top = max(3, self.f.size // 10)
            r = float(np.min(re[:top]))
        return float(max(r, 1e-6 * self.scale))

    def _warburg_sigma(self) -> float:
        # Slope of Z' and −Z'' against ω^-½ over the lowest-frequency quarter (>= 3 points).
        n = max(3, self.f.size // 4)
        x = self.w[-n:] ** -0.5
        slopes = []
        dx = x - x.mean()
        sxx = float(dx @ dx)
        if sxx > 0:
            for y in (self.Z.real[-n:], -self.Z.imag[-n:]):
                slopes.append(float(dx @ (y - y.mean())) / sxx)
        positive = [s for s in slopes if s > 0]
        if positive:
            return float(np.mean(positive))
        # No diffusion tail: a small σ that leaves the lowest-frequency point nearly untouched.
        return float(0.01 * self.scale * np.sqrt(self.w[-1]))

    def _inductance(self) -> float:
        im = self.Z.imag[0]
        if im > 0:
            return float(im / self.w[0])
        return float(1e-3 * self.scale / self.w[0])

    def _arc_apexes(self) -> list[tuple[float, float]]:
        """(ω_apex, height) of the capacitive arcs after removing the Warburg tail."""
        arc = -(self.Z.imag + self.sigma / np.sqrt(self.w))
        arc = np.where(np.isfinite(arc), arc, 0.0)
        if arc.size >= 3:
            peaks, props = find_peaks(arc, prominence=0.02 * max(np.ptp(arc), 1e-30))
        else:
            peaks, props = np.array([], int), {"prominences": np.array([])}
        if peaks.size == 0:
            k = int(np.argmax(arc))
            return [(float(self.w[k]), float(max(arc[k], 1e-3 * self.scale)))]
        order = np.argsort(props["prominences"])[::-1]
        return [(float(self.w[peaks[i]]), float(arc[peaks[i]])) for i in order]

    def _arc_resistance(self) -> float:
        """Total arc diameter: low-frequency Z' minus the HF intercept and the Warburg part."""
        re_dc = self.Z.real - self.sigma / np.sqrt(self.w)
        # Read the arcs' end where the Warburg-corrected −Z'' is smallest below the first apex.
        w_apex = max(a[0] for a in self.apexes)
        below = self.w <= w_apex
        arc = -(self.Z.imag + self.sigma / np.sqrt(self.w))
        if below.any():
            idx = np.nonzero(below)[0]
            k = idx[np.argmin(arc[idx])]
            r = re_dc[k] - self.r_hf
        else:
            r = 0.0
        height_based = 2.0 * sum(h for _, h in self.apexes) / np.tan(ALPHA_GUESS * np.pi / 4)
        return float(max(r, height_based, 1e-3 * self.scale))


def spectrum_features(frequencies_Hz: np.ndarray, Z: np.ndarray) -> SpectrumFeatures:
    """Read the guess features (HF intercept, arcs, Warburg slope) off a spectrum."""
    return SpectrumFeatures(np.asarray(frequencies_Hz, float), np.asarray(Z, complex))


def _parallel_blocks(node: Node) -> list[Parallel]:
    if isinstance(node, Element):
        return []
    out = [node] if isinstance(node, Parallel) else []
    for child in node.children:
        out.extend(_parallel_blocks(child))
    return out


def _elements(node: Node) -> list[Element]:
    if isinstance(node, Element):
        return [node]
    return [e for c in node.children for e in _elements(c)]


def _top_level(node: Node) -> list[Node]:
    return list(node.children) if isinstance(node, Series) else [node]


def guess_parameters(circuit: Circuit, frequencies_Hz: np.ndarray, Z: np.ndarray
                     ) -> dict[str, float]:
    """Start values for every parameter of ``circuit`` from the spectrum (never from a truth).

    Rules (all in SI): the first top-level resistor gets the high-frequency intercept;
    each parallel block is an arc, the arcs taking the detected apexes in order of
    decreasing frequency (circuit order = high to low frequency, as usually written) and
    sharing the arc diameter; a resistor inside an arc gets its share of the diameter, a
    capacitor 1/(R ω_apex), a CPE Q = 1/(R ω_apex^α) with α = 0.9; Warburg σ comes from
    the low-frequency slope of Z' and −Z'' against ω^-½; finite Warburgs take τ = 1/ω_min
    and Z0 = σ√(2τ); inductors the high-frequency positive Z''.
    """
    feat = spectrum_features(frequencies_Hz, Z)
    guesses: dict[str, float] = {}
    blocks = _parallel_blocks(circuit.tree)
    in_block: dict[str, int] = {}
    for b, block in enumerate(blocks):
        for el in _elements(block):
            in_block.setdefault(el.name, b)   # outermost block wins for nested parallels
    # Apex frequencies: detected ones first (highest f first), log-spaced fill-ins otherwise.
    detected = sorted(feat.apexes, key=lambda a: -a[0])[: len(blocks)]
    apex_w = [a[0] for a in detected]
    if len(apex_w) < len(blocks):
        lo, hi = np.log10(feat.w[-1]), np.log10(feat.w[0])
        extra = np.logspace(hi - (hi - lo) * 0.25, lo + (hi - lo) * 0.25,
                            len(blocks) - len(apex_w) + 2)[1:-1]
        apex_w = sorted([*apex_w, *extra.tolist()], reverse=True)
    n_blocks = max(len(blocks), 1)
    r_arc = feat.arc_resistance / n_blocks
    tau_finite = 1.0 / feat.w[-1]

    first_series_r = next((e.name for e in _top_level(circuit.tree)
                           if isinstance(e, Element) and e.spec.code == "R"), None)
    for el in circuit.elements:
        code = el.spec.code
        b = in_block.get(el.name)
        w_apex = apex_w[b] if b is not None else feat.w[-1]
        if code == "R":
            if b is not None:
                value = r_arc
            elif el.name == first_series_r:
                value = feat.r_hf
            else:
                value = 0.1 * feat.r_hf
            guesses[el.name] = value
        elif code == "C":
            if b is not None:
                guesses[el.name] = 1.0 / (r_arc * w_apex)
            else:   # blocking capacitor in series: from −Z'' at the lowest frequency
                mim = max(-feat.Z.imag[-1], 1e-3 * feat.scale)
                guesses[el.name] = 1.0 / (feat.w[-1] * mim)
        elif code == "CPE":
            if b is not None:
                q = 1.0 / (r_arc * w_apex**ALPHA_GUESS)
            else:
                mim = max(-feat.Z.imag[-1], 1e-3 * feat.scale)
                q = 1.0 / (feat.w[-1] ** ALPHA_GUESS * mim)
            guesses[f"{el.name}_0"] = q
            guesses[f"{el.name}_1"] = ALPHA_GUESS
        elif code == "W":
            guesses[el.name] = feat.sigma
        elif code in ("Wo", "Ws"):
            guesses[f"{el.name}_0"] = feat.sigma * np.sqrt(2.0 * tau_finite)
            guesses[f"{el.name}_1"] = tau_finite
        elif code == "L":
            guesses[el.name] = feat.inductance
        elif code == "La":
            guesses[f"{el.name}_0"] = feat.inductance
            guesses[f"{el.name}_1"] = 0.9
        elif code == "K":
            guesses[f"{el.name}_0"] = r_arc
            guesses[f"{el.name}_1"] = 1.0 / w_apex
        elif code == "Zarc":
            guesses[f"{el.name}_0"] = r_arc
            guesses[f"{el.name}_1"] = 1.0 / w_apex
            guesses[f"{el.name}_2"] = ALPHA_GUESS
        elif code == "G":
            guesses[f"{el.name}_0"] = r_arc
            guesses[f"{el.name}_1"] = 1.0 / w_apex
        elif code == "Gs":
            guesses[f"{el.name}_0"] = r_arc
            guesses[f"{el.name}_1"] = 1.0 / w_apex
            guesses[f"{el.name}_2"] = 1.0
        elif code == "TLMQ":
            guesses[f"{el.name}_0"] = r_arc
            guesses[f"{el.name}_1"] = 1.0 / (r_arc * w_apex**ALPHA_GUESS)
            guesses[f"{el.name}_2"] = ALPHA_GUESS
        else:  # pragma: no cover - every element in ELEMENTS is handled above
            raise AssertionError(f"no guess rule for element {code}")
    return {n: float(guesses[n]) for n in circuit.parameter_names}
