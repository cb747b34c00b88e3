"""JSON array files: streamed element by element, odd elements rejected with their number."""

from __future__ import annotations

import gzip
import json

import orjson
import pytest

from helpers_attack import watermark
from helpers_readers import last_load, payloads, peak_rss_mb, rejects

TABLE = "raw.school_assessments"


def _write(env, name: str, value) -> object:
    path = env.root / name
    data = value if isinstance(value, bytes) else json.dumps(value, indent=1).encode()
    path.write_bytes(data)
    return path


def test_readers_json_array_non_objects_rejected_with_their_number(env):
    elements = [{"id": 1, "scores": [1, 2]}, [{"id": 2}], 7, None, "x",
                {"id": 3, "big": 12345678901234567890123}, {"name": "no id"}]
    path = _write(env, "assessments.json", elements)
    out = env.cli("load", path, "--table", TABLE).output
    assert "read 7, written 2" in out and "rejected 5" in out
    assert rejects(env, str(path)) == [
        (2, "array element 2 is an array, not a JSON object"),
        (3, "array element 3 is a number, not a JSON object"),
        (4, "array element 4 is null, not a JSON object"),
        (5, "array element 5 is a string, not a JSON object"),
        (7, "missing or null id field 'id'"),
    ]
    got = payloads(env, TABLE)
    assert got["1"] == {"id": 1, "scores": [1, 2]}
    assert got["3"]["big"] == 12345678901234567890123  # beyond 64 bits, exact
    assert last_load(env, str(path))["rows_rejected"] == 5


def test_readers_json_array_at_a_path_and_gzip(env):
    doc = {"meta": {"count": 2}, "data": [{"id": "a1", "score": 9.5}, {"id": "a2"}]}
    path = _write(env, "wrapped.json.gz", gzip.compress(json.dumps(doc).encode()))
    out = env.cli("load", path, "--table", TABLE, "--json-path", "data").output
    assert "written 2" in out
    assert payloads(env, TABLE) == {"a1": {"id": "a1", "score": 9.5}, "a2": {"id": "a2"}}
    out = env.cli("load", path, "--table", TABLE, "--json-path", "results", "--force",
                  expect=1).output
    assert "no JSON array at 'results'" in out and "--json-path" in out


def test_readers_json_syntax_error_fails_the_file_and_writes_nothing(env):
    path = _write(env, "cut.json", b'[{"id": 1}, {"id": 2}, {"id": ')
    out = env.cli("load", path, "--table", TABLE, expect=1).output
    assert f"{path}: not valid JSON after array element 2" in out and "Traceback" not in out
    assert env.scalar(f"select count(*) from {TABLE}") == 0
    assert last_load(env, str(path))["status"] == "failed"


def test_readers_json_past_max_rejects_writes_nothing_and_keeps_the_watermark(env):
    ts = ("--updated-field", "taken_at")
    first = _write(env, "first.json", [{"id": 1, "taken_at": "2026-03-01T00:00:00Z"}])
    env.cli("load", first, "--table", TABLE, *ts)
    before = watermark(env, "school_assessments")
    path = _write(env, "many.json", [{"id": 2, "taken_at": "2026-03-09T00:00:00Z"}, 2, 3,
                                     {"id": 4}])
    out = env.cli("load", path, "--table", TABLE, *ts, "--max-rejects", "1", expect=1).output
    assert "more than 1 lines rejected" in out
    assert sorted(payloads(env, TABLE)) == ["1"]
    assert watermark(env, "school_assessments") == before
    assert [n for n, _ in rejects(env, str(path))] == [2, 3]


@pytest.mark.engines("duckdb")
def test_readers_json_array_of_1m_elements_loads_in_flat_memory(env):
    """Peak RSS of a child loading 100k and then 1M elements: ten times the file,
    nearly the same memory (holding the 1M array, json.load alone takes ~640 MB)."""
    peaks = {}
    for count in (100_000, 1_000_000):
        path = env.root / f"array_{count}.json"
        with open(path, "wb") as out:
            out.write(b"[")
            for i in range(count):
                out.write(b"," if i else b"")
                out.write(orjson.dumps({"id": i, "student": f"S{i:07d}", "score": i % 97,
                                        "note": "x" * 40}))
            out.write(b"]")
        peaks[count] = peak_rss_mb(["load", str(path), "--table", f"raw.array_{count}",
                                    "--silent"])
        assert env.scalar(f"select count(*) from raw.array_{count}") == count
    assert peaks[1_000_000] < 500, peaks
    assert peaks[1_000_000] < peaks[100_000] * 1.6, peaks
