"""Progress on a terminal: `loader simulate` and `loader run` under a pseudo-terminal
show progress lines while they work; off a terminal they show none."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest


def under_pty(args: list[str], cwd, timeout: float = 600) -> list[tuple[float, str]]:
    """Run the loader with stdout and stderr on a pseudo-terminal; returns
    (seconds since start, text) for every chunk it wrote, in order."""
    master, slave = pty.openpty()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "loader.cli", *map(str, args)], cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    try:
        while time.monotonic() - started < timeout:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append((time.monotonic() - started, data.decode("utf-8", "replace")))
    finally:
        os.close(master)
        proc.wait(timeout=60)
    assert proc.returncode == 0, "".join(text for _, text in chunks)[-2000:]
    return chunks


def _number(text: str) -> float:
    return float(text.replace(",", ""))


@pytest.mark.parametrize("engine", ["duckdb"])
def test_run_on_a_terminal_shows_each_files_progress_before_it_finishes(env):
    """1M submissions (about 740 MB), as the issue asks: simulate, then load."""
    written = under_pty(["simulate", str(env.data), "--students", 2000, "--courses", 40,
                         "--submissions", "1000000"], env.root)
    text = "".join(t for _, t in written)
    assert re.search(r"\rwriting .*?[\d,]+ lines\s+[\d,]+ lines/s", text), text[-500:]

    chunks = under_pty(["run", "--data-dir", str(env.data), "--no-build"], env.root)
    text = "".join(t for _, t in chunks)
    bars = re.findall(r"\rloading canvas_submissions\.jsonl\s+([\d.,]+)/([\d.,]+) MB\s+(\d+)%"
                      r"\s+([\d,]+) rows\s+([\d,]+) rows/s\s+ETA (\d+):(\d\d)", text)
    assert len(bars) >= 3, text[-1000:]  # redrawn throughout the load
    first, last = bars[0], bars[-1]
    assert _number(first[0]) < _number(last[0]) <= _number(last[1])  # MB done, of the file's
    assert 0 < _number(first[3]) < _number(last[3]) <= 1_000_000  # rows so far
    assert all(_number(bar[4]) > 0 for bar in bars)  # rows/s
    etas = [int(m) * 60 + int(s) for *_, m, s in bars]
    assert etas[0] > etas[-1]  # the ETA counts down
    assert "-> raw.canvas_submissions: read 1000000," in text
    done_at = next(at for at, t in chunks if "-> raw.canvas_submissions: read" in t)
    bar_times = [at for at, t in chunks if "\rloading canvas_submissions" in t]
    assert len(bar_times) >= 3 and bar_times[0] < bar_times[-2] < done_at


@pytest.mark.parametrize("engine", ["duckdb"])
def test_run_on_a_terminal_counts_dbts_nodes_instead_of_its_log(env):
    under_pty(["simulate", str(env.data), "--students", 20, "--courses", 2, "--silent"],
              env.root)
    text = "".join(t for _, t in under_pty(["run", "--data-dir", str(env.data)], env.root))
    counts = [(int(a), int(b)) for a, b in re.findall(r"\rdbt build  (\d+)/(\d+)  ", text)]
    assert len(counts) > 10 and counts[-1][0] == counts[-1][1]
    assert "START sql" not in text and "PASS=" not in text  # dbt's own log stays quiet
    assert text.index("dbt build  1/") < text.index("== dbt build: ok")


def test_off_a_terminal_there_is_no_progress_line(env):
    out = env.cli("simulate", env.data, "--students", 20, "--courses", 2).output
    assert "\r" not in out and "lines/s" not in out
    out = env.cli("run", "--data-dir", env.data, "--no-build").output
    assert "\r" not in out and "ETA" not in out and " MB " not in out
