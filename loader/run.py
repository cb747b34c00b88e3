"""`loader run`: load every configured source, build with dbt, report what happened."""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from . import audit, checks, staged_keys
from .backends import backend_for
from .checks import VolumeSettings
from .dbt_build import DbtOutcome, run_dbt
from .errors import ConfigError, LoaderError
from .load import LoadResult, load_file
from .pipeline import read_pipeline, read_volume_settings
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


def select_sources(sources: list, names: tuple[str, ...] | list[str], config: Path) -> list:
    """The sources named (--source), in the config's order; all when none is named."""
    known = [s.name for s in sources]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"--source {unknown[0]!r} is not a source in {config}",
                          f"Known sources: {', '.join(known)}")
    return [s for s in sources if not names or s.name in names]


def run_pipeline(target: Target, project_dir: Path, data_dir: Path, config: Path, *,
                 build: bool = True, quiet_dbt: bool = False, lock_timeout: float = 60.0,
                 on_load=None, on_wait=None, sources: tuple[str, ...] = (),
                 dbt_args: tuple[str, ...] = (),
                 volume: VolumeSettings | None = None, progress=None,
                 on_dbt_event=None, allow_shrink: bool = False) -> RunReport:
    """Every (or each named) source's files in order, `dbt source freshness` for those
    sources, `dbt build` (with dbt_args, e.g. --select), the volume checks, and what
    dbt's hooks and the checks recorded for the run. allow_shrink (--allow-shrink):
    every snapshot source may shrink, its snapshot_min_ratio is 0 for this run."""
    selected = select_sources(read_pipeline(config), sources, config)  # config errors first
    volume = volume or read_volume_settings(config)
    if not data_dir.is_dir():
        raise ConfigError(f"--data-dir {data_dir} does not exist (or is not a directory)",
                          "Pass the directory that holds the batch folders, or --demo")
    report = RunReport()
    for source in selected:
        _load_source(report, source, target, data_dir, lock_timeout, on_load, on_wait,
                     progress, allow_shrink)
    # --no-build runs no dbt at all, freshness included (it is part of the build).
    freshness = DbtOutcome(success=True, invocation_id=None)
    if build:
        freshness = run_dbt(["source", "freshness"], project_dir, target.profiles_dir,
                            target.name, silent=True)
        # Only the run's own sources: another source's empty table is not this run's finding.
        tables = {s.options.schema_and_name[1] for s in selected}
        freshness.nodes = [n for n in freshness.nodes if n.get("name") in tables]
        report.dbt = run_dbt(["build", *dbt_args], project_dir, target.profiles_dir,
                             target.name, quiet=quiet_dbt,
                             callbacks=[on_dbt_event] if on_dbt_event else ())
    run_id = (report.dbt and report.dbt.invocation_id) or freshness.invocation_id \
        or uuid.uuid4().hex
    staged = (staged_keys.read_staged_keys(project_dir),
              staged_keys.sample_limit(project_dir, dbt_args))
    record_checks(report, target, run_id, freshness, volume, lock_timeout, staged)
    return report


def record_checks(report: RunReport, target: Target, run_id: str, freshness: DbtOutcome,
                  volume: VolumeSettings, lock_timeout: float,
                  staged: tuple[dict, int] = ({}, 0)) -> None:
    """Freshness, volume and staged-key results under the run's id, then every DQ
    result and schema change recorded for that id (dbt's hooks wrote theirs)."""
    backend = backend_for(target)
    backend.connect(lock_timeout)
    try:
        backend.begin()
        backend.ensure_meta()
        checks.record_freshness(backend, run_id, freshness.nodes)
        checks.check_load_volume(backend, run_id, report.loads, volume)
        staged_keys.check_staged_keys(backend, run_id, *staged)
        if report.dbt is not None:
            checks.check_table_volume(backend, run_id, volume)
        backend.commit()
        report.dq_rows, report.schema_changes = audit.run_findings(backend, run_id)
        report.schema_changes = [*report.drift, *report.schema_changes]
    finally:
        backend.close()


def _load_source(report: RunReport, source, target: Target, data_dir: Path,
                 lock_timeout: float, on_load, on_wait, progress,
                 allow_shrink: bool = False) -> None:
    """One source's files, in name order; a source with no file, or whose new files
    held no record, is a warning."""
    shrink = {"snapshot_min_ratio": 0.0} if allow_shrink else {}
    opts = source.load_options(lock_timeout=lock_timeout, **shrink)
    paths = source.matching_files(data_dir)
    if not paths:
        _no_files(report, target, source, data_dir, lock_timeout)
    loaded_before = len(report.loads)
    for path in paths:
        try:
            with progress(path) if progress else nullcontext(None) as bar:
                result = load_file(path, opts, target, on_wait=on_wait,
                                   progress=bar.update if bar else None)
        except LoaderError as exc:
            report.load_errors.append(str(exc))
            if on_load:
                on_load(None, str(exc))
            continue
        report.loads.append(result)
        if result.snapshot_kept:  # a snapshot with rejects: its deletes were not applied
            report.warnings.append(
                f"{source.name}: {path} had {result.rows_rejected} rejected lines, so "
                f"{result.snapshot_kept} ids absent from the snapshot were kept, not deleted")
        schema, name = opts.schema_and_name
        report.drift.extend((schema, name, change, key) for change, key in result.drift)
        if on_load:
            on_load(result, None)
    new = [r for r in report.loads[loaded_before:] if r.status == "success"]
    if new and not sum(r.rows_read for r in new):
        _nothing_read(report, target, source.name, lock_timeout)


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
