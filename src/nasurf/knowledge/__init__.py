"""Cited literature knowledge base of surface-engineered NIB anodes.

The curated numbers of Xia, Liu, Zhao (J. Mater. Chem. A 2022, 10, 3889) live as
reviewable CSV in ``data/`` and are loaded into an SQLite database (default in the user's
data directory; ``NASURF_DB`` or an explicit path to choose another). Users add their own
cited records next to them; curated rows are never overwritten.

>>> from nasurf.knowledge import KnowledgeBase, query, strategy_summary, check
>>> with KnowledgeBase.open("/tmp/kb.sqlite") as kb:            # doctest: +SKIP
...     fast = query(kb, quantity="rate_capacity", min_current_mA_g=5000)
...     findings = check(kb).findings
"""

from nasurf.knowledge.checks import (
    HOST_REACTIONS,
    KINDS,
    CheckReport,
    Finding,
    HostReaction,
    check,
    check_frame,
)
from nasurf.knowledge.exchange import (
    export,
    export_csv,
    export_datapackage,
    export_json,
    import_file,
)
from nasurf.knowledge.plots import (
    Highlight,
    cycling_map,
    figure_svg,
    rate_map,
    save_figure,
    strategy_comparison,
)
from nasurf.knowledge.query import (
    TABLE1_COLUMNS,
    Placement,
    StrategySummary,
    distinct_measurements,
    export_table1,
    place,
    query,
    strategy_summary,
)
from nasurf.knowledge.records import Observation, parse_file, parse_record, read_records
from nasurf.knowledge.store import (
    ENV_VAR,
    SCHEMA_VERSION,
    AddResult,
    KnowledgeBase,
    default_path,
    open_kb,
    packaged_data_dir,
)
from nasurf.knowledge.vocabulary import (
    MATERIAL_CLASSES,
    QUANTITIES,
    SAMPLE_ROLES,
    STRATEGIES,
    STRATEGY_LABELS,
)


def add_records(kb: KnowledgeBase, records, *, replace: bool = False) -> AddResult:
    """Add user :class:`Observation` records (all or nothing); see :meth:`KnowledgeBase.add`."""
    return kb.add(records, replace=replace)


__all__ = [
    "ENV_VAR",
    "HOST_REACTIONS",
    "KINDS",
    "MATERIAL_CLASSES",
    "QUANTITIES",
    "SAMPLE_ROLES",
    "SCHEMA_VERSION",
    "STRATEGIES",
    "STRATEGY_LABELS",
    "TABLE1_COLUMNS",
    "AddResult",
    "CheckReport",
    "Finding",
    "Highlight",
    "HostReaction",
    "KnowledgeBase",
    "Observation",
    "Placement",
    "StrategySummary",
    "add_records",
    "check",
    "check_frame",
    "cycling_map",
    "default_path",
    "distinct_measurements",
    "export",
    "export_csv",
    "export_datapackage",
    "export_json",
    "export_table1",
    "figure_svg",
    "import_file",
    "open_kb",
    "packaged_data_dir",
    "parse_file",
    "parse_record",
    "place",
    "query",
    "rate_map",
    "read_records",
    "save_figure",
    "strategy_comparison",
    "strategy_summary",
]
