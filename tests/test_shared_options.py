"""String options at the public entry points of the knowledge base and materials code go
through nasurf.options.choose: a misspelt value is one error naming every allowed value
(never a silent default); a different letter case is the same option."""

from __future__ import annotations

import pytest

from nasurf.errors import ValidationError
from nasurf.knowledge import KnowledgeBase
from nasurf.knowledge.exchange import export
from nasurf.knowledge.plots import cycling_map
from nasurf.knowledge.query import query
from nasurf.materials.rates import CapacityBasis
from nasurf.materials.volume import Lattice


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    with KnowledgeBase.open(tmp_path_factory.mktemp("o") / "kb.sqlite") as k:
        yield k


@pytest.mark.parametrize(("call", "names"), [
    (lambda kb, t: export(kb, t / "x", format="xlsx"), ["'csv'", "'json'", "'datapackage'"]),
    (lambda kb, t: export(kb, t / "x.csv", table="tabel1"), ["'table1'", "'observations'"]),
    (lambda kb, t: export(kb, t / "x.csv", table="observations", origin="mine"),
     ["'curated'", "'user'"]),
    (lambda kb, t: query(kb, origin="users"), ["'curated'", "'user'"]),
    (lambda kb, t: query(kb, sort="valeu"), ["'value'"]),
    (lambda kb, t: cycling_map(kb, y="capcity"), ["'capacity'", "'retention'"]),
    (lambda kb, t: CapacityBasis(300.0, "theory"), ["'theoretical'", "'practical'"]),
    (lambda kb, t: Lattice("hexagonl", a=3.0, c=5.0, Z=2), ["'hexagonal'", "'cubic'"]),
])
def test_a_misspelt_option_names_the_allowed_values(kb, tmp_path, call, names):
    with pytest.raises(ValidationError) as err:
        call(kb, tmp_path)
    msg = str(err.value)
    assert "unknown" in msg and all(n in msg for n in names), msg
    assert not list(tmp_path.iterdir())          # nothing written


def test_letter_case_does_not_matter_and_the_canonical_name_is_kept(kb, tmp_path):
    assert CapacityBasis(300.0, "Practical").kind == "practical"
    assert Lattice("Cubic", a=4.0, Z=4).system == "cubic"
    assert len(query(kb, origin="CURATED")) == len(query(kb, origin="curated")) > 0
    assert export(kb, tmp_path / "t.csv", format="CSV").exists()
