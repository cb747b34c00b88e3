"""examples/school: a school's own CSV, JSON and .xlsx files, loaded by `loader run`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import PROJECT_DIR
from helpers_readers import payloads

EXAMPLE = PROJECT_DIR / "examples" / "school"


@pytest.mark.engines("duckdb")
def test_example_school_loads_every_source_into_raw(env):
    data = env.root / "school-data"
    subprocess.run([sys.executable, str(EXAMPLE / "make_data.py"), str(data)], check=True,
                   capture_output=True)
    args = ("run", "--config", EXAMPLE / "pipeline.yml", "--data-dir", data, "--no-build")
    out = env.cli(*args).output
    assert "school_attendance: read 10, written 10, skipped 0, rejected 0" in out, out
    counts = {table: env.scalar(f"select count(*) from raw.{table}") for table in (
        "school_students", "school_attendance", "school_assessments", "school_monthly_marks")}
    assert counts == {"school_students": 5, "school_attendance": 10, "school_assessments": 5,
                      "school_monthly_marks": 5}
    students = payloads(env, "raw.school_students")
    assert students["S003"] == {"student_id": "S003", "first_name": "Chloé",
                                "last_name": "Martin; Jr.", "grade_level": 10,
                                "email": "chloé@school.example"}
    assert students["S004"]["email"] is None  # null_values: "n/a"
    assert payloads(env, "raw.school_assessments")["R002"]["items"] == [
        {"q": 1, "correct": True}]
    assert payloads(env, "raw.school_monthly_marks")["1"] == {
        "row_id": 1, "student_id": "S001", "Term mark": 59, "Term mark_2": "E",
        "entered_on": "2026-03-28", "entered_at": "2026-03-28T15:01:00"}
    assert env.scalar("select max(last_updated_at) from meta.watermark "
                      "where source_name = 'school_attendance'") is not None
    again = env.cli(*args).output  # nothing new: every file skipped by its fingerprint
    assert "5 files already loaded, skipped" in again, again

    # The next night's roster lacks S005 (strategy: snapshot): S005 has left, its row
    # kept with deleted_at; a re-sent attendance file (strategy: append) writes nothing.
    roster = (data / "roster" / "students-2026-03-01.csv").read_bytes().decode()
    (data / "roster" / "students-2026-03-02.csv").write_text(
        "".join(line for line in roster.splitlines(keepends=True) if not line.startswith("S005")))
    next_night = env.cli(*args).output
    assert "1 ids absent from the file marked deleted" in next_night, next_night
    assert env.scalar("select count(*) from raw.school_students where deleted_at is not null"
                      " and id = 'S005'") == 1
    assert env.scalar("select count(*) from raw.school_students where deleted_at is null") == 4


@pytest.mark.engines("duckdb")
def test_example_school_reader_settings_are_checked_with_their_names(env, tmp_path):
    config = tmp_path / "bad.yml"
    for setting, message in (("format: xml", "format must be one of"),
                             ("delimiter: ';;'", "delimiter must be one character"),
                             ("encoding: klingon", "encoding: unknown encoding 'klingon'"),
                             ("header_row: 0", "header_row must be a row number from 1"),
                             ("json_path: 'a..b'", "json_path must be keys separated by dots"),
                             ("types: {a: text, b: date}", "types must map column names to one of "
                              "text, integer, number, boolean, not {'b': 'date'}. "
                              "e.g. types: {grade_level: integer}")):
        config.write_text("sources:\n  - name: s\n    table: raw.s\n    files: '*.csv'\n"
                          f"    {setting}\n")
        out = env.cli("run", "--config", config, "--data-dir", tmp_path, "--no-build",
                      expect=1).output
        assert f"{config}: source #1: {message}" in out, out
    out = env.cli("load", tmp_path / "x.csv", "--table", "raw.s", "--delimiter", "ab",
                  expect=1).output
    assert "--delimiter must be one character" in out
