"""`loader simulate`, `loader load` and `loader run`: data in, warehouse built."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..load import load_file
from ..options import FORMAT_NAMES, SHAPE_NAMES, SIMULATE_SHAPES, STRATEGY_NAMES, LoadOptions
from ..progress import progress_bar, status_line
from ..summary import format_load, format_report, skipped_files_line
from .common import (cli, echo_err, handle_errors, lock_timeout_option, resolve_target,
                     silent_option,
                     target_options)
from .extract_cmd import run_extract, extract_options


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
@click.option("--shape", type=click.Choice(SIMULATE_SHAPES), default=None,
              help="rest: Canvas REST records; cd2: Canvas Data 2 envelopes, with deletes in "
                   "follow-ups (default: rest; a follow-up keeps the earlier batch's).")
@silent_option()
@handle_errors
def simulate(out_dir, seed, students, courses, assignments_per_course, submissions, follow_up,
             bad_lines, shape, silent):
    """Write Canvas-shaped JSONL (users, courses, enrollments, assignments, submissions).

    The first call writes OUT_DIR/batch-0001; --follow-up writes the next batch
    with new, changed, unchanged, boundary and late-arriving records (and, as CD2,
    deletes).

    Example: loader simulate data --students 500 && loader simulate data --follow-up
    """
    from ..simulate import simulate as run_simulate

    with progress_bar(None, f"writing {out_dir}", silent, unit="lines") as bar:
        manifest = run_simulate(
            out_dir, seed=seed, students=students, courses=courses,
            assignments_per_course=assignments_per_course, submissions=submissions,
            follow_up=follow_up, bad_lines=bad_lines, progress=bar.update, shape=shape,
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
@click.option("--format", "file_format", type=click.Choice(FORMAT_NAMES), default="auto",
              show_default=True,
              help="File format (auto: from the file's content and name; needed for csv on stdin).")
@click.option("--delimiter", help="CSV field delimiter (default: found in the header line).")
@click.option("--encoding", default="utf-8", show_default=True,
              help="CSV text encoding (a UTF-8 BOM is dropped), e.g. cp1252.")
@click.option("--sheet", help="Spreadsheet sheet to read (default: the first).")
@click.option("--header-row", type=int, default=1, show_default=True,
              help="CSV/spreadsheet row holding the column names.")
@click.option("--json-path", help="Where a JSON file's array is, e.g. data for {\"data\": [...]}.")
@click.option("--null-value", "null_values", multiple=True, metavar="TEXT",
              help="CSV field text read as null (repeatable; default: the empty field). "
                   "Replaces the default: add --null-value '' to keep the empty field null.")
@click.option("--type", "types", multiple=True, metavar="COLUMN=TYPE",
              help="CSV column's type: integer, number, boolean or text (repeatable; "
                   "default: text), e.g. --type grade_level=integer.")
@click.option("--strategy", type=click.Choice(STRATEGY_NAMES), default="upsert",
              show_default=True,
              help="upsert: latest version wins; append: an id already loaded is skipped; "
                   "snapshot: the file is the complete set, ids absent from it are deleted.")
@click.option("--allow-shrink", is_flag=True,
              help="snapshot: delete however many ids are absent (no minimum share).")
@click.option("--contract", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON Schema file (.json/.yml) every record must meet; others are rejected.")
@click.option("--payload-drift/--no-payload-drift", default=True, show_default=True,
              help="Profile the payload's keys and log keys added, removed or retyped.")
@click.option("--history/--no-history", default=True, show_default=True,
              help="Keep the versions this load replaces or deletes (raw.<table>__history; "
                   "`loader rollback` needs them).")
@lock_timeout_option(60.0, "Seconds to wait for another load of the same source.")
@silent_option()
@target_options
@handle_errors
def load(file, table, id_field, source_name, incremental, updated_field, max_rejects, force,
         shape, file_format, delimiter, encoding, sheet, header_row, json_path, null_values,
         types, strategy, allow_shrink, contract, payload_drift, history, lock_timeout, silent,
         target_name, profiles_dir, project_dir):
    """Load one file or DAP job directory into a raw table: JSONL, CSV/TSV, a JSON
    array or a spreadsheet.

    Gzip is read as it is; FILE - reads standard input. Unchanged records are
    not rewritten; bad lines and rows go to meta.load_reject. A directory is
    what `dap snapshot|incremental --format jsonl` writes (job_<id>/ with gzip
    parts): its parts, in name order, are one load.

    Example: loader load data/batch-0001/canvas_users.jsonl --table raw.canvas_users
    """
    options = LoadOptions(
        table=table, id_field=id_field, source_name=source_name, updated_field=updated_field,
        incremental=incremental, max_rejects=max_rejects, force=force, lock_timeout=lock_timeout,
        shape=shape, format=file_format, delimiter=delimiter, encoding=encoding, sheet=sheet,
        header_row=header_row, json_path=json_path,
        null_values=null_values or LoadOptions.null_values, types=types,
        strategy=strategy, snapshot_min_ratio=0.0 if allow_shrink else 0.5,
        contract=str(contract) if contract else None,
        payload_drift=payload_drift,
        history=history,
    )
    target, _ = resolve_target(target_name, profiles_dir, project_dir)
    size = file.stat().st_size if str(file) != "-" and file.is_file() else None
    with progress_bar(size, f"loading {file.name or 'standard input'}", silent) as bar:
        result = load_file(file, options, target, progress=bar.update,
                           on_wait=None if silent else echo_err)
    if not silent:
        click.echo(format_load(result))


@cli.command()
@click.option("--data-dir", default="data", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Where the JSONL files are.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Pipeline config (default: pipeline.yml in the project).")
@click.option("--demo", is_flag=True, help="Generate demo data first when the data dir is empty.")
@click.option("--demo-shape", type=click.Choice(SIMULATE_SHAPES), default="rest",
              show_default=True, help="With --demo: Canvas REST records or Canvas Data 2 "
                                      "envelopes (with deletes).")
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
@click.option("--allow-shrink", is_flag=True,
              help="Snapshot sources: delete however many ids are absent (no minimum share; "
                   "default: each source's snapshot_min_ratio).")
@click.option("--verbose", "-v", is_flag=True,
              help="List every already-loaded file instead of one line for all.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the HTML report (as `loader report`) to this file at the end.")
@lock_timeout_option(60.0, "Seconds to wait for another load of the same source.")
@silent_option("Only errors; dbt runs quietly.")
@target_options
@handle_errors
def run(data_dir, config_path, demo, demo_shape, no_build, do_extract, sources, select, exclude,
        full_refresh, dbt_vars, allow_shrink, verbose, report_path, lock_timeout, silent,
        target_name, profiles_dir, project_dir, **extract_args):
    """Load every configured source, run `dbt build`, and report loads, DQ and drift.

    Exit code 1 when a load fails or an error-severity check fails.

    Example: loader run --demo --source canvas_users -s +fact_submission
    """
    from ..run import run_pipeline

    target, project = resolve_target(target_name, profiles_dir, project_dir)
    config_path = config_path or project / "pipeline.yml"
    say = (lambda *a, **k: None) if silent else click.echo
    if do_extract:
        run_extract(target, project, data_dir, config_path, silent, extract_args)
    if demo and not any(data_dir.glob("batch-*")):
        from ..simulate import simulate as run_simulate

        say(f"--demo: generating Canvas data into {data_dir}/")
        run_simulate(data_dir, shape=demo_shape)
        run_simulate(data_dir, follow_up=True)

    skipped = []

    def progress(path: Path):
        size = path.stat().st_size if path.is_file() else None
        return progress_bar(size, f"loading {path.name}", silent)

    def on_load(result, error):
        if error:
            echo_err(f"load failed: {error}")
        elif result.status == "skipped_file" and not verbose:
            skipped.append(result)
        else:
            say(format_load(result))

    with status_line(silent) as show:
        report = run_pipeline(target, project, data_dir, config_path, build=not no_build,
                              # On a terminal the progress line replaces dbt's log.
                              quiet_dbt=silent or sys.stderr.isatty(),
                              lock_timeout=lock_timeout, on_load=on_load,
                              on_wait=None if silent else echo_err, sources=sources,
                              progress=progress, on_dbt_event=_dbt_progress(show),
                              allow_shrink=allow_shrink,
                              dbt_args=_dbt_args(select, exclude, full_refresh, dbt_vars))
    if skipped:
        say(skipped_files_line(skipped))
    if not silent:
        click.echo(format_report(report))
    if report_path:
        from ..report import write_report

        write_report(target, report_path, lock_timeout)
        say(f"report: {report_path}")
    for warning in report.warnings:
        echo_err(f"warning: {warning}")
    if not report.ok:
        sys.exit(1)


def _dbt_progress(show):
    """dbt's events as one line: 'dbt build  12/77  sql table model cur.dim_course'."""
    from ..dbt_build import node_started

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
