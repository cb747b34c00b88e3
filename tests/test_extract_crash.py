"""A `loader extract` killed (SIGKILL) at any moment leaves no partial batch: no
batch-NNNN directory appears before every entity's file is complete, the next
extract completes (and removes the dead one's temporary files), and `loader
run` then loads what an uninterrupted extract gives.
"""

from __future__ import annotations

import json
import random
import time

import pytest

from helpers_attack import kill_after, loader_cmd, popen, run
from test_extract import assert_batch_is, canvas, expected  # noqa: F401 (canvas: fixture)

pytestmark = pytest.mark.engines("duckdb")
COURSES = "101,102,103"


def _cmd(env):
    return loader_cmd("extract", "--data-dir", env.data, "--course", COURSES, "--silent")


def _batches(env) -> list:
    return sorted(env.data.glob("batch-*")) if env.data.exists() else []


def _loaded_equals_fake(env, fake) -> None:
    env.cli("run", "--data-dir", env.data, "--no-build", "--silent")
    for entity, records in expected(fake).items():
        rows = env.query(f"select id, payload from raw.canvas_{entity}")
        assert {r[0]: json.loads(r[1]) for r in rows} == {str(r["id"]): r for r in records}


@pytest.mark.parametrize("point", ["extract_mid_entity", "extract_before_rename",
                                   "extract_before_cursors"])
def test_extract_killed_at_a_crash_point(env, canvas, point):
    killed = run(env, _cmd(env), LOADER_CRASH_AT=point)
    assert killed.returncode == -9, killed.stderr
    if point == "extract_before_cursors":  # the batch was complete: it is there, whole
        assert_batch_is(_batches(env)[0], expected(canvas))
        assert env.scalar("select count(*) from meta.extract_cursor") == 0
    else:
        assert _batches(env) == []
        assert list((env.data / ".extract-tmp").iterdir())  # the dead extract's files
    assert env.scalar("select status from meta.job_run where job_name = 'loader_extract'") \
        == "running"
    env.cli("extract", "--data-dir", env.data, "--course", COURSES, "--silent")
    assert not (env.data / ".extract-tmp").exists()
    assert_batch_is(_batches(env)[-1], expected(canvas))
    _loaded_equals_fake(env, canvas)


def test_extract_killed_at_random_moments(env, canvas):
    """Kills at random times through a slow extract; after each, every batch
    directory is complete; then one extract finishes and the load is whole."""
    canvas.delay = 0.05  # about a second of fetching at concurrency 2
    rng = random.Random(16)
    kills = 0
    want = expected(canvas)
    for _ in range(6):
        before = len(canvas.requests)
        proc = popen(env, _cmd(env))
        while len(canvas.requests) == before and proc.poll() is None:  # started fetching
            time.sleep(0.01)
        kills += kill_after(proc, rng.uniform(0.0, 1.2))
        batches = _batches(env)
        if batches:  # the first is a full extract, the later ones from the cursors
            assert_batch_is(batches[0], want)
        for batch in batches[1:]:
            assert sorted(p.name for p in batch.iterdir()) == sorted(
                f"canvas_{e}.jsonl" for e in want)
            for path in batch.iterdir():
                [json.loads(line) for line in path.read_text().splitlines()]  # whole lines
    assert kills >= 3
    env.cli("extract", "--data-dir", env.data, "--course", COURSES, "--silent")
    _loaded_equals_fake(env, canvas)
