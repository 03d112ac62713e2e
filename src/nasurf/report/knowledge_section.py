"""The knowledge-base sections of the ``nasurf demo`` page.

Strategy summary table, rate map, cycling map, strategy comparison, consistency findings
and the citation list, each a section provider (see :mod:`nasurf.report.demo`).
"""

from __future__ import annotations

import math
from typing import Any

from nasurf.knowledge.checks import check
from nasurf.knowledge.plots import cycling_map, rate_map, strategy_comparison
from nasurf.knowledge.query import export_table1, strategy_summary
from nasurf.knowledge.vocabulary import STRATEGY_LABELS
from nasurf.report.html import escape, figure

MIN_CURRENT_MA_G = 1000.0
"""Rate capacities in the summary and the comparison count from this current up."""


_e = escape


def _num(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.{digits}g}" if isinstance(x, float) else _e(x)


def _figure(fig: Any, caption_html: str) -> str:
    return figure(fig, caption_html, caption_is_html=True)


def summary_section(ctx) -> tuple[str, str]:
    s = strategy_summary(ctx.kb, min_current_mA_g=MIN_CURRENT_MA_G)
    rows = []
    for r in s.table.to_dict(orient="records"):
        best = ""
        if r["best_rate_capacity_mAh_g"] is not None:
            best = (f"{_num(r['best_rate_capacity_mAh_g'])} <small>({_e(r['best_rate_material'])}"
                    f", {_num(r['best_rate_current_mA_g'])} mA g<sup>-1</sup>, ref "
                    f"{_e(r['best_rate_ref'])})</small>")
        longest = ""
        if r["longest_cycling"] is not None:
            longest = (f"{r['longest_cycling']} <small>({_e(r['longest_cycling_material'])}, "
                       f"ref {_e(r['longest_cycling_ref'])})</small>")
        rows.append(
            f"<tr><td>{_e(STRATEGY_LABELS.get(r['strategy'], r['strategy']))}</td>"
            f"<td class=num>{r['materials']}</td><td class=num>{r['rate_records']}</td>"
            f"<td class=num>{_num(r['median_rate_capacity_mAh_g'])}</td><td>{best}</td>"
            f"<td class=num>{_num(r['median_retention_pct'])}</td><td>{longest}</td></tr>")
    table = ("<table><thead><tr><th>Strategy</th><th>Materials</th><th>Rate records</th>"
             "<th>Median rate capacity</th><th>Best rate capacity</th>"
             "<th>Median retention / %</th><th>Longest cycling / cycles</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>")
    note = (f"<p class=muted>Rate capacities (mA h g<sup>-1</sup>) at &ge; "
            f"{MIN_CURRENT_MA_G:g} mA g<sup>-1</sup>, treated samples; a text figure that "
            "restates Table 1 counts once; retention as printed by each paper (its reference "
            "cycle is not reported). This makes the review's Section 8 comparison "
            "quantitative.</p>")
    return "Strategy summary", note + table


def rate_map_section(ctx) -> tuple[str, str]:
    fig = rate_map(ctx.kb)
    return "Rate map", _figure(fig, "Specific capacity vs current density (log scale); colour "
                               "= strategy, marker = material class.")


def cycling_map_section(ctx) -> tuple[str, str]:
    cap = cycling_map(ctx.kb, y="capacity")
    ret = cycling_map(ctx.kb, y="retention")
    return "Cycling map", (_figure(cap, "Capacity after cycling vs cycle number.")
                           + _figure(ret, "Capacity retention vs cycle number (reference "
                                          "cycle as printed by each paper)."))


def strategy_section(ctx) -> tuple[str, str]:
    fig = strategy_comparison(ctx.kb, min_current_mA_g=MIN_CURRENT_MA_G)
    return "Strategy comparison", _figure(
        fig, f"Rate capacities at &ge; {MIN_CURRENT_MA_G:g} mA g<sup>-1</sup> per strategy "
             "(box: quartiles; points: materials).")


def findings_section(ctx) -> tuple[str, str]:
    report = check(ctx.kb)
    warnings = [f for f in report.findings if f.severity == "warning"]
    infos = [f for f in report.findings if f.severity == "info"]

    def item(f) -> str:
        reading = f'<div class="reading">Read as: {_e(f.reading)}</div>' if f.reading else ""
        return (f'<div class="{f.severity}"><b>{_e(f.kind)}</b> '
                f'<small>(ref {", ".join(map(str, f.refs))})</small>: {_e(f.message)}'
                f"{reading}</div>")

    counts = report.to_dict()["counts"]
    head = ("<p>" + ", ".join(f"{_e(k.replace('_', ' '))}: {v}" for k, v in counts.items())
            + ". The curated data stay as printed; findings are reported, never fixed.</p>")
    body = "".join(item(f) for f in warnings)
    if infos:
        body += (f"<details><summary>{len(infos)} informational finding(s) (mostly first "
                 "sodiation capacities above the theoretical capacity, which include SEI "
                 f"formation)</summary>{''.join(item(f) for f in infos)}</details>")
    for w in report.warnings:
        body += f'<div class="failed">{_e(w)}</div>'
    return "Consistency findings", head + body


def table1_section(ctx) -> tuple[str, str]:
    t = export_table1(ctx.kb)
    cols = [("ref", "Ref"), ("material", "Material"), ("strategy", "Strategy"),
            ("first_discharge_mAh_g", "1st discharge"), ("first_discharge_current_mA_g", "at"),
            ("cycling_capacity_mAh_g", "Cycling"), ("cycles", "cycles"),
            ("cycling_current_mA_g", "at"), ("retention_pct", "Retention %"),
            ("rate_capacity_mAh_g", "Rate"), ("rate_current_mA_g", "at")]
    head = "".join(f"<th>{h}</th>" for _, h in cols)
    rows = []
    for r in t.to_dict(orient="records"):
        cells = []
        for c, _ in cols:
            v = r[c]
            if c == "strategy":
                v = STRATEGY_LABELS.get(v, v)
            cells.append(f"<td class=num>{_num(v)}</td>" if isinstance(v, float | int)
                         and not isinstance(v, bool) else f"<td>{_e('' if v is None else v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "Table 1 (as printed)", (
        "<p class=muted>Capacities in mA h g<sup>-1</sup>, currents in mA g<sup>-1</sup>; "
        "'~' values are flagged in the CSV export (<code>nasurf kb export</code>).</p>"
        f"<details><summary>{len(t)} materials</summary><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></details>")


def citations_section(ctx) -> tuple[str, str]:
    refs = ctx.kb.references()
    cited = {r for (r,) in ctx.kb.connection.execute(
        "SELECT DISTINCT ref FROM observations WHERE ref IS NOT NULL")}
    refs = refs[refs["ref"].isin(cited)]
    items = "".join(
        f"<li value=\"{int(r.ref)}\">{_e(r.citation)}"
        + (f" <small>doi:{_e(r.doi)}</small>" if isinstance(r.doi, str) and r.doi else "")
        + "</li>" for r in refs.itertuples(index=False))
    users = ctx.kb.connection.execute(
        "SELECT DISTINCT citation, doi FROM observations WHERE origin = 'user'").fetchall()
    user_items = "".join(f"<li>{_e(c)}" + (f" <small>doi:{_e(d)}</small>" if d else "")
                         + "</li>" for c, d in users if c)
    text = ("<p>Source review: Q. Xia, H. Liu and X. S. Zhao, <i>J. Mater. Chem. A</i>, 2022, "
            "10, 3889 (doi:10.1039/d1ta09567f). Reference numbers are the review's.</p>"
            f"<ol>{items}</ol>")
    if user_items:
        text += f"<h3>Your records cite</h3><ul>{user_items}</ul>"
    return "Citations", text


def knowledge_sections() -> list:
    """The knowledge-base section providers, in page order (the citation list is added
    separately, at the end of the page)."""
    return [summary_section, rate_map_section, cycling_map_section, strategy_section,
            findings_section, table1_section]
