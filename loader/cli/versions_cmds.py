"""`loader rollback`, `loader history`, `loader prune`: the versions of raw."""

from __future__ import annotations

import click

from .common import (cli, echo_err, handle_errors, lock_timeout_option, resolve_target,
                     target_options)


@cli.command()
@click.argument("load_id")
@click.option("--cascade", is_flag=True,
              help="Also roll back the later loads of the same table (newest first).")
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@lock_timeout_option(60.0, "Seconds to wait for a running load of the same source.")
@target_options
@handle_errors
def rollback(load_id, cascade, dry_run, lock_timeout, target_name, profiles_dir, project_dir):
    """Undo one committed load: its inserts removed, the versions it replaced or
    deleted restored, the watermark and its meta.load_file row as before it.

    Runs in one transaction under the source's lock. The next dbt build takes the
    restored rows (new ingested_at) and drops rows built from the load.

    Example: loader rollback 3f2a9c0d8b7e4f61a5c2d9e8b7a6f5e4 --dry-run
    """
    from ..versions.rollback import rollback as run_rollback

    target, _ = resolve_target(target_name, profiles_dir, project_dir)
    result = run_rollback(target, load_id, cascade=cascade, dry_run=dry_run,
                          lock_timeout=lock_timeout, on_wait=echo_err)
    verb = "would roll back" if dry_run else "rolled back"
    for undo in result.undone:
        click.echo(f"{verb} load {undo.load_id} ({undo.target_table}, {undo.source_file}): "
                   f"{undo.removed} removed, {undo.restored} restored; "
                   f"watermark {undo.watermark or 'none'}")
        for kind, ids in (("removed", undo.removed_ids), ("restored", undo.restored_ids)):
            if ids:
                more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
                click.echo(f"  {kind}: {', '.join(ids[:5])}{more}")
    if dry_run:
        click.echo("dry run: nothing changed")


@cli.command()
@click.argument("record_id")
@click.option("--table", required=True, help="Raw table, e.g. raw.canvas_users.")
@lock_timeout_option(10.0, "Seconds to wait for the database (DuckDB: a running load).")
@target_options
@handle_errors
def history(record_id, table, lock_timeout, target_name, profiles_dir, project_dir):
    """Show a record's versions: load, file, when, and the payload keys added,
    removed and changed from one version to the next.

    Example: loader history --table raw.canvas_users 7493
    """
    from ..status import reading
    from ..versions.looking import format_versions, record_versions

    target, _ = resolve_target(target_name, profiles_dir, project_dir)
    with reading(target, lock_timeout) as backend:
        versions = record_versions(backend, table, record_id)
    click.echo(format_versions(table, record_id, versions))


@cli.command()
@click.option("--older-than", "days", type=click.FloatRange(min=0), required=True,
              help="Days: drop versions that stopped being current longer ago.")
@click.option("--table", help="Only this raw table's history, e.g. raw.canvas_users.")
@click.option("--force", is_flag=True,
              help="Also drop versions a rollback still needs (those loads can then no "
                   "longer be rolled back).")
@lock_timeout_option(60.0, "Seconds to wait for the database (DuckDB: a running load).")
@target_options
@handle_errors
def prune(days, table, force, lock_timeout, target_name, profiles_dir, project_dir):
    """Drop raw history past a retention period, keeping the versions a rollback of a
    committed load still needs unless --force.

    Example: loader prune --older-than 90
    """
    from ..identifiers import parse_table_name
    from ..status import reading
    from ..versions.prune import prune as run_prune

    schema, name = parse_table_name(table) if table else ("raw", None)
    target, _ = resolve_target(target_name, profiles_dir, project_dir)
    with reading(target, lock_timeout) as backend:
        pruned = run_prune(backend, days, force=force, schema=schema, only=name)
    for each in pruned:
        kept = (f"; {each.kept} kept: loads that can still be rolled back need them "
                "(--force drops them)") if each.kept else ""
        click.echo(f"{each.table}: {each.dropped} versions dropped{kept}")
