"""``nasurf kb``: query, extend, check and plot the literature knowledge base.

A thin typer front end over :mod:`nasurf.knowledge`. Every command takes ``--db PATH``
(default: ``$NASURF_DB`` or the user data directory); computing commands take ``--json``
and then print exactly one JSON document on stdout. Errors print ``error: ...`` naming the
file, line and field, and exit with status 2.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from nasurf.clikit import FORCE_OPTION, JSON_OPTION, emit_json, guard_output, handle_errors, stderr
from nasurf.errors import ValidationError
from nasurf.knowledge import exchange, plots
from nasurf.knowledge.checks import KINDS, check
from nasurf.knowledge.query import _as_list, place, query, strategy_summary
from nasurf.knowledge.records import parse_record
from nasurf.knowledge.store import KnowledgeBase
from nasurf.knowledge.vocabulary import STRATEGY_LABELS

app = typer.Typer(
    name="kb",
    help="The cited literature knowledge base: query, summarise, check, extend, export, plot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
plot_app = typer.Typer(help="Figures of the knowledge base (PNG, SVG or PDF by suffix).",
                       no_args_is_help=True)
app.add_typer(plot_app, name="plot")

stdout = Console(highlight=False)

DB_OPTION = typer.Option(None, "--db", help="SQLite database file (default: $NASURF_DB or "
                                            "the user data directory).", show_default=False)


def _open(db: Path | None) -> KnowledgeBase:
    return KnowledgeBase.open(db)


def _current(text: str | None, option: str) -> float | None:
    """A current density from '1000', '1 A g-1', '500 mA/g' -> mA g-1."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        from nasurf.units import parse_quantity, parse_unit

        q = parse_quantity(text, "specific_current", where=f"option {option}")
        value = float(q.to(parse_unit("mA g^-1")).magnitude)
    if not (math.isfinite(value) and value > 0):
        raise ValidationError(f"current density must be > 0, got '{text}'", field=option)
    return value


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _records_table(df, title: str) -> Table:
    table = Table(title=title, show_lines=False)
    for col in ("id", "material", "strategy", "quantity", "value", "unit", "current mA g-1",
                "cycles", "ref"):
        table.add_column(col, overflow="fold", justify="right" if col in (
            "value", "current mA g-1", "cycles", "ref") else "left")
    for r in df.itertuples(index=False):
        value = ("~" if r.approximate else "") + _fmt(r.value)
        current = _fmt(r.current_mA_g)
        if r.current_source == "c_rate":
            current += f" ({_fmt(r.c_rate)}C)"
        elif not current and r.c_rate == r.c_rate and r.c_rate is not None:
            current = f"{_fmt(r.c_rate)}C"
        table.add_row(r.id, r.material, r.strategy, r.quantity, value, r.unit, current,
                      _fmt(r.cycles), _fmt(r.ref) or (r.citation or ""))
    return table


# --------------------------------------------------------------------------- read commands


@app.command("info")
@handle_errors
def info_command(db: Path | None = DB_OPTION, json_output: bool = JSON_OPTION) -> None:
    """Where the database is, its schema version and how many records it holds."""
    with _open(db) as kb:
        info = kb.info()
    if json_output:
        emit_json(info)
        return
    stdout.print(f"database: {info['db_path']} (schema v{info['schema_version']})")
    c = info["counts"]
    stdout.print(f"records: {c['curated']} curated, {c['user']} user; "
                 f"{c['references']} references")
    stdout.print(f"curated data: {info['curated_source']}")


def _query_options(
    strategy: str | None, material_class: str | None, host: str | None, quantity: str | None,
    role: str | None, min_current: str | None, max_current: str | None,
    min_cycles: int | None, ref: int | None, origin: str | None, material: str | None,
) -> dict[str, Any]:
    return {
        "strategy": strategy, "material_class": material_class, "host": host,
        "quantity": quantity, "sample_role": role,
        "min_current_mA_g": _current(min_current, "--min-current"),
        "max_current_mA_g": _current(max_current, "--max-current"),
        "min_cycles": min_cycles, "ref": ref, "origin": origin, "material": material,
    }


@app.command("list")
@handle_errors
def list_command(
    strategy: str | None = typer.Option(None, "--strategy", "-s", help="Strategy key(s), "
                                        "comma-separated (e.g. surface_oxygen_vacancies)."),
    material_class: str | None = typer.Option(None, "--material-class", "-c",
                                              help="intercalation, conversion, alloying, "
                                                   "conversion_alloying, adsorption_insertion."),
    host: str | None = typer.Option(None, "--host", help="Host(s): TiO2, Na2Ti3O7, SnO2, P, "
                                    "Sb, Sn, MoS2, carbon ... (case-insensitive)."),
    quantity: str | None = typer.Option(None, "--quantity", "-q", help="Quantity key(s), e.g. "
                                        "rate_capacity,cycling_capacity."),
    role: str | None = typer.Option(None, "--role", help="Sample role(s): treated, control, "
                                    "reference."),
    min_current: str | None = typer.Option(None, "--min-current", help="Lowest current "
                                           "density: mA g-1, or with a unit ('1 A g-1')."),
    max_current: str | None = typer.Option(None, "--max-current", help="Highest current "
                                           "density: mA g-1, or with a unit."),
    min_cycles: int | None = typer.Option(None, "--min-cycles", help="Only records at >= this "
                                          "cycle number."),
    ref: int | None = typer.Option(None, "--ref", help="The review's reference number."),
    origin: str | None = typer.Option(None, "--origin", help="'curated' or 'user'."),
    material: str | None = typer.Option(None, "--material", "-m", help="Substring of the "
                                        "material name."),
    sort: str | None = typer.Option(None, "--sort", help="Column to sort by (value, "
                                    "current_mA_g, cycles, ref ...)."),
    desc: bool = typer.Option(False, "--desc", help="Sort descending."),
    limit: int | None = typer.Option(None, "--limit", "-n", help="Show at most N records."),
    db: Path | None = DB_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """List records matching the filters (alias: query). Values in canonical units."""
    filters = _query_options(strategy, material_class, host, quantity, role, min_current,
                             max_current, min_cycles, ref, origin, material)
    with _open(db) as kb:
        df = query(kb, **filters, sort=sort, descending=desc, limit=limit)
    if json_output:
        emit_json({"filters": filters, "count": len(df), "records": df})
        return
    stdout.print(_records_table(df, f"{len(df)} record(s)"))


app.command("query", help="Same as 'list': records matching the filters.")(list_command)


@app.command("show")
@handle_errors
def show_command(record_id: str = typer.Argument(..., help="Record id, e.g. "
                                                 "T1.31.cycling_capacity."),
                 db: Path | None = DB_OPTION, json_output: bool = JSON_OPTION) -> None:
    """Every field of one record."""
    with _open(db) as kb:
        obs = kb.get(record_id)
    if json_output:
        emit_json(obs)
        return
    table = Table(show_header=False, title=record_id)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for k, v in obs.to_dict().items():
        table.add_row(k, _fmt(v, 6))
    stdout.print(table)


@app.command("summary")
@handle_errors
def summary_command(
    min_current: str = typer.Option("1000", "--min-current", help="Rate capacities count at "
                                    ">= this current density (mA g-1, or with a unit)."),
    role: str = typer.Option("treated", "--role", help="Sample role(s) to include."),
    curated_only: bool = typer.Option(False, "--curated-only", help="Leave out user records."),
    db: Path | None = DB_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Per-strategy comparison: materials, median/best rate capacity, retention, cycling."""
    current = _current(min_current, "--min-current")
    with _open(db) as kb:
        result = strategy_summary(kb, min_current_mA_g=current,
                                         sample_roles=_as_list(role),
                                         include_user=not curated_only)
    if json_output:
        emit_json(result)
        return
    table = Table(title=f"Strategies (rate capacity at >= {current:g} mA g-1)")
    for col in ("strategy", "materials", "n rate", "median rate", "best rate (material, "
                "current, ref)", "median retention %", "longest cycling"):
        table.add_column(col, overflow="fold")
    for r in result.table.to_dict(orient="records"):
        best = ""
        if r["best_rate_capacity_mAh_g"] is not None:
            best = (f"{r['best_rate_capacity_mAh_g']:g} ({r['best_rate_material']}, "
                    f"{r['best_rate_current_mA_g']:g}, ref {r['best_rate_ref']})")
        longest = ""
        if r["longest_cycling"] is not None:
            longest = f"{r['longest_cycling']} ({r['longest_cycling_material']})"
        table.add_row(STRATEGY_LABELS.get(r["strategy"], r["strategy"]), str(r["materials"]),
                      str(r["rate_records"]), _fmt(r["median_rate_capacity_mAh_g"]), best,
                      _fmt(r["median_retention_pct"]), longest)
    stdout.print(table)
    stdout.print("capacities in mA h g-1, currents in mA g-1; one value per measurement "
                 "(text restating Table 1 counted once)")


@app.command("check")
@handle_errors
def check_command(
    kind: Annotated[list[str] | None, typer.Option(
        "--kind", "-k", help=f"Only these finding kinds: {', '.join(KINDS)}.")] = None,
    severity: str = typer.Option("info", "--severity", help="Lowest severity shown: info or "
                                 "warning."),
    curated_only: bool = typer.Option(False, "--curated-only", help="Leave out user records."),
    db: Path | None = DB_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Consistency findings: text vs table, contradictions, theoretical limits, C-rates."""
    with _open(db) as kb:
        report = check(kb, kinds=kind or None, include_user=not curated_only,
                               min_severity=severity)
    if json_output:
        emit_json(report)
        return
    for f in report.findings:
        colour = "yellow" if f.severity == "warning" else "cyan"
        stdout.print(f"[{colour}]{f.severity}[/] [bold]{f.kind}[/]: {f.message}",
                     markup=True, soft_wrap=True)
        if f.reading:
            stdout.print(f"    read as: {f.reading}", markup=False, soft_wrap=True)
    for w in report.warnings:
        stderr.print(f"warning: {w}", markup=False)
    counts = report.to_dict()["counts"]
    stdout.print(f"{len(report.findings)} finding(s): "
                 + ", ".join(f"{k} {v}" for k, v in counts.items()))


@app.command("refs")
@handle_errors
def refs_command(
    used: bool = typer.Option(False, "--used", help="Only references that records cite."),
    db: Path | None = DB_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """The review's reference list (number, citation, DOI)."""
    with _open(db) as kb:
        refs = kb.references()
        if used:
            cited = {r for (r,) in kb.connection.execute(
                "SELECT DISTINCT ref FROM observations WHERE ref IS NOT NULL")}
            refs = refs[refs["ref"].isin(cited)]
    if json_output:
        emit_json({"references": refs})
        return
    table = Table(title=f"{len(refs)} reference(s)")
    table.add_column("ref", justify="right")
    table.add_column("citation", overflow="fold")
    table.add_column("doi")
    for r in refs.itertuples(index=False):
        table.add_row(str(r.ref), r.citation, r.doi or "")
    stdout.print(table)


@app.command("place")
@handle_errors
def place_command(
    capacity: float = typer.Option(..., "--capacity", help="Your capacity in mA h g-1."),
    current: str = typer.Option(..., "--current", help="Its current density: mA g-1, or with "
                                "a unit ('1 A g-1')."),
    material_class: str = typer.Option(..., "--material-class", "-c", help="intercalation, "
                                       "conversion, alloying, conversion_alloying or "
                                       "adsorption_insertion."),
    factor: float = typer.Option(2.0, "--factor", help="Comparable currents lie within this "
                                 "factor of yours (x/÷)."),
    neighbours: int = typer.Option(5, "--neighbours", help="How many nearest records to list."),
    db: Path | None = DB_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Percentile of your rate capacity among comparable literature records."""
    with _open(db) as kb:
        result = place(kb, capacity_mAh_g=capacity,
                              current_mA_g=_current(current, "--current"),
                              material_class=material_class, current_factor=factor,
                              n_neighbours=neighbours)
    if json_output:
        emit_json(result)
        return
    lo, hi = result.current_window_mA_g
    if result.percentile is None:
        stdout.print(f"no comparable {material_class} records between {lo:g} and {hi:g} "
                     "mA g-1")
    else:
        stdout.print(f"{capacity:g} mA h g-1 at {result.current_mA_g:g} mA g-1 is at the "
                     f"{result.percentile:.0f}th percentile of {result.n_comparable} "
                     f"{material_class} record(s) between {lo:g} and {hi:g} mA g-1 "
                     f"(rank {result.rank})")
        stdout.print(_records_table(result.neighbours, "nearest records"))
    for w in result.warnings:
        stderr.print(f"warning: {w}", markup=False)


# --------------------------------------------------------------------------- write commands


def _print_added(result, json_output: bool) -> None:
    if json_output:
        emit_json(result)
        return
    stdout.print(f"added {len(result.added)} record(s) to {result.db_path}"
                 + (f", replaced {len(result.replaced)}" if result.replaced else "")
                 + (f", skipped {len(result.skipped)} curated row(s)" if result.skipped else ""))
    for rid in result.added:
        stdout.print(f"  {rid}")


@app.command("add")
@handle_errors
def add_command(
    file: Annotated[Path | None, typer.Argument(
        help="CSV, YAML or JSON file of records (or use the flags for one record).")] = None,
    replace: bool = typer.Option(False, "--replace", help="Replace your existing records "
                                 "with the same id or conditions (never curated ones)."),
    material: str | None = typer.Option(None, "--material", help="Material name."),
    material_key: str | None = typer.Option(None, "--material-key", help="Sample key (default: "
                                            "slug of the material)."),
    host: str | None = typer.Option(None, "--host", help="Host formula or class."),
    material_class: str | None = typer.Option(None, "--material-class", help="Material class."),
    strategy: str | None = typer.Option(None, "--strategy", help="Strategy key or 'none'."),
    role: str = typer.Option("treated", "--role", help="treated, control or reference."),
    quantity: str | None = typer.Option(None, "--quantity", help="Quantity, e.g. "
                                        "rate_capacity."),
    value: str | None = typer.Option(None, "--value", help="Number (or number with unit)."),
    unit: str | None = typer.Option(None, "--unit", help="Unit, e.g. 'mA h g-1', 'mAh/g'."),
    current: str | None = typer.Option(None, "--current", help="Current density with unit, "
                                       "e.g. '1 A g-1'."),
    c_rate: str | None = typer.Option(None, "--c-rate", help="C-rate, e.g. 2 or '2C'."),
    c_rate_basis: float | None = typer.Option(None, "--c-rate-basis", help="Capacity defining "
                                              "1C, mA h g-1."),
    cycles: int | None = typer.Option(None, "--cycles", help="Cycle number."),
    temperature: float | None = typer.Option(None, "--temperature", help="Temperature, degC."),
    citation: str | None = typer.Option(None, "--citation", help="Citation (required unless "
                                        "--ref)."),
    doi: str | None = typer.Option(None, "--doi", help="DOI."),
    ref: int | None = typer.Option(None, "--ref", help="The review's reference number."),
    note: str | None = typer.Option(None, "--note", help="Free-text note."),
    record_id: str | None = typer.Option(None, "--id", help="Record id (gets the 'U.' prefix)."),
    db: Path | None = DB_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Add your own cited records, validated (units, ranges, citation, duplicates)."""
    with _open(db) as kb:
        if file is not None:
            result = kb.add_file(file, replace=replace)
        else:
            row = {"id": record_id, "material": material, "material_key": material_key,
                   "host": host, "material_class": material_class, "strategy": strategy,
                   "sample_role": role, "quantity": quantity, "value": value, "unit": unit,
                   "current": current, "c_rate": c_rate, "c_rate_basis_mAh_g": c_rate_basis,
                   "cycles": cycles, "temperature_C": temperature, "citation": citation,
                   "doi": doi, "ref": ref, "note": note}
            known = {r for (r,) in kb.connection.execute("SELECT ref FROM refs")} or None
            from nasurf.knowledge.store import _c_rate_to_current

            obs = parse_record({k: v for k, v in row.items() if v is not None},
                               origin="user", file="command line", known_refs=known,
                               c_rate_to_current=_c_rate_to_current())
            result = kb.add([obs], replace=replace)
    _print_added(result, json_output)


@app.command("import")
@handle_errors
def import_command(
    file: Annotated[Path, typer.Argument(
        help="CSV/YAML/JSON file or a data package (folder or datapackage.json).")],
    replace: bool = typer.Option(False, "--replace", help="Replace your existing records "
                                 "with the same id or conditions."),
    db: Path | None = DB_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Import user records (all or nothing); curated rows in the file are skipped."""
    with _open(db) as kb:
        result = exchange.import_file(kb, file, replace=replace)
    _print_added(result, json_output)


@app.command("remove")
@handle_errors
def remove_command(ids: Annotated[list[str], typer.Argument(help="Ids of your records.")],
                   db: Path | None = DB_OPTION, json_output: bool = JSON_OPTION) -> None:
    """Delete your own records (curated records cannot be removed)."""
    with _open(db) as kb:
        n = kb.remove(ids)
    if json_output:
        emit_json({"removed": n})
    else:
        stdout.print(f"removed {n} record(s)")


@app.command("export")
@handle_errors
@guard_output("output", kind="any", inputs=("db",))
def export_command(
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="File to write (a folder for --format datapackage).")],
    format: str = typer.Option("csv", "--format", "-f", help="csv, json or datapackage."),
    table: str = typer.Option("table1", "--table", help="table1 (one row per Table 1 "
                              "material) or observations (every record); csv/json only."),
    origin: str | None = typer.Option(None, "--origin", help="Only 'curated' or 'user' "
                                      "observations."),
    db: Path | None = DB_OPTION,
    force: bool = FORCE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Export as CSV, JSON or a Frictionless data package (units per field)."""
    with _open(db) as kb:
        path = exchange.export(kb, output, format=format, table=table, origin=origin)
    if json_output:
        emit_json({"path": path, "format": format, "table": table})
    else:
        stdout.print(str(path))


# --------------------------------------------------------------------------- plots


def _highlight(kb: KnowledgeBase, record_id: str | None, capacity: float | None,
               current: str | None, cycles: int | None, retention: float | None,
               label: str) -> plots.Highlight | None:
    if record_id is not None:
        hl = plots.Highlight.from_record(kb.get(record_id))
        return hl if label == "this work" else plots.Highlight(
            hl.capacity_mAh_g, hl.current_mA_g, hl.cycles, hl.retention_pct, label)
    if capacity is None and retention is None:
        return None
    return plots.Highlight(capacity, _current(current, "--current"), cycles, retention, label)


def _plot(kind: str, output: Path, db: Path | None, json_output: bool, **kw: Any) -> None:
    hl_args = {k: kw.pop(k) for k in ("highlight", "capacity", "current", "cycles",
                                      "retention", "label")}
    with _open(db) as kb:
        hl = _highlight(kb, hl_args["highlight"], hl_args["capacity"], hl_args["current"],
                        hl_args["cycles"], hl_args["retention"], hl_args["label"])
        if kind == "rate-map":
            fig = plots.rate_map(kb, highlight=hl)
        elif kind == "cycling-map":
            fig = plots.cycling_map(kb, y=kw["y"], highlight=hl)
        else:
            fig = plots.strategy_comparison(kb, min_current_mA_g=kw["min_current"],
                                            highlight=hl)
    path = plots.save_figure(fig, output)
    if json_output:
        emit_json({"path": path, "figure": kind})
    else:
        stdout.print(str(path))


OUTPUT_OPTION = typer.Option(..., "--output", "-o", help="Figure file: .png, .svg or .pdf.")
HL_ID = typer.Option(None, "--highlight", help="Id of a record (e.g. your U.… record) to "
                     "draw prominently.")
HL_CAP = typer.Option(None, "--capacity", help="Or: your capacity (mA h g-1) to highlight.")
HL_CUR = typer.Option(None, "--current", help="Its current density (mA g-1 or with a unit).")
HL_CYC = typer.Option(None, "--cycles", help="Its cycle number (cycling map).")
HL_RET = typer.Option(None, "--retention", help="Its retention in % (cycling map, "
                      "--y retention).")
HL_LABEL = typer.Option("this work", "--label", help="Label of the highlighted point.")


@plot_app.command("rate-map")
@handle_errors
@guard_output("output", kind="file", inputs=("db",))
def plot_rate_map(output: Path = OUTPUT_OPTION, highlight: str | None = HL_ID,
                  capacity: float | None = HL_CAP, current: str | None = HL_CUR,
                  label: str = HL_LABEL, db: Path | None = DB_OPTION,
                  force: bool = FORCE_OPTION,
                  json_output: bool = JSON_OPTION) -> None:
    """Capacity vs current density (log x), colour by strategy, marker by material class."""
    _plot("rate-map", output, db, json_output, highlight=highlight, capacity=capacity,
          current=current, cycles=None, retention=None, label=label)


@plot_app.command("cycling-map")
@handle_errors
@guard_output("output", kind="file", inputs=("db",))
def plot_cycling_map(output: Path = OUTPUT_OPTION,
                     y: str = typer.Option("capacity", "--y", help="capacity or retention."),
                     highlight: str | None = HL_ID, capacity: float | None = HL_CAP,
                     cycles: int | None = HL_CYC, retention: float | None = HL_RET,
                     label: str = HL_LABEL, db: Path | None = DB_OPTION,
                     force: bool = FORCE_OPTION,
                     json_output: bool = JSON_OPTION) -> None:
    """Cycling capacity or retention vs cycle number (log x)."""
    _plot("cycling-map", output, db, json_output, highlight=highlight, capacity=capacity,
          current=None, cycles=cycles, retention=retention, label=label, y=y)


@plot_app.command("strategies")
@handle_errors
@guard_output("output", kind="file", inputs=("db",))
def plot_strategies(output: Path = OUTPUT_OPTION,
                    min_current: float = typer.Option(1000.0, "--min-current",
                                                      help="Rate capacities at >= this "
                                                           "current (mA g-1)."),
                    highlight: str | None = HL_ID, capacity: float | None = HL_CAP,
                    label: str = HL_LABEL, db: Path | None = DB_OPTION,
                    force: bool = FORCE_OPTION,
                    json_output: bool = JSON_OPTION) -> None:
    """Rate capacity per strategy (box plot with every point)."""
    _plot("strategies", output, db, json_output, highlight=highlight, capacity=capacity,
          current=None, cycles=None, retention=None, label=label, min_current=min_current)
