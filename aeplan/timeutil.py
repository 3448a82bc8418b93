"""Time handling: aware UTC in the database, IANA zones for what people type and read."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import DateTime, Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from aeplan.errors import Invalid

LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
# Dates outside this range are refused as input (and far from any real booking).
MIN_YEAR, MAX_YEAR = 1970, 2999


def out_of_range(field: str) -> Invalid:
    """The one refusal of a date outside MIN_YEAR..MAX_YEAR, for forms and services."""
    return Invalid(f"Enter a date between {MIN_YEAR} and {MAX_YEAR}.", field=field)


def check_day(day: date | None, *, field: str) -> date | None:
    """`day` (None passes), or Invalid when it lies outside the supported years: a date
    near year 1 or 9999 overflows as soon as a page adds a day or a timezone to it."""
    if day is not None and not MIN_YEAR <= day.year <= MAX_YEAR:
        raise out_of_range(field)
    return day


def parse_day(value: str):
    """An ISO date from a query string within the supported years, else None."""
    try:
        day = date.fromisoformat(value or "")
    except ValueError:
        return None
    return day if MIN_YEAR <= day.year <= MAX_YEAR else None


def now_utc() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC on every database and read back as aware UTC.

    Naive datetimes are refused: a naive value is a bug waiting to shift by hours.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(DateTime(timezone=dialect.name == "postgresql"))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime refused; pass an aware datetime")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


@lru_cache(maxsize=1)
def timezone_names() -> tuple[str, ...]:
    return tuple(sorted(name for name in available_timezones() if "/" in name or name == "UTC"))


def get_zone(name: str) -> ZoneInfo:
    """The zone for `name`, or Invalid if it is not an IANA zone."""
    if not name or name not in timezone_names():
        raise Invalid(f"Unknown timezone: {name!r}.", field="timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # pragma: no cover - guarded above
        raise Invalid(f"Unknown timezone: {name!r}.", field="timezone") from exc


def is_valid_zone(name: str) -> bool:
    return bool(name) and name in timezone_names()


def local_to_utc(local: datetime, zone_name: str, *, field: str = "starts_at") -> datetime:
    """Interpret a naive wall-clock time in `zone_name` and return aware UTC.

    A time in the spring-forward gap does not exist and is refused; an ambiguous
    time in the autumn overlap takes its first occurrence (fold=0).
    """
    if local.tzinfo is not None:
        raise TypeError("local_to_utc takes a naive wall-clock time")
    zone = get_zone(zone_name)
    if not MIN_YEAR <= local.year <= MAX_YEAR:
        raise out_of_range(field)
    aware = local.replace(tzinfo=zone, fold=0)
    as_utc = aware.astimezone(UTC)
    if as_utc.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise Invalid(
            f"{local.strftime('%Y-%m-%d %H:%M')} does not exist in {zone_name} "
            "(the clocks skip that hour for daylight saving time). Pick another time.",
            field=field,
        )
    return as_utc


def utc_to_local(value: datetime, zone_name: str) -> datetime:
    return value.astimezone(ZoneInfo(zone_name))


def day_start_utc(day: date, zone_name: str) -> datetime:
    """Start of the local day `day` in `zone_name`, as aware UTC (no gap check: a
    boundary for display may fall in a daylight-saving gap in a few zones)."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone_name)).astimezone(UTC)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


# --- time arithmetic in SQL, for sums the database should do -----------------------------

class minutes_inside(FunctionElement):
    """Whole minutes of [start, end) that fall inside [window_start, window_end), for rows
    known to overlap the window: minutes_inside(start, end, window_start, window_end).
    Pass the window as UTCDateTime literals so that both databases compare like with
    like (SQLite stores these columns as ISO text, which sorts as time does)."""
    type = Integer()
    inherit_cache = True
    name = "minutes_inside"


@compiles(minutes_inside, "sqlite")
def _minutes_inside_sqlite(element, compiler, **kw):
    start, end, low, high = (compiler.process(c, **kw) for c in element.clauses)
    # strftime('%s') is whole seconds since the epoch; integer division floors.
    return (f"((CAST(strftime('%s', min({end}, {high})) AS INTEGER) - "
            f"CAST(strftime('%s', max({start}, {low})) AS INTEGER)) / 60)")


@compiles(minutes_inside, "postgresql")
def _minutes_inside_postgresql(element, compiler, **kw):
    start, end, low, high = (compiler.process(c, **kw) for c in element.clauses)
    return (f"CAST(FLOOR(EXTRACT(EPOCH FROM (LEAST({end}, {high}) - "
            f"GREATEST({start}, {low}))) / 60) AS INTEGER)")
