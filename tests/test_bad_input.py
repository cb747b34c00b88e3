"""Bad input: every kind of broken line or file has one asserted outcome, on every engine.

A bad line lands in meta.load_reject with its file, 1-based line number and a
reason, every good line of the same file is loaded, and the counts add up in
meta.load_file (rows_read = rows_written + rows_skipped + rows_rejected; blank
lines are not records). Past --max-rejects the load fails, writes no data,
moves no watermark and says where to look. The files are generated here, byte
for byte (BOMs, CRLF, invalid UTF-8 and gzip need exact bytes).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

import pytest

from conftest import table_rows
from helpers_attack import (as_text, dumps, successful_loads, text_length, watermark,
                            write_lines)

TABLE = "raw.canvas_things"
GOOD = dumps({"id": 1, "name": "good"})
TEN_MB = 10 * 1024 * 1024
TS = ("--updated-field", "updated_at")
INCR = (*TS, "--incremental")


@dataclass
class Case:
    lines: list  # str or bytes, one per line (without the newline)
    loaded: dict  # id -> expected payload object (None: only check that the id is there)
    rejects: dict = field(default_factory=dict)  # line number -> substring of the reason
    args: tuple = ()
    newline: bytes = b"\n"
    final_newline: bool = True
    rows_written: int | None = None  # default: len(loaded)
    check: Callable | None = None  # extra assertions: check(env, path)
    postgres_rejects: dict | None = None  # where PostgreSQL differs (U+0000)
    postgres_loaded: dict | None = None


def _nested(depth: int) -> str:
    return '{"id": 1, "deep": ' + "[" * depth + "]" * depth + "}"


def _payload(env, rid: str):
    return json.loads(env.scalar(f"select {as_text(env, 'payload')} from {TABLE} where id = ?",
                                 (rid,)))


def _check_offsets(env, path):
    got = dict(env.query(f"select id, record_updated_at from {TABLE}"))
    ten = datetime(2026, 9, 3, 10, 0, 0)
    assert got == {"1": ten, "2": ten, "3": ten, "4": ten,
                   "5": ten + timedelta(milliseconds=250), "6": ten, "7": None,
                   "8": None, "9": datetime(2026, 9, 3, 0, 0)}


def _check_bom(env, path):
    text = env.scalar(f"select {as_text(env, 'payload')} from {TABLE} where id = '1'")
    assert "\ufeff" not in text


def _check_crlf(env, path):
    for (text,) in env.query(f"select {as_text(env, 'payload')} from {TABLE}"):
        assert "\r" not in text


def _check_excerpt(env, path):
    (excerpt,) = env.query("select line_excerpt from meta.load_reject")[0]
    assert 0 < len(excerpt) <= 200


def _check_long_line(env, path):
    assert env.scalar(f"select {text_length(env, 'payload')} from {TABLE} "
                      "where id = '1'") > TEN_MB
    _check_excerpt(env, path)


def _check_utf8(env, path):
    assert _payload(env, "11")["name"] == "Zoë 中文 🎓"
    excerpts = [r[0] for r in env.query("select line_excerpt from meta.load_reject")]
    assert all("\ufffd" in e for e in excerpts)  # shown, with the bad bytes replaced


def _check_case_keys(env, path):
    assert _payload(env, "1") == {"id": 1, "ID": 2, "Id": 3, "name": "a", "Name": "b"}


def _check_future(env, path):
    # The watermark moves to the newest record written, never to a rejected one.
    assert watermark(env, "canvas_things") == env.scalar(
        f"select record_updated_at from {TABLE} where id = '3'")


CASES: dict[str, Case] = {
    "malformed_json": Case(
        [GOOD, '{"id": 2, "name": "x"', "{id: 3}", "{'id': 4}", '{"id": 5,}',
         '{"id": 6} {"id": 7}', '{"id": 8}\x00'],
        {"1": None}, {2: "invalid JSON", 3: "invalid JSON", 4: "invalid JSON",
                      5: "invalid JSON", 6: "invalid JSON", 7: "invalid JSON"}),
    "non_object_lines": Case(
        [GOOD, "42", '"a string"', "null", "true", "[1, 2]", "3.5"],
        {"1": None}, {2: "not a JSON object (a number)", 3: "not a JSON object (a string)",
                      4: "not a JSON object (a null)", 5: "not a JSON object (a bool)",
                      6: "not a JSON object (a array)", 7: "not a JSON object (a number)"}),
    "empty_and_whitespace_lines": Case(
        ["", GOOD, "   ", "\t", dumps({"id": 2}), "", "oops", " \t "],
        {"1": None, "2": None}, {7: "invalid JSON"}),
    "missing_id": Case(
        [GOOD, '{"name": "no id"}', '{"ID": 7, "name": "id in capitals"}', "{}"],
        {"1": None}, {2: "missing or null id field 'id'", 3: "missing or null id field 'id'",
                      4: "missing or null id field 'id'"}),
    "null_id": Case(
        [GOOD, '{"id": null, "name": "x"}'], {"1": None}, {2: "missing or null id"}),
    "wrong_type_id": Case(
        [GOOD, '{"id": {"a": 1}}', '{"id": [1]}', '{"id": 1.5}', '{"id": true}',
         '{"id": ""}', '{"id": "   "}', '{"id": 1e3}'],
        {"1": None}, {2: "must be a string or integer, got dict",
                      3: "must be a string or integer, got list",
                      4: "must be a string or integer, got float",
                      5: "must be a string or integer, got bool",
                      6: "is empty", 7: "is empty",
                      8: "must be a string or integer, got float"}),
    "over_long_id": Case(
        [dumps({"id": "x" * 451}), dumps({"id": "y" * 450}), dumps({"id": 10 ** 460})],
        {"y" * 450: None}, {1: "id longer than 450 characters",
                            3: "id longer than 450 characters"}),
    "duplicate_ids_different_content": Case(
        [dumps({"id": 1, "v": "first"}), dumps({"id": 2}), dumps({"id": 1, "v": "last"}),
         dumps({"id": "2", "v": "the same id as a string"})],
        {"1": {"id": 1, "v": "last"}, "2": {"id": "2", "v": "the same id as a string"}}),
    "duplicate_ids_identical_content": Case(
        [dumps({"id": 1, "v": "same"}), '{"v": "same", "id": 1}', dumps({"id": 1, "v": "same"})],
        {"1": {"id": 1, "v": "same"}}),
    "unparsable_timestamps": Case(
        [dumps({"id": 1, "updated_at": "2026-09-03T10:00:00Z"}),
         dumps({"id": 2, "updated_at": "yesterday"}),
         dumps({"id": 3, "updated_at": 20260903}),
         dumps({"id": 4, "updated_at": "2026-13-45T00:00:00Z"}),
         dumps({"id": 5, "updated_at": ""}),
         dumps({"id": 6, "updated_at": "2026-09-03T25:00:00Z"}),
         dumps({"id": 7, "updated_at": "0001-01-01T00:30:00+01:00"}),
         dumps({"id": 8, "updated_at": "9999-12-31T23:00:00-05:00"}),
         dumps({"id": 9, "updated_at": "20260903T100000Z"}),
         dumps({"id": 10, "updated_at": {"at": "2026-09-03"}})],
        {"1": None}, {n: "unparsable timestamp in 'updated_at'" for n in range(2, 11)},
        args=TS),
    "offset_timestamps_are_valid_and_utc": Case(
        [dumps({"id": 1, "updated_at": "2026-09-03T12:00:00+02:00"}),
         dumps({"id": 2, "updated_at": "2026-09-03T05:00:00-05:00"}),
         dumps({"id": 3, "updated_at": "2026-09-03T10:00:00Z"}),
         dumps({"id": 4, "updated_at": "2026-09-03T10:00:00"}),
         dumps({"id": 5, "updated_at": "2026-09-03T15:30:00.250+05:30"}),
         dumps({"id": 6, "updated_at": "2026-09-03T10:00:00z"}),
         dumps({"id": 7, "updated_at": None}),
         dumps({"id": 8}),
         dumps({"id": 9, "updated_at": "2026-09-03"})],
        {str(i): None for i in range(1, 10)}, args=INCR, check=_check_offsets),
    "far_future_timestamp": Case(
        [dumps({"id": 1, "updated_at": "2999-01-01T00:00:00Z"}),
         dumps({"id": 2, "updated_at": "9999-12-31T23:59:59Z"}),
         dumps({"id": 3, "updated_at": (datetime.now(timezone.utc) + timedelta(days=30))
                .strftime("%Y-%m-%dT%H:%M:%SZ")})],
        {"3": None}, {1: "is in the future", 2: "is in the future"}, args=TS,
        check=_check_future),
    "utf8_bom": Case(
        [b"\xef\xbb\xbf" + GOOD.encode(), dumps({"id": 2})], {"1": {"id": 1, "name": "good"},
                                                            "2": None}, check=_check_bom),
    "crlf_line_endings": Case(
        [GOOD, dumps({"id": 2, "name": "two"}), "", dumps({"id": 3})],
        {"1": {"id": 1, "name": "good"}, "2": {"id": 2, "name": "two"}, "3": None},
        newline=b"\r\n", check=_check_crlf),
    "invalid_utf8": Case(
        [GOOD, b'{"id": 9, "name": "caf\xe9"}', b'{"id": 10, "n": "\xff\xfe"}',
         dumps({"id": 11, "name": "Zoë 中文 🎓"}).encode("utf-8"), b'{"id": 12}\xc3'],
        {"1": None, "11": None}, {2: "invalid UTF-8", 3: "invalid UTF-8", 5: "invalid"},
        check=_check_utf8),
    "truncated_last_line": Case(
        [GOOD, dumps({"id": 2}), '{"id": 3, "name": "trunc'], {"1": None, "2": None},
        {3: "invalid JSON"}, final_newline=False),
    "last_line_without_newline": Case(
        [GOOD, dumps({"id": 2})], {"1": None, "2": None}, final_newline=False),
    "ten_mb_line": Case(
        [dumps({"id": 1, "blob": "a" * TEN_MB}), '{"id": 2, "blob": "' + "b" * TEN_MB],
        {"1": None}, {2: "invalid JSON"}, check=_check_long_line),
    "deeply_nested_objects": Case(
        [_nested(100), _nested(300).replace('"id": 1', '"id": 2'),
         _nested(5000).replace('"id": 1', '"id": 3')],
        {"1": None}, {2: "nested deeper than 254 levels", 3: "invalid JSON"}),
    "keys_that_differ_only_in_case": Case(
        ['{"id": 1, "ID": 2, "Id": 3, "name": "a", "Name": "b"}', '{"ID": 5}'],
        {"1": None}, {2: "missing or null id field 'id'"}, check=_check_case_keys),
    "nan_and_infinity_literals": Case(
        [GOOD, '{"id": 2, "score": NaN}', '{"id": 3, "score": Infinity}',
         '{"id": 4, "score": -Infinity}', '{"id": 5, "score": 1e400}'],
        {"1": None}, {2: "invalid JSON", 3: "invalid JSON", 4: "invalid JSON",
                      5: "invalid JSON"}),
    "empty_file": Case([], {}),
    "whitespace_only_file": Case(["", "   ", "\t"], {}),
    "surrounding_whitespace_and_big_integers": Case(
        ['   {"id": 1, "n": 123456789012345678901234567890}  ',
         '{"id": 123456789012345678901234567890}'],
        {"1": None, "123456789012345678901234567890": None}),
    "nul_character_escape": Case(
        [GOOD, '{"id": 2, "s": "a\\u0000b"}', '{"id": 3, "s": "a\\\\u0000b"}'],
        {"1": None, "2": {"id": 2, "s": "a\x00b"}, "3": {"id": 3, "s": "a\\u0000b"}},
        postgres_loaded={"1": None, "3": {"id": 3, "s": "a\\u0000b"}},
        postgres_rejects={2: "U+0000"}),
    "one_line_array_of_numbers": Case(
        ["[1, 2, 3]", GOOD], {"1": None}, {1: "not a JSON object (a array)"}),
}


def _assert_outcome(env, path, case: Case, result_output: str) -> None:
    loaded = case.loaded
    expected_rejects = case.rejects
    if env.engine == "postgres":
        loaded = case.postgres_loaded if case.postgres_loaded is not None else loaded
        if case.postgres_rejects is not None:
            expected_rejects = case.postgres_rejects
    ids = sorted(r[0] for r in env.query(f"select id from {TABLE}"))
    assert ids == sorted(loaded), result_output
    for rid, payload in loaded.items():
        if payload is not None:
            assert _payload(env, rid) == payload, rid
    rejects = env.query("select line_number, reason, source_file, line_excerpt, load_id "
                        "from meta.load_reject order by line_number")
    assert [r[0] for r in rejects] == sorted(expected_rejects), rejects
    for number, reason, source_file, excerpt, _ in rejects:
        assert expected_rejects[number] in reason, (number, reason)
        assert source_file == str(path)
        assert len(excerpt) <= 200
    (load_id, read, written, skipped, rejected, status), = env.query(
        "select load_id, rows_read, rows_written, rows_skipped, rows_rejected, status "
        "from meta.load_file")
    assert status == "success"
    assert read == written + skipped + rejected
    assert rejected == len(rejects)
    assert {r[4] for r in rejects} <= {load_id}
    records = sum(1 for ln in case.lines if (ln.strip() if isinstance(ln, str) else ln.strip()))
    assert read == records, "blank lines are not records; every other line is read"
    expected_written = case.rows_written if case.rows_written is not None else len(loaded)
    assert written == expected_written
    metrics = json.loads(env.scalar("select metrics_json from meta.job_run where run_id = ?",
                                    (load_id,)))
    assert (metrics["rows_read"], metrics["rows_written"], metrics["rows_skipped"],
            metrics["rows_rejected"]) == (read, written, skipped, rejected)


@pytest.mark.parametrize("kind", list(CASES))
def test_bad_input_kind_has_its_outcome(env, kind):
    case = CASES[kind]
    path = write_lines(env, f"{kind}.jsonl", case.lines, case.newline, case.final_newline)
    result = env.load(path, TABLE, *case.args)
    _assert_outcome(env, path, case, result.output)
    if case.check:
        case.check(env, path)


def test_bad_input_every_kind_in_one_file(env):
    """All line-level kinds at once: the line numbers are the file's, counts add up."""
    lines, loaded, rejects = [], {}, {}
    for kind, case in CASES.items():
        if case.args or case.postgres_rejects or kind in ("utf8_bom", "ten_mb_line"):
            continue  # timestamps need --updated-field; BOM only counts on line 1
        offset = len(lines)
        key = kind[:20]
        rekeyed = {}
        for number, line in enumerate(case.lines, start=1):
            if isinstance(line, str):
                line = line.encode()
            # Give each case's records their own ids: "<kind>:<id>".
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                obj = None
            if isinstance(obj, dict) and isinstance(obj.get("id"), (int, str)) \
                    and not isinstance(obj.get("id"), bool) and str(obj["id"]).strip() \
                    and len(str(obj["id"])) <= 400 and b"NaN" not in line \
                    and b"Infinity" not in line and b"1e400" not in line \
                    and line.count(b"[") < 200:
                rekeyed[str(obj["id"])] = obj["id"] = f"{key}:{obj['id']}"
                line = json.dumps(obj).encode()
            lines.append(line)
            if number in case.rejects:
                rejects[offset + number] = case.rejects[number]
        for rid in case.loaded:
            loaded[rekeyed.get(rid, rid)] = None
    path = write_lines(env, "everything.jsonl", lines)
    result = env.load(path, TABLE, "--max-rejects", 1000)
    case = Case(lines, loaded, rejects)
    _assert_outcome(env, path, case, result.output)


def test_bad_input_gzip_by_extension(env):
    path = env.root / "things.jsonl.gz"
    path.write_bytes(gzip.compress(f"{GOOD}\noops\n{dumps({'id': 2})}\n".encode()))
    env.load(path, TABLE)
    assert sorted(r[0] for r in env.query(f"select id from {TABLE}")) == ["1", "2"]
    assert env.query("select line_number, source_file from meta.load_reject") == [
        (2, str(path))]


def test_bad_input_gzip_by_magic_bytes_without_extension(env):
    path = env.root / "things.jsonl"
    path.write_bytes(gzip.compress(f"\ufeff{GOOD}\r\n{dumps({'id': 2})}\r\n".encode()))
    env.load(path, TABLE)
    assert sorted(r[0] for r in env.query(f"select id from {TABLE}")) == ["1", "2"]
    assert _payload(env, "1") == {"id": 1, "name": "good"}
    # A .gz name on a plain file is read as plain text: the bytes decide.
    plain = env.root / "plain.jsonl.gz"
    plain.write_text(dumps({"id": 3}) + "\n")
    env.load(plain, TABLE)
    assert env.scalar(f"select count(*) from {TABLE} where id = '3'") == 1


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_bad_input_damaged_gzip_fails_cleanly_and_writes_nothing(env, damage):
    env.load(env.write_jsonl("first.jsonl", [{"id": 1, "v": 1}]), TABLE)
    before = table_rows(env, TABLE)
    data = gzip.compress("".join(dumps({"id": i, "v": 2}) + "\n"
                                 for i in range(1, 20000)).encode())
    path = env.root / "damaged.jsonl.gz"
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(data[:-8] + bytes(8))  # CRC and length zeroed
    result = env.load(path, TABLE, expect=1)
    assert "cannot be read to the end" in result.output and str(path) in result.output
    assert "Traceback" not in result.output
    assert table_rows(env, TABLE) == before
    assert env.scalar("select status from meta.load_file where source_file = ?",
                      (str(path),)) == "failed"


@pytest.mark.parametrize("layout", ["pretty", "one_line", "after_blank_lines"])
def test_bad_input_json_array_file_declared_jsonl_is_refused_with_a_hint(env, layout):
    records = [{"id": 1}, {"id": 2}]
    text = {"pretty": json.dumps(records, indent=2),
            "one_line": json.dumps(records),
            "after_blank_lines": "\n\n" + json.dumps(records, indent=2)}[layout]
    path = env.root / "things.json"
    path.write_text(text + "\n")
    result = env.load(path, TABLE, "--format", "jsonl", expect=1)
    out = result.output
    assert "JSON array, not JSON Lines" in out and "--format json" in out, out
    line = 3 if layout == "after_blank_lines" else 1
    assert f"{path}:{line}:" in out
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out
    assert env.scalar(f"select count(*) from {TABLE}") == 0


def test_bad_input_resent_big_integer_that_changed_is_written(env):
    """Integers beyond 64 bits are compared exactly, not as floats (which would
    make ...890 and ...891 the same value and the change invisible)."""
    env.load(env.write_jsonl("a.jsonl", [], raw_lines=[
        '{"id": 1, "n": 123456789012345678901234567890}']), TABLE)
    result = env.load(env.write_jsonl("b.jsonl", [], raw_lines=[
        '{"n": 123456789012345678901234567891, "id": 1}']), TABLE, "--silent")
    assert env.scalar("select rows_written from meta.load_file where source_file like ?",
                      ("%b.jsonl",)) == 1, result.output
    same = env.load(env.write_jsonl("c.jsonl", [], raw_lines=[
        '{"id":1,"n":123456789012345678901234567891}']), TABLE)
    assert env.scalar("select rows_written from meta.load_file where source_file like ?",
                      ("%c.jsonl",)) == 0, same.output


def test_bad_input_offset_timestamp_moves_watermark_in_utc(env):
    path = write_lines(env, "a.jsonl", [
        dumps({"id": 1, "updated_at": "2026-09-03T23:30:00-05:00"}),  # 04:30 next day UTC
        dumps({"id": 2, "updated_at": "2026-09-04T03:00:00Z"}),
    ])
    env.load(path, TABLE, *INCR)
    assert watermark(env, "canvas_things") == datetime(2026, 9, 4, 4, 30)
    # A later file at the same instant written with another offset is at the
    # boundary, not below it: compared by hash, so a new record is not lost.
    later = write_lines(env, "b.jsonl", [
        dumps({"id": 3, "updated_at": "2026-09-04T06:30:00+02:00"}),
        dumps({"id": 4, "updated_at": "2026-09-04T04:29:59Z"}),  # below: skipped
    ])
    env.load(later, TABLE, *INCR)
    assert sorted(r[0] for r in env.query(f"select id from {TABLE}")) == ["1", "2", "3"]


# -- the reject limit ------------------------------------------------------------

def _seed(env):
    path = env.write_jsonl("seed.jsonl", [
        {"id": 1, "updated_at": "2026-09-01T00:00:00Z"},
        {"id": 2, "updated_at": "2026-09-02T00:00:00Z"},
    ])
    env.load(path, TABLE, *INCR)
    return table_rows(env, TABLE), env.query("select * from meta.watermark")


@pytest.mark.parametrize("max_rejects", [0, 3])
def test_bad_input_past_max_rejects_fails_writes_nothing_and_says_where_to_look(
        env, max_rejects):
    raw_before, watermark_before = _seed(env)
    lines = [dumps({"id": 1, "updated_at": "2026-10-01T00:00:00Z", "v": "changed"}),
             dumps({"id": 3, "updated_at": "2026-10-02T00:00:00Z"})]
    lines += ["oops"] * (max_rejects + 1) + [dumps({"id": 4, "updated_at": "2026-10-03"})]
    path = write_lines(env, "bad.jsonl", lines)
    result = env.load(path, TABLE, *INCR, "--max-rejects", max_rejects, expect=1)
    out = result.output.strip()
    assert len(out.splitlines()) == 1 and out.startswith("Error:") and "Traceback" not in out
    assert f"more than {max_rejects} lines rejected" in out
    assert str(path) in out and "first at line 3" in out
    load_id = env.scalar("select load_id from meta.load_file where source_file = ?",
                         (str(path),))
    assert f"`loader rejects {load_id}`" in out
    assert "--max-rejects" in out
    shown = env.cli("rejects", load_id).output.splitlines()
    lines_word = "line" if max_rejects == 0 else "lines"
    assert shown[0] == f"load {load_id}: {max_rejects + 1} rejected {lines_word}"
    assert shown[1].startswith(f"{path}:3: ") and shown[2].strip() == "oops"
    # Nothing written, the watermark where it was ...
    assert table_rows(env, TABLE) == raw_before
    assert env.query("select * from meta.watermark") == watermark_before
    # ... but the rejects found are logged, and the load is a visible failure.
    rejected = env.query("select line_number from meta.load_reject where load_id = ? "
                         "order by line_number", (load_id,))
    assert [r[0] for r in rejected] == list(range(3, 3 + max_rejects + 1))
    status, rows_rejected, rows_written = env.query(
        "select status, rows_rejected, rows_written from meta.load_file where load_id = ?",
        (load_id,))[0]
    assert (status, rows_rejected, rows_written) == ("failed", max_rejects + 1, 0)
    job_status, error = env.query("select status, error_message from meta.job_run "
                                  "where run_id = ?", (load_id,))[0]
    assert job_status == "failed" and "lines rejected" in error


def test_bad_input_counts_add_up_for_a_failed_load_too(env):
    path = write_lines(env, "bad.jsonl", [GOOD, "oops", "oops"])
    env.load(path, TABLE, "--max-rejects", 1, expect=1)
    read, written, skipped, rejected = env.query(
        "select rows_read, rows_written, rows_skipped, rows_rejected from meta.load_file")[0]
    assert read == written + skipped + rejected


def test_bad_input_exactly_max_rejects_still_loads(env):
    path = write_lines(env, "bad.jsonl", [GOOD, "oops", "oops", dumps({"id": 2})])
    env.load(path, TABLE, "--max-rejects", 2)
    assert env.scalar(f"select count(*) from {TABLE}") == 2
    assert successful_loads(env, TABLE)[0][3:] == (4, 2, 0, 2)


def test_bad_input_reject_limit_on_a_first_load_leaves_the_table_empty(env):
    path = write_lines(env, "bad.jsonl", [GOOD] + ["oops"] * 101)
    result = env.load(path, TABLE, expect=1)
    assert "more than 100 lines rejected" in result.output
    assert env.scalar(f"select count(*) from {TABLE}") == 0
    assert env.scalar("select count(*) from meta.load_reject") == 101
    assert env.query("select * from meta.watermark") == []
    # Fixed, the same file name loads (the failed load does not count as loaded).
    write_lines(env, "bad.jsonl", [GOOD])
    env.load(path, TABLE)
    assert env.scalar(f"select count(*) from {TABLE}") == 1
