"""Run dbt in-process through its Python API (dbtRunner)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import LoaderError


@dataclass
class DbtOutcome:
    success: bool
    invocation_id: str | None
    nodes: list[dict] = field(default_factory=list)
    error: str | None = None


def run_dbt(command: list[str], project_dir: Path, profiles_dir: Path, target: str,
            quiet: bool = False, silent: bool = False, callbacks=()) -> DbtOutcome:
    """`run_dbt(["build"], ...)`: returns per-node status; raises only if dbt cannot start."""
    try:
        from dbt.cli.main import dbtRunner
    except ImportError as exc:  # pragma: no cover - dbt is a dependency
        raise LoaderError(f"dbt is not installed ({exc})", "Run scripts/setup.sh") from None
    args = [
        *command,
        "--project-dir", str(project_dir),
        "--profiles-dir", str(profiles_dir),
        "--target", target,
    ]
    if quiet:
        args.insert(0, "--quiet")
    if silent:  # not even dbt's error lines: the caller reports the results
        args[:0] = ["--log-level", "none"]
    # From the project directory, so a relative DuckDB path in the profile names the
    # same file for dbt as for the loader (profiles.load_target).
    cwd = os.getcwd()
    os.chdir(project_dir)
    try:
        res = dbtRunner(callbacks=list(callbacks)).invoke(args)
    finally:
        os.chdir(cwd)
    nodes = []
    invocation_id = None
    result = res.result
    if result is not None and hasattr(result, "results"):
        from dbt_common.invocation import get_invocation_id

        # The id of the invocation that just ran; the audit hooks use it as run_id.
        invocation_id = get_invocation_id()
        nodes = [_node(r) for r in result.results]
    error = str(res.exception) if res.exception is not None else None
    return DbtOutcome(success=bool(res.success), invocation_id=invocation_id, nodes=nodes,
                      error=error)


_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def _seconds(threshold) -> int | None:
    """A freshness threshold (count, period) in seconds; None when not set."""
    if threshold is None or not getattr(threshold, "count", None):
        return None
    period = getattr(threshold.period, "value", threshold.period)
    return int(threshold.count * _SECONDS[str(period)])


def _node(r) -> dict:
    """A result as a dict; a `dbt source freshness` result also has the source's
    name, its newest loaded_at, the age and the warn/error thresholds in seconds."""
    node = {"name": r.node.name, "resource_type": str(r.node.resource_type),
            "status": str(getattr(r.status, "value", r.status)),
            "failures": getattr(r, "failures", None), "message": getattr(r, "message", None)}
    if hasattr(r, "max_loaded_at") and hasattr(r.node, "source_name"):
        freshness = r.node.freshness
        node.update(source_name=r.node.source_name, max_loaded_at=r.max_loaded_at,
                    snapshotted_at=r.snapshotted_at, age=r.age,
                    warn_after=_seconds(getattr(freshness, "warn_after", None)),
                    error_after=_seconds(getattr(freshness, "error_after", None)))
    return node


def node_started(event) -> tuple[int, int, str] | None:
    """(index, total, description) when a dbt event starts a node ("3 of 77 START
    sql table model cur.dim_course"), else None: for a progress line."""
    if event.info.name != "LogStartLine":
        return None
    data = event.data
    return int(data.index), int(data.total), str(data.description)
