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
