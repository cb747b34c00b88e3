"""`loader status`, `loader rejects` and `loader report`: read-only looks at the audit."""

from __future__ import annotations

from pathlib import Path

import click

from .common import cli, handle_errors, lock_timeout_option, resolve_target, target_options


@cli.command()
@click.option("--limit", default=20, show_default=True, help="Rows per section.")
@lock_timeout_option(10.0, "Seconds to wait for the database (DuckDB: a running load).")
@target_options
@handle_errors
def status(limit, lock_timeout, target_name, profiles_dir, project_dir):
    """Show latest job runs, data-quality results, schema changes, watermarks and rejects.

    Example: loader status --target duckdb
    """
    from ..status import collect, format_status

    target, _ = resolve_target(target_name, profiles_dir, project_dir)
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
    from ..status import format_rejects

    target, _ = resolve_target(target_name, profiles_dir, project_dir)
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
    from ..report import write_report

    target, _ = resolve_target(target_name, profiles_dir, project_dir)
    numbers = write_report(target, out, lock_timeout)
    click.echo(f"wrote {out}: {numbers['job_runs']} job runs, {numbers['checks']} checks "
               f"({numbers['failing']} not passing), {numbers['drift_events']} drift events, "
               f"{numbers['rejected_lines']} rejected lines")
