"""The `loader` command line: parse options, call one library function, print.

Library errors (LoaderError) become one-line messages with a hint and exit
code 1; a traceback only with --debug. Secrets from the profile are masked in
every message.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from pathlib import Path

import click
from click.core import ParameterSource

from . import __version__
from .errors import ConfigError, LoaderError
from .load import load_file
from .odbc import connection_string_secrets
from .options import SHAPE_NAMES, LoadOptions
from .profiles import Target, find_project_dir, load_target
from .progress import progress_bar, status_line
from .summary import format_load, format_report, skipped_files_line


class _State:
    debug = False
    secrets: list[str] = []
    conn: str | None = None
    conn_given = False  # on the command line (the env var alone does not bind a target)


def _mask(text: str) -> str:
    for secret in _State.secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _print_traceback() -> None:
    """--debug: the traceback, with the same secrets masked as in the message."""
    click.echo(_mask(traceback.format_exc()), err=True, nl=False)


def handle_errors(func):
    """Turn library exceptions into click errors; full traceback only with --debug."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except LoaderError as exc:
            if _State.debug:
                _print_traceback()
            raise click.ClickException(_mask(str(exc))) from None
        except KeyboardInterrupt:
            raise click.ClickException("interrupted; nothing of the running load was committed")
        except Exception as exc:  # noqa: BLE001 - unexpected: one line unless --debug
            if _State.debug:
                _print_traceback()
            # One line: a database error's own message can carry the SQL under it.
            first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
            raise click.ClickException(
                _mask(f"unexpected error: {type(exc).__name__}: {first} (rerun with --debug)")
            ) from None

    return wrapper


def _remember_conn(ctx, param, value):
    """--conn is read by _target(), so the commands' signatures stay as they are. Its
    password is masked from here on, even in errors raised before the target is read."""
    _State.conn = value or None
    _State.conn_given = ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE
    _State.secrets = connection_string_secrets(_State.conn)


def target_options(func):
    """--target, --profiles-dir, --project-dir: the same connection dbt uses (--conn: an
    ODBC string instead, for sqlserver)."""
    func = click.option("--conn", envvar="CANVAS_SQLSERVER_CONN", expose_value=False,
                        callback=_remember_conn,
                        help="ODBC connection string for a sqlserver target, instead of the "
                             "profile's (env CANVAS_SQLSERVER_CONN; its PWD is never "
                             "printed).")(func)
    func = click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path),
                        help="dbt project directory (default: found from the current one).")(func)
    func = click.option("--profiles-dir", type=click.Path(file_okay=False, path_type=Path),
                        help="Directory with profiles.yml (default: as dbt looks for it).")(func)
    func = click.option("--target", "-t", "target_name",
                        help="Profile target (default: the profile's, e.g. duckdb).")(func)
    return func


def lock_timeout_option(default: float, help: str):
    """--lock-timeout, with a command's own default."""
    return click.option("--lock-timeout", default=default, show_default=True, help=help)


def silent_option(help: str = "No progress bar or summary."):
    return click.option("--silent", is_flag=True, help=help)


def _target(target_name, profiles_dir, project_dir) -> tuple[Target, Path]:
    project = Path(project_dir).resolve() if project_dir else find_project_dir()
    target = load_target(target_name, profiles_dir, project)
    if target.type == "sqlserver":
        target.conn = _State.conn
    elif _State.conn_given:
        raise ConfigError(f"--conn is for sqlserver targets; {target.name!r} is {target.type}",
                          "Drop --conn or use --target sqlserver")
    _State.secrets = target.secrets + connection_string_secrets(_State.conn)
    return target, project


def _echo_err(message: str) -> None:
    click.echo(_mask(message), err=True)


def extract_options(func):
    """The connection, scope and pace of `loader extract` (and `loader run --extract`)."""
    options = [
        click.option("--base-url", envvar="CANVAS_BASE_URL",
                     help="Canvas root URL, e.g. https://school.instructure.com "
                          "(env CANVAS_BASE_URL)."),
        click.option("--token-env", default="CANVAS_API_TOKEN", show_default=True,
                     help="Environment variable holding the access token (never printed)."),
        click.option("--course", "courses", multiple=True,
                     help="Course id to extract (repeat, or a comma-separated list)."),
        click.option("--account", help="Extract this account's courses."),
        click.option("--term", help="With --account: only this enrollment term's courses."),
        click.option("--profile", "extract_profile",
                     help="Extract profile in pipeline.yml (entities, include[])."),
        click.option("--full", is_flag=True, help="Ignore the cursors: read everything."),
        click.option("--concurrency", default=2, show_default=True,
                     help="Requests in flight."),
        click.option("--max-retries", default=5, show_default=True,
                     help="Retries per request (5xx, timeouts, dropped connections)."),
        click.option("--timeout", "http_timeout", default=30.0, show_default=True,
                     help="Seconds per request."),
        click.option("--backoff", default=1.0, show_default=True,
                     help="First retry's pause in seconds (doubles per retry, with jitter)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run_extract(target, project, data_dir, config_path, silent, args: dict):
    """One extract; prints its summary unless silent. Returns the ExtractResult."""
    from .extract import ClientSettings, ExtractRequest, Scope, extract, read_profile
    from .extract.progress import extract_progress, format_extract

    courses = tuple(c.strip() for arg in args["courses"] for c in arg.split(",") if c.strip())
    settings = ClientSettings(concurrency=args["concurrency"], max_retries=args["max_retries"],
                              timeout=args["http_timeout"], backoff=args["backoff"])
    request = ExtractRequest(
        base_url=args["base_url"] or "", data_dir=data_dir,
        scope=Scope(courses, args["account"], args["term"]),
        profile=read_profile(config_path or project / "pipeline.yml", args["extract_profile"]),
        token_env=args["token_env"], full=args["full"], settings=settings)
    _State.secrets = _State.secrets + [s for s in [os.environ.get(args["token_env"])] if s]
    with extract_progress(silent) as show:
        result = extract(request, target, on_progress=show)
    if not silent:
        click.echo(format_extract(result))
    for course_id, why in result.skipped:
        _echo_err(f"skipped course {course_id}: {why}")
    return result


@click.group(invoke_without_command=True)
@click.version_option(__version__, prog_name="loader")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx, debug: bool):
    """Land Canvas LMS JSONL in raw tables and build the warehouse with dbt.

    Example: loader run --demo
    """
    _State.debug = debug
    if ctx.invoked_subcommand is None:  # `loader` alone: the help, and success
        click.echo(ctx.get_help())


@cli.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=42, show_default=True, help="Random seed (same seed, same bytes).")
@click.option("--students", default=200, show_default=True, help="Number of students.")
@click.option("--courses", default=8, show_default=True, help="Number of courses.")
@click.option("--assignments-per-course", default=6, show_default=True,
              help="Assignments in each course.")
@click.option("--submissions", type=int, default=None,
              help="Exact number of submissions (default: one per student and assignment).")
@click.option("--follow-up", is_flag=True,
              help="Write the next batch against the existing data set in OUT_DIR.")
@click.option("--bad-lines/--no-bad-lines", default=True, show_default=True,
              help="Put a few bad lines into a follow-up batch.")
@silent_option()
@handle_errors
def simulate(out_dir, seed, students, courses, assignments_per_course, submissions, follow_up,
             bad_lines, silent):
    """Write Canvas-shaped JSONL (users, courses, enrollments, assignments, submissions).

    The first call writes OUT_DIR/batch-0001; --follow-up writes the next batch
    with new, changed, unchanged, boundary and late-arriving records.

    Example: loader simulate data --students 500 && loader simulate data --follow-up
    """
    from .simulate import simulate as run_simulate

    with progress_bar(None, f"writing {out_dir}", silent, unit="lines") as bar:
        manifest = run_simulate(
            out_dir, seed=seed, students=students, courses=courses,
            assignments_per_course=assignments_per_course, submissions=submissions,
            follow_up=follow_up, bad_lines=bad_lines, progress=bar.update,
        )
    if not silent:
        counts = ", ".join(f"{k} {v}" for k, v in manifest.get("line_counts", {}).items())
        click.echo(f"wrote {out_dir / manifest['batch']}: {counts}")


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, readable=False))
@click.option("--table", required=True, help="Raw table, e.g. raw.canvas_users.")
@click.option("--id-field", default="id", show_default=True,
              help="JSON field with the record's key (a.b for nested).")
@click.option("--source-name", help="Watermark and lock name (default: the table name).")
@click.option("--incremental", is_flag=True,
              help="Skip records whose --updated-field is below the source's watermark.")
@click.option("--updated-field", help="JSON field with the record's change time, e.g. updated_at.")
@click.option("--max-rejects", default=100, show_default=True,
              help="Fail the load (writing nothing) past this many bad lines.")
@click.option("--force", is_flag=True, help="Load even if this exact file was loaded before.")
@click.option("--shape", type=click.Choice(SHAPE_NAMES), default="auto", show_default=True,
              help="Record shape: plain records, Canvas Data 2 or Debezium envelopes "
                   "(auto: from the first record).")
@lock_timeout_option(60.0, "Seconds to wait for another load of the same source.")
@silent_option()
@target_options
@handle_errors
def load(file, table, id_field, source_name, incremental, updated_field, max_rejects, force,
         shape, lock_timeout, silent, target_name, profiles_dir, project_dir):
    """Load one JSONL file (or .jsonl.gz) into a raw table.

    Unchanged records are not rewritten; bad lines go to meta.load_reject.

    Example: loader load data/batch-0001/canvas_users.jsonl --table raw.canvas_users
    """
    options = LoadOptions(
        table=table, id_field=id_field, source_name=source_name, updated_field=updated_field,
        incremental=incremental, max_rejects=max_rejects, force=force, lock_timeout=lock_timeout,
        shape=shape,
    )
    target, _ = _target(target_name, profiles_dir, project_dir)
    size = file.stat().st_size if file.is_file() else None
    with progress_bar(size, f"loading {file.name}", silent) as bar:
        result = load_file(file, options, target, progress=bar.update,
                           on_wait=None if silent else _echo_err)
    if not silent:
        click.echo(format_load(result))


@cli.command()
@click.option("--data-dir", default="data", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Where the JSONL files are.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Pipeline config (default: pipeline.yml in the project).")
@click.option("--demo", is_flag=True, help="Generate demo data first when the data dir is empty.")
@click.option("--no-build", is_flag=True, help="Only load; do not run dbt.")
@click.option("--extract", "do_extract", is_flag=True,
              help="First extract from Canvas into --data-dir (the extract options below).")
@extract_options
@click.option("--source", "sources", multiple=True, metavar="NAME",
              help="Load only this pipeline.yml source (repeatable; default: all).")
@click.option("--select", "-s", "select", multiple=True,
              help="dbt --select for the build (repeatable), e.g. -s +fact_submission.")
@click.option("--exclude", multiple=True, help="dbt --exclude for the build (repeatable).")
@click.option("--full-refresh", is_flag=True, help="dbt --full-refresh: rebuild incrementals.")
@click.option("--vars", "dbt_vars", metavar="YAML",
              help="dbt --vars for the build, e.g. '{since_ingested_at: \"2026-01-01\"}'.")
@click.option("--verbose", "-v", is_flag=True,
              help="List every already-loaded file instead of one line for all.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the HTML report (as `loader report`) to this file at the end.")
@lock_timeout_option(60.0, "Seconds to wait for another load of the same source.")
@silent_option("Only errors; dbt runs quietly.")
@target_options
@handle_errors
def run(data_dir, config_path, demo, no_build, do_extract, sources, select, exclude,
        full_refresh, dbt_vars, verbose, report_path, lock_timeout, silent, target_name,
        profiles_dir, project_dir, **extract_args):
    """Load every configured source, run `dbt build`, and report loads, DQ and drift.

    Exit code 1 when a load fails or an error-severity check fails.

    Example: loader run --demo --source canvas_users -s +fact_submission
    """
    from .run import run_pipeline

    target, project = _target(target_name, profiles_dir, project_dir)
    config_path = config_path or project / "pipeline.yml"
    say = (lambda *a, **k: None) if silent else click.echo
    if do_extract:
        _run_extract(target, project, data_dir, config_path, silent, extract_args)
    if demo and not any(data_dir.glob("batch-*")):
        from .simulate import simulate as run_simulate

        say(f"--demo: generating Canvas data into {data_dir}/")
        run_simulate(data_dir)
        run_simulate(data_dir, follow_up=True)

    skipped = []

    def progress(path: Path):
        size = path.stat().st_size if path.is_file() else None
        return progress_bar(size, f"loading {path.name}", silent)

    def on_load(result, error):
        if error:
            _echo_err(f"load failed: {error}")
        elif result.status == "skipped_file" and not verbose:
            skipped.append(result)
        else:
            say(format_load(result))

    with status_line(silent) as show:
        report = run_pipeline(target, project, data_dir, config_path, build=not no_build,
                              # On a terminal the progress line replaces dbt's log.
                              quiet_dbt=silent or sys.stderr.isatty(),
                              lock_timeout=lock_timeout, on_load=on_load,
                              on_wait=None if silent else _echo_err, sources=sources,
                              progress=progress, on_dbt_event=_dbt_progress(show),
                              dbt_args=_dbt_args(select, exclude, full_refresh, dbt_vars))
    if skipped:
        say(skipped_files_line(skipped))
    if not silent:
        click.echo(format_report(report))
    if report_path:
        from .report import write_report

        write_report(target, report_path, lock_timeout)
        say(f"report: {report_path}")
    for warning in report.warnings:
        _echo_err(f"warning: {warning}")
    if not report.ok:
        sys.exit(1)


def _dbt_progress(show):
    """dbt's events as one line: 'dbt build  12/77  sql table model cur.dim_course'."""
    from .dbt_build import node_started

    def on_event(event):
        started = node_started(event)
        if started:
            show(f"dbt build  {started[0]}/{started[1]}  {started[2]}")

    return on_event


def _dbt_args(select, exclude, full_refresh, dbt_vars) -> tuple[str, ...]:
    """`loader run`'s dbt options as `dbt build` arguments."""
    args: list[str] = []
    for flag, values in (("--select", select), ("--exclude", exclude)):
        for value in values:
            args += [flag, value]
    if full_refresh:
        args.append("--full-refresh")
    if dbt_vars:
        args += ["--vars", dbt_vars]
    return tuple(args)


@cli.command()
@click.option("--data-dir", default="data", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Where the new batch-NNNN directory goes.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Pipeline config with the extract profiles (default: pipeline.yml).")
@extract_options
@silent_option("No progress or summary.")
@target_options
@handle_errors
def extract(data_dir, config_path, silent, target_name, profiles_dir, project_dir, **args):
    """Pull users, courses, enrollments, assignments and submissions from the Canvas REST API.

    Writes DATA_DIR/batch-NNNN/canvas_<entity>.jsonl (the layout `loader run`
    loads), which appears only when complete. Submissions are read from each
    course's cursor in meta.extract_cursor unless --full. The token is read
    from $CANVAS_API_TOKEN (--token-env) and never printed.

    Example: loader extract --base-url https://canvas.example.edu --course 101
    """
    target, project = _target(target_name, profiles_dir, project_dir)
    _run_extract(target, project, data_dir, config_path, silent, args)


@cli.command()
@click.option("--limit", default=20, show_default=True, help="Rows per section.")
@lock_timeout_option(10.0, "Seconds to wait for the database (DuckDB: a running load).")
@target_options
@handle_errors
def status(limit, lock_timeout, target_name, profiles_dir, project_dir):
    """Show latest job runs, data-quality results, schema changes, watermarks and rejects.

    Example: loader status --target duckdb
    """
    from .status import collect, format_status

    target, _ = _target(target_name, profiles_dir, project_dir)
    click.echo(format_status(target, collect(target, limit, lock_timeout)))


@cli.command()
@click.argument("load_id")
@lock_timeout_option(10.0, "Seconds to wait for the database (DuckDB: a running load).")
@target_options
@handle_errors
def rejects(load_id, lock_timeout, target_name, profiles_dir, project_dir):
    """Print a load's rejected lines: file, line number, reason and an excerpt.

    Example: loader rejects 3f2a9c0d8b7e4f61a5c2d9e8b7a6f5e4
    """
    from .status import format_rejects

    target, _ = _target(target_name, profiles_dir, project_dir)
    click.echo(format_rejects(target, load_id, lock_timeout))


@cli.command()
@click.option("--out", "-o", default="canvas_report.html", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The HTML file to write.")
@lock_timeout_option(10.0, "Seconds to wait for the database (DuckDB: a running load).")
@target_options
@handle_errors
def report(out, lock_timeout, target_name, profiles_dir, project_dir):
    """Write one self-contained HTML page (opens offline) from the meta tables: run
    history, data quality over time, freshness, drift, rejects, watermark lag.

    Example: loader report --out report.html
    """
    from .report import write_report

    target, _ = _target(target_name, profiles_dir, project_dir)
    numbers = write_report(target, out, lock_timeout)
    click.echo(f"wrote {out}: {numbers['job_runs']} job runs, {numbers['checks']} checks "
               f"({numbers['failing']} not passing), {numbers['drift_events']} drift events, "
               f"{numbers['rejected_lines']} rejected lines")


if __name__ == "__main__":  # pragma: no cover
    cli()
