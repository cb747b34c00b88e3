"""The extractor's failures: one-line messages that name the URL (never the token)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import LoaderError


class ExtractError(LoaderError):
    """The extract cannot go on: Canvas refused the token, or a request kept failing."""


class AccessDenied(Exception):
    """Canvas answered 403 (not throttling) or 404 for one course's endpoint: the
    token may not read it. The course is skipped and reported; the rest goes on."""

    def __init__(self, url: str, status: int):
        super().__init__(f"HTTP {status} for GET {url}")
        self.url = url
        self.status = status


class Stopped(Exception):
    """Another request of the extract failed: this one is not made (that failure is
    the one reported)."""


def public_url(url: str) -> str:
    """url without credentials: an access_token query parameter or user:password@."""
    parts = urlsplit(str(url))
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if k.lower() != "access_token"])
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
