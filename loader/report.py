"""`loader report`: one self-contained HTML page from the meta tables.

Sections: run history, data quality (trend, current failures, newly failing and
fixed), freshness, drift, rejects, watermark lag. Charts are plotly.js
figures, written as JSON for Plotly.newPlot; plotly.js (its cartesian bundle,
loader/assets/) is inlined once, so the file opens offline and needs no server.
Each section carries its headline numbers in `data-*` attributes as well as in
its text, so a test can compare them with the meta tables.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from .report_data import MAX_ROWS, History, read_history
from .profiles import Target
from .status import reading

_GRID = {"gridcolor": "#ebf0f8", "zerolinecolor": "#ebf0f8", "automargin": True}
WHITE = {"paper_bgcolor": "white", "plot_bgcolor": "white", "font": {"color": "#2a3f5f"},
         "xaxis": _GRID, "yaxis": _GRID}  # plotly's "plotly_white" look, in short
# plotly.js's cartesian bundle (scatter, bar, heatmap: what the page draws), from
# npm's plotly.js-cartesian-dist-min, MIT (assets/plotly.js-LICENSE): 1.4 MB
# where the full plotly.min.js is 4.8 MB and takes the browser a second longer.
PLOTLY_JS = Path(__file__).resolve().parent / "assets" / "plotly-cartesian.min.js"
STATUS_LEVEL = {"pass": 0, "warn": 1, "fail": 2, "error": 3}
MAX_TABLE_ROWS = MAX_ROWS  # the newest rows of a table (report_data reads no more)
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.fail,.error{color:#b00020;font-weight:600}.warn{color:#a05a00}
.pass,.success{color:#1b7a2b}.note{color:#666}
"""


def write_report(target: Target, out: Path, lock_timeout: float = 10.0) -> dict:
    """Read the meta tables, write the page to out; returns the headline numbers."""
    with reading(target, lock_timeout) as backend:
        history = read_history(backend)
    page, numbers = render(history, title=f"Canvas pipeline: {target.describe()}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return numbers


def render(history: History, title: str) -> tuple[str, dict]:
    sections = [_runs(history), _quality(history), _freshness(history), _drift(history),
                _rejects(history), _watermarks(history)]
    numbers = {key: value for s in sections for key, value in s[2].items()}
    missing = (f"<p class=note>Not created yet: {html.escape(', '.join(history.missing))}</p>"
               if history.missing else "")
    body = "".join(_section(*s) for s in sections)
    plotly_js = PLOTLY_JS.read_text(encoding="utf-8")
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}"
            f"</title><style>{STYLE}</style><script>{plotly_js}</script></head><body>"
            f"<h1>{html.escape(title)}</h1><p class=note>Written {history.now} UTC</p>"
            f"{missing}{body}</body></html>")
    return page, numbers


def _section(sid: str, heading: str, numbers: dict, content: str) -> str:
    data = " ".join(f'data-{k.replace("_", "-")}="{v}"' for k, v in numbers.items())
    return f'<section id="{sid}" {data}><h2>{html.escape(heading)}</h2>{content}</section>'


def _table(columns: list[str], rows: list[list], css: int | None = None,
           total: int | None = None) -> str:
    """An HTML table (at most MAX_TABLE_ROWS rows) of the first rows of total
    (default: all of rows); css: the column whose value is also the cell's class
    (a status)."""
    if not rows:
        return "<p class=note>(none)</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows[:MAX_TABLE_ROWS]:
        cells = "".join(
            (f'<td class="{html.escape(str(v))}">' if i == css else "<td>") + _cell(v) + "</td>"
            for i, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    total = len(rows) if total is None else total
    more = (f"<p class=note>... and {total - MAX_TABLE_ROWS} more</p>"
            if total > MAX_TABLE_ROWS else "")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.1f}"
    return html.escape(str(value))


def _plot(div: str, traces: list[dict], title: str, height: int = 360, **layout) -> str:
    """A Plotly chart: its div and the Plotly.newPlot call that draws it. The
    figure is written as plotly.js takes it (no plotly.graph_objects: building
    and validating those cost more than the page's reads)."""
    spec = {"data": traces, "layout": {
        "title": {"text": title}, "height": height,
        "margin": {"l": 40, "r": 20, "t": 40, "b": 40}, **WHITE, **layout}}
    data = json.dumps(spec, default=_json_value, separators=(",", ":")).replace("</", "<\\/")
    return (f'<div id="{div}" class="chart"></div><script>(function(s){{Plotly.newPlot('
            f'"{div}",s.data,s.layout,{{displaylogo:false,responsive:true}})}})({data})'
            f'</script>')


def _json_value(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _traces(rows: list[dict], key: str, trace) -> list[dict]:
    """One trace(rows, name) per value of rows' key, in name order."""
    groups = defaultdict(list)
    for r in rows:
        groups[r[key]].append(r)
    return [trace(group, name) for name, group in sorted(groups.items())]


def _runs(history: History):
    runs, loads = history["job_runs"], history["loads"]
    durations = _plot("runs-duration", _traces(runs, "job_name", lambda rows, job: {
        "type": "scatter", "mode": "lines+markers", "name": job,
        "x": [r["started_at"] for r in rows],
        "y": [(r["duration_ms"] or 0) / 1000 for r in rows]}), "Duration per job (s)")
    written = _plot("runs-rows", _traces(loads, "source_name", lambda rows, source: {
        "type": "bar", "name": source, "x": [r["started_at"] for r in rows],
        "y": [r["rows_written"] for r in rows]}), "Rows written per load, by source",
        barmode="stack")
    total, failed = history.total("totals", "job_runs"), history.total("totals", "failed_runs")
    table = _table(["started_at", "job_name", "status", "duration_ms", "error_message"],
                   [[r["started_at"], r["job_name"], r["status"], r["duration_ms"],
                     r["error_message"]] for r in reversed(runs)], css=2, total=total)
    content = (f"<p>{total} job runs ({failed} not successful), "
               f"{history.total('totals', 'loads')} file loads.</p>"
               + (durations + written if runs else "") + table)
    return "runs", "Run history", {"job_runs": total, "failed_runs": failed,
                                   "loads": history.total("totals", "loads")}, content


def _latest_two_runs(checks: list[dict]) -> tuple[dict, dict]:
    """{check_name: row} of the latest run with results and of the one before it."""
    by_run: dict[str, dict] = {}
    order: list[str] = []
    for c in checks:  # ordered by checked_at
        if c["run_id"] not in by_run:
            by_run[c["run_id"]] = {}
            order.append(c["run_id"])
        else:
            order.remove(c["run_id"])
            order.append(c["run_id"])
        by_run[c["run_id"]][c["check_name"]] = c
    latest = by_run[order[-1]] if order else {}
    previous = by_run[order[-2]] if len(order) > 1 else {}
    return latest, previous


def _quality_trend(checks: list[dict]) -> str:
    runs = sorted({(c["checked_at"], c["run_id"]) for c in checks})
    run_at = {}
    for at, run in runs:
        run_at.setdefault(run, at)
    columns = sorted(set(run_at.values()))
    names = sorted({c["check_name"] for c in checks})
    grid = {(c["check_name"], run_at[c["run_id"]]): c["status"] for c in checks}
    z = [[STATUS_LEVEL.get(grid.get((n, at)), None) for at in columns] for n in names]
    text = [[grid.get((n, at), "") for at in columns] for n in names]
    return _plot("quality-trend", [{
        "type": "heatmap", "z": z, "x": [str(at) for at in columns], "y": names, "text": text,
        "zmin": 0, "zmax": 3, "showscale": False,
        "hovertemplate": "%{y}<br>%{x}: %{text}<extra></extra>",
        "colorscale": [[0, "#4caf50"], [0.34, "#ffb300"], [0.67, "#e53935"],
                       [1, "#6a1b9a"]]}],
        "Check status per run (green pass, amber warn, red fail)",
        height=max(360, 16 * len(names)), xaxis={"type": "category", **WHITE["xaxis"]})


def _quality(history: History):
    checks = history["checks"]
    latest, previous = _latest_two_runs(checks)
    failing = sorted((c for c in latest.values() if c["status"] != "pass"),
                     key=lambda c: (-STATUS_LEVEL.get(c["status"], 0), c["check_name"]))
    newly_failing = [n for n, c in latest.items() if c["status"] != "pass"
                     and previous.get(n, {}).get("status", "pass") == "pass" and previous]
    newly_fixed = [n for n, c in latest.items() if c["status"] == "pass"
                   and previous.get(n, {}).get("status", "pass") != "pass"]
    rows = [[c["status"], c["severity"], c["check_name"], c["model_name"], c["failing_rows"],
             ", ".join(map(str, _keys(c["sample_keys"])))] for c in failing]
    content = (f"<p>Latest run: {len(latest)} checks, {len(failing)} not passing; "
               f"{len(newly_failing)} newly failing, {len(newly_fixed)} newly fixed since the "
               f"run before.</p>"
               + (_quality_trend(checks) if checks else "")
               + "<h3>Current failures</h3>"
               + _table(["status", "severity", "check", "model", "failing rows",
                         "sample keys"], rows, css=0)
               + "<h3>Newly failing</h3>" + _table(["check"], [[n] for n in sorted(newly_failing)])
               + "<h3>Newly fixed</h3>" + _table(["check"], [[n] for n in sorted(newly_fixed)]))
    return "quality", "Data quality", {
        "checks": len(latest), "failing": len(failing), "newly_failing": len(newly_failing),
        "newly_fixed": len(newly_fixed)}, content


def _keys(raw) -> list:
    try:
        keys = json.loads(raw) if isinstance(raw, str) else []
    except ValueError:
        return [raw]
    return keys if isinstance(keys, list) else [keys]


def _age(now, then) -> str:
    if not isinstance(now, datetime) or not isinstance(then, datetime):
        return ""
    hours = (now - then).total_seconds() / 3600
    return f"{hours:,.1f} h" if hours < 72 else f"{hours / 24:,.1f} d"


def _freshness(history: History):
    last = {r["source_name"]: r for r in history["last_loads"]}
    verdict = {f["table_name"]: f for f in history["freshness"]}  # the latest per table
    rows = []
    for name in sorted(set(last) | set(verdict)):
        load, fresh = last.get(name, {}), verdict.get(name, {})
        rows.append([fresh.get("status", ""), name, load.get("ended_at"),
                     _age(history.now, load.get("ended_at")), fresh.get("max_loaded_at"),
                     _hours(fresh.get("warn_after_seconds")),
                     _hours(fresh.get("error_after_seconds"))])
    stale = sum(1 for f in verdict.values() if f["status"] != "pass")
    content = (f"<p>{stale} of {len(verdict)} sources stale by `dbt source freshness` "
               "(run by `loader run`); when each source last loaded.</p>"
               + _table(["freshness", "source", "last loaded at", "age", "newest loaded_at",
                         "warn after", "error after"], rows, css=0))
    return "freshness", "Freshness per source", {"sources": len(last),
                                                 "stale_sources": stale}, content


def _hours(seconds) -> str:
    return "" if seconds is None else f"{seconds / 3600:g} h"


def _drift(history: History):
    events = history["drift"]  # the newest MAX_TABLE_ROWS
    kinds = {k["change_type"]: int(k["events"]) for k in history["drift_kinds"]}
    total = sum(kinds.values())
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"
    rows = [[e["detected_at"], e["change_type"], f'{e["table_schema"]}.{e["table_name"]}',
             e["column_name"], e["old_definition"], e["new_definition"]] for e in events]
    content = (f"<p>{total} schema and payload changes ({html.escape(summary)}).</p>"
               + _table(["detected at", "change", "table", "column", "before", "after"], rows,
                        total=total))
    return "drift", "Schema and payload drift", {"drift_events": total}, content


def _rejects(history: History):
    rejects = history["rejects"]  # the MAX_TABLE_ROWS loads with the newest rejects
    total = history.total("reject_totals", "lines")
    loads = history.total("reject_totals", "loads")
    rows = [[r["load_id"], r["source_file"], r["lines"], r["first_line"],
             f"loader rejects {r['load_id']}"] for r in rejects]
    content = (f"<p>{total} rejected lines in {loads} loads.</p>"
               + _table(["load", "file", "lines", "first line", "see them with"], rows,
                        total=len(rejects) if len(rejects) < MAX_TABLE_ROWS else loads))
    return "rejects", "Rejects per load", {"rejected_lines": total,
                                           "loads_with_rejects": loads}, content


def _watermarks(history: History):
    marks = history["watermarks"]
    rows = [[m["source_name"], m["last_updated_at"], _age(history.now, m["last_updated_at"]),
             m["updated_at"]] for m in marks]
    content = ("<p>Each incremental source's watermark (the newest record time loaded) "
               "and its lag behind now.</p>"
               + _table(["source", "watermark", "lag", "moved at"], rows))
    return "watermarks", "Watermark lag", {"watermarks": len(marks)}, content
