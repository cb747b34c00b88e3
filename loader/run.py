"""`loader run`: load every configured source, build with dbt, report what happened."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import audit
from .backends import backend_for
from .dbt_build import DbtOutcome, run_dbt
from .errors import ConfigError, LoaderError
from .load import LoadResult, load_file
from .pipeline import read_pipeline
from .profiles import Target


@dataclass
class RunReport:
    loads: list[LoadResult] = field(default_factory=list)
    load_errors: list[str] = field(default_factory=list)
    dbt: DbtOutcome | None = None
    dq_rows: list[tuple] = field(default_factory=list)
    schema_changes: list[tuple] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # printed under "== Loads"
    drift: list[tuple] = field(default_factory=list)  # payload drift of the loads

    @property
    def failed_error_checks(self) -> list[tuple]:
        return [r for r in self.dq_rows if r[1] == "error" and r[2] in ("fail", "error")]

    @property
    def ok(self) -> bool:
        dbt_ok = self.dbt is None or self.dbt.success
        return not self.load_errors and dbt_ok and not self.failed_error_checks


def run_pipeline(target: Target, project_dir: Path, data_dir: Path, config: Path, *,
                 build: bool = True, quiet_dbt: bool = False, lock_timeout: float = 60.0,
                 on_load=None, on_wait=None) -> RunReport:
    """Every source's files in order, then `dbt build` and what its hooks recorded."""
    sources = read_pipeline(config)  # a config error first
    if not data_dir.is_dir():
        raise ConfigError(f"--data-dir {data_dir} does not exist (or is not a directory)",
                          "Pass the directory that holds the batch folders, or --demo")
    report = RunReport()
    for source in sources:
        opts = source.load_options(lock_timeout=lock_timeout)
        paths = source.matching_files(data_dir)
        if not paths:
            _no_files(report, target, source, data_dir, lock_timeout)
        loaded_before = len(report.loads)
        for path in paths:
            try:
                result = load_file(path, opts, target, on_wait=on_wait)
            except LoaderError as exc:
                report.load_errors.append(str(exc))
                if on_load:
                    on_load(None, str(exc))
                continue
            report.loads.append(result)
            schema, name = opts.schema_and_name
            report.drift.extend((schema, name, change, path) for change, path in result.drift)
            if on_load:
                on_load(result, None)
        new = [r for r in report.loads[loaded_before:] if r.status == "success"]
        if new and not sum(r.rows_read for r in new):
            _nothing_read(report, target, source.name, lock_timeout)
    report.schema_changes = list(report.drift)
    if build:
        report.dbt = run_dbt(["build"], project_dir, target.profiles_dir, target.name,
                             quiet=quiet_dbt)
        collect_findings(report, target, lock_timeout)
    return report


def collect_findings(report: RunReport, target: Target, lock_timeout: float) -> None:
    """The DQ results and schema changes of the run's dbt invocation."""
    if not report.dbt or not report.dbt.invocation_id:
        return
    backend = backend_for(target)
    backend.connect(lock_timeout)
    try:
        report.dq_rows, report.schema_changes = audit.run_findings(
            backend, report.dbt.invocation_id)
        report.schema_changes = [*report.drift, *report.schema_changes]
    finally:
        backend.close()


def _no_files(report: RunReport, target: Target, source, data_dir: Path,
              lock_timeout: float) -> None:
    """A configured source with no file under data_dir: warned and recorded in job_run."""
    message = (f"{source.name}: no file matches {source.files!r} under {data_dir}; "
               "nothing loaded for it")
    report.warnings.append(message)
    backend = backend_for(target)
    backend.connect(lock_timeout)
    try:
        backend.begin()
        backend.ensure_meta()
        backend.commit()
        audit.record_warning(backend, uuid.uuid4().hex, f"load {source.name}", message)
        usual = audit.rows_usually_written(backend, source.name)
    finally:
        backend.close()
    if usual:
        report.warnings.append(f"{source.name}: 0 rows this run; its loads usually "
                               f"write about {usual} rows")


def _nothing_read(report: RunReport, target: Target, source_name: str,
                  lock_timeout: float) -> None:
    """New files that held no record, for a source that usually delivers."""
    backend = backend_for(target)
    backend.connect(lock_timeout)
    try:
        usual = audit.rows_usually_written(backend, source_name)
    finally:
        backend.close()
    if usual:
        report.warnings.append(f"{source_name}: 0 rows this run; its loads usually "
                               f"write about {usual} rows")
