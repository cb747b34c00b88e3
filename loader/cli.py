"""The `loader` command line: parse options, call one library function, print.

Library errors (LoaderError) become one-line messages with a hint and exit
code 1; a traceback only with --debug. Secrets from the profile are masked in
every message.
"""

from __future__ import annotations

import functools
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
from .progress import progress_bar


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


@click.group()
@click.version_option(__version__, prog_name="loader")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
def cli(debug: bool):
    """Land Canvas LMS JSONL in raw tables and build the warehouse with dbt.

    Example: loader run --demo
    """
    _State.debug = debug


@cli.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=42, show_default=True, help="Random seed (same seed, same bytes).")
@click.option("--students", default=200, show_default=True, help="Number of students.")
@click.option("--courses", default=8, show_default=True, help="Number of courses.")
@click.option("--assignments-per-course", default=6, show_default=True)
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

    manifest = run_simulate(
        out_dir, seed=seed, students=students, courses=courses,
        assignments_per_course=assignments_per_course, submissions=submissions,
        follow_up=follow_up, bad_lines=bad_lines,
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


def format_load(r) -> str:
    if r.status == "skipped_file":
        return (f"{r.source_file}: already loaded into {r.target_table} "
                f"(load {r.previous_load_id}); nothing written. Use --force to load it again.")
    return (
        f"{r.source_file} -> {r.target_table}: read {r.rows_read}, written {r.rows_written} "
        f"(new {r.inserted}, changed {r.updated}"
        f"{f', deleted {r.deleted}' if r.deleted else ''}), skipped {r.rows_skipped}, "
        f"rejected {r.rows_rejected} in {r.seconds:.2f}s ({r.rows_per_second:,.0f} rows/s)"
    )


@cli.command()
@click.option("--data-dir", default="data", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Where the JSONL files are.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Pipeline config (default: pipeline.yml in the project).")
@click.option("--demo", is_flag=True, help="Generate demo data first when the data dir is empty.")
@click.option("--no-build", is_flag=True, help="Only load; do not run dbt.")
@lock_timeout_option(60.0, "Seconds to wait for another load of the same source.")
@silent_option("Only errors; dbt runs quietly.")
@target_options
@handle_errors
def run(data_dir, config_path, demo, no_build, lock_timeout, silent, target_name, profiles_dir,
        project_dir):
    """Load every configured source, run `dbt build`, and report loads, DQ and drift.

    Exit code 1 when a load fails or an error-severity check fails.

    Example: loader run --demo
    """
    from .run import run_pipeline

    target, project = _target(target_name, profiles_dir, project_dir)
    config_path = config_path or project / "pipeline.yml"
    say = (lambda *a, **k: None) if silent else click.echo
    if demo and not any(data_dir.glob("batch-*")):
        from .simulate import simulate as run_simulate

        say(f"--demo: generating Canvas data into {data_dir}/")
        run_simulate(data_dir)
        run_simulate(data_dir, follow_up=True)

    def on_load(result, error):
        if error:
            _echo_err(f"load failed: {error}")
        else:
            say(format_load(result))

    report = run_pipeline(target, project, data_dir, config_path, build=not no_build,
                          quiet_dbt=silent, lock_timeout=lock_timeout, on_load=on_load,
                          on_wait=None if silent else _echo_err)
    if not silent:
        click.echo(format_report(report))
    for warning in report.warnings:
        _echo_err(f"warning: {warning}")
    if not report.ok:
        sys.exit(1)


def format_report(report) -> str:
    lines = ["", "== Loads"]
    per_source: dict[str, list[int]] = {}
    for r in report.loads:
        agg = per_source.setdefault(r.source_name, [0, 0, 0, 0, 0])
        for i, v in enumerate((r.rows_read, r.rows_written, r.rows_skipped, r.rows_rejected,
                               r.deleted)):
            agg[i] += v
    for name, (read, written, skipped, rejected, deleted) in per_source.items():
        lines.append(f"  {name}: read {read}, written {written}, skipped {skipped}, "
                     f"rejected {rejected}" + (f", deleted {deleted}" if deleted else ""))
    for err in report.load_errors:
        lines.append(f"  FAILED: {err}")
    for warning in report.warnings:
        lines.append(f"  WARNING: {warning}")
    if report.dbt is not None:
        models = [n for n in report.dbt.nodes if "model" in n["resource_type"]]
        lines += ["", f"== dbt build ({'ok' if report.dbt.success else 'FAILED'}): "
                      f"{len(models)} models, {len(report.dbt.nodes)} nodes"]
        for n in report.dbt.nodes:
            if n["status"] not in ("success", "pass"):
                lines.append(f"  {n['status']}: {n['name']}")
        if report.dbt.error:
            lines.append(f"  error: {report.dbt.error}")
        lines += ["", "== Data quality"]
        for name, severity, status, failing, samples in report.dq_rows:
            if status == "pass":
                continue
            lines.append(f"  {status} [{severity}] {name}: {failing} rows, e.g. {samples}")
        passed = sum(1 for r in report.dq_rows if r[2] == "pass")
        lines.append(f"  {passed} of {len(report.dq_rows)} checks passed")
    if report.dbt is not None or report.schema_changes:
        lines += ["", "== Schema changes (tables, and payload keys: key_*)"]
        for schema, table, change, column in report.schema_changes:
            lines.append(f"  {change}: {schema}.{table}" + (f".{column}" if column else ""))
        if not report.schema_changes:
            lines.append("  (none)")
    return "\n".join(lines)


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


if __name__ == "__main__":  # pragma: no cover
    cli()
