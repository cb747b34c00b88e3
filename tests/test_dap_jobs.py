"""DAP job directories: what `dap snapshot|incremental --format jsonl` writes
(`<output dir>/job_<id>/` of gzip JSONL parts named by the server), loaded as one
load by `loader load DIR` and by a pipeline.yml source whose pattern matches job
directories. The fixtures are written here, as the DAP client writes CD2 records."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.engines("duckdb", "postgres")
TABLE = "raw.canvas_submissions"


def cd2(rid, score=None, ts="2024-03-01T06:00:00Z", action="U"):
    record = {"meta": {"action": action, "ts": ts}, "key": {"id": rid}}
    if action == "U":
        record["value"] = {"assignment_id": 4, "user_id": 1968, "score": score,
                           "updated_at": ts}
    return json.dumps(record)


def write_job(root: Path, job_id: str, parts: list[list[str]], mtime: float | None = None):
    """A job directory with gzip parts, named as the DAP server names them."""
    job = root / f"job_{job_id}"
    job.mkdir(parents=True)
    for number, lines in enumerate(parts):
        name = f"part-{number:05d}-9f1c2e7a-0d4b-4c55-8f0e-3b7a5d2c1e90.json.gz"
        (job / name).write_bytes(gzip.compress("".join(f"{x}\n" for x in lines).encode()))
    if mtime is not None:
        os.utime(job, (mtime, mtime))
    return job


def three_parts(day="01"):
    return [
        [cd2(1, 1.0, f"2024-03-{day}T06:00:00Z"), cd2(2, 2.0, f"2024-03-{day}T06:00:00Z")],
        [cd2(3, 3.0, f"2024-03-{day}T07:00:00Z"), cd2(1, 1.5, f"2024-03-{day}T08:00:00Z")],
        [cd2(2, ts=f"2024-03-{day}T09:00:00Z", action="D")],
    ]


def raw_rows(env):
    rows = env.query(f"select id, payload, deleted_at from {TABLE} order by id")
    out = {}
    for rid, payload, deleted_at in rows:
        body = payload if isinstance(payload, dict) else json.loads(payload)
        out[rid] = (body["value"]["score"], deleted_at is not None)
    return out


def test_dap_job_directory_is_one_load_and_skipped_when_loaded(env):
    job = write_job(env.root / "downloads", "6b1f0c52-aa31-4f0e-b3a4-1d2c3e4f5a6b",
                    three_parts())
    out = env.load(job, TABLE, "--updated-field", "updated_at", "--incremental").output
    assert raw_rows(env) == {"1": (1.5, False), "2": (2.0, True), "3": (3.0, False)}
    rows = env.query("select source_file, status, rows_read, rows_written, file_stat, "
                     "file_sha256 from meta.load_file")
    assert len(rows) == 1
    source_file, status, read, written, stat, sha = rows[0]
    # 5 lines: id 1 twice (the later wins, the earlier is skipped), 2 then its delete
    assert (source_file, status, read, written) == (str(job), "success", 5, 4)
    assert stat.startswith("dir:") and len(sha) == 64
    assert env.query("select distinct source_file from raw.canvas_submissions") == [(str(job),)]
    assert env.query("select count(*), cast(max(last_updated_at) as varchar(30)) "
                     "from meta.watermark") == [(1, "2024-03-01 08:00:00")]
    assert env.scalar("select count(*) from meta.job_run where job_name like 'load %'") == 1
    # Again: skipped as a whole, like a file.
    out = env.cli("load", job, "--table", TABLE).output
    assert "already loaded" in out
    assert env.query("select status from meta.load_file order by started_at") \
        == [("success",), ("skipped_file",)]
    # A copy of the job directory is known by its parts' content.
    copy = env.root / "elsewhere" / job.name
    copy.mkdir(parents=True)
    for part in job.iterdir():
        copy.joinpath(part.name).write_bytes(part.read_bytes())
    assert "already loaded" in env.cli("load", copy, "--table", TABLE).output
    # --force reads it again: every record compared by hash, nothing changed.
    out = env.cli("load", job, "--table", TABLE, "--force").output
    assert "read 5, written 0" in out
    assert raw_rows(env) == {"1": (1.5, False), "2": (2.0, True), "3": (3.0, False)}


def test_dap_job_bad_line_in_part_two_writes_nothing(env):
    first = write_job(env.root / "downloads", "1", three_parts("01"))
    env.load(first, TABLE, "--updated-field", "updated_at", "--incremental")
    parts = three_parts("05")
    parts[1].insert(1, '{"meta": {"action": "U", "ts": "2024-03-05T07:30:00Z"}, "key": {"id"')
    bad = write_job(env.root / "downloads", "2", parts)
    result = env.load(bad, TABLE, "--updated-field", "updated_at", "--incremental",
                      "--max-rejects", "0", expect=1)
    part_two = sorted(bad.iterdir())[1]
    assert f"first at {part_two.name} line 2" in result.output
    assert raw_rows(env) == {"1": (1.5, False), "2": (2.0, True), "3": (3.0, False)}
    assert env.scalar("select cast(last_updated_at as varchar(30)) from meta.watermark") \
        == "2024-03-01 08:00:00"
    assert env.query("select source_file, line_number from meta.load_reject") \
        == [(str(part_two), 2)]
    assert env.query("select status from meta.load_file order by started_at") \
        == [("success",), ("failed",)]


def test_dap_pipeline_source_loads_job_directories_oldest_first(env):
    downloads = env.data / "downloads"
    # Job ids carry no order: the older download has the "larger" name.
    write_job(downloads, "f0000000-0000-4000-8000-000000000001",
              [[cd2(7, 1.0, "2024-03-01T06:00:00Z")], [cd2(8, 1.0, "2024-03-01T06:00:00Z")]],
              mtime=1_700_000_000)
    write_job(downloads, "a0000000-0000-4000-8000-000000000002",
              [[cd2(7, 2.0, "2024-03-02T06:00:00Z")], [cd2(8, ts="2024-03-02T06:00:00Z",
                                                           action="D")]],
              mtime=1_700_086_400)
    config = env.root / "pipeline.yml"
    config.write_text(
        "sources:\n"
        "  - name: canvas_submissions\n"
        f"    table: {TABLE}\n"
        '    files: "downloads/job_*"\n'
        "    updated_field: updated_at\n"
        "    incremental: true\n")
    env.cli("run", "--data-dir", env.data, "--config", config, "--no-build", "--silent")
    assert raw_rows(env) == {"7": (2.0, False), "8": (1.0, True)}
    loaded = env.query("select source_file, rows_read from meta.load_file order by started_at")
    assert [(Path(f).name[4:6], n) for f, n in loaded] == [("f0", 2), ("a0", 2)]
    out = env.cli("run", "--data-dir", env.data, "--config", config, "--no-build").output
    assert "2 files already loaded, skipped" in out


def test_dap_job_drift_names_the_part_and_its_line(env):
    env.load(write_job(env.root / "downloads", "1", three_parts("01")), TABLE)
    parts = three_parts("03")
    sticker = json.loads(parts[1][1])
    sticker["value"]["sticker"] = "star"
    parts[1][1] = json.dumps(sticker)
    job = write_job(env.root / "downloads", "2", parts)
    env.load(job, TABLE)
    new = json.loads(env.scalar("select new_definition from meta.schema_change_log "
                                "where change_type = 'key_added'"))
    part_two = sorted(job.iterdir())[1]
    assert (new["first_file"], new["first_line"], new["sample_ids"]) == (str(part_two), 2, ["1"])
    assert env.query("select first_file, first_line from meta.payload_key "
                     "where key_path = 'sticker'") == [(str(part_two), 2)]
