"""What the reader tests (test_readers_*.py) ask of the database after a load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from click.testing import CliRunner

from helpers_attack import as_text
from loader.cli import cli


def payloads(env, table: str) -> dict:
    """id -> payload (parsed) of every row of table."""
    rows = env.query(f"select id, {as_text(env, 'payload')} from {table}")
    return {rid: json.loads(text) for rid, text in rows}


def rejects(env, source_file: str) -> list[tuple]:
    """(line_number, reason) of the file's rejects, in line order."""
    return [tuple(r) for r in env.query(
        "select line_number, reason from meta.load_reject where source_file = ? "
        "order by line_number", (source_file,))]


def last_load(env, source_file: str) -> dict:
    """The file's latest meta.load_file row, with the counts checked to add up."""
    cols = ("status", "rows_read", "rows_written", "rows_skipped", "rows_rejected")
    rows = env.query(f"select {', '.join(cols)} from meta.load_file where source_file = ? "
                     "order by started_at desc", (source_file,))
    row = dict(zip(cols, rows[0]))
    assert row["rows_read"] == row["rows_written"] + row["rows_skipped"] + row["rows_rejected"]
    return row


def load_stdin(env, data: bytes, table: str, *extra, expect: int = 0):
    """`loader load - --table table` with data on standard input (in-process)."""
    result = CliRunner().invoke(cli, ["load", "-", "--table", table, "--silent", *extra],
                                input=data, catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result


# The child writes its own VmHWM (peak resident set of the process image it runs)
# at exit. Not ru_maxrss: Linux keeps the pre-exec high-water mark there, which is
# the forking test process's own size (600 MB late in a full test run).
_PEAK_RSS_CHILD = """import atexit, os, sys
def _write_peak():
    with open('/proc/self/status') as status:
        kib = next(line.split()[1] for line in status if line.startswith('VmHWM:'))
    with open(os.environ['PEAK_RSS_FILE'], 'w') as out:
        out.write(kib)
atexit.register(_write_peak)
from loader.cli import cli
sys.argv[0] = 'loader'
cli()
"""


def peak_rss_mb(args: list[str], stdin=None) -> float:
    """Run the loader CLI in a child process; its own peak RSS in MB."""
    with tempfile.TemporaryDirectory() as scratch:
        peak_file = os.path.join(scratch, "peak")
        with tempfile.TemporaryFile() as out:
            proc = subprocess.run([sys.executable, "-c", _PEAK_RSS_CHILD, *args], stdin=stdin,
                                  stdout=out, stderr=subprocess.STDOUT,
                                  env=dict(os.environ, PEAK_RSS_FILE=peak_file))
            out.seek(0)
            assert proc.returncode == 0, out.read().decode()
        with open(peak_file) as peak:
            return int(peak.read()) / 1024
