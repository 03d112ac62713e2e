"""Equivalent-circuit strings: parser, element library and compiled impedance models.

Owns the circuit-string language (compatible with impedance.py >= 1.4.1): ``-`` joins
elements in series, ``p(a,b,...)`` puts branches in parallel, an element is a letter code
plus an index (``R0``, ``CPE1``, ``Wo1``). Strings are tokenised and parsed by recursive
descent, never ``eval``-ed. A :class:`Circuit` is compiled once into numpy closures that
return the impedance and, for fitting, its analytic derivatives with respect to every
parameter (forward mode through series/parallel combinations).

Parameter naming follows impedance.py: a one-parameter element is named by itself
(``R0``, ``W1``), a multi-parameter element by ``name_i`` (``CPE1_0`` = Q, ``CPE1_1`` = α).
Inputs are frequencies in Hz; ω = 2πf is computed inside (methods.md §6).
``La`` is the modified inductance done correctly, Z = L·(jω)^α (impedance.py computes
(L·jω)^α, its issues #286/#312).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nasurf.errors import ValidationError

__all__ = [
    "ELEMENTS",
    "Circuit",
    "ElementSpec",
    "FrequencyGrid",
    "Randles",
    "parse_circuit",
]



class FrequencyGrid:
    """Angular frequencies and the functions of them every element needs, computed once
    per spectrum so that repeated evaluations during a fit do no redundant work."""

    __slots__ = ("inv_sqrt_w", "jw", "log_jw", "log_w", "neg_log_jw", "ones", "w",
                 "warburg_shape")

    def __init__(self, omega: np.ndarray) -> None:
        self.w = np.asarray(omega, dtype=float)
        self.jw = 1j * self.w
        self.log_w = np.log(self.w)
        self.log_jw = self.log_w + 0.5j * np.pi
        self.inv_sqrt_w = 1.0 / np.sqrt(self.w)
        self.ones = np.ones(self.w.shape, dtype=complex)
        self.neg_log_jw = -self.log_jw
        self.warburg_shape = (1 - 1j) * self.inv_sqrt_w
        for arr in (self.w, self.jw, self.log_jw, self.inv_sqrt_w, self.ones, self.neg_log_jw,
                    self.warburg_shape):
            arr.setflags(write=False)


# An element evaluator takes (its own parameters, grid) and returns (Z, dZ/dp rows).
_Evaluator = Callable[[np.ndarray, FrequencyGrid], tuple[np.ndarray, np.ndarray]]
# A filler takes (all parameters, offset k of the element's first one, grid, D), writes the
# element's dZ/dp into rows D[k:k+n_params] and returns Z: the fitting fast path, which
# builds the circuit's Jacobian in one preallocated array instead of stacking pieces.
_Filler = Callable[[np.ndarray, int, FrequencyGrid, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ElementSpec:
    """One circuit element type: its parameters, units and impedance function."""

    code: str
    parameter_labels: tuple[str, ...]   # what each parameter is (Q, alpha, tau ...)
    units: tuple[str, ...]
    kinds: tuple[str, ...]              # "positive" (log-fitted, >= 0) or "exponent" (bounded)
    description: str
    evaluate: _Evaluator
    value: Callable[[np.ndarray, FrequencyGrid], np.ndarray] | None = None   # Z only, faster
    fill: _Filler | None = None         # Z and dZ/dp written in place, faster (see _Filler)

    @property
    def n_params(self) -> int:
        return len(self.parameter_labels)


# --- element impedances with analytic derivatives ---------------------------------------
# Each returns Z (n,) and D (n_params, n) with D[k] = dZ/dp_k.


def _resistor(p, g):
    return p[0] * g.ones, g.ones[None, :]


def _capacitor(p, g):
    Z = 1.0 / (g.jw * p[0])
    return Z, (-Z / p[0])[None, :]


def _inductor(p, g):
    return p[0] * g.jw, g.jw[None, :]


def _warburg(p, g):
    shape = (1 - 1j) * g.inv_sqrt_w
    return p[0] * shape, shape[None, :]


def _cpe(p, g):
    Q, alpha = p[0], p[1]
    Z = np.exp(-alpha * g.log_jw) / Q
    return Z, np.vstack([-Z / Q, -Z * g.log_jw])


def _modified_inductor(p, g):
    L, alpha = p[0], p[1]
    shape = np.exp(alpha * g.log_jw)
    Z = L * shape
    return Z, np.vstack([shape, Z * g.log_jw])


def _warburg_open(p, g):
    # Z = Z0·coth(s)/s with s = sqrt(jωτ): reflective (blocking) boundary, capacitive at low f.
    Z0, tau = p[0], p[1]
    s = np.sqrt(g.jw * tau)
    coth = 1.0 / np.tanh(s)
    shape = coth / s
    csch2 = coth * coth - 1.0
    dtau = -Z0 / (2.0 * tau) * (csch2 + coth / s)
    return Z0 * shape, np.vstack([shape, dtau])


def _warburg_short(p, g):
    # Z = Z0·tanh(s)/s: transmissive boundary, resistive (Z0) at low f.
    Z0, tau = p[0], p[1]
    s = np.sqrt(g.jw * tau)
    tanh = np.tanh(s)
    shape = tanh / s
    sech2 = 1.0 - tanh * tanh
    dtau = Z0 / (2.0 * tau) * (sech2 - shape)
    return Z0 * shape, np.vstack([shape, dtau])


def _gerischer(p, g):
    R, t = p[0], p[1]
    u2 = 1.0 + g.jw * t
    shape = u2**-0.5
    Z = R * shape
    return Z, np.vstack([shape, -0.5 * Z * g.jw / u2])


def _gerischer_finite(p, g):
    R, t, phi = p[0], p[1], p[2]
    u = np.sqrt(1.0 + g.jw * t)
    th = np.tanh(phi * u)
    Z = R / (u * th)
    sech2_over_th = (1.0 - th * th) / th
    dZ_du = -Z * (1.0 / u + phi * sech2_over_th)
    return Z, np.vstack([Z / R, dZ_du * g.jw / (2.0 * u), -Z * u * sech2_over_th])


def _voigt_rc(p, g):
    R, tau = p[0], p[1]
    shape = 1.0 / (1.0 + g.jw * tau)
    return R * shape, np.vstack([shape, -R * g.jw * shape * shape])


def _zarc(p, g):
    R, tau, gamma = p[0], p[1], p[2]
    log_jwt = g.log_jw + np.log(tau)
    x = np.exp(gamma * log_jwt)
    shape = 1.0 / (1.0 + x)
    Z = R * shape
    common = -R * shape * shape * x
    return Z, np.vstack([shape, common * gamma / tau, common * log_jwt])


def _tlm_q(p, g):
    # Simplified transmission line (Landesfeind 2016 eq. 11): Z = sqrt(Rion·Zs)·coth(sqrt(Rion/Zs)).
    Rion, Q, gamma = p[0], p[1], p[2]
    log_jw = g.log_jw
    Zs = np.exp(-gamma * log_jw) / Q
    r = np.sqrt(Rion * Zs)
    q = np.sqrt(Rion / Zs)
    coth = 1.0 / np.tanh(q)
    csch2 = coth * coth - 1.0
    Z = r * coth
    dZ_dRion = r / (2.0 * Rion) * (coth - q * csch2)
    dZ_dZs = r / (2.0 * Zs) * (coth + q * csch2)
    return Z, np.vstack([dZ_dRion, dZ_dZs * (-Zs / Q), dZ_dZs * (-Zs * log_jw)])


def _resistor_value(p, g):
    return p[0] * g.ones


def _capacitor_value(p, g):
    return 1.0 / (g.jw * p[0])


def _warburg_value(p, g):
    return (p[0] * (1 - 1j)) * g.inv_sqrt_w


def _cpe_value(p, g):
    return np.exp(-p[1] * g.log_jw) / p[0]


# In-place fillers of the common elements (same formulas as the evaluators above).


def _resistor_fill(p, k, g, D):
    D[k] = 1.0
    return p[k] * g.ones


def _capacitor_fill(p, k, g, D):
    C = p[k]
    Z = 1.0 / (g.jw * C)
    np.divide(Z, -C, out=D[k])
    return Z


def _warburg_fill(p, k, g, D):
    D[k] = g.warburg_shape
    return p[k] * g.warburg_shape


def _cpe_fill(p, k, g, D):
    Q = p[k]
    Z = np.exp(-p[k + 1] * g.log_jw)
    Z /= Q
    np.divide(Z, -Q, out=D[k])
    np.multiply(Z, g.neg_log_jw, out=D[k + 1])
    return Z


_P, _E = "positive", "exponent"

ELEMENTS: dict[str, ElementSpec] = {
    spec.code: spec
    for spec in (
        ElementSpec("R", ("R",), ("Ohm",), (_P,), "resistor, Z = R", _resistor,
                    _resistor_value, _resistor_fill),
        ElementSpec("C", ("C",), ("F",), (_P,), "capacitor, Z = 1/(jωC)", _capacitor,
                    _capacitor_value, _capacitor_fill),
        ElementSpec("L", ("L",), ("H",), (_P,), "inductor, Z = jωL", _inductor),
        ElementSpec(
            "W", ("sigma",), ("Ohm s^-1/2",), (_P,),
            "semi-infinite Warburg, Z = σ(1−j)/√ω (σ = A_W)", _warburg, _warburg_value,
            _warburg_fill,
        ),
        ElementSpec(
            "Wo", ("Z0", "tau"), ("Ohm", "s"), (_P, _P),
            "finite-space (open, reflective) Warburg, Z = Z0·coth(√(jωτ))/√(jωτ), τ = L²/D",
            _warburg_open,
        ),
        ElementSpec(
            "Ws", ("Z0", "tau"), ("Ohm", "s"), (_P, _P),
            "finite-length (short, transmissive) Warburg, Z = Z0·tanh(√(jωτ))/√(jωτ), τ = L²/D",
            _warburg_short,
        ),
        ElementSpec(
            "CPE", ("Q", "alpha"), ("Ohm^-1 s^alpha", "1"), (_P, _E),
            "constant phase element, Z = 1/(Q·(jω)^α)", _cpe, _cpe_value, _cpe_fill,
        ),
        ElementSpec(
            "La", ("L", "alpha"), ("Ohm s^alpha", "1"), (_P, _E),
            "modified inductance, Z = L·(jω)^α (not impedance.py's (L·jω)^α)",
            _modified_inductor,
        ),
        ElementSpec(
            "G", ("R_G", "t_G"), ("Ohm", "s"), (_P, _P),
            "Gerischer, Z = R_G/√(1 + jω t_G)", _gerischer,
        ),
        ElementSpec(
            "Gs", ("R_G", "t_G", "phi"), ("Ohm", "s", "1"), (_P, _P, _P),
            "finite-length Gerischer, Z = R_G/(√(1+jωt_G)·tanh(φ√(1+jωt_G)))",
            _gerischer_finite,
        ),
        ElementSpec(
            "K", ("R", "tau"), ("Ohm", "s"), (_P, _P),
            "Voigt RC element, Z = R/(1 + jωτ)", _voigt_rc,
        ),
        ElementSpec(
            "Zarc", ("R", "tau", "gamma"), ("Ohm", "s", "1"), (_P, _P, _E),
            "ZARC (R‖CPE in time-constant form), Z = R/(1 + (jωτ)^γ)", _zarc,
        ),
        ElementSpec(
            "TLMQ", ("R_ion", "Q_s", "gamma"), ("Ohm", "Ohm^-1 s^gamma", "1"), (_P, _P, _E),
            "simplified transmission line, Z = √(R_ion Z_s)·coth(√(R_ion/Z_s)), "
            "Z_s = 1/(Q_s (jω)^γ)",
            _tlm_q,
        ),
    )
}

_ALIASES = {"Q": "CPE", "P": "CPE", "Rs": "R", "Rct": "R", "Cdl": "C", "Wd": "W", "T": "Wo"}


# --- syntax tree --------------------------------------------------------------------------


@dataclass(frozen=True)
class Element:
    name: str
    spec: ElementSpec
    position: int

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Series:
    children: tuple[Element | Series | Parallel, ...]

    def __str__(self) -> str:
        return "-".join(str(c) for c in self.children)


@dataclass(frozen=True)
class Parallel:
    children: tuple[Element | Series | Parallel, ...]

    def __str__(self) -> str:
        return "p(" + ",".join(str(c) for c in self.children) + ")"


Node = Element | Series | Parallel

_TOKEN = re.compile(r"\s*(?:(?P<par>p\()|(?P<name>[A-Za-z]+)(?P<index>_?[0-9]+)?|(?P<sym>[-,()])"
                    r"|(?P<bad>\S))")


@dataclass(frozen=True)
class _Token:
    kind: str       # "par", "name", "sym", "end"
    text: str
    position: int   # 0-based character offset in the original string
    code: str = ""
    index: str = ""


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        assert m is not None  # the pattern ends with a catch-all alternative
        start = m.start() + len(m.group(0)) - len(m.group(0).lstrip())
        if m.group("par"):
            tokens.append(_Token("par", "p(", start))
        elif m.group("name"):
            code, index = m.group("name"), m.group("index") or ""
            tokens.append(_Token("name", code + index, start, code, index))
        elif m.group("sym"):
            tokens.append(_Token("sym", m.group("sym"), start))
        else:
            raise ValidationError(
                f"circuit {text!r}: unexpected character {m.group('bad')!r} at position "
                f"{start + 1}; expected an element name (e.g. R0, CPE1), '-', ',', 'p(' or ')'",
                field="circuit",
            )
        pos = m.end()
    tokens.append(_Token("end", "end of string", len(text)))
    return tokens


class _Parser:
    """Recursive descent over: series := term ('-' term)*; term := 'p(' series (',' series)+ ')'
    | NAME."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.names: dict[str, int] = {}

    def _fail(self, token: _Token, expected: str) -> ValidationError:
        found = "the end of the string" if token.kind == "end" else repr(token.text)
        return ValidationError(
            f"circuit {self.text!r}: expected {expected} at position {token.position + 1}, "
            f"found {found}",
            field="circuit",
        )

    def _peek(self) -> _Token:
        return self.tokens[self.i]

    def _next(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        if self._peek().kind == "end":
            raise ValidationError("circuit string is empty; expected e.g. 'R0-p(R1,CPE1)'",
                                  field="circuit")
        node = self._series()
        tok = self._peek()
        if tok.kind != "end":
            expected = "'-' or the end of the string"
            if tok.text == ")":
                expected = "'-' or the end of the string (unbalanced ')')"
            raise self._fail(tok, expected)
        return node

    def _series(self) -> Node:
        terms = [self._term()]
        while self._peek().text == "-":
            self._next()
            terms.append(self._term())
        return terms[0] if len(terms) == 1 else Series(tuple(terms))

    def _term(self) -> Node:
        tok = self._next()
        if tok.kind == "par":
            self.depth = getattr(self, "depth", 0) + 1
            if self.depth > MAX_NESTING:
                raise ValidationError(
                    f"circuit {self.text[:60]!r}…: parallel blocks nested more than "
                    f"{MAX_NESTING} deep at position {tok.position + 1}", field="circuit")
            branches = [self._series()]
            while self._peek().text == ",":
                self._next()
                branches.append(self._series())
            close = self._next()
            if close.text != ")":
                raise self._fail(close, "',' or ')' closing the 'p(' opened at position "
                                 f"{tok.position + 1}")
            self.depth -= 1
            if len(branches) < 2:
                raise ValidationError(
                    f"circuit {self.text!r}: the parallel block at position {tok.position + 1} "
                    "has one branch; p(...) needs at least two, e.g. p(R1,CPE1)",
                    field="circuit",
                )
            return Parallel(tuple(branches))
        if tok.kind == "name":
            return self._element(tok)
        raise self._fail(tok, "an element name (letter code + index, e.g. R0, CPE1) or 'p('")

    def _element(self, tok: _Token) -> Element:
        spec = ELEMENTS.get(tok.code)
        if spec is None:
            hint = ""
            if tok.code == "p":
                hint = " ('p' opens a parallel block and must be followed by '(')"
            elif tok.code in _ALIASES:
                hint = f" (did you mean {_ALIASES[tok.code]}?)"
            elif tok.code.upper() in ELEMENTS or tok.code.capitalize() in ELEMENTS:
                hint = " (element codes are case-sensitive)"
            raise ValidationError(
                f"circuit {self.text!r}: unknown element {tok.code!r} at position "
                f"{tok.position + 1}{hint}; known elements: {', '.join(ELEMENTS)}",
                field="circuit",
            )
        if not tok.index:
            raise ValidationError(
                f"circuit {self.text!r}: element {tok.code!r} at position {tok.position + 1} "
                f"has no index; expected a letter code plus an index, e.g. {tok.code}1",
                field="circuit",
            )
        if tok.text in self.names:
            raise ValidationError(
                f"circuit {self.text!r}: element name {tok.text!r} is used twice (positions "
                f"{self.names[tok.text] + 1} and {tok.position + 1}); every element needs its "
                "own index",
                field="circuit",
            )
        self.names[tok.text] = tok.position
        return Element(tok.text, spec, tok.position)


#: equivalent circuits nest a few parallel blocks (transmission lines: ~5); deeper input is
#: refused before the recursive parser and evaluator come near Python's recursion limit
MAX_NESTING = 30


def parse_circuit(text: str) -> Node:
    """Parse a circuit string into its syntax tree (raises ValidationError on bad strings)."""
    if not isinstance(text, str):
        raise ValidationError(f"circuit must be a string, got {type(text).__name__}",
                              field="circuit")
    return _Parser(text).parse()


def _elements_in_order(node: Node) -> list[Element]:
    if isinstance(node, Element):
        return [node]
    out: list[Element] = []
    for child in node.children:
        out.extend(_elements_in_order(child))
    return out


# --- compilation --------------------------------------------------------------------------


def _compile(node: Node, offsets: dict[str, int]
             ) -> Callable[[np.ndarray, FrequencyGrid, np.ndarray], np.ndarray]:
    """Closure (p, grid, D) -> Z that writes dZ/dp of this subtree's parameters (a
    contiguous block of rows, parameters being numbered in tree order) into D."""
    if isinstance(node, Element):
        start = offsets[node.name]
        stop = start + node.spec.n_params
        fill = node.spec.fill
        if fill is not None:
            return lambda p, w, D: fill(p, start, w, D)
        evaluate = node.spec.evaluate

        def element_eval(p, w, D):
            Z, d = evaluate(p[start:stop], w)
            D[start:stop] = d
            return Z

        return element_eval
    children = [_compile(c, offsets) for c in node.children]
    if isinstance(node, Series):

        def series_eval(p, w, D):
            Z = children[0](p, w, D)
            for c in children[1:]:
                Z = Z + c(p, w, D)
            return Z

        return series_eval

    blocks = []                     # rows of D that belong to each branch
    for child in node.children:
        els = _elements_in_order(child)
        blocks.append((offsets[els[0].name], offsets[els[-1].name] + els[-1].spec.n_params))

    def parallel_eval(p, w, D):
        zs = [c(p, w, D) for c in children]
        Y = 1.0 / zs[0]
        for z in zs[1:]:
            Y = Y + 1.0 / z
        Z = 1.0 / Y
        # d(1/ΣY_i)/dp = (Z/Z_i)² · dZ_i/dp for a parameter of branch i
        for (lo, hi), z in zip(blocks, zs, strict=True):
            D[lo:hi] *= (Z / z) ** 2
        return Z

    return parallel_eval


def _compile_value(node: Node, offsets: dict[str, int]) -> Callable[[np.ndarray, np.ndarray],
                                                                      np.ndarray]:
    """Value-only closure (no derivatives): used for predictions and trial steps."""
    if isinstance(node, Element):
        start = offsets[node.name]
        stop = start + node.spec.n_params
        value = node.spec.value
        if value is not None:
            return lambda p, w: value(p[start:stop], w)
        evaluate = node.spec.evaluate
        return lambda p, w: evaluate(p[start:stop], w)[0]
    children = [_compile_value(c, offsets) for c in node.children]
    if isinstance(node, Series):

        def series_value(p, w):
            Z = children[0](p, w)
            for c in children[1:]:
                Z = Z + c(p, w)
            return Z

        return series_value

    def parallel_value(p, w):
        Y = 1.0 / children[0](p, w)
        for c in children[1:]:
            Y = Y + 1.0 / c(p, w)
        return 1.0 / Y

    return parallel_value


class Circuit:
    """A parsed, compiled equivalent circuit.

    >>> c = Circuit("R0-p(R1,CPE1)-W1")
    >>> c.parameter_names
    ('R0', 'R1', 'CPE1_0', 'CPE1_1', 'W1')
    >>> Z = c.impedance([5, 50, 2e-5, 0.9, 16.7], frequencies_Hz)   # complex ndarray
    """

    def __init__(self, text: str) -> None:
        self.tree: Node = parse_circuit(text)
        self.elements: tuple[Element, ...] = tuple(_elements_in_order(self.tree))
        names: list[str] = []
        units: list[str] = []
        kinds: list[str] = []
        labels: list[str] = []
        owners: list[str] = []
        offsets: dict[str, int] = {}
        for el in self.elements:
            offsets[el.name] = len(names)
            spec = el.spec
            for k in range(spec.n_params):
                names.append(el.name if spec.n_params == 1 else f"{el.name}_{k}")
                units.append(spec.units[k])
                kinds.append(spec.kinds[k])
                labels.append(spec.parameter_labels[k])
                owners.append(el.name)
        self.parameter_names: tuple[str, ...] = tuple(names)
        self.parameter_units: dict[str, str] = dict(zip(names, units, strict=True))
        self.parameter_kinds: dict[str, str] = dict(zip(names, kinds, strict=True))
        self.parameter_labels: dict[str, str] = dict(zip(names, labels, strict=True))
        self.parameter_owner: dict[str, str] = dict(zip(names, owners, strict=True))
        self._offsets = offsets
        self._value = _compile_value(self.tree, offsets)
        self._value_and_jac = _compile(self.tree, offsets)

    # --- identity -----------------------------------------------------------------------
    def __str__(self) -> str:
        return str(self.tree)

    def __repr__(self) -> str:
        return f"Circuit({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Circuit) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    @property
    def n_params(self) -> int:
        return len(self.parameter_names)

    def element(self, name: str) -> Element:
        for el in self.elements:
            if el.name == name:
                return el
        raise ValidationError(
            f"circuit {str(self)!r} has no element {name!r}; elements: "
            f"{', '.join(e.name for e in self.elements)}",
            field="element",
        )

    # --- evaluation ---------------------------------------------------------------------
    def _params_array(self, params: Sequence[float] | np.ndarray | dict[str, float]) -> np.ndarray:
        if isinstance(params, dict):
            missing = [n for n in self.parameter_names if n not in params]
            extra = [n for n in params if n not in self.parameter_names]
            if missing or extra:
                raise ValidationError(
                    f"parameters for {str(self)!r}: missing {missing}, unknown {extra}; "
                    f"expected {list(self.parameter_names)}",
                    field="parameters",
                )
            return np.array([float(params[n]) for n in self.parameter_names])
        p = np.asarray(params, dtype=float).reshape(-1)
        if p.size != self.n_params:
            raise ValidationError(
                f"circuit {str(self)!r} has {self.n_params} parameters "
                f"{list(self.parameter_names)}, got {p.size} values",
                field="parameters",
            )
        return p

    def impedance(self, params: Sequence[float] | np.ndarray | dict[str, float],
                  frequencies_Hz: Sequence[float] | np.ndarray) -> np.ndarray:
        """Complex impedance (Ohm) at ``frequencies_Hz`` (Hz; ω = 2πf is taken inside)."""
        f = np.asarray(frequencies_Hz, dtype=float).reshape(-1)
        return self.impedance_omega(self._params_array(params), 2.0 * np.pi * f)

    def impedance_omega(self, p: np.ndarray, omega: np.ndarray | FrequencyGrid) -> np.ndarray:
        """Fast path for fitting: parameters as a float array, angular frequency in rad/s
        (or a precomputed :class:`FrequencyGrid`)."""
        grid = omega if isinstance(omega, FrequencyGrid) else FrequencyGrid(omega)
        return self._value(p, grid)

    def impedance_and_jacobian(self, params: Sequence[float] | np.ndarray | dict[str, float],
                               frequencies_Hz: Sequence[float] | np.ndarray
                               ) -> tuple[np.ndarray, np.ndarray]:
        """Impedance and its analytic Jacobian dZ/dp, shape (n_frequencies, n_params)."""
        f = np.asarray(frequencies_Hz, dtype=float).reshape(-1)
        Z, D = self.jacobian_omega(self._params_array(params), 2.0 * np.pi * f)
        return Z, D.T

    def jacobian_omega(self, p: np.ndarray, omega: np.ndarray | FrequencyGrid
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Fast path: (Z, D) with D of shape (n_params, n_frequencies)."""
        grid = omega if isinstance(omega, FrequencyGrid) else FrequencyGrid(omega)
        D = np.empty((self.n_params, grid.w.size), dtype=complex)
        return self._value_and_jac(p, grid, D), D


def Randles(CPE: bool = False) -> Circuit:
    """The Randles preset of impedance.py >= 1.4.1: ``R0-p(R1-Wo1,C1)`` or, with a CPE,
    ``R0-p(R1-Wo1,CPE1)`` (the finite-space Warburg sits in the faradaic branch)."""
    return Circuit("R0-p(R1-Wo1,CPE1)" if CPE else "R0-p(R1-Wo1,C1)")
