"""The fixes of issue 15, each measured before: `loader run`'s dbt and source options,
`loader rejects`, the rejects and already-loaded lines, the DuckDB path taken from
the project directory, read-only commands that never create a database, `loader`
alone, and the run summary naming each finding once."""

from __future__ import annotations

import re
import shutil
import warnings

import click
import jinja2
import pytest
from click.testing import CliRunner

from conftest import PROJECT_DIR
from loader.cli import cli
from loader.run import RunReport
from loader.summary import format_report

SOURCES = ["canvas_users", "canvas_courses", "canvas_enrollments", "canvas_assignments",
           "canvas_submissions"]


def test_loader_alone_prints_help_and_exits_0():
    result = CliRunner().invoke(cli, [], prog_name="loader")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: loader") and "Commands:" in result.output


def test_every_option_of_every_command_has_help_text():
    missing = [f"{name} {p.opts[0]}" for name, cmd in cli.commands.items() for p in cmd.params
               if isinstance(p, click.Option) and not p.help]
    assert missing == []


def _loaded_sources(env) -> set[str]:
    return {r[0] for r in env.query("select distinct source_name from meta.load_file")}


def test_run_source_loads_only_the_named_sources_and_rejects_unknown_names(env):
    env.cli("simulate", env.data, "--students", 20, "--courses", 2, "--silent")
    bad = env.cli("run", "--data-dir", env.data, "--source", "canvas_users", "--source", "nope",
                  "--no-build", expect=1)
    assert "--source 'nope' is not a source" in bad.output and "canvas_submissions" in bad.output
    assert env.is_empty()  # checked before anything loads
    env.cli("run", "--data-dir", env.data, "--source", "canvas_users", "--source",
            "canvas_courses", "--no-build")
    assert _loaded_sources(env) == {"canvas_users", "canvas_courses"}


def test_run_already_loaded_files_are_one_line_unless_verbose(env):
    env.cli("simulate", env.data, "--students", 20, "--courses", 2, "--silent")
    env.cli("simulate", env.data, "--follow-up", "--silent")
    env.cli("run", "--data-dir", env.data, "--no-build")
    files = len(list(env.data.glob("batch-*/*.jsonl*")))
    again = env.cli("run", "--data-dir", env.data, "--no-build").output
    assert f"{files} files already loaded, skipped" in again
    assert "already loaded into" not in again
    verbose = env.cli("run", "--data-dir", env.data, "--no-build", "--verbose").output
    assert verbose.count("already loaded into") == files
    assert "files already loaded, skipped" not in verbose


def test_run_with_rejects_names_the_load_and_the_command_that_shows_them(env):
    env.cli("simulate", env.data, "--students", 20, "--courses", 2, "--silent")
    users = next(env.data.glob("batch-0001/canvas_users.jsonl*"))
    with open(users, "a") as fh:
        fh.write("{not json\n")
    out = env.cli("run", "--data-dir", env.data, "--no-build").output
    load_id = env.scalar("select load_id from meta.load_file where source_name = 'canvas_users'")
    assert f"1 line rejected (load {load_id}): see them with `loader rejects {load_id}`" in out
    shown = env.cli("rejects", load_id).output.splitlines()
    line = sum(1 for _ in open(users))
    assert shown[0] == f"load {load_id}: 1 rejected line"
    assert shown[1].startswith(f"{users}:{line}: invalid JSON")
    assert shown[2].strip() == "{not json"
    clean = env.scalar("select load_id from meta.load_file where source_name = 'canvas_courses'")
    assert env.cli("rejects", clean).output.strip() == f"load {clean}: no rejected lines"
    unknown = env.cli("rejects", "no-such-load", expect=1).output
    assert "no load 'no-such-load' in meta.load_file" in unknown


def test_run_passes_select_exclude_vars_and_full_refresh_to_dbt(env):
    env.cli("simulate", env.data, "--students", 20, "--courses", 2, "--silent")
    out = env.cli("run", "--data-dir", env.data, "-s", "+fact_submission",
                  "--exclude", "dim_assignment", "--vars",
                  "{submission_workflow_states: [graded]}", expect=None).output
    assert "== dbt build:" in out
    existing = {r[0] for r in env.query(
        "select table_name from information_schema.tables where table_schema in ('cur', 'mart')")}
    assert "fact_submission" in existing
    assert not existing & {"dim_assignment", "student_performance_summary"}
    run_id = env.scalar("select run_id from meta.job_run where job_name = 'dbt build'")
    status, failing = env.query(
        "select status, failing_rows from meta.dq_check_result where run_id = ? "
        "and check_name = 'fact_submission_unknown_workflow_state'", (run_id,))[0]
    assert status == "warn" and failing > 0  # only 'graded' accepted
    # A column dbt does not know survives an incremental run, not a full refresh.
    env.execute("alter table cur.fact_submission add test_marker integer")
    marker = ("select count(*) from information_schema.columns where table_schema = 'cur' "
              "and table_name = 'fact_submission' and column_name = 'test_marker'")
    env.cli("run", "--data-dir", env.data, "-s", "fact_submission", "--silent", expect=None)
    assert env.scalar(marker) == 1
    env.cli("run", "--data-dir", env.data, "-s", "fact_submission", "--full-refresh",
            "--silent", expect=None)
    assert env.scalar(marker) == 0


@pytest.mark.parametrize("engine", ["duckdb"])
def test_duckdb_path_is_relative_to_the_project_and_reads_never_create_it(env, monkeypatch,
                                                                         tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copyfile(PROJECT_DIR / "dbt_project.yml", project / "dbt_project.yml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("CANVAS_DUCKDB_PATH", "warehouse.duckdb")
    where = ("--project-dir", project)
    for command in (["status"], ["rejects", "abc"]):
        out = env.cli(*command, *where, expect=1).output
        assert f"no DuckDB database at {project / 'warehouse.duckdb'}" in out
        assert "Run `loader run` first" in out
    assert not (project / "warehouse.duckdb").exists() and list(elsewhere.iterdir()) == []
    path = env.write_jsonl("users.jsonl", [{"id": 1}, {"id": 2}])
    env.load(path, "raw.canvas_users", *where)
    assert (project / "warehouse.duckdb").is_file() and list(elsewhere.iterdir()) == []
    assert str(project / "warehouse.duckdb") in env.cli("status", *where).output


def _finding_counts(output: str, names: list[str]) -> dict[str, int]:
    summary = output[output.index("== Loads"):]
    return {name: summary.count(name) for name in names}


def test_run_summary_names_each_finding_once_in_words(env):
    env.cli("simulate", env.data, "--students", 30, "--courses", 2, "--silent")
    env.cli("simulate", env.data, "--follow-up", "--silent")
    out = env.cli("run", "--data-dir", env.data, expect=None).output
    run_id = env.scalar("select run_id from meta.job_run where job_name = 'dbt build'")
    findings = env.query("select check_name, status from meta.dq_check_result "
                         "where run_id = ? and status <> 'pass'", (run_id,))
    assert findings, "the follow-up batch's bad records should fail some checks"
    counts = _finding_counts(out, [name for name, _ in findings])
    assert counts == {name: 1 for name, _ in findings}
    assert "None rows" not in out
    assert "e.g. []" not in out
    assert not re.search(r"(?<![\d.,])1 rows(?!/)", out)


def test_summary_of_a_skipped_check_and_a_failing_one_reads_as_words():
    report = RunReport()
    report.dbt = type("Dbt", (), {"success": True, "error": None, "nodes": [
        {"name": "check_a", "resource_type": "test", "status": "warn",
         "message": "Got 1 result"},
        {"name": "stg_x", "resource_type": "model", "status": "success",
         "message": None}]})()
    report.dq_rows = [("check_a", "warn", "warn", 1, '["k1"]'),
                      ("check_b", "error", "skipped", None, "[]"),
                      ("check_c", "error", "fail", 3, '["a", "b", "c"]')]
    text = format_report(report)
    assert "WARN (warn) check_a: 1 failing row, e.g. k1" in text
    assert "SKIPPED check_b" in text and "None" not in text and "[]" not in text
    assert "FAIL (error) check_c: 3 failing rows, e.g. a, b, c" in text
    assert text.count("check_a") == 1 and "1 models, 2 nodes" in text


def test_macros_and_models_compile_without_jinja_escape_warnings():
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    files = sorted((PROJECT_DIR / "macros").rglob("*.sql")) + sorted(
        (PROJECT_DIR / "models").rglob("*.sql"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for path in files:
            try:
                list(env.lexer.tokenize(path.read_text(), name=str(path)))
            except (DeprecationWarning, SyntaxWarning) as exc:
                pytest.fail(f"{path}: {exc}")


def test_pyproject_license_is_an_spdx_string():
    import tomllib

    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]
    assert isinstance(project["license"], str)


def test_readme_names_the_exposures_that_exist():
    import yaml

    declared = {e["name"] for p in (PROJECT_DIR / "models").rglob("*exposures.yml")
                for e in yaml.safe_load(p.read_text())["exposures"]}
    readme = (PROJECT_DIR / "README.md").read_text()
    assert "exposure" in readme and all(name in readme for name in declared)
    assert "canvas_bi_dashboard" not in readme


def test_lint_profile_never_opens_the_project_database():
    """sqlfluff's dbt templater uses its own in-memory target, not canvas.duckdb."""
    import configparser

    import yaml

    cfg = configparser.ConfigParser()
    cfg.read(PROJECT_DIR / ".sqlfluff")
    dbt = cfg["sqlfluff:templater:dbt"]
    profiles = yaml.safe_load((PROJECT_DIR / dbt["profiles_dir"] / "profiles.yml").read_text())
    output = profiles[dbt["profile"]]["outputs"][dbt["target"]]
    assert output["type"] == "duckdb" and output["path"] == ":memory:"
