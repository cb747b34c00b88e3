#!/usr/bin/env python3
"""Benchmark `loader extract` against the fake Canvas (tests/fake_canvas.py) with
its throttling on.

    python scripts/bench_extract.py                  # 200 courses, 500,000 submissions
    python scripts/bench_extract.py --courses 20 --students 10 --assignments 5

The fake instance has --courses courses of --students students and
--assignments assignments each (submissions = courses x students x
assignments), a leaky bucket per token (--capacity, --refill per second,
--cost per request; Canvas answers 403 Rate Limit Exceeded when it is empty).
`loader extract` runs in a subprocess (the server in this one) into a fresh
DuckDB file; the script prints the requests made against the bound a Link-paged
extract needs (one per course, then one per page of 100 of each entity, plus
one per throttled answer and retry), records/s, and writes the JSON to --out.
Exit code 1 when the requests exceed the bound.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "tests"))

from fake_canvas import FakeCanvas  # noqa: E402


def page_bound(courses: int, students: int, assignments: int) -> int:
    """Requests an extract needs without retries: each course, then its pages."""
    pages = (2 * math.ceil(students / 100) + math.ceil(assignments / 100)
             + max(1, math.ceil(students * assignments / 100)))
    return courses * (1 + pages)


def bench(args) -> dict:
    fake = FakeCanvas(courses=args.courses, students=args.students,
                      assignments=args.assignments, capacity=args.capacity,
                      refill=args.refill, cost=args.cost).start()
    work = Path(tempfile.mkdtemp(prefix="canvas-extract-bench-"))
    env = {**os.environ, "CANVAS_API_TOKEN": fake.token,
           "CANVAS_DUCKDB_PATH": str(work / "bench.duckdb"), "CANVAS_TARGET": "duckdb"}
    ids = ",".join(str(c) for c in fake.course_ids)
    cmd = [sys.executable, "-m", "loader.cli", "extract", "--base-url", fake.url,
           "--course", ids, "--data-dir", str(work / "data"), "--silent",
           "--concurrency", str(args.concurrency), "--project-dir", str(PROJECT),
           "--profiles-dir", str(work)]
    (work / "profiles.yml").write_text((PROJECT / "profiles.example.yml").read_text())
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True)
    wall = time.monotonic() - started
    fake.stop()
    if proc.returncode != 0:
        raise SystemExit(f"loader extract failed: {proc.stderr.strip()}")
    import duckdb

    con = duckdb.connect(str(work / "bench.duckdb"), read_only=True)
    metrics = json.loads(con.execute(
        "select metrics_json from meta.job_run where job_name = 'loader_extract'").fetchone()[0])
    con.close()
    bound = page_bound(args.courses, args.students, args.assignments)
    records = sum(metrics["records"].values())
    return {"courses": args.courses, "submissions": metrics["records"]["submissions"],
            "records": records, "requests": metrics["requests"], "pages": metrics["pages"],
            "throttled": metrics["throttled"], "retries": metrics["retries"],
            "paced_seconds": metrics["paced_seconds"],
            "request_bound": bound + metrics["throttled"] + metrics["retries"],
            "pages_bound": bound - args.courses, "bytes": metrics["bytes"],
            "extract_seconds": metrics["seconds"], "wall_seconds": round(wall, 2),
            "records_per_second": round(records / metrics["seconds"], 1),
            "throttle": {"capacity": args.capacity, "refill_per_s": args.refill,
                         "cost": args.cost}, "concurrency": args.concurrency,
            "work": str(work)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--courses", type=int, default=200)
    p.add_argument("--students", type=int, default=50)
    p.add_argument("--assignments", type=int, default=50)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--capacity", type=float, default=700.0)
    p.add_argument("--refill", type=float, default=200.0)
    p.add_argument("--cost", type=float, default=1.0)
    p.add_argument("--out", default=str(PROJECT / "bench_results" / "extract.json"))
    args = p.parse_args(argv)
    r = bench(args)
    print(f"extract: {r['courses']} courses, {r['submissions']:,} submissions, "
          f"{r['records']:,} records in {r['extract_seconds']:.1f}s = "
          f"{r['records_per_second']:,.0f} records/s")
    print(f"requests: {r['requests']:,} (bound {r['request_bound']:,}: {r['pages_bound']:,} "
          f"pages + {r['courses']} courses + {r['throttled']} throttled + {r['retries']} "
          f"retries); {r['bytes']:,} bytes; paced {r['paced_seconds']:.1f}s (summed over "
          f"{r['concurrency']} threads) as the budget fell")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(r, indent=2))
    return 0 if r["pages"] <= r["pages_bound"] and r["requests"] <= r["request_bound"] else 1


if __name__ == "__main__":
    sys.exit(main())
