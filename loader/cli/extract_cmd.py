"""`loader extract`: pull from the Canvas REST API into a batch directory."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .common import (State, cli, echo_err, handle_errors, resolve_target, silent_option,
                     target_options)


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


def run_extract(target, project, data_dir, config_path, silent, args: dict):
    """One extract; prints its summary unless silent. Returns the ExtractResult."""
    from ..extract import ClientSettings, ExtractRequest, Scope, extract, read_profile
    from ..extract.progress import extract_progress, format_extract

    courses = tuple(c.strip() for arg in args["courses"] for c in arg.split(",") if c.strip())
    settings = ClientSettings(concurrency=args["concurrency"], max_retries=args["max_retries"],
                              timeout=args["http_timeout"], backoff=args["backoff"])
    request = ExtractRequest(
        base_url=args["base_url"] or "", data_dir=data_dir,
        scope=Scope(courses, args["account"], args["term"]),
        profile=read_profile(config_path or project / "pipeline.yml", args["extract_profile"]),
        token_env=args["token_env"], full=args["full"], settings=settings)
    State.secrets = State.secrets + [s for s in [os.environ.get(args["token_env"])] if s]
    with extract_progress(silent) as show:
        result = extract(request, target, on_progress=show)
    if not silent:
        click.echo(format_extract(result))
    for course_id, why in result.skipped:
        echo_err(f"skipped course {course_id}: {why}")
    return result


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
    target, project = resolve_target(target_name, profiles_dir, project_dir)
    run_extract(target, project, data_dir, config_path, silent, args)
