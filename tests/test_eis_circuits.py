"""Circuit strings: parser (round-trip, errors, no eval), impedance.py naming, every element
against its textbook formula (written out independently here), and the analytic Jacobian
against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasurf.analysis.eis import ELEMENTS, Circuit, Randles, parse_circuit
from nasurf.errors import ValidationError

F = np.logspace(5, -3, 41)
W = 2 * np.pi * F
JW = 1j * W


@pytest.mark.parametrize("text", [
    "R0",
    "R0-C1",
    "R0-p(R1,CPE1)-W1",
    "R0-p(R1-W1,CPE1)",
    "R0-p(R1-Wo1,CPE1)",
    "L0-R0-p(R1,CPE1)-p(R2-Ws2,CPE2)",
    "R0-p(R1,p(R2,C2),CPE1)-La1",
    "R_0-p(R_1,CPE_1)",
    "G1-Gs1-K1-Zarc1-TLMQ1",
])
def test_round_trip_of_normalised_strings(text):
    assert str(Circuit(text)) == text
    assert str(Circuit(str(Circuit(text)))) == text


def test_spaces_are_normalised():
    assert str(Circuit(" R0 - p( R1 , CPE1 ) - W1 ")) == "R0-p(R1,CPE1)-W1"


def test_parameter_names_follow_impedance_py():
    c = Circuit("R0-p(R1,CPE1)-W1")
    assert c.parameter_names == ("R0", "R1", "CPE1_0", "CPE1_1", "W1")
    assert c.parameter_units["CPE1_0"] == "Ohm^-1 s^alpha"
    assert c.parameter_units["W1"] == "Ohm s^-1/2"
    assert Circuit("R0-p(R1-Wo1,CPE1)").parameter_names == (
        "R0", "R1", "Wo1_0", "Wo1_1", "CPE1_0", "CPE1_1")


def test_randles_presets_match_impedance_py_141():
    # impedance.py >= 1.4.1 (issue #198): the Warburg sits in the faradaic branch.
    assert str(Randles()) == "R0-p(R1-Wo1,C1)"
    assert str(Randles(CPE=True)) == "R0-p(R1-Wo1,CPE1)"


def _textbook(code, p):
    """Element impedances typed in from their definitions (methods.md §6, impedance.py docs)."""
    s = np.sqrt
    if code == "R":
        return np.full(W.shape, p[0], complex)
    if code == "C":
        return 1 / (JW * p[0])
    if code == "L":
        return JW * p[0]
    if code == "W":
        return p[0] * (1 - 1j) / s(W)
    if code == "Wo":
        x = s(JW * p[1])
        return p[0] / (x * np.tanh(x))
    if code == "Ws":
        x = s(JW * p[1])
        return p[0] * np.tanh(x) / x
    if code == "CPE":
        return 1 / (p[0] * JW ** p[1])
    if code == "La":
        return p[0] * JW ** p[1]          # L·(jω)^α, not impedance.py's (L·jω)^α
    if code == "G":
        return p[0] / s(1 + JW * p[1])
    if code == "Gs":
        x = s(1 + JW * p[1])
        return p[0] / (x * np.tanh(p[2] * x))
    if code == "K":
        return p[0] / (1 + JW * p[1])
    if code == "Zarc":
        return p[0] / (1 + (JW * p[1]) ** p[2])
    if code == "TLMQ":
        zs = 1 / (p[1] * JW ** p[2])
        return s(p[0] * zs) / np.tanh(s(p[0] / zs))
    raise AssertionError(code)


PARAMS = {"R": [12.5], "C": [3e-5], "L": [2e-7], "W": [16.663], "Wo": [20.0, 3.0],
          "Ws": [20.0, 3.0], "CPE": [2e-5, 0.87], "La": [1e-6, 0.8], "G": [15.0, 2e-3],
          "Gs": [15.0, 2e-3, 0.7], "K": [30.0, 1e-3], "Zarc": [30.0, 1e-3, 0.8],
          "TLMQ": [40.0, 1e-4, 0.85]}


def test_every_element_is_covered():
    assert set(PARAMS) == set(ELEMENTS)


@pytest.mark.parametrize("code", sorted(ELEMENTS))
def test_element_impedance_matches_textbook_formula(code):
    c = Circuit(f"{code}1")
    assert np.allclose(c.impedance(PARAMS[code], F), _textbook(code, PARAMS[code]),
                       rtol=1e-12, atol=0)


@pytest.mark.parametrize("code", sorted(ELEMENTS))
def test_analytic_jacobian_matches_finite_differences(code):
    c = Circuit(f"R0-p(R1,{code}2)")     # exercises the series and parallel chain rules too
    p = np.array([5.0, 50.0, *PARAMS[code]])
    _, J = c.impedance_and_jacobian(p, F)
    for k in range(p.size):
        h = 1e-6 * abs(p[k])
        up, dn = p.copy(), p.copy()
        up[k] += h
        dn[k] -= h
        fd = (c.impedance(up, F) - c.impedance(dn, F)) / (2 * h)
        # central differences carry O(h²) truncation and ~1e-10 round-off, relative to max|J|
        assert np.max(np.abs(fd - J[:, k])) <= 1e-5 * np.max(np.abs(J[:, k])), c.parameter_names[k]


def test_composition_rules():
    c = Circuit("R0-p(R1,C1)")
    R0, R1, C1 = 5.0, 50.0, 2e-5
    assert np.allclose(c.impedance([R0, R1, C1], F), R0 + R1 / (1 + JW * R1 * C1), rtol=1e-12)
    three = Circuit("p(R1,R2,R3)")
    assert np.allclose(three.impedance([2.0, 3.0, 6.0], F), 1.0)


def test_finite_warburg_limits():
    Z0, tau = 20.0, 3.0
    f_hi = np.array([1e4])
    sigma = Z0 / np.sqrt(2 * tau)       # both tend to σ(1−j)/√ω at high frequency
    for code in ("Wo", "Ws"):
        z = Circuit(f"{code}1").impedance([Z0, tau], f_hi)
        assert z == pytest.approx(sigma * (1 - 1j) / np.sqrt(2 * np.pi * f_hi), rel=1e-9)
    f_lo = np.array([1e-7])
    assert Circuit("Ws1").impedance([Z0, tau], f_lo)[0] == pytest.approx(Z0, rel=1e-5)
    w = 2 * np.pi * f_lo
    # Reflective boundary: Z → Z0/3 + Z0/(jωτ) (a capacitor τ/Z0 in series with Z0/3).
    assert Circuit("Wo1").impedance([Z0, tau], f_lo)[0] == pytest.approx(
        Z0 / 3 + Z0 / (1j * w[0] * tau), rel=1e-9)


def test_la_is_not_impedance_py_bug():
    L, a = 1e-6, 0.8
    z = Circuit("La1").impedance([L, a], F)
    assert np.allclose(z, L * JW**a)
    assert not np.allclose(z, (L * JW) ** a)


def test_parameters_by_name_and_count_checked():
    c = Circuit("R0-p(R1,CPE1)")
    z1 = c.impedance({"R0": 1, "R1": 2, "CPE1_0": 1e-3, "CPE1_1": 0.9}, F)
    z2 = c.impedance([1, 2, 1e-3, 0.9], F)
    assert np.array_equal(z1, z2)
    with pytest.raises(ValidationError, match="4 parameters"):
        c.impedance([1, 2, 3], F)
    with pytest.raises(ValidationError, match="missing"):
        c.impedance({"R0": 1}, F)


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("R0-", "position 4"),
    ("R0--R1", "position 4"),
    ("R0-p(R1)", "at least two"),
    ("R0-p(R1,C1", "closing the 'p\\('"),
    ("R0)", "unbalanced"),
    ("R0-Q1", "did you mean CPE"),
    ("R0-r1", "case-sensitive"),
    ("R0-R0", "used twice"),
    ("R", "no index"),
    ("R0-p R1", "parallel block"),
    ("R0+R1", "unexpected character '\\+'"),
    ("__import__('os').system('true')", "unknown element '__import__'|unexpected"),
    ("R0-T1", "did you mean Wo"),
])
def test_bad_strings_raise_validation_errors(text, message):
    with pytest.raises(ValidationError, match=message):
        parse_circuit(text)


def test_non_string_refused():
    with pytest.raises(ValidationError, match="string"):
        parse_circuit(42)  # type: ignore[arg-type]


_codes = st.sampled_from(sorted(ELEMENTS))


@st.composite
def _circuits(draw, depth=0):
    counter = draw(st.shared(st.just([0]), key="n"))

    def element():
        counter[0] += 1
        return f"{draw(_codes)}{counter[0]}"

    def term(d):
        if d < 2 and draw(st.booleans()):
            branches = [series(d + 1) for _ in range(draw(st.integers(2, 3)))]
            return "p(" + ",".join(branches) + ")"
        return element()

    def series(d):
        return "-".join(term(d) for _ in range(draw(st.integers(1, 3))))

    return series(depth)


@settings(max_examples=60, deadline=None)
@given(_circuits())
def test_random_circuits_round_trip_and_evaluate(text):
    c = Circuit(text)
    assert str(c) == text
    assert len(c.parameter_names) == sum(ELEMENTS[e.spec.code].n_params for e in c.elements)
    p = np.array([0.9 if c.parameter_kinds[n] == "exponent" else 1.5
                  for n in c.parameter_names])
    z, J = c.impedance_and_jacobian(p, F[:5])
    assert z.shape == (5,) and J.shape == (5, c.n_params)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="RCLWoasPEGKZrcTMQp(),-_0123456789 +*'\"", max_size=30))
def test_any_text_parses_or_raises_validation_error(text):
    """Whatever the user types, the parser answers with a circuit or a ValidationError:
    never another exception (the string is data, never code)."""
    try:
        c = Circuit(text)
    except ValidationError as exc:
        assert "circuit" in str(exc)
    else:
        assert str(Circuit(str(c))) == str(c)
