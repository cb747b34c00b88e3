"""scripts/bench.py --smoke: every contender gets a row (measured, or skipped with
the reason), the targets are computed, the JSON is written; well under a minute."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import PROJECT_DIR

CONTENDERS = {
    "loader_first", "loader_skip", "loader_force", "loader_copy", "loader_1pct",
    "duckdb_read_json_objects_ctas",
    "dlt_default_first", "dlt_default_rerun", "dlt_parquet_first", "dlt_parquet_rerun",
    "postgres_loader_first", "postgres_copy",
    "dbt_full_refresh", "dbt_incremental_1pct", "dbt_nothing_new",
    "report_duckdb", "report_postgres",
}


def test_bench_smoke_writes_every_contender(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "scripts" / "bench.py"), "--smoke",
         "--work", str(tmp_path / "work"), "--out", str(out)],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "latest-smoke.json").read_text())
    rows = {r["contender"]: r for r in report["results"]}
    assert set(rows) == CONTENDERS
    for name, row in rows.items():
        assert row["status"] in ("ok", "skipped"), (name, row)
        if row["status"] == "skipped":
            assert row["reason"], name
        else:
            assert row["median_s"] > 0 and row["peak_rss_mb"] > 0, (name, row)
    for name in ("loader_first", "loader_force", "loader_1pct",
                 "duckdb_read_json_objects_ctas", "dbt_full_refresh"):
        assert rows[name]["status"] == "ok", rows[name]
    assert rows["loader_skip"]["status_detail"] == "skipped_file"
    assert rows["loader_copy"]["status_detail"] == "skipped_file"
    assert rows["loader_1pct"]["rows_written"] == 20  # 1% of 2,000
    assert report["data"]["2000"]["bytes_per_line"] > 0
    assert any(t["status"] in ("PASS", "FAIL") for t in report["targets"])
    assert list(out.glob("bench-smoke-*.json"))
