"""Time handling: aware UTC in the database, IANA zones for what people type."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import StatementError

from aeplan.bookings.models import Booking
from aeplan.errors import Invalid
from aeplan.extensions import db
from aeplan.timeutil import UTCDateTime, day_start_utc, local_to_utc, monday_of
from tests.conftest import T0

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


def _booking_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Booking))


# --- UTCDateTime on the database -------------------------------------------------------


def test_aware_non_utc_time_reads_back_as_aware_utc_of_the_same_instant(make_booking):
    starts = datetime(2026, 12, 7, 18, 0, tzinfo=TOKYO)  # 09:00 UTC
    booking = make_booking(starts_at=starts, ends_at=starts + timedelta(hours=2),
                           timezone="Asia/Tokyo")
    booking_id = booking.id
    db.session.remove()  # a new session: nothing comes from the identity map

    loaded = db.session.get(Booking, booking_id)
    assert loaded is not None and loaded is not booking
    assert loaded.starts_at == T0
    assert loaded.ends_at == T0 + timedelta(hours=2)
    for value in (loaded.starts_at, loaded.ends_at):
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
    assert (loaded.starts_at.hour, loaded.ends_at.hour) == (9, 11)


def test_reload_after_expire_all_gives_aware_utc(make_booking):
    booking = make_booking(starts_at=datetime(2026, 12, 7, 4, 0, tzinfo=NEW_YORK))
    db.session.expire_all()
    assert booking.starts_at == T0
    assert booking.starts_at.utcoffset() == timedelta(0)
    assert booking.starts_at.replace(tzinfo=None) == datetime(2026, 12, 7, 9, 0)


def test_database_column_holds_the_utc_instant_not_the_local_wall_time(make_booking):
    make_booking(starts_at=datetime(2026, 12, 7, 4, 0, tzinfo=NEW_YORK))  # 09:00 UTC
    raw = db.session.execute(text("SELECT starts_at FROM bookings")).scalar_one()
    if isinstance(raw, str):  # SQLite stores text: it must be the UTC wall time
        assert raw.startswith("2026-12-07 09:00:00")
    else:  # PostgreSQL: timestamptz, an aware value for the same instant
        assert raw.utcoffset() is not None
        assert raw == T0


def test_naive_datetime_is_refused_on_write_and_nothing_is_stored(make_client):
    client = make_client()
    db.session.add(Booking(
        kind="demo", title="Naive", client_id=client.id, owner_id=client.owner_id,
        starts_at=datetime(2026, 12, 7, 9, 0), ends_at=datetime(2026, 12, 7, 10, 0),
        timezone="UTC",
    ))
    with pytest.raises(StatementError, match="naive datetime refused"):
        db.session.commit()
    db.session.rollback()
    assert _booking_count() == 0


def test_naive_datetime_is_refused_in_a_query(make_booking):
    make_booking()
    with pytest.raises(StatementError, match="naive datetime refused"):
        db.session.scalars(select(Booking).where(Booking.starts_at < datetime(2027, 1, 1))).all()
    db.session.rollback()


@pytest.mark.parametrize("value, error", [
    (datetime(2026, 12, 7, 9, 0), ValueError),
    (date(2026, 12, 7), TypeError),
    ("2026-12-07T09:00:00Z", TypeError),
])
def test_type_refuses_naive_and_non_datetime_values(app, value, error):
    with pytest.raises(error):
        UTCDateTime().process_bind_param(value, db.engine.dialect)


def test_type_binds_aware_values_as_utc(app):
    bound = UTCDateTime().process_bind_param(datetime(2026, 12, 7, 18, 0, tzinfo=TOKYO),
                                             db.engine.dialect)
    assert bound.replace(tzinfo=None) == datetime(2026, 12, 7, 9, 0)
    assert bound.utcoffset() in (None, timedelta(0))


# --- local_to_utc ----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["starts_at", "ends_at"])
@pytest.mark.parametrize("local, zone", [
    (datetime(2026, 3, 29, 2, 30), "Europe/Berlin"),
    (datetime(2026, 3, 8, 2, 30), "America/New_York"),
], ids=["berlin", "new-york"])
def test_spring_forward_gap_is_refused_naming_the_field(local, zone, field):
    with pytest.raises(Invalid) as info:
        local_to_utc(local, zone, field=field)
    assert info.value.field == field
    assert info.value.status == 422
    assert f"{local:%Y-%m-%d} 02:30 does not exist in {zone}" in info.value.message


@pytest.mark.parametrize("local, zone, expected", [
    (datetime(2026, 3, 29, 1, 59), "Europe/Berlin", datetime(2026, 3, 29, 0, 59, tzinfo=UTC)),
    (datetime(2026, 3, 29, 3, 0), "Europe/Berlin", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
    (datetime(2026, 3, 8, 1, 59), "America/New_York", datetime(2026, 3, 8, 6, 59, tzinfo=UTC)),
    (datetime(2026, 3, 8, 3, 0), "America/New_York", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
], ids=["berlin-before-gap", "berlin-after-gap", "ny-before-gap", "ny-after-gap"])
def test_times_beside_the_gap_are_accepted(local, zone, expected):
    result = local_to_utc(local, zone)
    assert result == expected
    assert result.utcoffset() == timedelta(0)


@pytest.mark.parametrize("local, zone, expected", [
    # 02:30 happens twice in Berlin on 25 October 2026: first in CEST (UTC+2), then CET.
    (datetime(2026, 10, 25, 2, 30), "Europe/Berlin", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    # 01:30 happens twice in New York on 1 November 2026: first in EDT (UTC-4), then EST.
    (datetime(2026, 11, 1, 1, 30), "America/New_York", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
], ids=["berlin", "new-york"])
def test_autumn_overlap_takes_the_first_occurrence(local, zone, expected):
    assert local_to_utc(local, zone) == expected


def test_autumn_overlap_second_hour_is_unambiguous():
    # 03:00 in Berlin on 25 October exists once, in CET (UTC+1).
    assert local_to_utc(datetime(2026, 10, 25, 3, 0), "Europe/Berlin") == \
        datetime(2026, 10, 25, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize("zone", [
    "Mars/Olympus_Mons", "", "europe/berlin", "Europe/Berlin ", "../../etc/passwd", "CET+1",
])
def test_unknown_zone_is_refused(zone):
    with pytest.raises(Invalid) as info:
        local_to_utc(datetime(2026, 12, 7, 10, 0), zone, field="starts_at")
    assert info.value.field == "timezone"
    assert "Unknown timezone" in info.value.message


def test_local_winter_time_converts_with_the_zone_offset():
    assert local_to_utc(datetime(2026, 12, 7, 10, 0), "Europe/Berlin") == T0
    assert local_to_utc(datetime(2026, 12, 7, 4, 0), "America/New_York") == T0
    assert local_to_utc(datetime(2026, 12, 7, 18, 0), "Asia/Tokyo") == T0


# --- day boundaries --------------------------------------------------------------------


def test_day_start_utc_follows_the_zone_and_daylight_saving():
    assert day_start_utc(date(2026, 12, 7), "Europe/Berlin") == \
        datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
    assert day_start_utc(date(2026, 7, 1), "Europe/Berlin") == \
        datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
    assert day_start_utc(date(2026, 12, 7), "America/New_York") == \
        datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


def test_monday_of_any_day_of_the_week():
    assert {monday_of(date(2026, 12, 7) + timedelta(days=i)) for i in range(7)} == \
        {date(2026, 12, 7)}
    assert monday_of(date(2026, 12, 14)) == date(2026, 12, 14)
