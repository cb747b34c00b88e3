"""scripts/bench.py's report group: `loader report` and headless Chromium's render
of the page, on a database that `loader run` filled with N submissions.

Per engine (DuckDB; PostgreSQL on the bench's throwaway server when there is
one): `loader run` over the bench's batch twice (loads and dbt build, then a
run that finds nothing new and builds again: two runs of checks for the
trend), untimed; then per timed run `loader report` in its own process and
`chromium --headless --dump-dom` on the page (virtual time: the page's own
timers run without waiting), each timed as a process's wall time. The row's
seconds are the two added: what a user waits from the command to the drawn
page. The DOM must hold the six sections and the charts' SVG, or the run fails.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import sys
from pathlib import Path

SECTIONS = ("runs", "quality", "freshness", "drift", "rejects", "watermarks")
LIMIT_S = 5.0  # issue 15: the page renders in under 5 s at 1M submissions


def chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium")


def report_group(bench, n: int, d: dict, run_process, project: Path) -> None:
    """Add report_duckdb and report_postgres rows to the bench."""
    browser = chromium()
    for engine in ("duckdb", "postgres"):
        name = f"report_{engine}"
        if not browser:
            bench.record(n, name, "report", None,
                         reason="no chromium (apt-get install chromium, or $CHROMIUM)")
            continue
        if engine == "postgres":
            reason = ("--smoke: DuckDB only" if bench.args.smoke
                      else bench._pg_unavailable())
            if reason:
                bench.record(n, name, "report", None, reason=reason)
                continue
        root = bench.work / f"report-{engine}-{n}"
        shutil.rmtree(root, ignore_errors=True)
        (root / "profiles").mkdir(parents=True)
        shutil.copyfile(project / "profiles.example.yml", root / "profiles" / "profiles.yml")
        dbname = None
        try:
            env = dict(bench.env, CANVAS_TARGET=engine, DBT_TARGET_PATH=str(root / "target"),
                       DBT_LOG_PATH=str(root / "logs"), CANVAS_DUCKDB_PATH=str(root / "c.duckdb"))
            if engine == "postgres":
                dbname = bench.pg.create_database()
                env.update(PGHOST=bench.pg.host, PGPORT=str(bench.pg.port),
                           PGUSER=bench.pg.user, PGPASSWORD=bench.pg.password, PGDATABASE=dbname)
            runs = _measure(bench, d, root, env, browser, run_process)
        except Exception as exc:  # noqa: BLE001 - reported, the bench goes on
            bench.failed(n, name, "report", exc)
            continue
        finally:
            if dbname:
                bench.pg.drop_database(dbname)
            shutil.rmtree(root, ignore_errors=True)
        bench.record(n, name, "report", runs, rows=n,
                     reason="loader report + chromium --headless --dump-dom, process walls",
                     report_s=round(statistics.median(r["report_s"] for r in runs), 3),
                     render_s=round(statistics.median(r["render_s"] for r in runs), 3),
                     page_mb=runs[-1]["page_mb"])


def _measure(bench, d: dict, root: Path, env: dict, browser: str, run_process) -> list[dict]:
    loader = [sys.executable, "-m", "loader.cli"]
    profiles = ["--profiles-dir", str(root / "profiles")]
    for _ in range(2):  # untimed: the history the page shows
        done = run_process([*loader, "run", "--data-dir", str(d["batch"].parent), "--silent",
                            *profiles], env=env, cwd=root)
        if done["rc"] not in (0, 1):  # 1: an error-severity finding, still a report
            raise RuntimeError(f"loader run failed (exit {done['rc']}): {done['stderr'][-300:]}")
    page = root / "report.html"
    runs = []
    for _ in range(bench.args.runs):
        made = run_process([*loader, "report", "--out", str(page), *profiles], env=env, cwd=root)
        if made["rc"] != 0:
            raise RuntimeError(f"loader report failed: {made['stderr'][-300:]}")
        drawn = run_process([browser, "--headless", "--no-sandbox", "--disable-gpu",
                             "--virtual-time-budget=10000", f"--user-data-dir={root / 'chr'}",
                             "--dump-dom", page.resolve().as_uri()], cwd=root)
        sections = re.findall(r'<section id="(\w+)"', drawn["stdout"])
        charts = drawn["stdout"].count('class="main-svg"')
        if tuple(sections) != SECTIONS or charts < 4:
            raise RuntimeError(f"the page did not render: sections {sections}, {charts} "
                               f"chart layers; {drawn['stderr'][-300:]}")
        runs.append({"seconds": made["wall"] + drawn["wall"], "report_s": made["wall"],
                     "render_s": drawn["wall"], "wall": made["wall"] + drawn["wall"],
                     "rss_mb": made["rss_mb"], "page_mb": round(page.stat().st_size / 2**20, 2)})
    return runs
