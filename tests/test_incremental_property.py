"""The incremental invariant, as a property: after ANY sequence of batches,
(1) raw holds exactly the latest version of every valid record, as the load
rules define it, and (2) the incremental dbt build equals a --full-refresh
build of the same raw data, for every curated and mart table.

Hypothesis generates sequences of 2-3 batches for the five Canvas sources
(shapes as loader/simulate/ writes them, reduced to the fields the models
read) from small id pools, so batches collide: new records, changed records,
byte-identical re-sends of earlier lines, the same instant written with
different UTC offsets (equal-timestamp boundary records), older timestamps
after newer ones (out of order: below the watermark), records without or with
a null updated_at, facts before their dimensions (a submission whose
assignment or user has not arrived), identity collisions between users
(shared sis_user_id, login ids differing only in case), duplicate ids within
a batch, and a few bad lines. Deletes: a batch's file may be written as Canvas
Data 2 envelopes instead (shape recognized per file), with `D` records (deletes
of known and unknown ids, older and newer than the row, repeated, followed by a
re-insert) mixed with upserts, and submissions may be soft-deleted
(`workflow_state: deleted`) in either shape. Strategies: each source is loaded
as upsert, append (an id already in raw is never rewritten) or snapshot (live
ids absent from a file without rejects are deleted; the size guard is off,
snapshot_min_ratio 0, it has tests of its own), drawn per example. Rollbacks:
after a batch, `loader rollback` may undo the latest load of a source (or, with
--cascade, the one before it too); the rolled-back files are moved out of the
data directory, and the model of raw goes back to its state before those loads.

After each batch: `loader run --no-build` (the real pipeline: every file of
pipeline.yml, in name order), raw compared with a model of the load rules,
`dbt build` (incremental), then `dbt run --full-refresh` of the curated and
mart models and a comparison. The incremental chain goes on from the
full-refresh state, which equals it when the property holds.

A dbt build takes seconds, so the default is small: the explicit example plus
CANVAS_PROPERTY_EXAMPLES generated ones (default 2); shrinking a failure
re-runs dozens of builds, so it is off unless CANVAS_PROPERTY_SHRINK=1.
For a longer run: CANVAS_PROPERTY_EXAMPLES=25 CANVAS_PROPERTY_SHRINK=1.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import datetime

import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from conftest import PROJECT_DIR, table_rows
from helpers_attack import CURATED, MARTS, dbt_build_ok, release_inprocess_duckdb, \
    reset_warehouse

EXAMPLES = int(os.environ.get("CANVAS_PROPERTY_EXAMPLES", "2"))
SHRINK = os.environ.get("CANVAS_PROPERTY_SHRINK") == "1"

ENTITIES = ("users", "courses", "assignments", "enrollments", "submissions")
UPDATED = {"enrollments", "assignments"}  # incremental on updated_at in pipeline.yml
POOL = {"users": 6, "courses": 3, "assignments": 4, "enrollments": 6, "submissions": 8}
ABSENT = "<absent>"
# The same instant in three spellings, a later one, an earlier one, a fraction.
TIMESTAMPS = {
    "2026-09-01T10:00:00Z": datetime(2026, 9, 1, 10, 0),
    "2026-09-01T12:00:00+02:00": datetime(2026, 9, 1, 10, 0),
    "2026-09-01T05:00:00-05:00": datetime(2026, 9, 1, 10, 0),
    "2026-09-02T08:30:00Z": datetime(2026, 9, 2, 8, 30),
    "2026-08-25T00:00:00Z": datetime(2026, 8, 25, 0, 0),
    "2026-09-03T00:00:00.500000Z": datetime(2026, 9, 3, 0, 0, 0, 500000),
}
SCORES = [None, 0.0, 5.5, 10.0, 7.5]  # multiples of 0.5: sums are exact in any order
BAD_LINES = ["oops, not JSON", '{"name": "no id"}', "[1, 2]"]


# -- record builders (Canvas REST shapes, the fields the models read) -----------------

def _with_updated(record: dict, updated: str | None) -> dict:
    if updated != ABSENT:
        record["updated_at"] = updated
    return record


def user(i, v, sis, login, email):
    return {"id": i, "name": f"User {i} v{v}", "sortable_name": f"{i}, User",
            "first_name": "User", "last_name": str(i), "short_name": f"U{i}",
            "sis_user_id": sis, "integration_id": None, "login_id": login, "email": email,
            "locale": "en", "last_login": "2026-10-01T08:00:00Z"}


def course(i, v):
    return {"id": i, "name": f"Course {i} v{v}", "course_code": f"C-{i}",
            "workflow_state": ("available", "completed")[v % 2], "account_id": 10,
            "root_account_id": 1, "enrollment_term_id": 3, "sis_course_id": f"C-{i}-FA26",
            "start_at": "2026-08-24T00:00:00-05:00", "end_at": None,
            "created_at": "2026-05-28T00:00:00Z", "time_zone": "America/Chicago",
            "is_public": False,
            "term": {"id": 3, "name": "Fall 2026", "start_at": "2026-08-24T00:00:00Z",
                     "end_at": "2026-12-18T23:59:59Z"}}


def assignment(i, v, course_id, points, updated):
    return _with_updated({
        "id": i, "name": f"Assignment {i} v{v}", "course_id": course_id,
        "created_at": "2026-08-20T00:00:00Z", "due_at": "2026-10-21T23:59:00-05:00",
        "points_possible": points, "grading_type": "points", "submission_types": ["online"],
        "workflow_state": "published", "published": True, "position": v}, updated)


def enrollment(i, v, user_id, course_id, etype, state, score, updated):
    return _with_updated({
        "id": i, "course_id": course_id, "user_id": user_id, "type": etype, "role": etype,
        "enrollment_state": state, "created_at": "2026-08-13T00:00:00Z",
        "last_activity_at": f"2026-09-{10 + v:02d}T06:00:00Z", "total_activity_time": 60 * v,
        "grades": {"current_score": score, "final_score": score, "current_grade": None,
                   "final_grade": None}}, updated)


def submission(i, v, assignment_id, user_id, state, score, submitted):
    return {"id": i, "assignment_id": assignment_id, "user_id": user_id, "attempt": 1,
            "grade": None if score is None else str(score), "score": score,
            "submitted_at": submitted, "graded_at": None, "workflow_state": state,
            "late": v == 1, "missing": v == 2, "excused": False, "seconds_late": 0}


def _ids(entity):
    return st.integers(1, POOL[entity])


UPDATED_AT = st.sampled_from([*TIMESTAMPS, None, ABSENT])
RECORDS = {
    "users": st.builds(user, _ids("users"), st.integers(0, 2),
                       st.sampled_from(["S1", "S2", None]),
                       st.sampled_from(["ada@x.edu", "ADA@x.edu", "bo@x.edu", None]),
                       st.sampled_from(["ada@x.edu", None])),
    "courses": st.builds(course, _ids("courses"), st.integers(0, 2)),
    "assignments": st.builds(assignment, _ids("assignments"), st.integers(0, 2),
                             _ids("courses"), st.sampled_from([None, 10.0, 20.0]), UPDATED_AT),
    "enrollments": st.builds(enrollment, _ids("enrollments"), st.integers(0, 2),
                             _ids("users"), _ids("courses"),
                             st.sampled_from(["StudentEnrollment", "TeacherEnrollment"]),
                             st.sampled_from(["active", "completed", "invited"]),
                             st.sampled_from(SCORES), UPDATED_AT),
    "submissions": st.builds(submission, _ids("submissions"), st.integers(0, 2),
                             _ids("assignments"), _ids("users"),
                             st.sampled_from(["submitted", "graded", "unsubmitted",
                                              "deleted"]),
                             st.sampled_from(SCORES),
                             st.sampled_from([None, "2026-09-15T14:00:00Z",
                                              "2026-09-15T23:30:00-05:00"])),
}


def _items(entity):
    """A file's lines: mostly records, some re-sends of an earlier line, few bad lines."""
    return st.lists(st.one_of(
        RECORDS[entity].map(lambda r: ("rec", r)),
        RECORDS[entity].map(lambda r: ("rec", r)),
        st.integers(0, 10_000).map(lambda k: ("resend", k)),
        st.sampled_from(BAD_LINES).map(lambda line: ("bad", line)),
        st.tuples(_ids(entity), st.sampled_from(list(TIMESTAMPS))).map(
            lambda d: ("delete", d)),  # a CD2 D record (dropped from a plain file)
    ), max_size=5)


STRATEGIES = st.fixed_dictionaries(
    {e: st.sampled_from(["upsert", "append", "snapshot"]) for e in ENTITIES})
ALL_UPSERT = {e: "upsert" for e in ENTITIES}
MIXED = {"users": "snapshot", "courses": "append", "assignments": "snapshot",
         "enrollments": "append", "submissions": "snapshot"}

BATCHES = st.lists(st.fixed_dictionaries({
    **{e: _items(e) for e in ENTITIES},
    "cd2": st.sets(st.sampled_from(ENTITIES)),  # the files written as CD2 envelopes
    # after the batch: roll back the source's latest load (0) or the two latest (1)
    "rollback": st.one_of(st.none(), st.tuples(st.sampled_from(ENTITIES), st.integers(0, 1))),
}), min_size=2, max_size=3)

# The named cases, always run: a fact before its dimension, a re-send, changes,
# the boundary instant in another offset, an out-of-order record, no updated_at,
# duplicates within a file, a sis_user_id that moves, a bad line.
U1, U2, U3 = (user(1, 0, "S1", "ada@x.edu", "ada@x.edu"), user(2, 0, "S1", "bo@x.edu", None),
              user(3, 0, None, "ADA@x.edu", None))
EXPLICIT = [
    {"users": [("rec", U1), ("rec", U2)],
     "courses": [("rec", course(1, 0))],
     "assignments": [("rec", assignment(1, 0, 1, 10.0, "2026-09-01T10:00:00Z"))],
     "enrollments": [("rec", enrollment(1, 0, 1, 1, "StudentEnrollment", "active", 5.5,
                                        "2026-09-01T10:00:00Z")),
                     ("rec", enrollment(2, 0, 3, 1, "StudentEnrollment", "active", None,
                                        ABSENT))],
     "submissions": [("rec", submission(1, 0, 1, 1, "graded", 7.5, "2026-09-15T14:00:00Z")),
                     ("rec", submission(2, 0, 2, 3, "submitted", None,
                                        "2026-09-15T23:30:00-05:00")),  # assignment 2 later
                     ("bad", BAD_LINES[0])]},
    {"users": [("resend", 0), ("rec", user(2, 1, "S2", "bo@x.edu", None)), ("rec", U3)],
     "courses": [("resend", 0)],
     "assignments": [("rec", assignment(1, 1, 1, 20.0, "2026-09-01T12:00:00+02:00")),
                     ("rec", assignment(2, 0, 1, 10.0, "2026-08-25T00:00:00Z"))],
     "enrollments": [("rec", enrollment(3, 0, 2, 1, "StudentEnrollment", "active", 10.0,
                                        "2026-09-01T05:00:00-05:00")),
                     ("rec", enrollment(1, 1, 1, 1, "StudentEnrollment", "completed", 5.5,
                                        "2026-08-25T00:00:00Z")),
                     ("rec", enrollment(2, 1, 3, 1, "StudentEnrollment", "active", 0.0, None)),
                     ("rec", enrollment(2, 2, 3, 1, "StudentEnrollment", "invited", 0.0,
                                        None))],
     "submissions": [("resend", 1), ("rec", submission(1, 1, 1, 1, "graded", 10.0,
                                                       "2026-09-15T14:00:00Z"))]},
    {"users": [], "courses": [("rec", course(2, 1))],
     "assignments": [("rec", assignment(2, 1, 2, 10.0, "2026-09-02T08:30:00Z"))],
     "enrollments": [], "submissions": [("rec", submission(3, 0, 2, 2, "graded", 5.5,
                                                           "2026-09-15T14:00:00Z"))]},
]


# Deletes, re-inserts and envelopes mixed with plain records, across files and
# within one: CD2 updates, a delete of a known id, a delete older than its row
# (changes nothing), a delete then a re-insert in one file, an upsert then a
# delete, a soft delete, and a plain re-insert of a CD2-deleted record.
CD2_ALL = set(ENTITIES)
EXPLICIT_DELETES = [
    {**EXPLICIT[0], "cd2": set()},
    {"users": [("rec", user(2, 1, "S2", "bo@x.edu", None)), ("delete", (1, "2026-09-02T08:30:00Z"))],
     "courses": [("delete", (1, "2026-08-25T00:00:00Z"))],
     "assignments": [("delete", (1, "2026-08-25T00:00:00Z")),
                     ("rec", assignment(3, 0, 1, 10.0, "2026-09-02T08:30:00Z"))],
     "enrollments": [("delete", (1, "2026-09-02T08:30:00Z")),
                     ("rec", enrollment(1, 2, 1, 1, "StudentEnrollment", "active", 5.5,
                                        "2026-09-03T00:00:00.500000Z"))],
     "submissions": [("rec", submission(3, 0, 1, 2, "graded", 5.5, None)),
                     ("delete", (3, "2026-09-03T00:00:00.500000Z")),
                     ("rec", submission(2, 1, 2, 3, "deleted", None, None)),
                     ("delete", (1, "2026-09-02T08:30:00Z"))],
     "cd2": CD2_ALL},
    {"users": [("rec", U1)], "courses": [("delete", (1, "2026-09-02T08:30:00Z"))],
     "assignments": [], "enrollments": [],
     "submissions": [("rec", submission(1, 0, 1, 1, "graded", 7.5, "2026-09-15T14:00:00Z"))],
     "cd2": {"courses"}},
]
# Rollbacks between batches: the latest users load (a changed and an added user
# whose identities collide), then the latest two submissions loads (--cascade).
EXPLICIT_ROLLBACKS = [{**EXPLICIT[0], "rollback": ("assignments", 0)},
                      {**EXPLICIT[1], "rollback": ("users", 0)},
                      {**EXPLICIT[2], "rollback": ("submissions", 1)}]
META_TS = "2026-09-01T10:00:00Z"  # meta.ts of the CD2 upserts


# -- a model of the load rules ----------------------------------------------------------

def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


class RawModel:
    """What raw.<table> must hold after the loads (README, "What the loader does"):
    a file already loaded is skipped whole; within a file the last line of an id
    wins; with --incremental a record below the watermark is skipped (NULL is
    never below; equal is compared); a record is written when new or changed (or
    deleted and sent again); the watermark moves to the max change time written.
    Deletes (CD2 D, `workflow_state: deleted`): a later upsert of the id in the
    file cancels one; otherwise a live row not newer than the delete is marked.
    append: an id raw holds is not written. snapshot: a file is skipped only when
    it is the latest load's content; after the upserts, the live ids the file
    does not name are marked deleted, unless the file had rejected lines."""

    def __init__(self, incremental: bool, strategy: str = "upsert"):
        self.incremental = incremental
        self.strategy = strategy
        # id -> [payload canonical, change time, hashed canonical, deleted]
        self.rows: dict[str, list] = {}
        self.watermark: datetime | None = None
        self.loaded: set[str] = set()
        self.latest_sha: str | None = None
        # per load applied: (sha, rows, watermark and latest sha before)
        self.undo: list[tuple] = []

    def load(self, data: bytes, ops: list[dict], has_rejects: bool = False) -> None:
        sha = hashlib.sha256(data).hexdigest()
        if sha == self.latest_sha or (sha in self.loaded and self.strategy != "snapshot"):
            return
        self.loaded.add(sha)
        self.undo.append((sha, {k: list(v) for k, v in self.rows.items()}, self.watermark,
                          self.latest_sha))
        self.latest_sha = sha
        latest, deletes = {}, {}
        for op in ops:
            deletes.pop(op["id"], None)
            if op["op"] == "U":
                latest[op["id"]] = op
                if op["content"].get("workflow_state") == "deleted":
                    deletes[op["id"]] = op["ts"]
            else:
                deletes[op["id"]] = op["ts"]
        written = [self._upsert(op, deletes) for op in latest.values()]
        if self.strategy == "snapshot" and not has_rejects:
            named = {op["id"] for op in ops}
            for rid, row in self.rows.items():
                row[3] = row[3] or rid not in named
        for rid, when in deletes.items():
            row = self.rows.get(rid)
            if row and not row[3] and (row[1] is None or when is None or row[1] <= when):
                row[3] = True
        stamps = [u for u in written if u is not None]
        if stamps and (self.watermark is None or max(stamps) > self.watermark):
            self.watermark = max(stamps)

    def rollback(self, sha: str) -> None:
        """Undo the latest load (whose file had this content)."""
        top, self.rows, self.watermark, self.latest_sha = self.undo.pop()
        assert top == sha, "the database's latest load is not the model's"
        self.loaded.discard(sha)

    def _upsert(self, op: dict, deletes: dict):
        """The change time written, or None when not written."""
        updated, rid = op["ts"], op["id"]
        if self.incremental and self.watermark is not None and updated is not None \
                and updated < self.watermark:
            return None
        hashed = _canonical(op["hashed"])
        row = self.rows.get(rid)
        if row and self.strategy == "append":
            return None
        if row and row[2] == hashed and not (row[3] and rid not in deletes):
            return None
        self.rows[rid] = [_canonical(op["payload"]), updated, hashed, False]
        return updated


def _cd2(record: dict) -> dict:
    """A record as Canvas Data 2 writes it: key, value without nulls, meta."""
    return {"meta": {"action": "U", "ts": META_TS}, "key": {"id": record["id"]},
            "value": {k: v for k, v in record.items() if k != "id" and v is not None}}


def _op(line_obj: dict, cd2: bool, incremental: bool) -> dict:
    """What one line is for the model: op, id, change time, payload, hashed content."""
    if not cd2:
        stamp = TIMESTAMPS.get(line_obj.get("updated_at")) if incremental else None
        return {"op": "U", "id": str(line_obj["id"]), "ts": stamp, "payload": line_obj,
                "hashed": line_obj, "content": line_obj}
    rid = str(line_obj["key"]["id"])
    if line_obj["meta"]["action"] == "D":
        return {"op": "D", "id": rid, "ts": TIMESTAMPS[line_obj["meta"]["ts"]]}
    value = line_obj["value"]
    stamp = TIMESTAMPS.get(value.get("updated_at") or line_obj["meta"]["ts"])
    return {"op": "U", "id": rid, "ts": stamp, "payload": line_obj,
            "hashed": {"key": line_obj["key"], "value": value}, "content": value}


def _line(kind, value, entity: str, cd2: bool, sent: dict):
    """One item of a batch as a file line (None: nothing written)."""
    if kind == "rec":
        return json.dumps(_cd2(value) if cd2 else value)
    if kind == "resend":
        pool = sent[(entity, cd2)]
        return pool[value % len(pool)] if pool else None
    if kind == "delete":
        rid, ts = value
        return json.dumps({"meta": {"action": "D", "ts": ts}, "key": {"id": rid}}) \
            if cd2 else None
    return None if cd2 and value.startswith("{") else value  # a bad line


def _write_batch(root, number: int, batch: dict, sent: dict, models: dict) -> bool:
    """Write the batch's files and apply them to the models; True when a file's
    every line is bad (its load fails, writing nothing)."""
    failed = False
    folder = root / f"batch-{number:04d}"
    folder.mkdir(parents=True)
    for entity in ENTITIES:
        cd2 = entity in batch.get("cd2", ())
        lines, ops, bad = [], [], False
        for kind, value in batch[entity]:
            line = _line(kind, value, entity, cd2, sent)
            if line is None:
                continue
            lines.append(line)
            if kind == "bad":
                bad = True
                continue
            ops.append(_op(json.loads(line), cd2, entity in UPDATED))
            if kind != "delete":
                sent[(entity, cd2)].append(line)
        data = "".join(line + "\n" for line in lines).encode()
        (folder / f"canvas_{entity}.jsonl").write_bytes(data)  # always: even empty
        if lines and not ops:
            failed = True  # every line rejected: the load fails
        else:
            models[entity].load(data, ops, has_rejects=bad)
    return failed


def _assert_raw_matches(env, models: dict) -> None:
    for entity, model in models.items():
        rows = env.query(f"select id, payload, record_updated_at, deleted_at "
                         f"from raw.canvas_{entity}")
        got = {rid: (_canonical(json.loads(payload)), updated, deleted is not None)
               for rid, payload, updated, deleted in rows}
        expected = {rid: (c, u, d) for rid, (c, u, _, d) in model.rows.items()}
        assert got == expected, entity
        mark = env.query("select last_updated_at from meta.watermark where source_name = ?",
                         (f"canvas_{entity}",))
        assert (mark[0][0] if mark else None) == model.watermark, entity


def _rollback(env, data, entity: str, depth: int, model: RawModel) -> None:
    """`loader rollback` of the source's latest load (depth 0) or of the one before
    it with --cascade (depth 1); its files (and copies of them) leave the data dir."""
    loads = env.query("select load_id, file_sha256 from meta.load_file "
                      "where target_table = ? and status = 'success' "
                      "order by ended_at desc, load_id", (f"raw.canvas_{entity}",))
    if len(loads) <= depth:
        return
    release_inprocess_duckdb()
    env.cli("rollback", loads[depth][0], *(["--cascade"] if depth else []), "--lock-timeout", 30)
    shas = {sha for _, sha in loads[:depth + 1]}
    for load_id, sha in loads[:depth + 1]:
        model.rollback(sha)
    for path in sorted(data.glob(f"*/canvas_{entity}.jsonl")):
        if hashlib.sha256(path.read_bytes()).hexdigest() in shas:
            path.rename(path.with_name(f"rolled_back_{path.name}"))


def _assert_incremental_equals_full_refresh(env, batch_number: int) -> None:
    dbt_build_ok(env, "build")
    incremental = {t: table_rows(env, t) for t in CURATED + MARTS}
    dbt_build_ok(env, "run", "--full-refresh", "--select", "path:models/curated",
                 "path:models/marts")
    for table in CURATED + MARTS:
        full = table_rows(env, table)
        assert full == incremental[table], (
            f"batch {batch_number}: {table} differs from a full refresh\n"
            f"incremental only: {sorted(set(incremental[table]) - set(full))[:5]}\n"
            f"full refresh only: {sorted(set(full) - set(incremental[table]))[:5]}")


def _pipeline_with(path, strategies: dict):
    """The project's pipeline.yml with each source's strategy (no snapshot guard)."""
    doc = yaml.safe_load((PROJECT_DIR / "pipeline.yml").read_text())
    for source in doc["sources"]:
        source["strategy"] = strategies[source["name"].removeprefix("canvas_")]
        source["snapshot_min_ratio"] = 0
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.engines("duckdb", "postgres")  # reset_warehouse: DROP SCHEMA ... CASCADE
@settings(
    max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
    phases=[Phase.explicit, Phase.generate, *([Phase.shrink] if SHRINK else [])],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@example(batches=EXPLICIT, strategies=ALL_UPSERT)
@example(batches=EXPLICIT_DELETES, strategies=ALL_UPSERT)
@example(batches=EXPLICIT_DELETES, strategies=MIXED)
@example(batches=EXPLICIT_ROLLBACKS, strategies=MIXED)
@given(batches=BATCHES, strategies=STRATEGIES)
def test_incremental_property_raw_latest_and_build_equals_full_refresh(env, batches,
                                                                       strategies):
    release_inprocess_duckdb()
    reset_warehouse(env)
    data = env.root / "property_data"
    shutil.rmtree(data, ignore_errors=True)
    sent = {(e, cd2): [] for e in ENTITIES for cd2 in (False, True)}
    models = {e: RawModel(incremental=e in UPDATED, strategy=strategies[e]) for e in ENTITIES}
    config = _pipeline_with(env.root / "property_pipeline.yml", strategies)
    failed = False
    for number, batch in enumerate(batches, start=1):
        # A file whose every line is bad stays in the data directory, never loaded:
        # every later run tries it again and fails again.
        failed = _write_batch(data, number, batch, sent, models) or failed
        env.cli("run", "--data-dir", data, "--no-build", "--silent",
                "--config", config, expect=1 if failed else 0)
        _assert_raw_matches(env, models)
        _assert_incremental_equals_full_refresh(env, number)
        if batch.get("rollback"):  # cur and mart hold the load now: undo it
            entity, depth = batch["rollback"]
            _rollback(env, data, entity, depth, models[entity])
            _assert_raw_matches(env, models)
            _assert_incremental_equals_full_refresh(env, number)
