"""scripts/bench.py --smoke: every contender gets a row (measured, or skipped with
the reason), the targets are computed, the JSON is written; well under a minute."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import PROJECT_DIR

CONTENDERS = {
    "loader_first", "loader_skip", "loader_force", "loader_copy", "loader_1pct",
    "loader_contract_first", "duckdb_read_json_objects_ctas",
    "loader_first_history", "loader_1pct_history", "loader_first_no_history",
    "loader_1pct_no_history",
    "dlt_default_first", "dlt_default_rerun", "dlt_parquet_first", "dlt_parquet_rerun",
    "postgres_loader_first", "postgres_copy",
    "dbt_full_refresh", "dbt_incremental_1pct", "dbt_nothing_new",
    "loader_csv_first", "loader_csv_first_python", "duckdb_read_csv_ctas", "loader_xlsx_first",
    "loader_first_paired", "loader_first_no_payload_drift", "payload_key_profile_only",
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
                 "duckdb_read_json_objects_ctas", "dbt_full_refresh", "loader_csv_first",
                 "duckdb_read_csv_ctas", "loader_xlsx_first"):
        assert rows[name]["status"] == "ok", rows[name]
    assert rows["loader_skip"]["status_detail"] == "skipped_file"
    assert rows["loader_copy"]["status_detail"] == "skipped_file"
    assert rows["loader_1pct"]["rows_written"] == 20  # 1% of 2,000
    assert rows["loader_csv_first"]["rows_written"] == 2000
    assert rows["loader_xlsx_first"]["rows_written"] == 2000
    # The contract's enum rejects the simulator's two seeded unknown workflow_states.
    assert rows["loader_contract_first"]["rows_written"] == \
        rows["loader_first"]["rows_written"] - 2
    assert report["data"]["2000"]["bytes_per_line"] > 0
    # 10 follow-up batches, each changing another 1%: 10% of the records superseded.
    assert report["history_size"]["2000"]["history_rows"] == 200
    assert rows["loader_1pct_history"]["rows_written"] == 20
    assert any(t["status"] in ("PASS", "FAIL") for t in report["targets"])
    drift = {t["target"]: t for t in report["targets"] if "payload-key" in t["target"]}
    assert {t["status"] for t in drift.values()} <= {"PASS", "FAIL"} and len(drift) == 2
    assert 1000 < rows["payload_key_profile_only"]["records_profiled"] < 2000  # sampled
    assert list(out.glob("bench-smoke-*.json"))
