"""`loader report`: the HTML page after real runs, opened in headless Chromium.

The page must load with no console message, show every section with charts
drawn by the browser, and its numbers must equal the meta tables'. The
screenshot stays in the test's tmp dir (report.png) as the artifact.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium not installed: scripts/test.sh installs it "
                         "(apt-get install chromium)")
SECTIONS = ["runs", "quality", "freshness", "drift", "rejects", "watermarks"]


def browse(page: Path, out: Path, screenshot: bool = False) -> tuple[str, list[str]]:
    """(the DOM after the page's scripts ran, the console messages) from headless
    Chromium; with screenshot, also out/report.png."""
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
            f"--user-data-dir={out / 'chromium-profile'}"]
    action = ([f"--screenshot={out / 'report.png'}", "--window-size=1280,4000"]
              if screenshot else ["--dump-dom"])
    done = subprocess.run([*args, *action, page.resolve().as_uri()], capture_output=True,
                          text=True, timeout=120)
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


class _Sections(HTMLParser):
    """Each <section>'s attributes and text."""

    def __init__(self):
        super().__init__()
        self.sections: dict[str, dict] = {}
        self._current = None

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self._current = dict(attrs)
            self._current["text"] = ""
            self.sections[self._current["id"]] = self._current

    def handle_data(self, data):
        if self._current is not None:
            self._current["text"] += data


def sections_of(dom: str) -> dict[str, dict]:
    parser = _Sections()
    parser.feed(dom)
    return parser.sections


def test_console_messages_are_caught(tmp_path):
    """The check below would see a broken page: a console error is reported."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>console.error('boom'); missing();</script></body></html>")
    _, console = browse(page, tmp_path)
    assert any("boom" in line for line in console)
    assert any("missing is not defined" in line for line in console)


def _expected(env) -> dict:
    dbt_runs = [r[0] for r in env.query(
        "select run_id from meta.job_run where job_name = 'dbt build' order by started_at desc")]
    latest, previous = ({r[0]: r[1] for r in env.query(
        "select check_name, status from meta.dq_check_result where run_id = ?", (run,))}
        for run in dbt_runs[:2])
    return {
        "job-runs": env.scalar("select count(*) from meta.job_run"),
        "failed-runs": env.scalar("select count(*) from meta.job_run "
                                  "where status not in ('success', 'running')"),
        "loads": env.scalar("select count(*) from meta.load_file"),
        "checks": len(latest),
        "failing": sum(1 for s in latest.values() if s != "pass"),
        "newly-failing": sum(1 for n, s in latest.items()
                             if s != "pass" and previous.get(n, "pass") == "pass"),
        "newly-fixed": sum(1 for n, s in latest.items()
                           if s == "pass" and previous.get(n, "pass") != "pass"),
        "drift-events": env.scalar("select count(*) from meta.schema_change_log"),
        "rejected-lines": env.scalar("select count(*) from meta.load_reject"),
        "loads-with-rejects": env.scalar("select count(distinct load_id) from meta.load_reject"),
        "watermarks": env.scalar("select count(*) from meta.watermark"),
        "stale-sources": sum(1 for (status,) in env.query(
            "select status from meta.source_freshness where snapshotted_at = (select "
            "max(snapshotted_at) from meta.source_freshness as f "
            "where f.table_name = source_freshness.table_name)") if status != "pass"),
        "sources": env.scalar("select count(distinct source_name) from meta.load_file "
                              "where status = 'success'"),
    }


def test_report_after_two_runs_renders_in_chromium_with_the_meta_tables_numbers(env, tmp_path):
    missing = env.cli("report", "--out", tmp_path / "none.html", expect=None)
    if env.engine == "duckdb":  # nothing loaded yet: no database, and none created
        assert missing.exit_code == 1 and "no DuckDB database at" in missing.output
        assert env.is_empty() and not (tmp_path / "none.html").exists()
    env.cli("simulate", env.data, "--students", 40, "--courses", 3, "--silent")
    env.cli("run", "--data-dir", env.data, "--silent")
    env.cli("simulate", env.data, "--follow-up", "--silent")
    page = tmp_path / "run-report.html"
    env.cli("run", "--data-dir", env.data, "--silent", "--report", page, expect=None)
    assert page.is_file()
    # Issue 11's payload drift lands in the same log: any change_type is shown.
    env.execute("insert into meta.schema_change_log (run_id, table_schema, table_name, "
                "change_type, column_name, old_definition, new_definition, detected_at) "
                "values ('r-test', 'raw', 'canvas_users', 'key_added', 'pronouns', null, "
                "'string', current_timestamp)")
    out = tmp_path / "report.html"
    printed = env.cli("report", "--out", out).output  # its time: scripts/bench.py --only report
    assert printed.startswith(f"wrote {out}:")
    assert out.stat().st_size > 1_000_000  # plotly.js inlined: opens offline
    assert "<script src=" not in out.read_text()

    dom, console = browse(out, tmp_path)
    assert console == []
    found = sections_of(dom)
    assert list(found) == SECTIONS
    expected = _expected(env)
    shown = {k[5:]: int(v) for s in found.values() for k, v in s.items() if k.startswith("data-")}
    assert shown == expected
    quality = found["quality"]["text"]
    assert f"Latest run: {expected['checks']} checks, {expected['failing']} not passing" in quality
    assert f"{expected['job-runs']} job runs" in found["runs"]["text"]
    assert "key_added" in found["drift"]["text"] and "raw.canvas_users" in found["drift"]["text"]
    assert f"{expected['rejected-lines']} rejected lines" in found["rejects"]["text"]
    assert "loader rejects " in found["rejects"]["text"]
    assert "0 of 5 sources stale" in found["freshness"]["text"]
    # The browser drew the charts (Plotly's SVG), in the run and quality sections.
    for sid in ("runs", "quality"):
        section = dom[dom.index(f'<section id="{sid}"'):]
        section = section[:section.index("</section>")]
        assert len(re.findall(r'class="main-svg"', section)) >= 2, sid

    _, console = browse(out, tmp_path, screenshot=True)
    assert console == [] and (tmp_path / "report.png").stat().st_size > 20_000


def test_report_after_a_long_history_counts_it_all_and_shows_the_newest(env, tmp_path):
    """450 job runs: the numbers count every one (in SQL), the table and the chart
    show the newest 200, and the table says how many more there are."""
    env.cli("simulate", env.data, "--students", 5, "--courses", 1, "--silent")
    env.load(env.data / "batch-0001" / "canvas_users.jsonl", "raw.canvas_users")
    values = ", ".join(
        f"('r{i:03d}', 'load canvas_users', '{'failed' if i % 10 == 0 else 'success'}', "
        f"'2026-01-01 {i // 60:02d}:{i % 60:02d}:00', {1000 + i})"
        for i in range(450))
    env.execute("insert into meta.job_run (run_id, job_name, status, started_at, duration_ms) "
                f"values {values}")
    out = tmp_path / "report.html"
    env.cli("report", "--out", out)
    page = out.read_text()
    runs = sections_of(page)["runs"]
    total = env.scalar("select count(*) from meta.job_run")
    assert total == 451 and int(runs["data-job-runs"]) == total
    assert int(runs["data-failed-runs"]) == 45
    section = page[page.index('<section id="runs"'):]
    section = section[:section.index("</section>")]
    assert section.count("<tr>") == 1 + 200 and f"... and {total - 200} more" in section
    assert "<td>1449</td>" in section and "<td>1249</td>" not in section  # the newest 200
    durations = re.search(r'"name":"load canvas_users","x":\[([^\]]*)\]', section).group(1)
    assert durations.count(",") + 1 == 200  # the chart: the job's newest 200 runs
