"""Deadlines: a whole day in the owner's time zone, or an exact instant."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DEADLINE_FORMS = "a date (2026-01-15) or a date-time with a time zone (2026-01-15T17:00:00+01:00)"
FIRST_YEAR, LAST_YEAR = 1900, 9998
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)


class InvalidDeadline(ValueError):
    """A deadline that is neither of the two accepted forms."""


class InvalidTimeZone(ValueError):
    """A time zone name the IANA database does not know."""


_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@functools.cache
def _zone_names() -> dict[str, str]:
    """IANA zone names by their case-folded spelling (`utc` finds `UTC`).

    The system zone directory also holds files that are not zones (`localtime`, `posix/...`).
    """
    names = {
        name
        for name in available_timezones()
        if name not in _NOT_ZONES and not name.startswith(("posix/", "right/"))
    }
    return {name.casefold(): name for name in names}


def parse_time_zone(name: str) -> ZoneInfo:
    """Return the IANA zone called `name` (any capitalisation), or say which name was wrong.

    Only names in the IANA database count; files such as `localtime` are not zones.
    """
    canonical = _zone_names().get(name.strip().casefold())
    if canonical is None:
        raise InvalidTimeZone(f"unknown time zone {name!r}; use an IANA name like Europe/Paris")
    try:
        return ZoneInfo(canonical)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidTimeZone(f"time zone {name!r} cannot be loaded") from None


@dataclass(frozen=True, slots=True)
class Deadline:
    """Either `day` (the whole day, in the owner's zone) or `instant` (aware, UTC) is set."""

    day: date | None = None
    instant: datetime | None = None

    def __post_init__(self) -> None:
        if (self.day is None) == (self.instant is None):
            raise InvalidDeadline("a deadline is either a day or an instant")
        if self.instant is not None and self.instant.utcoffset() is None:
            raise InvalidDeadline(f"deadline must be {DEADLINE_FORMS}; got no time zone")
        moment = self.day or self.instant
        assert moment is not None
        if not FIRST_YEAR <= moment.year <= LAST_YEAR:
            raise InvalidDeadline(f"deadline must fall in the years {FIRST_YEAR}-{LAST_YEAR}")

    @classmethod
    def parse(cls, value: str | date | datetime) -> Deadline:
        """Accept the two forms; a naive date-time is refused, naming both forms."""
        if isinstance(value, datetime):
            return cls._from_datetime(value, str(value))
        if isinstance(value, date):
            return cls(day=value)
        text = value.strip()
        if _DATE_ONLY.fullmatch(text):
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise InvalidDeadline(f"deadline {text!r} is not a real date") from None
            return cls(day=day)
        shape = _DATE_TIME.fullmatch(text)
        if shape is None:
            raise InvalidDeadline(f"deadline must be {DEADLINE_FORMS}; got {text!r}")
        if shape.group("zone") is None:
            raise InvalidDeadline(f"deadline must be {DEADLINE_FORMS}; {text!r} has no time zone")
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
        except ValueError:
            raise InvalidDeadline(
                f"deadline must be {DEADLINE_FORMS}; {text!r} is not a real date and time"
            ) from None
        return cls._from_datetime(parsed, text)

    @classmethod
    def _from_datetime(cls, value: datetime, shown: str) -> Deadline:
        if value.utcoffset() is None:
            raise InvalidDeadline(f"deadline must be {DEADLINE_FORMS}; {shown!r} has no time zone")
        try:
            return cls(instant=value.astimezone(UTC))
        except OverflowError:
            raise InvalidDeadline(
                f"deadline must fall in the years {FIRST_YEAR}-{LAST_YEAR}"
            ) from None

    def bounds(self, zone: tzinfo) -> tuple[datetime, datetime]:
        """The half-open interval [start, end) of the deadline, in UTC."""
        if self.instant is not None:
            return self.instant, self.instant
        assert self.day is not None
        return day_start(self.day, zone), day_start(self.day + timedelta(days=1), zone)

    def to_json(self) -> str:
        if self.day is not None:
            return self.day.isoformat()
        assert self.instant is not None
        return self.instant.isoformat().replace("+00:00", "Z")


def day_start(day: date, zone: tzinfo) -> datetime:
    """The UTC instant at which `day` begins in `zone`."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)
