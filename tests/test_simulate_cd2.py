"""`loader simulate --shape cd2`: the REST simulation of the same seed as Canvas Data 2
envelopes (CD2 names, key-only deletes in follow-ups), loaded by `loader run` with
the shipped pipeline.yml into the same curated rows, deletes flagged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loader.simulate import simulate
from loader.simulate.cd2 import RENAMES, rest_record

PROJECT = Path(__file__).resolve().parent.parent
SIZE = {"students": 24, "courses": 3, "assignments_per_course": 3}
CUR = ("dim_student", "dim_course", "dim_assignment", "fact_enrollment", "fact_submission")


def _lines(path: Path) -> list:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            out.append(line)
    return out


def _two_batches(root: Path, shape: str) -> list[dict]:
    return [simulate(root, seed=7, shape=shape, **SIZE),
            simulate(root, seed=7, follow_up=True)]


def test_simulate_cd2_is_the_rest_batch_as_envelopes_with_deletes(tmp_path):
    rest, cd2 = _two_batches(tmp_path / "rest", "rest"), _two_batches(tmp_path / "cd2", "cd2")
    assert [m["shape"] for m in cd2] == ["cd2", "cd2"]  # the follow-up kept the shape
    assert "shape" not in rest[1]
    deleted = cd2[1]["categories"]
    assert deleted["submissions"]["deleted"] and deleted["enrollments"]["deleted"]
    for batch in ("batch-0001", "batch-0002"):
        for path in sorted((tmp_path / "rest" / batch).glob("*.jsonl")):
            entity = path.stem.removeprefix("canvas_")
            plain, envs = _lines(path), _lines(tmp_path / "cd2" / batch / path.name)
            deletes = [e for e in envs if isinstance(e, dict) and e["meta"]["action"] == "D"]
            assert [e["key"]["id"] for e in deletes] == \
                (deleted[entity]["deleted"] if batch == "batch-0002" else [])
            assert all(set(e) == {"key", "meta"} for e in deletes)
            upserts = envs[:len(envs) - len(deletes)]
            assert len(upserts) == len(plain)
            for record, envelope in zip(plain, upserts):
                if not isinstance(record, dict):  # a bad line stays what it was
                    assert envelope == record
                elif "id" not in record:  # no id: an empty key, rejected like the REST line
                    assert envelope["key"] == {}
                else:
                    assert envelope["key"] == {"id": record["id"]} and "id" not in envelope["value"]
                    assert set(RENAMES.get(entity, {})) & set(envelope["value"]) == set()
                    assert rest_record(entity, envelope) == record
    # Same seed, same bytes.
    again = _two_batches(tmp_path / "again", "cd2")
    assert again == cd2
    for path in (tmp_path / "cd2").rglob("*.jsonl"):
        assert path.read_bytes() == (tmp_path / "again" / path.relative_to(tmp_path / "cd2")) \
            .read_bytes()


@pytest.mark.parametrize("entity", sorted(RENAMES))
def test_simulate_cd2_names_are_the_ones_staging_maps(entity):
    """Every CD2 name the simulator writes is read in the entity's staging model, on a
    line marked `CD2:` (where staging maps it)."""
    sql = (PROJECT / "models" / "staging" / f"stg_canvas__{entity}.sql").read_text()
    cd2_lines = [line for line in sql.splitlines() if "CD2:" in line]
    for rest_name, cd2_name in RENAMES[entity].items():
        assert f"'{rest_name}'" in sql
        assert any(cd2_name in line for line in cd2_lines) or f"'{cd2_name}') }}}}  -- CD2" in sql


def _cur_state(env) -> dict:
    state = {t: env.scalar(f"select count(*) from cur.{t}") for t in CUR}
    state["assignments"] = env.query(
        "select assignment_id, assignment_name, course_id, is_published "
        "from cur.dim_assignment order by assignment_id")
    state["courses"] = env.query(
        "select course_id, sis_course_id, cast(end_at as varchar(30)) "
        "from cur.dim_course order by course_id")
    state["enrollments"] = env.query(
        "select enrollment_id, enrollment_state from cur.fact_enrollment "
        "order by enrollment_id")
    state["rejects"] = env.scalar("select count(*) from meta.load_reject")
    return state


def _drop_everything(env) -> None:
    for schema in ("mart", "cur", "stg", "snap", "raw", "meta"):
        env.execute(f"drop schema if exists {schema} cascade", engine_specific=True)


@pytest.mark.engines("duckdb", "postgres")
def test_simulate_cd2_run_builds_the_rest_rows_with_deletes_flagged(env):
    _two_batches(env.root / "rest", "rest")
    manifests = _two_batches(env.data, "cd2")
    env.cli("run", "--data-dir", env.root / "rest", "--silent")
    rest = _cur_state(env)
    assert env.scalar("select count(*) from cur.fact_submission where is_deleted = 1") == 0
    _drop_everything(env)

    env.cli("run", "--data-dir", env.data, "--silent")
    cd2 = _cur_state(env)
    # The same rows (deleted ones stay, flagged), CD2 names mapped to the same values,
    # the same bad lines rejected.
    assert cd2 == rest
    assert all(name and course for _, name, course, _ in cd2["assignments"])
    assert all(state for _, state in cd2["enrollments"])
    deleted = manifests[1]["categories"]
    # CD2's enrollment workflow_state `deleted` (REST: enrollment_state) is a soft delete.
    soft = [eid for eid, state in cd2["enrollments"] if state == "deleted"]
    for table, key, entity, more in (
        ("fact_submission", "submission_id", "submissions", []),
        ("fact_enrollment", "enrollment_id", "enrollments", soft),
    ):
        flagged = env.query(f"select {key} from cur.{table} "
                            f"where is_deleted = 1 and deleted_at is not null order by {key}")
        assert [row[0] for row in flagged] == sorted(deleted[entity]["deleted"] + more)
    # The raw rows keep the envelope; the deleted ones keep their last payload.
    sid = deleted["submissions"]["deleted"][0]
    payload = env.scalar("select payload from raw.canvas_submissions where id = ?", (str(sid),))
    body = payload if isinstance(payload, dict) else json.loads(payload)
    assert body["meta"]["action"] == "U" and "assignment_id" in body["value"]


@pytest.mark.engines("duckdb")
def test_simulate_cd2_from_the_cli_and_run_demo_shape(env):
    out = env.cli("simulate", env.root / "sim", "--shape", "cd2", "--students", 10,
                  "--courses", 2).output
    assert "wrote" in out and "batch-0001" in out
    env.cli("simulate", env.root / "sim", "--follow-up", "--silent")
    manifest = json.loads((env.root / "sim" / "batch-0002" / "manifest.json").read_text())
    assert manifest["shape"] == "cd2"  # the follow-up kept the shape
    wrong = env.cli("simulate", env.root / "other", "--shape", "xml", expect=2).output
    assert "'xml' is not one of 'rest', 'cd2'" in wrong
    # run --demo --demo-shape cd2: the demo data as envelopes, loaded as CD2.
    env.cli("run", "--demo", "--demo-shape", "cd2", "--data-dir", env.data, "--no-build",
            "--silent")
    assert json.loads((env.data / "batch-0001" / "manifest.json").read_text())["shape"] == "cd2"
    payload = env.scalar("select payload from raw.canvas_assignments order by id")
    body = json.loads(payload) if isinstance(payload, str) else payload
    assert set(body) == {"key", "value", "meta"} and "title" in body["value"]
    assert env.scalar("select count(*) from raw.canvas_submissions "
                      "where deleted_at is not null") > 0
