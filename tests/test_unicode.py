"""Unicode end to end: names as Canvas really has them (accents, CJK, Arabic
script, emoji) reach cur unchanged, on every engine (on SQL Server every text
column the project creates is nvarchar: scripts/check_tsql.py fails otherwise)."""

from __future__ import annotations

import json

NAMES = {
    1: ("Sofía Núñez", "Núñez, Sofía"),
    2: ("李雷", "李, 雷"),
    3: ("محمد الأحمد", "الأحمد, محمد"),
    4: ("Zoë 🎓 O'Brien", "O'Brien, Zoë 🎓"),
    5: ("Ærøskøbing Ĳssel", "Ĳssel, Ærøskøbing"),
}
COURSE = "Álgebra y Cálculo 🧮 — 数学"
ASSIGNMENT = "مقالة: 📝 «Ensayo» №1"


def _write(env, name: str, records: list[dict]) -> None:
    path = env.data / "batch-0001" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")


def test_unicode_names_reach_cur_unchanged(env):
    _write(env, "canvas_users.jsonl", [
        {"id": uid, "name": name, "sortable_name": sortable, "short_name": name,
         "login_id": f"user{uid}@example.edu", "email": f"user{uid}@example.edu"}
        for uid, (name, sortable) in NAMES.items()])
    _write(env, "canvas_courses.jsonl", [{"id": 10, "name": COURSE, "course_code": "MAT-1"}])
    _write(env, "canvas_assignments.jsonl", [
        {"id": 20, "course_id": 10, "name": ASSIGNMENT, "points_possible": 10,
         "updated_at": "2026-09-01T10:00:00Z"}])
    env.cli("run", "--data-dir", env.data, "--silent")
    rows = env.query("select user_id, user_name, sortable_name, short_name "
                     "from cur.dim_student order by user_id")
    assert rows == [(uid, name, sortable, name) for uid, (name, sortable) in NAMES.items()]
    assert env.scalar("select course_name from cur.dim_course") == COURSE
    assert env.scalar("select assignment_name from cur.dim_assignment") == ASSIGNMENT
    # raw keeps the line as received: the same text comes back out of the payload
    names = [json.loads(p)["name"] if isinstance(p, str) else p["name"] for (p,) in
             env.query("select payload from raw.canvas_users order by id")]
    assert names == [name for name, _ in NAMES.values()]
