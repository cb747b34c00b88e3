"""Data contracts: a JSON Schema per source (pipeline.yml `contract:`, inline or a
file; `loader load --contract FILE`). A record that breaks it is a reject like
any other bad line: meta.load_reject names the file, the line, the field and the
rule, and it counts toward --max-rejects."""

from __future__ import annotations

import json

import pytest

ROSTER = {
    "type": "object",
    "required": ["id", "name", "grade_level"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string", "minLength": 1},
        "grade_level": {"type": "integer", "minimum": 1, "maximum": 12},
        "status": {"enum": ["active", "withdrawn"]},
        "sis_id": {"type": "string", "pattern": "^S[0-9]{4}$"},
        "updated_at": {"type": "string"},
    },
}


def student(sid, **fields):
    record = {"id": sid, "name": f"S{sid}", "grade_level": 9, "status": "active",
              "sis_id": f"S{sid:04d}", "updated_at": "2026-01-01T00:00:00Z"}
    record.update(fields)
    return {k: v for k, v in record.items() if v is not ...}


BAD = [
    (student(2, grade_level="nine"), "contract: field 'grade_level' breaks type (must be integer)"),
    (student(3, name=...), "contract: field 'name' breaks required (the record lacks it)"),
    (student(4, status="graduated"),
     "contract: field 'status' breaks enum (must be one of ['active', 'withdrawn'])"),
    (student(5, grade_level=13),
     "contract: field 'grade_level' breaks maximum (must be smaller than or equal to 12)"),
    (student(6, sis_id="X-6"),
     "contract: field 'sis_id' breaks pattern (must match pattern ^S[0-9]{4}$)"),
]


def write_contract(env, name="roster.schema.json", schema=None) -> str:
    path = env.root / name
    path.write_text(json.dumps(schema or ROSTER))
    return str(path)


def test_contract_violations_become_rejects_naming_field_and_rule(env):
    path = env.write_jsonl("b1/roster.jsonl", [student(1)] + [r for r, _ in BAD]
                           + [student(7)])
    out = env.cli("load", path, "--table", "raw.sis_students",
                  "--contract", write_contract(env)).output
    assert "read 7, written 2 (new 2, changed 0), skipped 0, rejected 5" in out
    assert env.query("select id from raw.sis_students order by id") == [("1",), ("7",)]
    rejects = env.query("select source_file, line_number, reason from meta.load_reject "
                        "order by line_number")
    assert rejects == [(str(path), n, reason) for n, (_, reason) in enumerate(BAD, start=2)]
    assert env.query("select rows_read, rows_written, rows_skipped, rows_rejected "
                     "from meta.load_file") == [(7, 2, 0, 5)]


def test_contract_past_max_rejects_fails_writes_nothing_watermark_unmoved(env):
    args = ("--table", "raw.sis_students", "--contract", write_contract(env),
            "--updated-field", "updated_at", "--incremental")
    env.cli("load", env.write_jsonl("b1/roster.jsonl", [student(1)]), *args)
    before = env.query("select id, payload_hash, ingested_at from raw.sis_students")
    watermark = env.query("select last_updated_at, load_id from meta.watermark")
    path = env.write_jsonl("b2/roster.jsonl", [
        student(1, name="New", updated_at="2026-02-01T00:00:00Z"),
        student(2, grade_level=0, updated_at="2026-02-01T00:00:00Z"),
        student(3, status="x", updated_at="2026-02-01T00:00:00Z"),
        student(4, sis_id="?", updated_at="2026-02-01T00:00:00Z")])
    result = env.cli("load", path, *args, "--max-rejects", "2", expect=1)
    assert f"{path}: more than 2 lines rejected (first at line 2: contract: field " \
        "'grade_level' breaks minimum" in result.output
    assert env.query("select id, payload_hash, ingested_at from raw.sis_students") == before
    assert env.query("select last_updated_at, load_id from meta.watermark") == watermark
    assert env.scalar("select count(*) from meta.load_reject") == 3
    # Within the limit the same file loads its one good record.
    out = env.cli("load", path, *args, "--max-rejects", "3").output
    assert "written 1 (new 0, changed 1)" in out and "rejected 3" in out


def test_contract_inline_and_from_a_file_in_pipeline_yml(env):
    (env.root / "contracts").mkdir()
    (env.root / "contracts" / "roster.yml").write_text(
        "type: object\nrequired: [grade_level]\n"
        "properties:\n  grade_level: {type: integer, maximum: 12}\n")
    (env.root / "pipeline.yml").write_text(
        "sources:\n"
        "  - name: roster\n    table: raw.sis_students\n    files: '*/roster.jsonl'\n"
        "    contract: contracts/roster.yml\n"
        "  - name: attendance\n    table: raw.sis_attendance\n    files: '*/attendance.jsonl'\n"
        "    strategy: append\n"
        "    contract:\n      type: object\n      required: [status]\n"
        "      properties:\n        status: {enum: [present, absent, tardy]}\n")
    env.write_jsonl("data/batch-0001/roster.jsonl", [student(1), student(2, grade_level=14)])
    env.write_jsonl("data/batch-0001/attendance.jsonl", [
        {"id": "a1", "status": "present"}, {"id": "a2", "status": "late"}, {"id": "a3"}])
    env.cli("run", "--data-dir", env.data, "--config", env.root / "pipeline.yml", "--no-build")
    assert env.query("select id from raw.sis_students") == [("1",)]
    assert env.query("select id from raw.sis_attendance") == [("a1",)]
    assert sorted(r[0] for r in env.query("select reason from meta.load_reject")) == [
        "contract: field 'grade_level' breaks maximum (must be smaller than or equal to 12)",
        "contract: field 'status' breaks enum (must be one of ['present', 'absent', 'tardy'])",
        "contract: field 'status' breaks required (the record lacks it)",
    ]


def test_contract_checks_the_record_inside_an_envelope(env):
    schema = write_contract(env, "s.json", {"type": "object",
                                            "properties": {"score": {"maximum": 10}}})
    lines = [{"meta": {"action": "U", "ts": "2024-03-01T06:00:00Z"}, "key": {"id": 1},
              "value": {"score": 4}},
             {"meta": {"action": "U", "ts": "2024-03-01T06:00:00Z"}, "key": {"id": 2},
              "value": {"score": 40}},
             {"meta": {"action": "D", "ts": "2024-03-01T07:00:00Z"}, "key": {"id": 3}}]
    out = env.cli("load", env.write_jsonl("b1/s.jsonl", lines), "--table", "raw.subs",
                  "--contract", schema).output
    assert "rejected 1" in out
    assert env.scalar("select reason from meta.load_reject") == \
        "contract: field 'score' breaks maximum (must be smaller than or equal to 10)"


@pytest.mark.parametrize("contract, message", [
    ("missing.json", "--contract {root}/missing.json: cannot read it"),
    ("bad.json", "--contract {root}/bad.json: not valid JSON"),
    ("list.json", "--contract {root}/list.json: the file must hold one JSON Schema object"),
    ("wrong.json", "--contract: not a valid JSON Schema"),
    ("schema.txt", "--contract {root}/schema.txt: a contract file ends in .json, .yml or .yaml"),
    ("remote.json", "--contract: contract refers to https://example.com/s.json: remote $ref "
                    "is not fetched. Put the definitions into the schema itself ($defs)"),
])
def test_contract_bad_file_is_one_clear_error_before_anything_runs(env, contract, message):
    (env.root / "bad.json").write_text("{not json")
    (env.root / "list.json").write_text("[1, 2]")
    (env.root / "wrong.json").write_text('{"type": "integer", "minimum": "three"}')
    (env.root / "schema.txt").write_text("{}")
    (env.root / "remote.json").write_text('{"$ref": "https://example.com/s.json"}')
    path = env.write_jsonl("b1/r.jsonl", [student(1)])
    result = env.cli("load", path, "--table", "raw.sis_students",
                     "--contract", env.root / contract, expect=1)
    assert message.format(root=env.root) in result.output
    assert "Traceback" not in result.output
    assert env.is_empty()


def test_contract_a_source_without_one_imports_and_calls_nothing(tmp_path):
    """No contract: fastjsonschema is never imported and the reader has no check to call."""
    import subprocess
    import sys

    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(student(1)) + "\n")
    code = ("import sys; from loader.options import LoadOptions; "
            "from loader.read import RecordReader; "
            "o = LoadOptions(table='raw.x'); "
            f"r = RecordReader({str(path)!r}, contract=o.contract_validator); "
            "n = sum(len(c) for c in r); "
            "print(n, o.contract_validator, r._contract, 'fastjsonschema' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["1", "None", "None", "False"]


def test_contract_applies_to_a_csv_source_with_its_row_numbers(env):
    """A CSV row is checked like a JSONL record (the readers' own record loop)."""
    path = env.root / "roster.csv"
    path.write_text("id,name,grade_level\n1,Ada,9\n2,Ben,nine\n3,,10\n4,Cy,11\n")
    schema = {"type": "object", "required": ["id", "name", "grade_level"],
              "properties": {"name": {"type": "string", "minLength": 1},
                             # CSV values are text unless the source declares types
                             "grade_level": {"type": "string", "pattern": "^[0-9]+$"}}}
    out = env.cli("load", path, "--table", "raw.sis_csv_students",
                  "--contract", write_contract(env, schema=schema)).output
    assert "read 4, written 2" in out and "rejected 2" in out, out
    assert env.query("select id from raw.sis_csv_students order by id") == [("1",), ("4",)]
    rejects = env.query("select line_number, reason from meta.load_reject order by line_number")
    assert [n for n, _ in rejects] == [3, 4], rejects
    assert "field 'grade_level' breaks pattern" in rejects[0][1], rejects
    assert "field 'name' breaks" in rejects[1][1], rejects


# -- the check takes the parser's object: a line is parsed once ------------------------------

BIG = 123456789012345678901234567890  # beyond 64 bits: orjson would read a float

READER_SCHEMA = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "score": {"type": "number", "maximum": 10},
        # exact: BIG + 1 breaks it, orjson's float reading of it would not
        "big": {"type": "integer", "maximum": BIG},
        # a default is not filled in (use_default=False): payloads and hashes stay
        "note": {"type": ["string", "null"], "default": "none"},
    },
}
PLAIN = [
    b'{"id": 1, "score": 3}',
    b'{"id": 2, "score": 30}',
    b'{"id": 3, "score": "3"}',
    b'{"id": 4, "big": %d, "score": 1}' % BIG,
    b'{"id": 5, "big": %d}' % (BIG + 1),
    b'{"id": 6, "workflow_state": "deleted", "score": 99}',
    b'{"id": 7, "workflow_state": "deleted", "score": 9}',
    b'{"id": 8, "score": 2}\r',  # an odd line: the line rules, then the parsers
    b'{"score": 1}',  # the parser's reject comes first
    b'{"id": 9, "nested": {"score": 99}}',
]
CD2 = [
    b'{"key": {"id": 1}, "value": {"id": 1, "score": 4}, "meta": {"action": "U"}}',
    b'{"key": {"id": 2}, "value": {"id": 2, "score": 40}, "meta": {"action": "U"}}',
    b'{"key": {"id": 3}, "value": {"id": 3, "big": %d}, "meta": {"action": "U"}}' % (BIG + 1),
    b'{"key": {"id": 4}, "meta": {"action": "D"}}',
    b'{"key": {"id": 5}, "value": {"id": 5, "score": 5, "workflow_state": "deleted"},'
    b' "meta": {"action": "U"}}',
]
DEBEZIUM = [
    b'{"op": "c", "after": {"id": 1, "score": 4}, "source": {"ts_ms": 1}}',
    b'{"op": "u", "after": {"id": 2, "score": 40}, "before": {"id": 2, "score": 4}}',
    b'{"op": "d", "before": {"id": 3, "score": 400}}',
    b'{"op": "r", "after": {"id": 4, "big": %d}}' % BIG,
]


def _read(path, schema=None, **kw):
    """(rows: (line, id, payload, hash, updated_at), rejects, deletes) of a RecordReader."""
    from loader.data_contract import compile_contract
    from loader.read import RecordReader

    # profile_keys=False: the payload-key profile reads (some) payloads of its own
    reader = RecordReader(path, contract=compile_contract(schema, "test"), profile_keys=False,
                          **kw)
    rows = [row for chunk in reader for row in zip(
        chunk.line_number, chunk.id, chunk.payload, chunk.payload_hash,
        chunk.record_updated_at)]
    return rows, reader.rejects, reader.deletes


def _as_before(path, schema, shape_key=None, **kw):
    """What the reader gave before the check took the parser's object: the reader
    without a contract, each of its records then checked on the line parsed again
    (exactly, with the standard library)."""
    from loader.data_contract import compile_contract
    from loader.read.contract_check import reason
    from fastjsonschema import JsonSchemaValueException

    validator = compile_contract(schema, "test")
    lines = path.read_bytes().split(b"\n")
    rows, rejects, deletes = _read(path, **kw)
    kept = []
    for row in rows:
        record = json.loads(row[2])
        if shape_key is not None:
            record = record.get(shape_key)
        try:
            if isinstance(record, dict):
                validator(record)
            kept.append(row)
        except JsonSchemaValueException as exc:
            rejects.append((row[0], reason(exc), lines[row[0] - 1].decode()))
            if deletes.get(row[1], (None,))[0] == row[0]:  # a soft delete that breaks it
                del deletes[row[1]]
    return kept, sorted(rejects), deletes


@pytest.mark.parametrize("shape, lines, content_key", [
    ("plain", PLAIN, None), ("cd2", CD2, "value"), ("debezium", DEBEZIUM, "after")])
def test_contract_reader_outcomes_with_the_parsers_object(tmp_path, shape, lines, content_key):
    """The same rows (payloads as received, hashes), rejects and deletes as a load
    without a contract whose records are then checked on their exact reading;
    a soft delete is checked, a delete is not; long integers are compared exactly."""
    path = tmp_path / f"{shape}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    for lean in (True, False):
        rows, rejects, deletes = _read(path, READER_SCHEMA, lean=lean)
        assert (rows, sorted(rejects), deletes) == \
            _as_before(path, READER_SCHEMA, content_key, lean=lean)
    reasons = {number: why for number, why, _ in rejects}
    if shape == "plain":
        assert reasons == {
            2: "contract: field 'score' breaks maximum (must be smaller than or equal to 10)",
            3: "contract: field 'score' breaks type (must be number)",
            5: f"contract: field 'big' breaks maximum (must be smaller than or equal to {BIG})",
            6: "contract: field 'score' breaks maximum (must be smaller than or equal to 10)",
            9: "missing or null id field 'id'"}
        assert [r[1] for r in rows] == ["1", "4", "7", "8", "9"] and set(deletes) == {"7"}
        assert rows[1][2] == PLAIN[3]  # the line as received, BIG's digits and all
    elif shape == "cd2":
        assert sorted(reasons) == [2, 3] and set(deletes) == {"4", "5"}
    else:
        assert sorted(reasons) == [2] and set(deletes) == {"3"}


def test_contract_a_plain_line_is_parsed_once(tmp_path, monkeypatch):
    """With a contract the lean parser's object is what is checked: one orjson
    parse per record that meets it (before: two), the strict parser's second
    reading only for a line that breaks it (it writes the reject)."""
    import orjson

    path = tmp_path / "r.jsonl"
    path.write_bytes(b"".join(b'{"id": %d, "score": %d}\n' % (i, i % 12) for i in range(100)))
    calls = []
    loads = orjson.loads
    monkeypatch.setattr(orjson, "loads", lambda raw: calls.append(raw) or loads(raw))
    rows, rejects, _ = _read(path, READER_SCHEMA, shape="plain")
    assert len(rows) == 92 and len(rejects) == 8  # scores 11 break the maximum
    assert len(calls) == 92 + 2 * 8


def test_contract_a_csv_row_is_checked_as_its_payload_holds_it(tmp_path, monkeypatch):
    """A CSV row is checked on the record the reader built (not its payload parsed
    again), as the payload holds it: a number column's 1e999 is stored as null."""
    import orjson

    from loader.read.formats import FileFormat

    path = tmp_path / "r.csv"
    path.write_text("id,score,note\n1,3,\n2,30,a\n3,1e999,b\n4,5,\n")
    fmt = FileFormat(name="csv", types=(("id", "integer"), ("score", "number")))
    calls = []
    loads = orjson.loads
    monkeypatch.setattr(orjson, "loads", lambda raw: calls.append(raw) or loads(raw))
    rows, rejects, _ = _read(path, READER_SCHEMA, fmt=fmt)
    plain_rows, _, _ = _read(path, fmt=fmt)
    assert rows == [r for r in plain_rows if r[1] in ("1", "4")]
    assert rows[1][2] == b'{"id":4,"score":5,"note":null}'  # no default filled in
    assert [(n, why) for n, why, _ in rejects] == [
        (3, "contract: field 'score' breaks maximum (must be smaller than or equal to 10)"),
        (4, "contract: field 'score' breaks type (must be number)")]
    assert [c for c in calls if c.startswith(b'{"id":')] == [b'{"id":3,"score":null,"note":"b"}']
