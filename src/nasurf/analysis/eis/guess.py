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
from nasurf.analysis.eis.warburg import warburg_window

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
        # The diffusion line, if any: the automatic 45° ± 7° window of methods.md §6.
        self.window = warburg_window(self.f, self.Z) if self.f.size >= 3 else None
        self.sigma = self._warburg_sigma()
        # Below the diffusion line a finite-length element turns over at ω τ ≈ 3.
        self.w_turn = (2.0 * np.pi * self.window[0]) if self.window else float(self.w[-1])
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
        if self.window is not None:
            sel = (self.f >= self.window[0]) & (self.f <= self.window[1])
        else:   # no clean 45° line: the lowest-frequency quarter (>= 3 points)
            sel = np.zeros(self.f.size, bool)
            sel[-max(3, self.f.size // 4):] = True
        x = self.w[sel] ** -0.5
        dx = x - x.mean()
        sxx = float(dx @ dx)
        slopes = []
        if sxx > 0:
            for y in (self.Z.real[sel], -self.Z.imag[sel]):
                slopes.append(float(dx @ (y - y.mean())) / sxx)
        positive = [v for v in slopes if v > 0]
        if positive:
            return float(np.mean(positive) if self.window else min(positive))
        # No diffusion tail: a small σ that leaves the lowest-frequency point nearly untouched.
        return float(0.01 * self.scale * np.sqrt(self.w[-1]))

    def _inductance(self) -> float:
        im = self.Z.imag[0]
        if im > 0:
            return float(im / self.w[0])
        return float(1e-3 * self.scale / self.w[0])

    def _above_window(self) -> np.ndarray:
        if self.window is None:
            return np.ones(self.f.size, bool)
        return self.f > self.window[1]

    def _arc_apexes(self) -> list[tuple[float, float]]:
        """(ω_apex, height) of the capacitive arcs after removing the Warburg tail."""
        arc = -(self.Z.imag + self.sigma / np.sqrt(self.w))
        arc = np.where(np.isfinite(arc) & self._above_window(), arc, -np.inf)
        finite = np.isfinite(arc)
        if finite.sum() >= 3:
            work = np.where(finite, arc, np.min(arc[finite]))
            peaks, props = find_peaks(work, prominence=0.02 * max(np.ptp(work), 1e-30))
        else:
            peaks, props = np.array([], int), {"prominences": np.array([])}
        if peaks.size == 0:
            k = int(np.argmax(np.where(finite, arc, -np.inf)))
            return [(float(self.w[k]), float(max(arc[k], 1e-3 * self.scale)))]
        order = np.argsort(props["prominences"])[::-1]
        return [(float(self.w[peaks[i]]), float(arc[peaks[i]])) for i in order]

    def _arc_resistance(self) -> float:
        """Total arc diameter: Z' where the arcs end, minus the HF intercept."""
        height_based = 2.0 * sum(h for _, h in self.apexes) / np.tan(ALPHA_GUESS * np.pi / 4)
        if self.window is not None:
            # The diffusion line starts where the arcs end; take away its own Z' part there.
            k = int(np.nonzero(self.f <= self.window[1])[0][0])
            r = self.Z.real[k] - self.sigma / np.sqrt(self.w[k]) - self.r_hf
        else:
            w_apex = max(a[0] for a in self.apexes)
            below = np.nonzero(self.w <= w_apex)[0]
            if below.size:
                arc = -(self.Z.imag + self.sigma / np.sqrt(self.w))
                k = below[np.argmin(arc[below])]
                r = self.Z.real[k] - self.sigma / np.sqrt(self.w[k]) - self.r_hf
            else:
                r = 0.0
        if not r > 0.2 * height_based:
            r = height_based
        return float(max(r, 1e-3 * self.scale))


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
    the 45° diffusion line (automatic Warburg window), Z' and −Z'' against ω^-½; finite
    Warburgs take τ = 3/ω at the low-frequency end of that line (1/ω_min without one) and
    Z0 = σ√(2τ); inductors the high-frequency positive Z''.
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
    tau_finite = 3.0 / feat.w_turn

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
