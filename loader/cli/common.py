"""What every `loader` command shares: the group, error handling (library errors
become one-line messages with a hint and exit code 1; a traceback only with
--debug), secrets masked in every message, and the target options.
"""

from __future__ import annotations

import functools
import traceback
from pathlib import Path

import click
from click.core import ParameterSource

from .. import __version__
from ..errors import ConfigError, LoaderError
from ..odbc import connection_string_secrets
from ..profiles import Target, find_project_dir, load_target


class State:
    debug = False
    secrets: list[str] = []
    conn: str | None = None
    conn_given = False  # on the command line (the env var alone does not bind a target)


def _mask(text: str) -> str:
    for secret in State.secrets:
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
            if State.debug:
                _print_traceback()
            raise click.ClickException(_mask(str(exc))) from None
        except KeyboardInterrupt:
            raise click.ClickException("interrupted; nothing of the running load was committed")
        except Exception as exc:  # noqa: BLE001 - unexpected: one line unless --debug
            if State.debug:
                _print_traceback()
            # One line: a database error's own message can carry the SQL under it.
            first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
            raise click.ClickException(
                _mask(f"unexpected error: {type(exc).__name__}: {first} (rerun with --debug)")
            ) from None

    return wrapper


def _remember_conn(ctx, param, value):
    """--conn is read by resolve_target(), so the commands' signatures stay as they are. Its
    password is masked from here on, even in errors raised before the target is read."""
    State.conn = value or None
    State.conn_given = ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE
    State.secrets = connection_string_secrets(State.conn)


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


def resolve_target(target_name, profiles_dir, project_dir) -> tuple[Target, Path]:
    project = Path(project_dir).resolve() if project_dir else find_project_dir()
    target = load_target(target_name, profiles_dir, project)
    if target.type == "sqlserver":
        target.conn = State.conn
    elif State.conn_given:
        raise ConfigError(f"--conn is for sqlserver targets; {target.name!r} is {target.type}",
                          "Drop --conn or use --target sqlserver")
    State.secrets = target.secrets + connection_string_secrets(State.conn)
    return target, project


def echo_err(message: str) -> None:
    click.echo(_mask(message), err=True)


@click.group(invoke_without_command=True)
@click.version_option(__version__, prog_name="loader")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx, debug: bool):
    """Land Canvas LMS JSONL in raw tables and build the warehouse with dbt.

    Example: loader run --demo
    """
    State.debug = debug
    if ctx.invoked_subcommand is None:  # `loader` alone: the help, and success
        click.echo(ctx.get_help())
