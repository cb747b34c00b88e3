"""What a terminal shows of an extract: records per entity as they come, then a summary."""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager

import click


@contextmanager
def extract_progress(silent: bool = False, every: float = 0.2):
    """A callback taking {entity: records}; draws one line on a terminal, else nothing."""
    if silent or not sys.stderr.isatty():
        yield None
        return
    last = [0.0]
    lock = threading.Lock()

    def show(counts: dict) -> None:
        now = time.monotonic()
        with lock:
            if now - last[0] < every:
                return
            last[0] = now
            line = "  ".join(f"{e} {n:,}" for e, n in counts.items())
            click.echo(f"\rextracting: {line}", err=True, nl=False)

    try:
        yield show
    finally:
        click.echo("", err=True)


def format_extract(result) -> str:
    s = result.stats
    rate = sum(result.records.values()) / result.seconds if result.seconds else 0.0
    records = ", ".join(f"{e} {n}" for e, n in result.records.items())
    lines = [f"extracted {result.courses} courses into {result.batch_dir}: {records}",
             f"  {s.requests} requests, {s.pages} pages, {s.retries} retries, "
             f"{s.throttled} throttled, {s.bytes:,} bytes in {result.seconds:.2f}s "
             f"({rate:,.0f} records/s)" + ("; --full" if result.full else "")]
    if result.skipped:
        lines.append(f"  skipped {len(result.skipped)} course(s) the token may not read")
    return "\n".join(lines)
