"""The Canvas REST client: paging by Link headers, throttling, retries.

Every GET goes through CanvasClient.get: it paces itself as Canvas's
`X-Rate-Limit-Remaining` falls, retries throttled answers (Canvas: 403 with
"Rate Limit Exceeded"; 429 too) and transient failures (5xx, timeouts, dropped
connections, a body that is not JSON) with exponential backoff and jitter, up
to a limit, and then fails naming the URL (without the token) and the last
status. 401 fails at once (no retry storm); a 403/404 is AccessDenied for the
caller to skip. Pages are followed by `Link: <...>; rel="next"` only; the
client never builds a page URL, and follows none to another host (the token
would go with it).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import orjson

from .errors import AccessDenied, ExtractError, Stopped, public_url

PER_PAGE = 100


@dataclass
class ClientSettings:
    """How hard the client pushes, and how long it keeps trying."""

    concurrency: int = 2            # requests in flight (worker threads)
    timeout: float = 30.0           # seconds per request (connect, read)
    max_retries: int = 5            # per request: 5xx, timeouts, dropped connections, bad JSON
    max_throttled: int = 20         # per request: rate-limited answers before giving up
    backoff: float = 1.0            # first backoff in seconds; doubles per attempt
    backoff_cap: float = 60.0
    slow_below: float = 300.0       # X-Rate-Limit-Remaining below which requests are paced
    pace: float = 1.0               # seconds of pause at a remaining budget of 0


@dataclass
class Stats:
    """What the client did, for meta.job_run and the summary. Thread-safe adds."""

    requests: int = 0
    pages: int = 0
    retries: int = 0
    throttled: int = 0
    bytes: int = 0
    request_cost: float = 0.0
    paced_seconds: float = 0.0
    last_remaining: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **amounts) -> None:
        with self._lock:
            for name, value in amounts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v)
                for k, v in self.__dict__.items() if not k.startswith("_")}


def _header_float(response: httpx.Response, name: str) -> float | None:
    try:
        return float(response.headers[name])
    except (KeyError, ValueError):
        return None


class CanvasClient:
    """One token, one base URL, shared by the extract's worker threads."""

    def __init__(self, base_url: str, token: str, settings: ClientSettings, stats: Stats):
        self.base_url = base_url.rstrip("/")
        self._origin = urlsplit(self.base_url)[:2]
        self.settings = settings
        self.stats = stats
        self.stop = threading.Event()  # set by a request that fails the extract
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=settings.timeout, follow_redirects=False,
            limits=httpx.Limits(max_connections=max(settings.concurrency, 1)),
        )

    def close(self) -> None:
        self._http.close()

    def pages(self, path: str, params: list[tuple[str, str]] | None = None):
        """Each page's JSON list of path (`/api/v1/...`), following rel="next"."""
        url = f"{self.base_url}{path}"
        query = list(params or []) + [("per_page", str(PER_PAGE))]
        while url:
            data, response = self.get(url, query)
            if not isinstance(data, list):
                raise ExtractError(f"GET {public_url(url)} answered a JSON "
                                   f"{type(data).__name__}, not the list of a page",
                                   "Check --base-url: it must be the Canvas instance's root")
            self.stats.add(pages=1)
            yield data
            url, query = self._next(response), None

    def _next(self, response: httpx.Response) -> str | None:
        link = response.links.get("next", {}).get("url")
        if link and urlsplit(link)[:2] != self._origin:
            raise ExtractError(f"Canvas's next page {public_url(link)} is on another host than "
                               f"{self.base_url}; not followed (the token would go with it)",
                               "Use the instance's canonical URL as --base-url")
        return link

    def get(self, url: str, params=None) -> tuple[object, httpx.Response]:
        """(parsed JSON, response) of a GET, after the retries it takes. A failure
        stops every other thread's next request."""
        try:
            return self._get(url, params)
        except (ExtractError, httpx.HTTPError):
            self.stop.set()
            raise

    def _get(self, url: str, params) -> tuple[object, httpx.Response]:
        failures = throttled = 0
        while True:
            if self.stop.is_set():
                raise Stopped()
            self._pace()
            outcome, response, data = self._attempt(url, params)
            if outcome is None:
                return data, response
            if outcome == "throttled":
                throttled += 1
                self.stats.add(throttled=1)
                if throttled > self.settings.max_throttled:
                    raise ExtractError(
                        f"GET {public_url(url)} was still rate limited after {throttled} tries "
                        f"(last: HTTP {response.status_code} Rate Limit Exceeded)",
                        "Lower --concurrency, or extract later")
                self._sleep(throttled)
                continue
            failures += 1
            if failures > self.settings.max_retries:
                raise ExtractError(f"GET {public_url(url)} failed {failures} times; last: "
                                   f"{outcome}", "Check that Canvas is up, then extract again")
            self.stats.add(retries=1)
            self._sleep(failures)

    def _attempt(self, url: str, params) -> tuple[str | None, httpx.Response | None, object]:
        """(None, response, JSON) on a usable 200; else (what went wrong, response, None)."""
        try:
            response = self._http.get(url, params=params)
        except httpx.TimeoutException:
            self.stats.add(requests=1)
            return f"timed out after {self.settings.timeout:g}s", None, None
        except httpx.TransportError as exc:
            self.stats.add(requests=1)
            return f"connection failed ({type(exc).__name__})", None, None
        self._note(response)
        status = response.status_code
        if status == 200:
            try:
                return None, response, orjson.loads(response.content)
            except orjson.JSONDecodeError:
                return "HTTP 200 with a body that is not JSON", response, None
        if status == 401:
            raise ExtractError(f"Canvas answered 401 Unauthorized for GET {public_url(url)}: "
                               "the access token is invalid or expired",
                               "Put a valid token in the token variable (--token-env)")
        if status == 429 or (status == 403 and b"Rate Limit Exceeded" in response.content):
            return "throttled", response, None
        if status in (403, 404):
            raise AccessDenied(public_url(url), status)
        if status >= 500 or status == 408:
            return f"HTTP {status}", response, None
        raise ExtractError(f"Canvas answered HTTP {status} for GET {public_url(url)}",
                           "Check --base-url and the scope options")

    def _note(self, response: httpx.Response) -> None:
        cost = _header_float(response, "X-Request-Cost") or 0.0
        remaining = _header_float(response, "X-Rate-Limit-Remaining")
        self.stats.add(requests=1, bytes=len(response.content), request_cost=cost)
        if remaining is not None:
            self.stats.last_remaining = remaining

    def _pace(self) -> None:
        """Slow down as the remaining budget falls: no pause above slow_below, up to
        `pace` seconds at zero."""
        remaining, s = self.stats.last_remaining, self.settings
        if remaining is None or remaining >= s.slow_below or s.slow_below <= 0:
            return
        pause = s.pace * (1 - max(remaining, 0.0) / s.slow_below)
        self.stats.add(paced_seconds=pause)
        time.sleep(pause)

    def _sleep(self, attempt: int) -> None:
        """Exponential backoff with jitter: half fixed, half random."""
        delay = min(self.settings.backoff_cap, self.settings.backoff * 2 ** (attempt - 1))
        time.sleep(delay / 2 + random.uniform(0, delay / 2))
