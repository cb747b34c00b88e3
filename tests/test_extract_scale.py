"""Scale: an extract of many courses stays within the requests Link paging needs
(one per course, one per page of 100 of each entity, plus one per throttled
answer or retry), and scripts/bench_extract.py reports records/s with the fake
Canvas's throttling on. The 500k-submission run is the `slow` variant."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import PROJECT_DIR
from helpers_attack import skip_unless_slow_selected


def _bench(tmp_path, *args) -> dict:
    out = tmp_path / "extract.json"
    proc = subprocess.run([sys.executable, str(PROJECT_DIR / "scripts" / "bench_extract.py"),
                           *args, "--out", str(out)], capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "records/s" in proc.stdout and "requests:" in proc.stdout
    return json.loads(out.read_text())


def test_extract_200_courses_within_the_paging_bound(tmp_path):
    r = _bench(tmp_path, "--courses", "200", "--students", "120", "--assignments", "2",
               "--refill", "100000")
    # 200 x (course + 2 users pages + 2 enrollments + 1 assignments + 3 submissions)
    assert r["submissions"] == 48_000 and r["pages"] == 200 * 8
    assert r["requests"] == 200 * 9 == r["request_bound"]
    assert r["records_per_second"] > 0


@pytest.mark.slow
def test_extract_500k_submissions_throttled_within_the_bound(request, tmp_path):
    skip_unless_slow_selected(request)
    r = _bench(tmp_path)  # 200 courses x 50 students x 50 assignments, throttled
    assert r["submissions"] == 500_000 and r["pages"] == r["pages_bound"] == 5_600
    assert r["requests"] <= r["request_bound"]
