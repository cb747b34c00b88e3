"""A PostgreSQL first load: which ids go straight into raw (a Bloom filter over
the ids seen), and apply's fix-ups afterwards.

raw held nothing; after staging it holds the first line of every id of the
file, and _stage every later line of an id (and a few first ones, the Bloom
filter's false positives). The source's lock is held since staging. apply()
rewrites the ids in _stage with their last line and drops what the last line
puts below the watermark; the counts follow without scanning raw.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from .. import apply as apply_steps


class PgFirstLoad:
    def __init__(self, ingested_at, file_bytes: int):
        self.ingested_at = ingested_at
        self.file_bytes = file_bytes  # of the file, unzipped (estimated)
        self.diverted = 0  # records sent to _stage
        self.direct_min = self.direct_max = None  # record_updated_at of raw's rows
        self._bloom_init()

    def _bloom_init(self) -> None:
        """About one bit per 8 bytes of file (a gzip file counts 5x), 64 KiB to
        32 MiB, two bits per id: false positives (a detour through _stage, no
        more) near 0.02% at 1M Canvas submissions (707 MB), 0.5% at 10M."""
        bits = 1 << 19
        while bits < self.file_bytes // 8 and bits < 1 << 28:
            bits <<= 1
        self._bloom = bytearray(bits >> 3)
        self._bloom_mask = bits - 1

    def seen(self, ids: list) -> pa.Array:
        """Per id: may it have been seen before (in this file)? Adds it."""
        bloom, mask = self._bloom, self._bloom_mask
        out = []
        append = out.append
        for rid in ids:
            h = hash(rid)
            a = h & mask
            b = (h >> 32) & mask
            if bloom[a >> 3] >> (a & 7) & 1 and bloom[b >> 3] >> (b & 7) & 1:
                append(True)
            else:
                bloom[a >> 3] |= 1 << (a & 7)
                bloom[b >> 3] |= 1 << (b & 7)
                append(False)
        return pa.array(out, pa.bool_())

    def split(self, direct: pa.RecordBatch, diverted: pa.RecordBatch):
        """Count a chunk's (straight into raw, to _stage) parts; return them."""
        self.diverted += diverted.num_rows
        if direct.num_rows:
            low, high = pc.min_max(direct.column("record_updated_at")).values()
            if low.is_valid:
                low, high = low.as_py(), high.as_py()
                if self.direct_min is None or low < self.direct_min:
                    self.direct_min = low
                if self.direct_max is None or high > self.direct_max:
                    self.direct_max = high
        return direct, diverted

    def apply(self, backend, staged, spec) -> apply_steps.ApplyCounts:
        raw = spec.raw
        watermark = backend.watermark(spec.source_name)
        below_mark = watermark if spec.incremental else None
        latest = staged.records - self.diverted  # ids in raw now
        new_max = self.direct_max
        below = 0
        if self.diverted:
            latest += self._latest_of_diverted(backend, raw)
            if new_max is not None and backend.scalar(
                f"select exists (select 1 from {raw} where id in (select id from _latest) "
                "and record_updated_at = %s)", (new_max,)
            ):
                new_max = None  # the latest timestamp in raw is rewritten: look again below
            if below_mark is not None:
                below += apply_steps.drop_below(backend, "_latest", below_mark)
            backend.execute(f"delete from {raw} where id in (select id from _stage)")
        if below_mark is not None and self.direct_min is not None and \
                self.direct_min < below_mark:
            below += backend.execute(
                f"delete from {raw} where record_updated_at < %s", (below_mark,)
            ).rowcount
        if self.diverted:
            backend.write_rows(raw, "_latest", self.ingested_at, spec, staged)
            if new_max is None and self.direct_max is not None:
                new_max = backend.scalar(f"select max(record_updated_at) from {raw}")
            else:
                new_max = _max(new_max, backend.scalar(
                    "select max(record_updated_at) from _latest"))
        return apply_steps.ApplyCounts(
            ingested_at=self.ingested_at, staged=staged.records, latest=latest, below=below,
            inserted=latest - below, updated=0, watermark_before=watermark, new_max=new_max)

    @staticmethod
    def _latest_of_diverted(backend, raw: str) -> int:
        """_latest: the last line of each id in _stage; how many of them raw lacks."""
        backend.execute("analyze _stage")
        backend.temp_table_as("_latest", apply_steps.latest_sql(backend))
        return backend.scalar(
            f"select count(*) from _latest as l where not exists "
            f"(select 1 from {raw} as r where r.id = l.id)"
        )


def _max(a, b):
    return b if a is None else a if b is None else max(a, b)
