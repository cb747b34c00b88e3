"""A fake Canvas REST API on 127.0.0.1 for the extract tests and the benchmark.

Serves users, courses, enrollments, assignments and submissions of a made-up
instance (generated per page, so 500k submissions cost no memory), paged by
`Link` headers like Canvas (page/per_page, per_page at most 100), with the
`submitted_since`/`graded_since` filters, a token check (401), courses the
token may not read (403), Canvas's throttling (a leaky bucket per token:
`X-Rate-Limit-Remaining`, `X-Request-Cost`, 403 "Rate Limit Exceeded" when
empty), and injected faults: 5xx, a timeout, a dropped connection, a
malformed page, a 401. Every request is logged (path, query) for the tests.

Written on the standard library's http.server rather than pytest-httpserver:
dropping a connection mid-request and sleeping past the client's timeout need
the raw socket, and the benchmark runs it outside pytest.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

BASE_T = "2025-09-"
LATEST_BASE = "2025-09-28T23:59:59Z"  # no generated timestamp is later


def _ts(day: int, minute: int) -> str:
    return f"2025-09-{1 + day % 28:02d}T{(minute // 60) % 24:02d}:{minute % 60:02d}:00Z"


@contextmanager
def serving(monkeypatch, **options):
    """A started FakeCanvas(**options) with CANVAS_API_TOKEN and CANVAS_BASE_URL set."""
    fake = FakeCanvas(**options).start()
    monkeypatch.setenv("CANVAS_API_TOKEN", fake.token)
    monkeypatch.setenv("CANVAS_BASE_URL", fake.url)
    try:
        yield fake
    finally:
        fake.stop()


class FakeCanvas:
    def __init__(self, courses: int = 3, students: int = 6, assignments: int = 4,
                 token: str = "fake-token-0123456789", capacity: float = 700.0,
                 refill: float = 1000.0, cost: float = 1.0):
        self.token = token
        self.n_courses, self.n_students, self.n_assignments = courses, students, assignments
        self.n_users = max(students, courses * students // 2)
        self.course_ids = [101 + i for i in range(courses)]
        self.denied: set[int] = set()
        self.changes: dict[tuple[str, int], dict] = {}
        self.faults: list[list] = []  # [path fragment, action, times left]
        self.requests: list[tuple[str, dict]] = []
        self.capacity, self.refill, self.cost = capacity, refill, cost
        self.remaining, self._t = capacity, time.monotonic()
        self.remaining_seen: list[float] = []
        self.delay = 0.0  # seconds before each answer (a slow instance)
        self._lock = threading.Lock()
        self.server = None

    # -- control ------------------------------------------------------------
    def start(self) -> "FakeCanvas":
        fake = self

        class Handler(_Handler):
            canvas = fake

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def inject(self, fragment: str, action: str, times: int = 1) -> None:
        """The next `times` requests whose path contains fragment get `action`:
        500/502/503, 401, ratelimit, timeout:<seconds>, drop, malformed."""
        with self._lock:
            self.faults.append([fragment, action, times])

    def change(self, entity: str, record_id: int, **fields) -> None:
        self.changes[(entity, record_id)] = {**self.changes.get((entity, record_id), {}), **fields}

    def paths(self, fragment: str = "") -> list[str]:
        return [p for p, _ in self.requests if fragment in p]

    # -- records ------------------------------------------------------------
    def _apply(self, entity: str, record: dict) -> dict:
        change = self.changes.get((entity, record["id"]))
        return {**record, **change} if change else record

    def course(self, c: int) -> dict:
        cid = self.course_ids[c]
        return self._apply("courses", {
            "id": cid, "name": f"Course {cid}", "course_code": f"C{cid}",
            "workflow_state": "available", "account_id": 1, "root_account_id": 1,
            "enrollment_term_id": 1 + c % 2, "uuid": f"uuid-{cid:08d}",
            "created_at": "2025-08-01T12:00:00Z", "start_at": "2025-09-01T00:00:00Z",
            "end_at": "2025-12-20T00:00:00Z", "time_zone": "America/Denver",
            "default_view": "modules", "is_public": False})

    def student(self, c: int, i: int) -> int:
        return 1000 + (c * self.n_students // 2 + i) % self.n_users

    def user(self, uid: int) -> dict:
        n = uid - 1000
        return self._apply("users", {
            "id": uid, "name": f"Student {n}", "sortable_name": f"{n}, Student",
            "short_name": f"Student {n}", "login_id": f"s{n}@example.edu",
            "email": f"s{n}@example.edu",
            "created_at": _ts(n, n % 1440)})

    def enrollment(self, c: int, i: int) -> dict:
        cid, uid = self.course_ids[c], self.student(c, i)
        return self._apply("enrollments", {
            "id": cid * 100000 + i, "course_id": cid, "user_id": uid,
            "type": "StudentEnrollment", "role": "StudentEnrollment", "role_id": 3,
            "enrollment_state": "active", "course_section_id": cid * 10,
            "created_at": _ts(0, i), "updated_at": _ts(1, i),
            "grades": {"current_score": 80.0 + i % 20, "final_score": 70.0 + i % 20,
                       "current_grade": None, "final_grade": None}})

    def assignment(self, c: int, a: int) -> dict:
        cid = self.course_ids[c]
        return self._apply("assignments", {
            "id": cid * 1000 + a, "course_id": cid, "name": f"Assignment {a + 1}",
            "points_possible": 10.0, "grading_type": "points", "workflow_state": "published",
            "submission_types": ["online_upload"], "due_at": _ts(a + 5, 1439),
            "created_at": _ts(0, a), "updated_at": _ts(2, a), "published": True})

    def submission(self, c: int, k: int) -> dict:
        a, i = divmod(k, self.n_students)
        aid = self.course_ids[c] * 1000 + a
        submitted = (i + a) % 4 != 0
        graded = submitted and (i + a) % 3 == 0
        return self._apply("submissions", {
            "id": aid * 10000 + i, "assignment_id": aid, "user_id": self.student(c, i),
            "submitted_at": _ts(a + 4, i) if submitted else None,
            "graded_at": _ts(a + 6, i) if graded else None,
            "score": float(i % 11) if graded else None,
            "grade": str(i % 11) if graded else None,
            "workflow_state": "graded" if graded else ("submitted" if submitted
                                                       else "unsubmitted"),
            "submission_type": "online_upload" if submitted else None,
            "attempt": 1 if submitted else None, "late": False, "missing": False,
            "excused": None, "grader_id": 1 if graded else None})

    def listing(self, path: str, query: dict) -> list | dict | None:
        """The full list (or a callable length/item pair) a path answers, or None."""
        parts = path.strip("/").split("/")[2:]  # after api/v1
        if parts[:1] == ["accounts"] and parts[2:] == ["courses"]:
            term = query.get("enrollment_term_id", [None])[0]
            return [self.course(c) for c in range(self.n_courses)
                    if term is None or str(1 + c % 2) == term]
        if parts[:1] != ["courses"] or len(parts) < 2 or not parts[1].isdigit():
            return None
        cid = int(parts[1])
        if cid not in self.course_ids:
            return None
        c = self.course_ids.index(cid)
        rest = parts[2:]
        if rest == []:
            return self.course(c)
        sizes = {"users": self.n_students, "enrollments": self.n_students,
                 "assignments": self.n_assignments,
                 "students/submissions": self.n_students * self.n_assignments}
        maker = {"users": lambda i: self.user(self.student(c, i)),
                 "enrollments": lambda i: self.enrollment(c, i),
                 "assignments": lambda a: self.assignment(c, a),
                 "students/submissions": lambda k: self.submission(c, k)}
        key = "/".join(rest)
        if key not in sizes:
            return None
        if key == "students/submissions":
            since = [(f, query[f"{f}_since"][0]) for f in ("submitted", "graded")
                     if f"{f}_since" in query]
            if since:
                return self._since(c, since)
        return _Lazy(sizes[key], maker[key])

    def _since(self, c: int, since: list) -> list:
        """Submissions submitted/graded after the given times (Canvas: both apply)."""
        def keep(r):
            return all(r.get(f"{f}_at") and r[f"{f}_at"] > t for f, t in since)
        if all(t >= LATEST_BASE for _, t in since):  # only changed records can match
            ids = {rid for (e, rid) in self.changes if e == "submissions"}
            out = [self.submission(c, k) for k in range(self.n_students * self.n_assignments)
                   if self._sub_id(c, k) in ids]
        else:
            out = [self.submission(c, k) for k in range(self.n_students * self.n_assignments)]
        return [r for r in out if keep(r)]

    def _sub_id(self, c: int, k: int) -> int:
        a, i = divmod(k, self.n_students)
        return (self.course_ids[c] * 1000 + a) * 10000 + i

    def take_budget(self) -> tuple[bool, float]:
        """The leaky bucket: (allowed, remaining after this request)."""
        with self._lock:
            now = time.monotonic()
            self.remaining = min(self.capacity, self.remaining + (now - self._t) * self.refill)
            self._t = now
            if self.remaining < self.cost:
                return False, max(self.remaining, 0.0)
            self.remaining -= self.cost
            self.remaining_seen.append(self.remaining)
            return True, self.remaining

    def take_fault(self, path: str) -> str | None:
        with self._lock:
            for fault in self.faults:
                if fault[0] in path and fault[2] > 0:
                    fault[2] -= 1
                    return fault[1]
        return None


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that went away (killed, timed out) is no error of the fake's."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Lazy:
    """A list of n records made on demand."""

    def __init__(self, n: int, make):
        self.n, self.make = n, make

    def __len__(self):
        return self.n

    def page(self, start: int, stop: int) -> list:
        return [self.make(i) for i in range(start, min(stop, self.n))]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    canvas: FakeCanvas

    def log_message(self, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's name
        fake = self.canvas
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        with fake._lock:
            fake.requests.append((parts.path, query))
        if self.headers.get("Authorization") != f"Bearer {fake.token}":
            return self._send(401, b'{"errors":[{"message":"Invalid access token."}]}')
        if fake.delay:
            time.sleep(fake.delay)
        fault = fake.take_fault(parts.path)
        if fault and self._fault(fault):
            return None
        allowed, remaining = fake.take_budget()
        limits = {"X-Rate-Limit-Remaining": f"{remaining:.3f}",
                  "X-Request-Cost": f"{fake.cost:.3f}"}
        if not allowed:
            return self._send(403, b"403 Forbidden (Rate Limit Exceeded)\n", limits)
        self._answer(parts.path, query, limits)
        return None

    def _fault(self, fault: str) -> bool:
        """Act out an injected fault; True when the request is answered."""
        if fault in ("500", "502", "503", "401"):
            self._send(int(fault), b'{"errors":[{"message":"injected"}]}')
        elif fault == "ratelimit":
            self._send(403, b"403 Forbidden (Rate Limit Exceeded)\n",
                       {"X-Rate-Limit-Remaining": "0.0", "X-Request-Cost": "1.0"})
        elif fault.startswith("timeout:"):
            time.sleep(float(fault.split(":", 1)[1]))
            return False
        elif fault == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif fault == "malformed":
            self._send(200, b'[{"id": 1, "name": "trunc')
        return True

    def _answer(self, path: str, query: dict, limits: dict) -> None:
        fake = self.canvas
        cid = path.split("/")[4] if path.startswith("/api/v1/courses/") else None
        if cid and cid.isdigit() and int(cid) in fake.denied:
            return self._send(403, b'{"status":"unauthorized","errors":[{"message":'
                                   b'"user not authorized to perform that action"}]}', limits)
        data = fake.listing(path, query)
        if data is None:
            return self._send(404, b'{"errors":[{"message":"The specified resource does not '
                                   b'exist."}]}', limits)
        if isinstance(data, dict):
            return self._send(200, json.dumps(data).encode(), limits)
        per_page = min(int(query.get("per_page", ["10"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        start = (page - 1) * per_page
        items = data.page(start, start + per_page) if isinstance(data, _Lazy) \
            else data[start:start + per_page]
        links = [self._link(path, query, page, "current"), self._link(path, query, 1, "first")]
        if start + per_page < len(data):
            links.insert(0, self._link(path, query, page + 1, "next"))
        return self._send(200, json.dumps(items).encode(), {**limits, "Link": ",".join(links)})

    def _link(self, path: str, query: dict, page: int, rel: str) -> str:
        q = [(k, v) for k, values in query.items() if k != "page" for v in values]
        q.append(("page", str(page)))
        return f'<{self.canvas.url}{path}?{urlencode(q)}>; rel="{rel}"'
