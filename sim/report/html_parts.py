"""Pieces of the HTML report: the page, tables, figures; every text is escaped.

The page is one self-contained file: CSS inline, figures as inline SVG, no scripts and
no links to anything outside the file. A Content-Security-Policy forbids the browser
any network request, so a mistake would show as a blocked request, not a silent one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from sim.paths import OUTCOMES, PathTree
from sim.records import Event, decisions, schedule
from sim.report.cohort_table import DIFFERENCE_LABELS, SHOWN, cell, difference_kind
from sim.report.words import dose, duration, when
from sim.stats import wilson

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSS = """
body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 1.5em auto; max-width: 74em;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 1.8em; }
h3 { font-size: 1.05em; }
.notice { background: #fff4e5; border: 1px solid #f0b46c; padding: 0.6em 0.9em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.facts th { width: 12em; }
td.branch { white-space: pre; font-family: "DejaVu Sans Mono", monospace; }
figure { margin: 1em 0; }
figure svg { width: 100%; height: auto; }
figcaption { font-size: 0.85em; color: #555; }
ul.narrative { font-size: 0.9em; list-style: none; padding-left: 0.5em; }
ul.narrative li { padding-left: 1.5em; text-indent: -1.5em; }
ul.narrative li.blank { height: 0.6em; }
.muted { color: #666; font-size: 0.9em; }
@media print { h2 { break-after: avoid; } figure { break-inside: avoid; } }
"""


def page(title: str, body: Iterable[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def notice() -> str:
    return (
        '<p class="notice"><strong>Research and teaching only. Not clinical advice.</strong> '
        "Every result below is a simulation under the stated protocol file and model "
        "assumptions; it must never be used to choose doses or to manage patients.</p>"
    )


def facts(rows: Sequence[tuple[str, Any]], css_id: str = "") -> str:
    ident = f' id="{escape(css_id)}"' if css_id else ""
    body = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows if v is not None
    )
    return f'<table class="facts"{ident}>{body}</table>'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    css_id: str = "",
    classes: Mapping[int, str] | None = None,
) -> str:
    """An HTML table; ``classes`` gives a CSS class to the cells of some columns."""
    ident = f' id="{escape(css_id)}"' if css_id else ""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    kinds = {i: f' class="{escape(c)}"' for i, c in (classes or {}).items()}
    out = [f"<table{ident}><thead><tr>{head}</tr></thead><tbody>"]
    for row in rows:
        cells = "".join(f"<td{kinds.get(i, '')}>{escape(str(v))}</td>" for i, v in enumerate(row))
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _numeric(columns: Iterable[int]) -> dict[int, str]:
    return dict.fromkeys(columns, "num")


_SVG_START = re.compile(r"<svg\b")
_SVG_IDS = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')


def figure(fig: Figure, salt: str, caption: str, css_id: str) -> str:
    """The figure as inline SVG; its element ids (and references to them) get the prefix
    ``salt`` so that several figures on one page never share an id."""
    from sim.plots.files import figure_bytes

    svg = figure_bytes(fig, "svg", salt=salt).decode("utf-8")
    match = _SVG_START.search(svg)
    if match is None:
        raise ValueError("matplotlib wrote no <svg> element")
    svg = _SVG_IDS.sub(lambda m: f"{m.group(1)}{salt}-{m.group(2)}", svg[match.start() :])
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{escape(caption)}" ', 1)
    return f'<figure id="{escape(css_id)}">{svg}<figcaption>{escape(caption)}</figcaption></figure>'


def _why(events: Sequence[Event]) -> dict[str, str]:
    """Per fraction, why it was not simply given on time. A fraction that was skipped,
    stopped or not given shows the last such reason (it says how a hold ended); otherwise
    each distinct hold reason and each dose reduction, in event order."""
    ended: dict[str, str] = {}
    notes: dict[str, list[str]] = {}
    for ev in events:
        fraction = ev.data.get("fraction")
        if fraction is None:
            continue
        key = str(fraction)
        if ev.kind in ("skip", "stop", "not_given"):
            ended[key] = str(ev.data["reason"])
            continue
        if ev.kind == "hold":
            text = f"held: {ev.data['reason']}"
        elif ev.kind == "gate" and ev.data["action"] == "reduce":
            text = f"reduced: {ev.data['reason']}"
        else:
            continue
        texts = notes.setdefault(key, [])
        if text not in texts:
            texts.append(text)
    return {key: ended.get(key) or "; ".join(texts) for key, texts in notes.items()} | ended


def schedule_table(events: Sequence[Event], css_id: str) -> str:
    from sim.plots.episodes import held_h

    why = _why(events)
    held = held_h(events)
    rows = [
        (
            r["fraction"],
            when(r["planned_time_h"]),
            when(r["time_h"]),
            dose(r["planned_cells_per_kg"], r["planned_cells"]),
            dose(r["cells_per_kg"], r["cells"]),
            r["status"].replace("_", " "),
            duration(held[r["fraction"]]) if held.get(r["fraction"]) else "-",
            why.get(r["fraction"], ""),
        )
        for r in schedule(events)
    ]
    headers = ("dose", "planned", "given", "planned dose", "given dose", "status", "held", "why")
    return table(headers, rows, css_id)


def decisions_table(events: Sequence[Event], css_id: str) -> str:
    rows = [
        (when(d["time_h"]), d["fraction"], d["action"], d["rule"], d["reason"])
        for d in decisions(events)
        if d["action"] != "give"
    ]
    if not rows:
        return '<p class="muted">No hold, skip, reduction or stop: every gate check passed.</p>'
    return table(("when", "dose", "decision", "rule", "reason"), rows, css_id)


def assumptions_list(assumptions: Iterable[Any], css_id: str) -> str:
    """The protocol file's assumptions: the field each one fills, and its note."""
    items = "".join(
        f"<li><code>{escape(a.field)}</code>: {escape(a.note)}</li>" for a in assumptions
    )
    return f'<ul class="assumptions" id="{escape(css_id)}">{items}</ul>'


def narrative(lines: Iterable[str], css_id: str) -> str:
    items = "".join(
        f"<li>{escape(line)}</li>" if line.strip() else '<li class="blank"></li>' for line in lines
    )
    return f'<ul class="narrative" id="{escape(css_id)}">{items}</ul>'


def comparison_table(data: dict[str, Any], css_id: str) -> str:
    arms = data["arms"]
    headers = ["endpoint", *(f"{a['protocol']} (n = {a['n']})" for a in arms)]
    rows = [
        [label, *(cell(a["metrics"][slug], kind) for a in arms)]
        for slug, label, kind in SHOWN
        if all(slug in a["metrics"] for a in arms)
    ]
    return table(headers, rows, css_id, _numeric(range(1, len(headers))))


def differences_table(data: dict[str, Any], css_id: str) -> str:
    rows = []
    for diff in data["differences"]:
        for slug, metric in diff["metrics"].items():
            rows.append(
                (
                    f"{diff['arm']} minus {diff['versus']}",
                    DIFFERENCE_LABELS.get(slug, slug),
                    cell(metric, difference_kind(slug), signed=True),
                )
            )
    if not rows:
        return ""
    headers = ("comparison", "endpoint", "difference (95 % CI); rates in percentage points")
    return table(headers, rows, css_id, _numeric([2]))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def paths_table(tree: PathTree, css_id: str) -> str:
    rows = []
    for depth, node in tree.nodes():
        est = wilson(node.count, node.n)
        rows.append(
            (
                "    " * depth + ("└ " if depth else "") + node.fraction,
                OUTCOMES.get(node.outcome, node.outcome),
                node.count,
                _pct(est.value),
                f"{_pct(est.ci_low)} to {_pct(est.ci_high)}",
                _pct(node.share_of_parent),
            )
        )
    headers = ("dose", "outcome", "patients", "share", "95 % CI (Wilson)", "of the branch above")
    return table(headers, rows, css_id, {0: "branch", **_numeric([2, 3, 4, 5])})
