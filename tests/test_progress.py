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


@pytest.mark.parametrize("engine", ["duckdb"])
def test_run_on_a_terminal_shows_each_files_progress_before_it_finishes(env):
    written = under_pty(["simulate", str(env.data), "--students", 400, "--courses", 6,
                         "--submissions", "150000"], env.root)
    text = "".join(t for _, t in written)
    assert re.search(r"\rwriting .*?[\d,]+ lines\s+[\d,]+ lines/s", text), text[-500:]

    chunks = under_pty(["run", "--data-dir", str(env.data), "--no-build"], env.root)
    text = "".join(t for _, t in chunks)
    bars = re.findall(r"\rloading canvas_submissions\.jsonl\s+([\d.,]+)/([\d.,]+) MB\s+(\d+)%"
                      r"\s+[\d.,]+ MB/s\s+ETA \d+:\d\d", text)
    assert len(bars) >= 2, text[-1000:]  # redrawn while loading
    assert float(bars[0][0]) < float(bars[-1][0]) <= float(bars[-1][1])
    done_at = next(at for at, t in chunks if "-> raw.canvas_submissions: read" in t)
    first_bar = next(at for at, t in chunks if "\rloading canvas_submissions" in t)
    assert first_bar < done_at


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
    assert "\r" not in out and "MB/s" not in out
