"""The booking rules, called directly: create, validate, edit, cancel, change status."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from aeplan.auth.models import User
from aeplan.bookings import service
from aeplan.bookings.models import Booking, BookingChange
from aeplan.bookings.service import BookingInput
from aeplan.errors import Invalid, NotAllowed, NotFound
from aeplan.extensions import db
from aeplan.timeutil import local_to_utc
from tests.conftest import T0

LONG_AGO = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # a fixed "last changed" time


def _input(client, **over) -> BookingInput:
    values = dict(
        kind="demo", title="Platform demo", client_id=client.id,
        starts_local=datetime(2026, 12, 8, 10, 0), ends_local=datetime(2026, 12, 8, 11, 30),
        timezone="Europe/Berlin", location="https://meet.example.com/abc",
        needs_technical=1, needs_creative=0, needs_other=0,
    )
    values.update(over)
    return BookingInput(**values)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _changes(booking) -> list[BookingChange]:
    return list(db.session.scalars(
        select(BookingChange).where(BookingChange.booking_id == booking.id)
        .order_by(BookingChange.id)
    ))


@pytest.fixture
def ae(make_user):
    return make_user("ae", timezone="Europe/Berlin")


@pytest.fixture
def own_client(make_client, ae):
    return make_client(ae, timezone="Europe/Berlin")


@pytest.fixture
def booking(ae, own_client):
    """A booking made through the service, committed, with a fixed `updated_at`."""
    b = service.create_booking(_input(own_client), actor=ae)
    b.updated_at = LONG_AGO
    db.session.commit()
    return b


# --- creating --------------------------------------------------------------------------


def test_create_stores_utc_of_the_local_time_and_records_created(make_client, ae):
    client = make_client(ae, timezone="America/New_York")
    b = service.create_booking(_input(
        client, timezone="America/New_York", title="  Roadmap demo  ",
        starts_local=datetime(2026, 12, 8, 10, 0), ends_local=datetime(2026, 12, 8, 11, 30),
    ), actor=ae)
    db.session.commit()
    booking_id, ae_id, client_id = b.id, ae.id, client.id
    db.session.remove()  # read back through a new session

    b = db.session.get(Booking, booking_id)
    assert b.starts_at == datetime(2026, 12, 8, 15, 0, tzinfo=UTC)
    assert b.ends_at == datetime(2026, 12, 8, 16, 30, tzinfo=UTC)
    assert b.timezone == "America/New_York"
    assert b.title == "Roadmap demo"
    assert (b.status, b.sequence, b.owner_id, b.client_id) == ("tentative", 0, ae_id, client_id)
    assert b.uid.endswith("@aeplan")
    [created] = _changes(b)
    assert created.action == "created"
    assert created.actor_id == ae_id
    assert created.changes["starts_at"] == [None, "2026-12-08 10:00 America/New_York"]
    assert created.changes["title"] == [None, "Roadmap demo"]


def test_each_booking_gets_its_own_uid(ae, own_client):
    first = service.create_booking(_input(own_client), actor=ae)
    second = service.create_booking(_input(own_client), actor=ae)
    db.session.commit()
    assert first.uid != second.uid


@pytest.mark.parametrize("typed_zone", ["", "   "])
def test_empty_timezone_means_the_clients_zone(make_client, ae, typed_zone):
    assert ae.timezone == "Europe/Berlin"
    client = make_client(ae, timezone="Asia/Tokyo")
    b = service.create_booking(_input(client, timezone=typed_zone), actor=ae)
    db.session.commit()
    assert b.timezone == "Asia/Tokyo"
    assert b.starts_at == datetime(2026, 12, 8, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo


def test_default_timezone_without_a_client_is_the_users(ae):
    assert service.default_timezone(None, ae) == "Europe/Berlin"


def test_manager_books_for_an_aes_client_and_the_ae_owns_it(make_user, own_client, ae):
    manager = make_user("manager")
    b = service.create_booking(_input(own_client), actor=manager)
    db.session.commit()
    assert b.owner_id == ae.id
    assert _changes(b)[0].actor_id == manager.id


def test_support_staff_cannot_create_bookings(make_user, own_client):
    support = make_user("support")
    with pytest.raises(NotAllowed):
        service.create_booking(_input(own_client), actor=support)
    db.session.rollback()
    assert _count(Booking) == 0


def test_ae_cannot_book_for_another_aes_client(make_user, make_client, ae):
    others = make_client(make_user("ae"))
    with pytest.raises(NotAllowed) as info:
        service.create_booking(_input(others), actor=ae)
    assert info.value.field == "client_id"
    db.session.rollback()
    assert _count(Booking) == 0


def test_archived_client_cannot_be_booked(make_client, ae):
    client = make_client(ae, archived_at=datetime(2026, 11, 1, tzinfo=UTC))
    with pytest.raises(Invalid) as info:
        service.create_booking(_input(client), actor=ae)
    assert info.value.field == "client_id"


@pytest.mark.parametrize("over, field", [
    (dict(ends_local=datetime(2026, 12, 8, 9, 0)), "ends_at"),
    (dict(ends_local=datetime(2026, 12, 8, 10, 0)), "ends_at"),  # zero length
    (dict(ends_local=datetime(2026, 12, 22, 10, 1)), "ends_at"),  # 14 days and a minute
    (dict(timezone="Mars/Olympus_Mons"), "timezone"),
    (dict(starts_local=datetime(2026, 3, 29, 2, 30),
          ends_local=datetime(2026, 3, 29, 4, 0)), "starts_at"),
    (dict(starts_local=datetime(2026, 3, 29, 1, 0),
          ends_local=datetime(2026, 3, 29, 2, 15)), "ends_at"),
    (dict(starts_local=None), "starts_at"),
    (dict(ends_local=None), "ends_at"),
    (dict(title="x" * 201), "title"),
    (dict(title="   "), "title"),
    (dict(location="x" * 501), "location"),
    (dict(kind="meeting"), "kind"),
    (dict(needs_technical=-1), "needs_technical"),
    (dict(needs_creative=21), "needs_creative"),
    (dict(needs_other=None), "needs_other"),
    (dict(client_id=None), "client_id"),
    (dict(client_id=0), "client_id"),
    (dict(client_id=987654), "client_id"),
], ids=[
    "end-before-start", "zero-length", "over-14-days", "unknown-zone", "start-in-dst-gap",
    "end-in-dst-gap", "no-start", "no-end", "title-201", "blank-title", "location-501",
    "bad-kind", "negative-needs", "too-many-needs", "no-needs", "no-client", "client-0",
    "unknown-client",
])
def test_invalid_input_is_refused_naming_the_field(ae, own_client, over, field):
    with pytest.raises(Invalid) as info:
        service.create_booking(_input(own_client, **over), actor=ae)
    assert info.value.field == field
    assert info.value.message
    db.session.rollback()
    assert _count(Booking) == 0
    assert _count(BookingChange) == 0


def test_exactly_fourteen_days_and_limits_are_accepted(ae, own_client):
    b = service.create_booking(_input(
        own_client, kind="visit", title="t" * 200, location="l" * 500,
        ends_local=datetime(2026, 12, 22, 10, 0), needs_technical=20, needs_creative=20,
        needs_other=0,
    ), actor=ae)
    db.session.commit()
    assert b.ends_at - b.starts_at == timedelta(days=14)
    assert (len(b.title), len(b.location), b.needs_total) == (200, 500, 40)


# --- editing ---------------------------------------------------------------------------


def test_changing_the_time_records_old_and_new_and_raises_sequence(ae, own_client, booking):
    service.update_booking(booking, _input(
        own_client, starts_local=datetime(2026, 12, 9, 14, 0),
        ends_local=datetime(2026, 12, 9, 15, 0),
    ), actor=ae)
    db.session.commit()
    db.session.expire_all()

    assert booking.starts_at == datetime(2026, 12, 9, 13, 0, tzinfo=UTC)
    assert booking.sequence == 1
    assert booking.updated_at != LONG_AGO
    created, updated = _changes(booking)
    assert updated.action == "updated"
    assert updated.actor_id == ae.id
    assert updated.changes == {
        "starts_at": ["2026-12-08 10:00 Europe/Berlin", "2026-12-09 14:00 Europe/Berlin"],
        "ends_at": ["2026-12-08 11:30 Europe/Berlin", "2026-12-09 15:00 Europe/Berlin"],
    }


def test_booking_loaded_as_views_load_it_can_be_changed(ae, own_client, booking):
    """Views fetch with `get_booking` (client and owner joined in) before changing."""
    booking_id, ae_id, client_id = booking.id, ae.id, own_client.id
    db.session.remove()
    actor = db.session.get(User, ae_id)
    loaded = service.get_booking(actor, booking_id, for_page=True)
    service.update_booking(loaded, _input(SimpleNamespace(id=client_id), title="Renamed"),
                           actor=actor)
    db.session.commit()
    db.session.remove()
    assert db.session.get(Booking, booking_id).title == "Renamed"


def test_changing_the_zone_keeps_wall_time_and_shows_both_zones(ae, own_client, booking):
    service.update_booking(booking, _input(own_client, timezone="Europe/London"), actor=ae)
    db.session.commit()
    assert booking.starts_at == datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    assert booking.sequence == 1
    change = _changes(booking)[-1].changes
    assert change["timezone"] == ["Europe/Berlin", "Europe/London"]
    assert change["starts_at"] == ["2026-12-08 10:00 Europe/Berlin",
                                   "2026-12-08 10:00 Europe/London"]


@pytest.mark.parametrize("over, field", [
    (dict(title="Platform demo, part 2"), "title"),
    (dict(location="Hauptstraße 1, Berlin"), "location"),
    (dict(kind="visit"), "kind"),
])
def test_calendar_visible_changes_raise_sequence(ae, own_client, booking, over, field):
    service.update_booking(booking, _input(own_client, **over), actor=ae)
    db.session.commit()
    assert booking.sequence == 1
    last = _changes(booking)[-1]
    assert last.action == "updated"
    assert field in last.changes


def test_changing_only_staffing_needs_does_not_raise_sequence(ae, own_client, booking):
    service.update_booking(booking, _input(own_client, needs_technical=2, needs_creative=1),
                           actor=ae)
    db.session.commit()
    db.session.expire_all()
    assert booking.sequence == 0
    assert (booking.needs_technical, booking.needs_creative) == (2, 1)
    last = _changes(booking)[-1]
    assert last.action == "updated"
    assert last.changes == {"needs_technical": ["1", "2"], "needs_creative": ["0", "1"]}


def test_edit_without_changes_records_nothing(ae, own_client, booking):
    service.update_booking(booking, _input(own_client), actor=ae)
    db.session.commit()
    db.session.expire_all()
    assert booking.sequence == 0
    assert booking.updated_at == LONG_AGO
    assert [c.action for c in _changes(booking)] == ["created"]


def test_other_ae_cannot_edit_and_nothing_changes(make_user, own_client, booking):
    other = make_user("ae")
    with pytest.raises(NotAllowed):
        service.update_booking(booking, _input(own_client, title="Hijacked"), actor=other)
    db.session.rollback()
    assert booking.title == "Platform demo"
    assert [c.action for c in _changes(booking)] == ["created"]


def test_ae_cannot_move_own_booking_to_another_aes_client(make_user, make_client, ae, booking):
    others = make_client(make_user("ae"))
    with pytest.raises(NotAllowed) as info:
        service.update_booking(booking, _input(others), actor=ae)
    assert info.value.field == "client_id"
    db.session.rollback()
    assert booking.client_id != others.id


def test_manager_moving_booking_to_another_client_hands_it_to_that_clients_ae(
        make_user, make_client, booking):
    manager = make_user("manager")
    other_ae = make_user("ae")
    others = make_client(other_ae)
    service.update_booking(booking, _input(others), actor=manager)
    db.session.commit()
    assert (booking.client_id, booking.owner_id) == (others.id, other_ae.id)


def test_invalid_edit_leaves_the_booking_as_it_was(ae, own_client, booking):
    with pytest.raises(Invalid):
        service.update_booking(booking, _input(
            own_client, title="Moved", ends_local=datetime(2026, 12, 8, 9, 0)), actor=ae)
    db.session.rollback()
    assert (booking.title, booking.sequence) == ("Platform demo", 0)
    assert len(_changes(booking)) == 1


# --- cancelling and status -------------------------------------------------------------


def test_cancel_keeps_the_row_with_reason_raised_sequence_and_history(ae, booking):
    service.cancel_booking(booking, actor=ae, reason="  Client postponed  ")
    db.session.commit()
    booking_id, ae_id = booking.id, ae.id
    db.session.remove()  # read back through a new session

    b = db.session.get(Booking, booking_id)
    assert b is not None
    assert b.status == "cancelled"
    assert b.cancel_reason == "Client postponed"
    assert b.sequence == 1
    last = _changes(b)[-1]
    assert last.action == "cancelled"
    assert last.note == "Client postponed"
    assert last.changes == {"status": ["tentative", "cancelled"]}
    assert last.actor_id == ae_id


def test_cancelling_twice_is_refused(ae, booking):
    service.cancel_booking(booking, actor=ae)
    db.session.commit()
    with pytest.raises(Invalid):
        service.cancel_booking(booking, actor=ae)
    db.session.rollback()
    assert booking.sequence == 1


def test_cancel_reason_over_1000_characters_is_refused(ae, booking):
    with pytest.raises(Invalid) as info:
        service.cancel_booking(booking, actor=ae, reason="x" * 1001)
    assert info.value.field == "reason"
    db.session.rollback()
    assert booking.status == "tentative"


def test_cancelled_booking_cannot_be_edited(ae, own_client, booking):
    service.cancel_booking(booking, actor=ae)
    db.session.commit()
    with pytest.raises(Invalid):
        service.update_booking(booking, _input(own_client, title="Revived"), actor=ae)
    db.session.rollback()
    assert (booking.title, booking.sequence) == ("Platform demo", 1)


def test_cancelled_booking_cannot_change_status(ae, booking):
    service.cancel_booking(booking, actor=ae)
    db.session.commit()
    with pytest.raises(Invalid):
        service.set_status(booking, "confirmed", actor=ae)
    db.session.rollback()
    assert booking.status == "cancelled"


def test_confirm_then_done_are_recorded_and_raise_sequence(ae, booking):
    service.set_status(booking, "confirmed", actor=ae)
    db.session.commit()
    assert (booking.status, booking.sequence) == ("confirmed", 1)
    service.set_status(booking, "done", actor=ae)
    db.session.commit()
    assert (booking.status, booking.sequence) == ("done", 2)
    assert [(c.action, c.changes) for c in _changes(booking)[1:]] == [
        ("status", {"status": ["tentative", "confirmed"]}),
        ("status", {"status": ["confirmed", "done"]}),
    ]


def test_setting_the_same_status_records_nothing(ae, booking):
    service.set_status(booking, "tentative", actor=ae)
    db.session.commit()
    assert booking.sequence == 0
    assert len(_changes(booking)) == 1


@pytest.mark.parametrize("status", ["bogus", "cancelled", "", "CONFIRMED"])
def test_invalid_status_is_refused(ae, booking, status):
    with pytest.raises(Invalid) as info:
        service.set_status(booking, status, actor=ae)
    assert info.value.field == "status"
    db.session.rollback()
    assert (booking.status, booking.sequence) == ("tentative", 0)
    assert len(_changes(booking)) == 1


@pytest.mark.parametrize("role", ["ae", "support"])
def test_only_owner_or_manager_may_cancel_or_change_status(make_user, booking, assign, role):
    someone = make_user(role)
    if role == "support":
        assign(booking, someone)
    with pytest.raises(NotAllowed):
        service.cancel_booking(booking, actor=someone)
    with pytest.raises(NotAllowed):
        service.set_status(booking, "confirmed", actor=someone)
    db.session.rollback()
    assert (booking.status, booking.sequence) == ("tentative", 0)


def test_manager_and_admin_may_change_any_booking(make_user, booking):
    service.set_status(booking, "confirmed", actor=make_user("manager"))
    service.cancel_booking(booking, actor=make_user("admin"), reason="Budget")
    db.session.commit()
    assert (booking.status, booking.sequence) == ("cancelled", 2)


# --- reading ---------------------------------------------------------------------------


def test_get_booking_unknown_id_is_not_found(ae):
    with pytest.raises(NotFound):
        service.get_booking(ae, 999999)


def test_support_sees_a_booking_only_while_assigned(make_user, booking, assign):
    support = make_user("support")
    with pytest.raises(NotFound):  # hidden answers like missing
        service.get_booking(support, booking.id)
    assignment = assign(booking, support)
    assert service.get_booking(support, booking.id).id == booking.id
    assignment.removed_at = datetime(2026, 11, 2, tzinfo=UTC)
    db.session.commit()
    with pytest.raises(NotFound):
        service.get_booking(support, booking.id)


def test_bookings_between_returns_overlaps_only(make_booking, ae, own_client):
    inside = make_booking(own_client, title="inside")
    make_booking(own_client, title="before", starts_at=T0 - timedelta(days=2))
    make_booking(own_client, title="after", starts_at=T0 + timedelta(days=2))
    touching = make_booking(own_client, title="touching", starts_at=T0 - timedelta(hours=1),
                            ends_at=T0 + timedelta(minutes=1))
    found = service.bookings_between(ae, T0, T0 + timedelta(hours=2))
    assert {b.id for b in found} == {inside.id, touching.id}


def test_local_conversion_matches_the_service(ae, own_client):
    """The service and `local_to_utc` agree, so views can show what will be stored."""
    b = service.create_booking(_input(own_client, timezone="America/New_York"), actor=ae)
    assert b.starts_at == local_to_utc(datetime(2026, 12, 8, 10, 0), "America/New_York")
