"""Apply: the staged records into raw, in the load's transaction, once for every engine.

The steps: take the source's lock and the database clock, read the watermark,
keep the last line of each id, drop what falls below the watermark
(incremental loads), compare hashes with raw, delete the changed rows and
insert the new and changed ones; then the same tail for every engine and
every way of staging: move the watermark (between two crash points) and
count. A first load whose records went straight into raw (Staged.first_load)
runs its own fix-ups instead of the comparison; SQL Server runs the same
steps as one T-SQL batch (backends/sqlserver/tsql.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..faults import crash_point


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

    @property
    def written(self) -> int:
        return self.inserted + self.updated


def apply(backend, staged, spec: LoadSpec) -> ApplyResult:
    """Upsert (or a first load's fix-ups), then the tail every engine shares."""
    if staged.first_load is not None:
        counts = staged.first_load.apply(backend, staged, spec)
    else:
        backend.lock_source(spec.source_name)
        counts = backend.upsert(staged, spec)
    crash_point("after_upsert")
    watermark_after = backend.move_watermark(spec, counts)
    crash_point("after_watermark")
    inserted, updated = int(counts.inserted), int(counts.updated)
    return ApplyResult(
        ingested_at=counts.ingested_at,
        staged=int(counts.staged),
        duplicates_in_file=int(counts.staged - counts.latest),
        below_watermark=int(counts.below),
        unchanged=int(counts.latest - counts.below - inserted - updated),
        inserted=inserted,
        updated=updated,
        watermark_before=counts.watermark_before,
        watermark_after=watermark_after,
    )


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
    backend.temp_table_as(
        "_changes",
        f"select l.line_number, l.id, {carried}l.payload_hash, l.record_updated_at, "
        "case when r.id is null then 0 else 1 end as existed "
        f"from _latest as l left join {raw} as r on r.id = l.id "
        "where r.id is null or r.payload_hash <> l.payload_hash",
    )
    inserted, updated, new_max = backend.execute(
        "select coalesce(sum(1 - existed), 0), coalesce(sum(existed), 0), "
        "max(record_updated_at) from _changes"
    ).fetchall()[0]
    if updated:
        backend.execute(
            f"delete from {raw} where id in (select id from _changes where existed = 1)")
    if inserted or updated:
        backend.write_rows(raw, "_changes", ingested_at, spec, staged)
    return ApplyCounts(ingested_at=ingested_at, staged=count, latest=latest, below=below,
                       inserted=inserted, updated=updated, watermark_before=watermark,
                       new_max=new_max)
