"""A DuckDB first load's apply: raw held nothing and now holds every record of the
file; rewrite the ids for which that is not the result.

An id in the file more than once: the last line wins. The winner below the
watermark: not written. Only those records are read back from the stager's
spill file (Parquet, read by DuckDB's own reader: an Arrow scan of it would
hold it in memory); whatever else apply needs is a count over raw.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from .. import apply as apply_steps
from .file_payloads import SMALL

# No hashes: they are in raw already (the few rewritten are recomputed).
SPILL = pa.schema([f for f in SMALL if f.name != "payload_hash"])


class FirstLoad:
    def __init__(self, ingested_at, scratch):
        self.ingested_at = ingested_at
        self._scratch = scratch
        self.spill = Path(scratch.name) / "stage.parquet"

    def apply(self, backend, staged, spec) -> apply_steps.ApplyCounts:
        watermark = backend.watermark(spec.source_name)
        filter_below = watermark if spec.incremental else None
        self._stage_exceptions(backend, filter_below)
        below = 0
        raw = spec.raw
        if backend.scalar("select count(*) from _stage"):
            backend.temp_table_as("_latest", apply_steps.latest_sql(backend))
            if filter_below is not None:
                below = apply_steps.drop_below(backend, "_latest", filter_below)
            backend.execute(f"delete from {raw} where id in (select id from _stage)")
            backend.write_rows(raw, "_latest", self.ingested_at, spec, staged)
        inserted, new_max = backend.execute(
            f"select count(*), max(record_updated_at) from {raw}").fetchall()[0]
        return apply_steps.ApplyCounts(
            ingested_at=self.ingested_at, staged=staged.records, latest=inserted + below,
            below=below, inserted=inserted, updated=0, watermark_before=watermark,
            new_max=new_max)

    def _stage_exceptions(self, backend, watermark) -> None:
        """_stage: only the records apply has to decide about, the ones whose id is
        in the file more than once and (with a watermark) the ones below it;
        every other record is in raw as it should end up."""
        spill = f"read_parquet('{str(self.spill).replace(chr(39), chr(39) * 2)}')"
        below = " or record_updated_at < ?" if watermark is not None else ""
        backend.temp_table_as(
            "_stage",
            "select line_number, id, cast(null as json) as payload, "
            "cast(null as varchar) as payload_hash, record_updated_at, line_bytes, line_offset "
            f"from {spill} where id in (select id from {spill} group by id "
            f"having count(*) > 1){below}",
            (watermark,) if watermark is not None else (),
        )

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
