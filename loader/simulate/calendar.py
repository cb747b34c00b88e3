"""The fixed simulated calendar: term dates, batch export times, time zones, timestamps.

A fixed calendar replaces the wall clock, so output depends only on seed and batch.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

MINUTE, HOUR, DAY = 60, 3600, 86400
TERM_ID, TERM_NAME = 3, "Fall 2026"
TERM_START, TERM_END = date(2026, 8, 24), date(2026, 12, 18)
FIRST_EXTRACT_DELAY = 56 * DAY + 6 * HOUR  # batch 1 is exported in week 9 of the term
BATCH_INTERVAL = 7 * DAY


def epoch(day: date, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    moment = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=timezone.utc)
    return int(moment.timestamp())


BASE_T = epoch(TERM_START)


def extract_time(batch_number: int) -> int:
    """The simulated export time of a batch: nothing in it happens later."""
    return BASE_T + FIRST_EXTRACT_DELAY + (batch_number - 1) * BATCH_INTERVAL


def between(rng: random.Random, start_t: int, end_t: int) -> int:
    """A whole second in ``(start_t, end_t]`` (``end_t`` when the range is empty)."""
    if end_t <= start_t:
        return end_t
    return start_t + 1 + int(rng.random() * (end_t - start_t))


_MINUTES_SECONDS = tuple(f"{m:02d}:{s:02d}" for m in range(60) for s in range(60))


@functools.cache
def _hour_prefix(hour_number: int) -> str:
    day_number, hour = divmod(hour_number, 24)
    return f"{(date(1970, 1, 1) + timedelta(days=day_number)).isoformat()}T{hour:02d}:"


def _wall(t: int) -> str:
    """Format epoch seconds as ``YYYY-MM-DDTHH:MM:SS``: a cached hour plus a table lookup.

    Several times faster than strftime, which matters at millions of timestamps.
    """
    hour_number, rest = divmod(t, HOUR)
    return _hour_prefix(hour_number) + _MINUTES_SECONDS[rest]


def iso_z(t: int) -> str:
    """Epoch seconds as UTC ``YYYY-MM-DDTHH:MM:SSZ``."""
    return _wall(t) + "Z"


def parse_ts(value: object) -> int | None:
    """Epoch seconds of an ISO-8601 string (naive means UTC), None if unparsable."""
    if not isinstance(value, str):
        return None
    if value.endswith("Z"):  # fromisoformat reads "Z" only from Python 3.11 on
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


@dataclass(frozen=True)
class Zone:
    """A course time zone reduced to its two UTC offsets around the term's DST change.

    Hard-coded for the simulated 2026 term, so output never depends on tzdata.
    """

    name: str
    summer: int  # minutes east of UTC before dst_end_t
    winter: int
    dst_end_t: int

    def offset(self, t: int) -> int:
        return self.summer if t < self.dst_end_t else self.winter

    def format(self, t: int) -> str:
        """``t`` as local wall time with a numeric offset, e.g. ``...T23:59:00-05:00``."""
        offset = self.offset(t)
        hours, minutes = divmod(abs(offset), 60)
        sign = "-" if offset < 0 else "+"
        return f"{_wall(t + offset * MINUTE)}{sign}{hours:02d}:{minutes:02d}"

    def wall_to_t(self, day: date, hour: int, minute: int, second: int = 0) -> int:
        naive = epoch(day, hour, minute, second)
        t = naive - self.summer * MINUTE
        return t if t < self.dst_end_t else naive - self.winter * MINUTE


ZONES = {
    zone.name: zone
    for zone in (
        Zone("America/Chicago", -300, -360, epoch(date(2026, 11, 1), 7)),
        Zone("America/Denver", -360, -420, epoch(date(2026, 11, 1), 8)),
        Zone("America/New_York", -240, -300, epoch(date(2026, 11, 1), 6)),
        Zone("Europe/Berlin", 120, 60, epoch(date(2026, 10, 25), 1)),
        Zone("Asia/Kolkata", 330, 330, 0),
    )
}
# Weighted: most courses follow the institution's own zone.
ZONE_CHOICES = ("America/Chicago",) * 4 + tuple(ZONES)[1:]
DEFAULT_ZONE = ZONES["America/Chicago"]

TERM_JSON = {
    "id": TERM_ID,
    "name": TERM_NAME,
    "start_at": iso_z(BASE_T),
    "end_at": iso_z(epoch(TERM_END, 23, 59, 59)),
}
