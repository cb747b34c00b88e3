"""Apply: the staged records into raw, in the load's transaction, once for every engine.

The steps: take the source's lock and the database clock, read the watermark,
keep the last line of each id, drop what falls below the watermark
(incremental loads), compare hashes with raw, delete the changed rows and
insert the new and changed ones; then the same tail for every engine and
every way of staging: move the watermark (between two crash points) and
count. A first load whose records went straight into raw (Staged.first_load)
runs its own fix-ups instead of the comparison; SQL Server runs the same
steps as one T-SQL batch (backends/sqlserver/tsql.py).

A source's strategy (options.STRATEGY_NAMES) changes two steps: append writes
only the ids raw lacks (changed_where) and counts the others (count_existing);
snapshot checks the file's size against raw's live rows first
(check_snapshot_size) and stages the live ids absent from the file as deletes
for mark_deleted (stage_absent). A first load has nothing to compare with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..errors import SnapshotTooSmall
from ..faults import crash_point
from . import history


@dataclass
class LoadSpec:
    """Where a load goes: the raw table (schema, name, and quoted), the source, the load."""

    schema: str
    name: str
    raw: str
    source_name: str
    load_id: str
    source_file: str
    incremental: bool
    strategy: str = "upsert"  # upsert | append | snapshot (options.STRATEGY_NAMES)
    snapshot_min_ratio: float = 0.5
    history: str | None = None  # the quoted raw.<name>__history, None: keep no history


@dataclass
class ApplyCounts:
    """What an upsert did. latest = records left after de-duplication, below = of
    them under the watermark; new_max = the largest record_updated_at written."""

    ingested_at: datetime
    staged: int
    latest: int
    below: int
    inserted: int
    updated: int
    watermark_before: datetime | None
    new_max: datetime | None = None
    skipped_existing: int = 0  # append: ids already in raw, not written


@dataclass
class ApplyResult:
    ingested_at: datetime
    staged: int
    duplicates_in_file: int
    below_watermark: int
    unchanged: int
    inserted: int
    updated: int
    watermark_before: datetime | None
    watermark_after: datetime | None
    deleted: int = 0  # rows marked deleted (envelope, soft and snapshot deletes)
    envelope_deletes: int = 0  # of them by a delete record (not also an upsert)
    skipped_existing: int = 0  # append: ids already in raw, not written
    snapshot_deleted: int = 0  # snapshot: live ids absent from the file, marked deleted
    snapshot_kept: int = 0  # snapshot with rejected lines: absent ids not deleted
    prior_watermark: tuple | None = None  # the watermark row before (history.py)
    history_kept: bool = True  # replaced and deleted versions went to history

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.envelope_deletes


def apply(backend, staged, spec: LoadSpec) -> ApplyResult:
    """Upsert (or a first load's fix-ups), the deletes, then the tail every engine shares."""
    deletes = staged.reader.deletes
    absent = kept = 0
    if staged.first_load is not None:  # raw was empty: nothing absent, nothing existing
        prior_watermark = history.watermark_row(backend, spec.source_name)
        counts = staged.first_load.apply(backend, staged, spec)
        if deletes:
            backend.stage_deletes(deletes)
    else:
        backend.lock_source(spec.source_name)
        prior_watermark = history.watermark_row(backend, spec.source_name)
        backend.stage_deletes(deletes)
        if spec.strategy == "snapshot":
            check_snapshot_size(backend, spec)
        counts = backend.upsert(staged, spec)
        if spec.strategy == "snapshot":
            absent, kept = backend.stage_absent(spec, apply=not staged.reader.rejects)
    deleted, envelope_deletes = backend.mark_deleted(spec, counts.ingested_at) \
        if deletes or absent else (0, 0)
    crash_point("after_upsert")
    watermark_after = backend.move_watermark(spec, counts)
    crash_point("after_watermark")
    inserted, updated = int(counts.inserted), int(counts.updated)
    skipped_existing = int(counts.skipped_existing)
    return ApplyResult(
        ingested_at=counts.ingested_at,
        staged=int(counts.staged),
        duplicates_in_file=int(counts.staged - counts.latest),
        below_watermark=int(counts.below),
        unchanged=int(counts.latest - counts.below - inserted - updated - skipped_existing),
        inserted=inserted,
        updated=updated,
        watermark_before=counts.watermark_before,
        watermark_after=watermark_after,
        deleted=int(deleted),
        envelope_deletes=int(envelope_deletes),
        skipped_existing=skipped_existing,
        snapshot_deleted=int(absent),
        snapshot_kept=int(kept),
        prior_watermark=prior_watermark,
        history_kept=spec.history is not None,
    )


def check_snapshot_size(backend, spec: LoadSpec) -> None:
    """snapshot: fail, before anything is written, when the file holds fewer ids
    than snapshot_min_ratio of raw's live rows (a truncated export would
    otherwise delete most of the table)."""
    live, ids = backend.snapshot_counts(spec)
    live, ids = int(live or 0), int(ids or 0)
    if live and ids < spec.snapshot_min_ratio * live:
        raise SnapshotTooSmall(
            f"{spec.source_file}: snapshot of {spec.source_name} holds {ids:,} ids, fewer "
            f"than {spec.snapshot_min_ratio:g} of the {live:,} live rows in {spec.schema}."
            f"{spec.name}; it would delete {live - ids:,} of them, so nothing was loaded",
            "If the source really shrank, load it with --allow-shrink (or lower "
            "snapshot_min_ratio in pipeline.yml)")


def snapshot_counts(backend, spec: LoadSpec) -> tuple[int, int]:
    """(live rows in raw, distinct ids in the file's records)."""
    return backend.execute(
        f"select (select count(*) from {spec.raw} where deleted_at is null), "
        "(select count(distinct id) from _stage)").fetchall()[0]


def absent_sql(raw: str) -> str:
    """The live ids of raw that the file has neither as a record nor as a delete."""
    return (f"select r.id from {raw} as r where r.deleted_at is null "
            "and not exists (select 1 from _stage as s where s.id = r.id) "
            "and not exists (select 1 from _deletes as d where d.id = r.id)")


def stage_absent(backend, spec: LoadSpec, apply: bool) -> tuple[int, int]:
    """snapshot: the live ids absent from the file into _deletes (as a delete without
    a time: deleted_at becomes the load's ingested_at) for mark_deleted, when
    apply. Returns (ids staged as deletes, ids kept). A file with rejected lines
    is not the complete set (a rejected line's id would look absent): apply is
    False, its absent ids are counted and kept, none deleted."""
    absent = backend.scalar(f"select count(*) from ({absent_sql(spec.raw)}) as a")
    if not absent or not apply:
        return 0, int(absent or 0)
    backend.execute("insert into _deletes (id, deleted_at, soft) "
                    f"select a.id, null, 1 from ({absent_sql(spec.raw)}) as a")
    return int(absent), 0


DELETES_TYPES = {"id": "text", "deleted_at": "timestamp", "soft": "int"}


def stage_deletes(backend, deletes: dict) -> None:
    """_deletes (id, deleted_at, soft): the file's deletes (RecordReader.deletes)."""
    backend.execute("drop table if exists _deletes")
    backend.execute("create temp table _deletes (id varchar(450), deleted_at timestamp, "
                    "soft int)")
    backend.insert_rows("_deletes", ["id", "deleted_at", "soft"],
                        [(key, when, int(soft)) for key, (_, when, soft) in deletes.items()])


def deletes_match(raw: str) -> str:
    """The live rows of raw a staged delete applies to: not newer than the delete."""
    return (f"{raw}.deleted_at is null and ({raw}.record_updated_at is null "
            f"or d.deleted_at is null or {raw}.record_updated_at <= d.deleted_at)")


def mark_deleted(backend, spec: LoadSpec, ingested_at) -> tuple[int, int]:
    """Set deleted_at (and move ingested_at) on the rows _deletes applies to; return
    (rows marked, of them by an envelope delete rather than a soft delete)."""
    raw, p = spec.raw, backend.param
    match = deletes_match(raw)
    marked, by_envelope = backend.execute(
        "select count(*), coalesce(sum(1 - d.soft), 0) "
        f"from {raw} inner join _deletes as d on d.id = {raw}.id where {match}"
    ).fetchall()[0]
    if marked:
        history.keep_deleted(backend, spec, ingested_at, match)
        backend.execute(
            f"update {raw} set deleted_at = coalesce((select d.deleted_at from _deletes as d "
            f"where d.id = {raw}.id), {p}), ingested_at = {p}, source_file = {p}, "
            f"load_id = {p} where exists (select 1 from _deletes as d "
            f"where d.id = {raw}.id and {match})",
            (ingested_at, ingested_at, spec.source_file, spec.load_id))
    return int(marked), int(by_envelope)


def latest_sql(backend) -> str:
    """The last line of each id in _stage, with the carried columns."""
    carried = "".join(f"{c}, " for c in backend.carried_columns)
    return (
        f"select line_number, id, {carried}payload_hash, record_updated_at from ("
        "select s.*, row_number() over (partition by s.id order by s.line_number desc) as rn "
        "from _stage as s) as ranked where rn = 1"
    )


def drop_below(backend, table: str, watermark) -> int:
    """Remove the rows of table under the watermark; how many there were."""
    p = backend.param
    below = backend.scalar(f"select count(*) from {table} where record_updated_at < {p}",
                           (watermark,))
    if below:
        backend.execute(f"delete from {table} where record_updated_at < {p}", (watermark,))
    return below


def upsert(backend, staged, spec: LoadSpec) -> ApplyCounts:
    """The portable steps, on temporary tables _latest and _changes."""
    raw = spec.raw
    ingested_at = backend.ingest_clock(raw)
    watermark = backend.watermark(spec.source_name)
    count = backend.scalar("select count(*) from _stage")
    backend.temp_table_as("_latest", latest_sql(backend))
    latest = backend.scalar("select count(*) from _latest")
    below = 0
    if spec.incremental and watermark is not None:
        below = drop_below(backend, "_latest", watermark)
    carried = "".join(f"l.{c}, " for c in backend.carried_columns)
    skipped_existing = count_existing(backend, raw) if spec.strategy == "append" else 0
    backend.temp_table_as(
        "_changes",
        f"select l.line_number, l.id, {carried}l.payload_hash, l.record_updated_at, "
        "case when r.id is null then 0 else 1 end as existed "
        f"from _latest as l left join {raw} as r on r.id = l.id "
        f"where {changed_where(spec.strategy)}",
    )
    inserted, updated, new_max = backend.execute(
        "select coalesce(sum(1 - existed), 0), coalesce(sum(existed), 0), "
        "max(record_updated_at) from _changes"
    ).fetchall()[0]
    if updated:
        history.keep_replaced(backend, spec, ingested_at)
        backend.execute(
            f"delete from {raw} where id in (select id from _changes where existed = 1)")
    if inserted or updated:
        backend.write_rows(raw, "_changes", ingested_at, spec, staged)
    return ApplyCounts(ingested_at=ingested_at, staged=count, latest=latest, below=below,
                       inserted=inserted, updated=updated, watermark_before=watermark,
                       new_max=new_max, skipped_existing=skipped_existing)


def changed_where(strategy: str) -> str:
    """Which of _latest (l) joined to raw (r) are written: append, only ids raw lacks
    (an event is never rewritten, deleted or not); otherwise new ids, changed hashes,
    and a deleted row that arrives again (a re-insert, unless deleted again now)."""
    if strategy == "append":
        return "r.id is null"
    return ("r.id is null or r.payload_hash <> l.payload_hash"
            " or (r.deleted_at is not null and not exists "
            "(select 1 from _deletes as d where d.id = l.id))")


def count_existing(backend, raw: str) -> int:
    """append: the ids of _latest raw holds already (skipped, counted)."""
    return int(backend.scalar(
        f"select count(*) from _latest as l where exists (select 1 from {raw} as r "
        "where r.id = l.id)") or 0)
