"""One extract: courses in scope, then each course's entities on a few threads,
into a batch that appears only when complete; then the cursors and job_run.

    start    token from the environment, cursors and a 'running' job_run row
    courses  the scope's courses (a list of ids, or an account's / a term's)
    fetch    per course, in `concurrency` threads: users, enrollments,
             assignments, submissions (from the course's cursor); a course the
             token may not read is skipped and reported
    commit   files renamed, batch-NNNN appears (writer.py)
    finish   cursors advanced, job_run 'success' with the metrics
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from ..backends import backend_for
from ..errors import ConfigError
from ..faults import crash_point
from ..profiles import Target
from . import cursors as meta
from .client import CanvasClient, ClientSettings, Stats
from .entities import (COURSE_ENDPOINTS, CURSOR_ENTITY, DEFAULT_PROFILE, Profile, latest_change,
                       since_queries)
from .errors import AccessDenied, ExtractError, Stopped
from .writer import BatchWriter


@dataclass
class Scope:
    """Which courses: ids, or an account's (optionally one term's)."""

    courses: tuple[str, ...] = ()
    account: str | None = None
    term: str | None = None

    def check(self) -> None:
        if bool(self.courses) == bool(self.account):
            raise ConfigError("say which courses to extract: --course ID (one or more) or "
                              "--account ID (with --term ID for one term)",
                              "For example: loader extract --course 101 --course 102")
        if self.term and not self.account:
            raise ConfigError("--term needs --account (Canvas lists a term's courses per "
                              "account)", "Add --account ID")


@dataclass
class ExtractRequest:
    base_url: str
    scope: Scope
    data_dir: Path
    profile: Profile = DEFAULT_PROFILE
    token_env: str = "CANVAS_API_TOKEN"
    full: bool = False
    settings: ClientSettings = field(default_factory=ClientSettings)
    lock_timeout: float = 60.0


@dataclass
class ExtractResult:
    extract_id: str
    batch_dir: Path | None = None
    records: dict[str, int] = field(default_factory=dict)
    courses: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (course id, why)
    stats: Stats = field(default_factory=Stats)
    seconds: float = 0.0
    full: bool = False

    def metrics(self) -> dict:
        return {"batch": self.batch_dir.name if self.batch_dir else None,
                "records": self.records, "courses": self.courses,
                "skipped_courses": [{"course_id": c, "reason": r} for c, r in self.skipped],
                "full": self.full, "seconds": round(self.seconds, 3),
                "records_per_second": round(sum(self.records.values()) / self.seconds, 1)
                if self.seconds else 0.0, **self.stats.as_dict()}


def _token(env_name: str) -> str:
    token = os.environ.get(env_name, "").strip()
    if not token:
        raise ConfigError(f"no Canvas access token: ${env_name} is empty or not set",
                          f"Export the token in {env_name} (or name another variable "
                          "with --token-env)")
    return token


def _check_base_url(url: str) -> None:
    """An https URL (http only to this machine: the token must not travel in clear)."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--base-url {url!r} is not an http(s) URL",
                          "Pass the Canvas root, e.g. https://school.instructure.com "
                          "(or set CANVAS_BASE_URL)")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(f"--base-url {url!r} is plain http: the token would travel "
                          "unencrypted", "Use the https:// URL of the Canvas instance")


def _backend(target: Target, lock_timeout: float):
    backend = backend_for(target)
    backend.connect(lock_timeout)
    return backend


def extract(req: ExtractRequest, target: Target, on_progress=None) -> ExtractResult:
    """Extract req's scope from Canvas into a new batch under req.data_dir."""
    req.scope.check()
    token = _token(req.token_env)
    _check_base_url(req.base_url)
    result = ExtractResult(uuid.uuid4().hex, full=req.full)
    backend = _backend(target, req.lock_timeout)
    try:
        backend.ensure_meta()
        cursors = {} if req.full else meta.read_cursors(backend, CURSOR_ENTITY)
        meta.job_start(backend, result.extract_id, orjson.dumps({"full": req.full}).decode())
    finally:
        backend.close()
    started = time.monotonic()
    try:
        new_cursors = _run(req, token, cursors, result, on_progress)
    except BaseException as exc:
        result.seconds = time.monotonic() - started
        _finish(req, target, result, "failed", str(exc) or type(exc).__name__)
        raise
    result.seconds = time.monotonic() - started
    crash_point("extract_before_cursors")
    _finish(req, target, result, "success", None, new_cursors)
    return result


def _finish(req, target, result: ExtractResult, status: str, error: str | None,
            new_cursors: dict | None = None) -> None:
    backend = _backend(target, req.lock_timeout)
    try:
        if new_cursors:
            meta.write_cursors(backend, CURSOR_ENTITY, new_cursors, result.extract_id)
        meta.job_finish(backend, result.extract_id, status,
                        orjson.dumps(result.metrics()).decode(), error,
                        int(result.seconds * 1000))
    finally:
        backend.close()


def _run(req: ExtractRequest, token: str, cursors: dict, result: ExtractResult,
         on_progress) -> dict:
    """Fetch into a BatchWriter and commit it; the cursors to write."""
    client = CanvasClient(req.base_url, token, req.settings, result.stats)
    writer = BatchWriter(req.data_dir, req.profile.entities)
    result.records = writer.records
    try:
        job = _Job(client, writer, req.profile, cursors, on_progress)
        courses = job.courses(req.scope, result)
        result.courses = len(courses)
        pool = ThreadPoolExecutor(max(req.settings.concurrency, 1))
        try:
            futures = [pool.submit(job.course, course_id) for course_id in courses]
            for course_id, future in zip(courses, futures):
                try:
                    outcome = future.result()
                except Stopped:
                    raise _failure(futures) from None
                if outcome is not None:
                    result.skipped.append((course_id, outcome))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        result.batch_dir = writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        client.close()
    return job.new_cursors


def _failure(futures: list) -> BaseException:
    """The failure that stopped the extract (the others stopped because of it)."""
    for future in futures:
        exc = future.exception()  # waits for the course to end
        if exc is not None and not isinstance(exc, Stopped):
            return exc
    return ExtractError("the extract stopped without a reported failure", "Extract again")


class _Job:
    """The fetch phase's shared state: client, writer, cursors, users seen."""

    def __init__(self, client: CanvasClient, writer: BatchWriter, profile: Profile,
                 cursors: dict, on_progress):
        self.client, self.writer, self.profile = client, writer, profile
        self.cursors = cursors
        self.new_cursors: dict = {}
        self._users_seen: set = set()
        self._lock = threading.Lock()
        self._on_progress = on_progress

    def _write(self, entity: str, records: list) -> None:
        if self.client.stop.is_set():
            raise Stopped()
        if entity == "users":
            with self._lock:
                records = [r for r in records
                           if not isinstance(r, dict) or r.get("id") not in self._users_seen]
                self._users_seen.update(r.get("id") for r in records if isinstance(r, dict))
        self.writer.write(entity, records)
        crash_point("extract_mid_entity")
        if self._on_progress:
            self._on_progress(dict(self.writer.records))

    def courses(self, scope: Scope, result: ExtractResult) -> list[str]:
        """The scope's course ids, writing the course records as they come."""
        if scope.account:
            params = [("enrollment_term_id", scope.term)] if scope.term else []
            ids = []
            try:
                for page in self.client.pages(f"/api/v1/accounts/{scope.account}/courses",
                                              params + self.profile.params("courses")):
                    self._write("courses", page)
                    ids += [str(c["id"]) for c in page if isinstance(c, dict) and "id" in c]
            except AccessDenied as exc:
                raise ExtractError(f"the token may not list account {scope.account}'s courses "
                                   f"({exc})", "Use an admin token or --course") from None
            return ids
        ids = []
        for course_id in scope.courses:
            try:
                data, _ = self.client.get(f"{self.client.base_url}/api/v1/courses/{course_id}",
                                          self.profile.params("courses"))
            except AccessDenied as exc:
                result.skipped.append((course_id, str(exc)))
                continue
            self._write("courses", [data])
            ids.append(course_id)
        return ids

    def course(self, course_id: str) -> str | None:
        """Every entity of one course; None, or why the course was skipped."""
        try:
            for entity in self.profile.entities:
                if entity == CURSOR_ENTITY:
                    self._submissions(course_id)
                elif entity != "courses":
                    path, fixed = COURSE_ENDPOINTS[entity]
                    for page in self.client.pages(path.format(id=course_id),
                                                  fixed + self.profile.params(entity)):
                        self._write(entity, page)
        except AccessDenied as exc:
            return str(exc)
        except Stopped:
            raise
        except BaseException:
            self.client.stop.set()
            raise
        return None

    def _submissions(self, course_id: str) -> None:
        path, fixed = COURSE_ENDPOINTS[CURSOR_ENTITY]
        cursor = self.cursors.get(course_id)
        latest, seen = cursor, set()
        for since in since_queries(cursor):
            for page in self.client.pages(path.format(id=course_id),
                                          fixed + since + self.profile.params(CURSOR_ENTITY)):
                page = [r for r in page if not (isinstance(r, dict) and r.get("id") in seen)]
                seen.update(r.get("id") for r in page if isinstance(r, dict))
                self._write(CURSOR_ENTITY, page)
                latest = latest_change(page, latest)
        if latest is not None:
            with self._lock:
                self.new_cursors[course_id] = latest
