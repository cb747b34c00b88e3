"""Named crash points for tests: LOADER_CRASH_AT=<point> kills the process there;
LOADER_PAUSE_AT=<point>:<seconds> holds it there (saying so on stderr), e.g. to
start a second process while the first holds its locks.

The crash-safety tests set it to prove that a load killed at any point leaves
raw, the watermark and the load log as they were (or as a finished load). It
costs one dict lookup per point when unset.
"""

import os
import signal
import sys
import time

POINTS = ("after_job_start", "during_stage", "after_stage", "after_upsert", "after_watermark",
          "before_commit", "after_commit",
          # loader rollback
          "rollback_after_job_start", "rollback_after_remove", "rollback_after_restore",
          "rollback_after_load", "rollback_before_commit", "rollback_after_commit",
          # loader extract
          "extract_mid_entity", "extract_before_rename", "extract_before_cursors")


def crash_point(name: str) -> None:
    if os.environ.get("LOADER_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    pause = os.environ.get("LOADER_PAUSE_AT")
    if pause and pause.partition(":")[0] == name:
        print(f"paused at {name}", file=sys.stderr, flush=True)
        time.sleep(float(pause.partition(":")[2] or 5))
