"""The trip rules, called directly: planning a trip, its stops and travellers, expenses and
how they are attributed to the clients the trip serves."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from aeplan.bookings import service as bookings
from aeplan.bookings.models import Booking, BookingChange
from aeplan.bookings.service import BookingInput
from aeplan.errors import Invalid, NotAllowed, NotFound
from aeplan.extensions import db
from aeplan.staffing.models import TimeOff
from aeplan.trips import service as trips
from aeplan.trips.models import Expense, Trip, trip_travellers
from aeplan.trips.service import ExpenseInput, TripInput
from tests.conftest import T0

MON, TUE, WED, THU = (date(2026, 12, 7), date(2026, 12, 8), date(2026, 12, 9),
                      date(2026, 12, 10))


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def _trip_input(**over) -> TripInput:
    values = dict(title="Frankfurt client week", destination="Frankfurt",
                  timezone="Europe/Berlin", starts_on=MON, ends_on=WED)
    values.update(over)
    return TripInput(**values)


def _expense(**over) -> ExpenseInput:
    values = dict(category="hotel", amount="100.00", currency="EUR", spent_on=MON,
                  allocation="even")
    values.update(over)
    return ExpenseInput(**values)


def _booking_input(client, trip=None, **over) -> BookingInput:
    values = dict(kind="visit", title="Site visit", client_id=client.id,
                  starts_local=datetime(2026, 12, 8, 10, 0),
                  ends_local=datetime(2026, 12, 8, 12, 0), timezone="Europe/Berlin",
                  location="Frankfurt office", trip_id=trip.id if trip else None)
    values.update(over)
    return BookingInput(**values)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _travellers(trip_id: int) -> set[int]:
    return set(db.session.scalars(select(trip_travellers.c.user_id)
                                  .where(trip_travellers.c.trip_id == trip_id)))


def _trip_of(booking_id: int) -> int | None:
    return db.session.scalar(select(Booking.trip_id).where(Booking.id == booking_id))


def _summary(trip: Trip) -> trips.TripSummary:
    db.session.expire_all()
    return trips.summarise([db.session.get(Trip, trip.id)])[trip.id]


# --- people and places ---------------------------------------------------------------


@pytest.fixture
def ae(make_user):
    return make_user("ae", name="Alex Becker", timezone="Europe/Berlin")


@pytest.fixture
def other_ae(make_user):
    return make_user("ae", name="Otto Other")


@pytest.fixture
def manager(make_user):
    return make_user("manager", name="Mia Manager")


@pytest.fixture
def designer(make_user):
    return make_user("support", name="Dana Designer", discipline="creative")


@pytest.fixture
def engineer(make_user):
    return make_user("support", name="Sam Okafor", discipline="technical")


@pytest.fixture
def acme(make_client, ae):
    return make_client(ae, name="Acme Bank")


@pytest.fixture
def globex(make_client, ae):
    return make_client(ae, name="Globex Media")


@pytest.fixture
def trip(ae):
    t = trips.create_trip(_trip_input(), actor=ae)
    db.session.commit()
    return t


@pytest.fixture
def stops(trip, acme, globex, make_booking):
    """Acme for three hours on Monday, Globex for one hour on Tuesday, both on the trip."""
    a = make_booking(acme, kind="visit", title="Acme review", starts_at=utc(7, 9),
                     ends_at=utc(7, 12), trip_id=trip.id)
    g = make_booking(globex, kind="visit", title="Globex workshop", starts_at=utc(8, 9),
                     ends_at=utc(8, 10), trip_id=trip.id)
    return a, g


# --- creating and changing a trip ----------------------------------------------------


def test_ae_creates_a_trip_and_owns_it(ae):
    t = trips.create_trip(_trip_input(title="  Frankfurt client week  ",
                                      destination=" Frankfurt ", notes=" Bring samples "),
                          actor=ae)
    db.session.commit()
    trip_id, ae_id = t.id, ae.id
    db.session.remove()  # read back through a new session

    t = db.session.get(Trip, trip_id)
    assert (t.title, t.destination, t.timezone) == ("Frankfurt client week", "Frankfurt",
                                                    "Europe/Berlin")
    assert (t.starts_on, t.ends_on) == (MON, WED)
    assert t.notes == "Bring samples"
    assert t.owner_id == ae_id
    assert t.cancelled_at is None and not t.is_cancelled
    assert t.travellers == []


def test_an_ae_cannot_create_a_trip_for_someone_else(ae, other_ae):
    t = trips.create_trip(_trip_input(owner_id=other_ae.id), actor=ae)
    assert t.owner_id == ae.id


def test_a_one_day_trip_and_a_sixty_day_trip_are_fine(ae):
    assert trips.create_trip(_trip_input(starts_on=MON, ends_on=MON), actor=ae).id
    assert trips.create_trip(_trip_input(ends_on=MON + timedelta(days=59)), actor=ae).id


def test_manager_creates_a_trip_for_an_ae(manager, ae):
    t = trips.create_trip(_trip_input(owner_id=ae.id), actor=manager)
    db.session.commit()
    assert t.owner_id == ae.id
    assert trips.can_edit_trip(ae, t) and trips.can_edit_trip(manager, t)


@pytest.mark.parametrize("owner", [None, "manager", "support", "inactive_ae"])
def test_manager_must_choose_an_active_ae_as_owner(manager, designer, make_user, owner):
    owner_id = {None: None, "manager": manager.id, "support": designer.id,
                "inactive_ae": make_user("ae", active=False).id}[owner]
    with pytest.raises(Invalid) as caught:
        trips.create_trip(_trip_input(owner_id=owner_id), actor=manager)
    assert caught.value.field == "owner_id"
    db.session.rollback()
    assert _count(Trip) == 0


def test_support_cannot_create_a_trip(designer):
    with pytest.raises(NotAllowed):
        trips.create_trip(_trip_input(), actor=designer)
    db.session.rollback()
    assert _count(Trip) == 0


@pytest.mark.parametrize(("over", "field", "message"), [
    (dict(ends_on=date(2026, 12, 6)), "ends_on", "cannot end before it starts"),
    (dict(ends_on=MON + timedelta(days=60)), "ends_on", "at most 60 days"),
    (dict(ends_on=MON + timedelta(days=400)), "ends_on", "at most 60 days"),
    (dict(timezone="Mars/Olympus_Mons"), "timezone", "Unknown timezone"),
    (dict(timezone=""), "timezone", "Unknown timezone"),
    (dict(title="   "), "title", "Enter a title"),
    (dict(title="x" * 201), "title", "at most 200"),
    (dict(destination=""), "destination", "Enter where"),
    (dict(starts_on=None), "starts_on", "first day"),
    (dict(ends_on=None), "ends_on", "last day"),
])
def test_bad_trip_input_is_refused_and_nothing_written(ae, over, field, message):
    with pytest.raises(Invalid) as caught:
        trips.create_trip(_trip_input(**over), actor=ae)
    assert caught.value.field == field
    assert message in caught.value.message
    db.session.rollback()
    assert _count(Trip) == 0


def test_update_changes_the_trip(trip, ae):
    trips.update_trip(trip, _trip_input(title="Frankfurt and Mainz", ends_on=THU), actor=ae)
    db.session.commit()
    db.session.expire_all()
    t = db.session.get(Trip, trip.id)
    assert (t.title, t.ends_on) == ("Frankfurt and Mainz", THU)


def test_manager_moves_a_trip_without_stops_to_another_ae(trip, manager, other_ae):
    trips.update_trip(trip, _trip_input(owner_id=other_ae.id), actor=manager)
    assert trip.owner_id == other_ae.id


def test_manager_cannot_give_a_trip_with_stops_to_another_ae(trip, ae, manager, other_ae,
                                                            acme, stops):
    """A trip's stops are its AE's own bookings: handing the trip to another AE would
    leave it with stops that are not theirs (and lock the first AE out of editing their
    own bookings, which update_booking then refuses as not the trip AE's)."""
    with pytest.raises(Invalid) as caught:
        trips.update_trip(trip, _trip_input(owner_id=other_ae.id), actor=manager)
    assert caught.value.field == "owner_id"
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(Trip, trip.id).owner_id == ae.id


def test_update_with_bad_dates_is_refused_and_nothing_changed(trip, ae):
    with pytest.raises(Invalid):
        trips.update_trip(trip, _trip_input(starts_on=WED, ends_on=MON), actor=ae)
    db.session.rollback()
    assert (trip.starts_on, trip.ends_on) == (MON, WED)


def test_another_ae_cannot_change_the_trip(trip, other_ae, acme, make_booking):
    booking = make_booking(acme, starts_at=utc(8, 9))
    attempts = [
        lambda: trips.update_trip(trip, _trip_input(title="Mine now"), actor=other_ae),
        lambda: trips.cancel_trip(trip, actor=other_ae),
        lambda: trips.attach_stop(trip, booking, actor=other_ae),
        lambda: trips.add_expense(trip, _expense(), actor=other_ae),
        lambda: trips.add_traveller(trip, other_ae, actor=other_ae),
    ]
    for attempt in attempts:
        with pytest.raises(NotAllowed):
            attempt()
        db.session.rollback()
    db.session.expire_all()
    t = db.session.get(Trip, trip.id)
    assert t.title == "Frankfurt client week" and t.cancelled_at is None
    assert _travellers(trip.id) == set() and _count(Expense) == 0
    assert _trip_of(booking.id) is None


def test_a_support_traveller_cannot_change_the_trip(trip, ae, designer):
    trips.add_traveller(trip, designer, actor=ae)
    db.session.commit()
    with pytest.raises(NotAllowed):
        trips.update_trip(trip, _trip_input(title="Design week"), actor=designer)
    with pytest.raises(NotAllowed):
        trips.remove_traveller(trip, designer, actor=designer)
    db.session.rollback()
    assert trip.title == "Frankfurt client week"


def test_who_may_see_a_trip(trip, ae, other_ae, manager, designer, engineer):
    trips.add_traveller(trip, designer, actor=ae)
    db.session.commit()
    assert trips.get_trip(ae, trip.id).id == trip.id
    assert trips.get_trip(manager, trip.id).id == trip.id
    assert trips.get_trip(designer, trip.id).id == trip.id
    for outsider in (other_ae, engineer):  # hidden answers like missing
        with pytest.raises(NotFound):
            trips.get_trip(outsider, trip.id)
    with pytest.raises(NotFound):
        trips.get_trip(ae, trip.id + 1000)
    assert [t.id for t in trips.list_trips(designer, include_past=True)] == [trip.id]
    assert trips.list_trips(other_ae, include_past=True) == []
    assert trips.list_trips(engineer, include_past=True) == []


# --- stops ---------------------------------------------------------------------------


def test_attach_own_booking_inside_the_dates(trip, ae, acme, make_booking):
    booking = make_booking(acme, kind="visit", starts_at=utc(8, 9), ends_at=utc(8, 11))
    trips.attach_stop(trip, booking, actor=ae)
    db.session.commit()
    assert _trip_of(booking.id) == trip.id
    change = db.session.scalars(select(BookingChange)
                                .where(BookingChange.booking_id == booking.id)).one()
    assert change.changes == {"trip": [None, "Frankfurt client week"]}
    # Attaching it again changes nothing.
    trips.attach_stop(trip, booking, actor=ae)
    assert _count(BookingChange) == 1


def test_booking_early_on_the_first_local_day_is_inside(trip, ae, acme, make_booking):
    # 23:30 UTC on Sunday is 00:30 on Monday in Frankfurt: inside a trip starting Monday.
    booking = make_booking(acme, starts_at=utc(6, 23, 30), ends_at=utc(7, 0, 30))
    trips.attach_stop(trip, booking, actor=ae)
    assert booking.trip_id == trip.id


def test_booking_late_on_the_last_local_day_is_inside(trip, ae, acme, make_booking):
    # 22:00–22:59 UTC on Wednesday is 23:00–23:59 in Frankfurt, still Wednesday.
    booking = make_booking(acme, starts_at=utc(9, 22), ends_at=utc(9, 22, 59))
    trips.attach_stop(trip, booking, actor=ae)
    assert booking.trip_id == trip.id


@pytest.mark.parametrize(("case", "error", "message"), [
    ("other_ae", NotAllowed, "own bookings"),
    ("after", Invalid, "inside the trip's dates"),
    ("before", Invalid, "inside the trip's dates"),
    ("last_day_utc_next_day_berlin", Invalid, "inside the trip's dates"),
    ("runs_past_the_end", Invalid, "inside the trip's dates"),
    ("cancelled", Invalid, "cancelled booking"),
    ("on_another_trip", Invalid, "another trip"),
])
def test_attach_is_refused_and_nothing_changed(trip, ae, acme, make_client, other_ae,
                                               make_booking, case, error, message):
    other_trip = trips.create_trip(_trip_input(title="Other trip"), actor=ae)
    db.session.commit()
    booking = {
        "other_ae": lambda: make_booking(make_client(other_ae), starts_at=utc(8, 9)),
        "after": lambda: make_booking(acme, starts_at=utc(10, 9)),
        "before": lambda: make_booking(acme, starts_at=utc(6, 9)),
        # 23:30 UTC on Wednesday is 00:30 on Thursday in Frankfurt: the day after the trip.
        "last_day_utc_next_day_berlin": lambda: make_booking(acme, starts_at=utc(9, 23, 30),
                                                             ends_at=utc(10, 0, 30)),
        "runs_past_the_end": lambda: make_booking(acme, starts_at=utc(9, 21),
                                                  ends_at=utc(9, 23, 30)),
        "cancelled": lambda: make_booking(acme, starts_at=utc(8, 9), status="cancelled"),
        "on_another_trip": lambda: make_booking(acme, starts_at=utc(8, 9),
                                                trip_id=other_trip.id),
    }[case]()
    before = booking.trip_id
    with pytest.raises(error) as caught:
        trips.attach_stop(trip, booking, actor=ae)
    assert message in caught.value.message
    assert booking.trip_id == before
    db.session.rollback()
    assert _trip_of(booking.id) == before
    assert _count(BookingChange) == 0


def test_detach_takes_the_booking_off_and_keeps_it(trip, ae, stops):
    acme_stop, _ = stops
    trips.detach_stop(trip, acme_stop, actor=ae)
    db.session.commit()
    assert _trip_of(acme_stop.id) is None
    assert db.session.get(Booking, acme_stop.id).status == "tentative"
    with pytest.raises(Invalid):
        trips.detach_stop(trip, acme_stop, actor=ae)


def test_attachable_bookings_are_the_aes_own_free_ones_inside_the_dates(
        trip, ae, acme, other_ae, make_client, make_booking):
    inside = make_booking(acme, starts_at=utc(8, 9))
    make_booking(acme, starts_at=utc(9, 23, 30), ends_at=utc(10, 0, 30))  # Thursday there
    make_booking(acme, starts_at=utc(8, 13), status="cancelled")
    make_booking(make_client(other_ae), starts_at=utc(8, 9))
    make_booking(acme, starts_at=utc(8, 15), trip_id=trip.id)  # already on it
    assert [b.id for b in trips.attachable_bookings(trip)] == [inside.id]


def test_create_booking_inside_a_trip(trip, ae, acme):
    booking = bookings.create_booking(_booking_input(acme, trip), actor=ae)
    db.session.commit()
    assert _trip_of(booking.id) == trip.id


@pytest.mark.parametrize(("starts", "ends"), [
    (datetime(2026, 12, 10, 10, 0), datetime(2026, 12, 10, 11, 0)),  # the day after
    (datetime(2026, 12, 6, 10, 0), datetime(2026, 12, 6, 11, 0)),  # the day before
    (datetime(2026, 12, 9, 23, 0), datetime(2026, 12, 10, 1, 0)),  # runs past midnight
])
def test_create_booking_outside_the_trip_is_refused_and_nothing_written(trip, ae, acme,
                                                                      starts, ends):
    with pytest.raises(Invalid) as caught:
        bookings.create_booking(_booking_input(acme, trip, starts_local=starts,
                                               ends_local=ends), actor=ae)
    assert caught.value.field == "starts_at"
    assert "inside the trip's dates" in caught.value.message
    db.session.rollback()
    assert _count(Booking) == 0 and _count(BookingChange) == 0


def test_create_booking_on_a_cancelled_or_another_aes_trip_is_refused(trip, ae, other_ae,
                                                                      acme, make_client):
    others = trips.create_trip(_trip_input(), actor=other_ae)
    db.session.commit()
    with pytest.raises(Invalid):
        bookings.create_booking(_booking_input(acme, others), actor=ae)
    db.session.rollback()
    trips.cancel_trip(trip, actor=ae)
    db.session.commit()
    with pytest.raises(Invalid) as caught:
        bookings.create_booking(_booking_input(acme, trip), actor=ae)
    assert caught.value.field == "trip_id"
    db.session.rollback()
    assert _count(Booking) == 0


def test_moving_a_stop_outside_the_trip_is_refused(trip, ae, acme):
    booking = bookings.create_booking(_booking_input(acme, trip), actor=ae)
    db.session.commit()
    with pytest.raises(Invalid) as caught:
        bookings.update_booking(booking, _booking_input(
            acme, starts_local=datetime(2026, 12, 10, 10, 0),
            ends_local=datetime(2026, 12, 10, 12, 0)), actor=ae)
    assert caught.value.field == "starts_at"
    db.session.rollback()
    db.session.expire_all()
    stored = db.session.get(Booking, booking.id)
    assert stored.starts_at == utc(8, 9) and stored.trip_id == trip.id
    # Moving within the trip is fine.
    bookings.update_booking(stored, _booking_input(
        acme, starts_local=datetime(2026, 12, 9, 10, 0),
        ends_local=datetime(2026, 12, 9, 12, 0)), actor=ae)
    db.session.commit()
    assert db.session.get(Booking, booking.id).starts_at == utc(9, 9)


def test_shortening_the_trip_past_a_stop_is_refused(trip, ae, acme, make_booking):
    stop = make_booking(acme, title="Wednesday visit", starts_at=utc(9, 9), trip_id=trip.id)
    with pytest.raises(Invalid) as caught:
        trips.update_trip(trip, _trip_input(ends_on=TUE), actor=ae)
    assert "Wednesday visit" in caught.value.message and acme.name in caught.value.message
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(Trip, trip.id).ends_on == WED
    assert _trip_of(stop.id) == trip.id


def test_changing_the_trip_timezone_past_a_stop_is_refused(trip, ae, acme, make_booking):
    # 21:00–22:30 UTC on Wednesday is 22:00–23:30 in Frankfurt but 00:00–01:30 on
    # Thursday in Moscow.
    make_booking(acme, starts_at=utc(9, 21), ends_at=utc(9, 22, 30), trip_id=trip.id)
    with pytest.raises(Invalid):
        trips.update_trip(trip, _trip_input(timezone="Europe/Moscow"), actor=ae)
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(Trip, trip.id).timezone == "Europe/Berlin"


def test_a_cancelled_stop_does_not_hold_the_trip_dates(trip, ae, acme, make_booking):
    make_booking(acme, starts_at=utc(9, 9), trip_id=trip.id, status="cancelled")
    trips.update_trip(trip, _trip_input(ends_on=TUE), actor=ae)
    assert trip.ends_on == TUE


# --- travellers ----------------------------------------------------------------------


def test_a_free_support_person_travels_along(trip, ae, designer, stops):
    trips.add_traveller(trip, designer, actor=ae)
    db.session.commit()
    assert _travellers(trip.id) == {designer.id}
    with pytest.raises(Invalid):
        trips.add_traveller(trip, designer, actor=ae)  # already on it
    with pytest.raises(Invalid):
        trips.add_traveller(trip, ae, actor=ae)  # the owner travels anyway
    trips.remove_traveller(trip, designer, actor=ae)
    db.session.commit()
    assert _travellers(trip.id) == set()


def test_busy_outside_the_stops_is_no_reason_to_refuse(trip, ae, designer, stops,
                                                       make_client, make_booking, assign):
    # Tuesday afternoon, well after the Globex stop (09:00–10:00 UTC).
    other = make_booking(make_client(), title="Other work", starts_at=utc(8, 14),
                         ends_at=utc(8, 15))
    assign(other, designer, status="accepted")
    trips.add_traveller(trip, designer, actor=ae)
    assert _travellers(trip.id) == {designer.id}


def test_traveller_busy_with_another_booking_during_a_stop_is_refused(
        trip, ae, designer, stops, make_client, make_booking, assign):
    clash = make_booking(make_client(name="Initech"), title="Logo review",
                         starts_at=utc(7, 10), ends_at=utc(7, 11))
    assign(clash, designer, status="accepted")
    with pytest.raises(Invalid) as caught:
        trips.add_traveller(trip, designer, actor=ae)
    message = caught.value.message
    assert caught.value.field == "user_id"
    assert "Dana Designer" in message and "Logo review" in message and "Initech" in message
    assert "Acme review" in message  # the stop it clashes with
    db.session.rollback()
    assert _travellers(trip.id) == set()


def test_traveller_with_time_off_during_a_stop_is_refused(trip, ae, designer, stops):
    db.session.add(TimeOff(user_id=designer.id, starts_at=utc(7, 23), ends_at=utc(8, 23),
                           reason="Dentist"))
    db.session.commit()
    with pytest.raises(Invalid) as caught:
        trips.add_traveller(trip, designer, actor=ae)
    assert "Dana Designer has time off" in caught.value.message
    assert "Globex workshop" in caught.value.message
    db.session.rollback()
    assert _travellers(trip.id) == set()


def test_a_declined_or_cancelled_clash_does_not_count(trip, ae, designer, stops, make_client,
                                                      make_booking, assign):
    declined = make_booking(make_client(), starts_at=utc(7, 10), ends_at=utc(7, 11))
    assign(declined, designer, status="declined")
    cancelled = make_booking(make_client(), starts_at=utc(8, 9), status="cancelled")
    assign(cancelled, designer, status="accepted")
    trips.add_traveller(trip, designer, actor=ae)
    assert _travellers(trip.id) == {designer.id}


def test_adding_a_stop_when_a_traveller_is_busy_then_is_refused(
        trip, ae, designer, acme, make_client, make_booking, assign):
    trips.add_traveller(trip, designer, actor=ae)
    db.session.commit()
    clash = make_booking(make_client(), title="Poster shoot", starts_at=utc(8, 10),
                         ends_at=utc(8, 12))
    assign(clash, designer, status="accepted")
    stop = make_booking(acme, kind="visit", title="Acme lunch", starts_at=utc(8, 11),
                        ends_at=utc(8, 13))
    with pytest.raises(Invalid) as caught:
        trips.attach_stop(trip, stop, actor=ae)
    assert "Dana Designer" in caught.value.message and "Poster shoot" in caught.value.message
    assert stop.trip_id is None
    db.session.rollback()
    assert _trip_of(stop.id) is None and _count(BookingChange) == 0

    # Creating the stop inside the trip is refused the same way, nothing written.
    count = _count(Booking)
    with pytest.raises(Invalid) as caught:
        bookings.create_booking(_booking_input(
            acme, trip, starts_local=datetime(2026, 12, 8, 12, 0),
            ends_local=datetime(2026, 12, 8, 13, 0)), actor=ae)
    assert "Poster shoot" in caught.value.message
    db.session.rollback()
    assert _count(Booking) == count


def test_moving_a_stop_to_when_a_traveller_is_busy_is_refused(
        trip, ae, designer, acme, make_client, make_booking, assign):
    """A traveller must be free for every stop, also after a stop moves."""
    stop = bookings.create_booking(_booking_input(acme, trip), actor=ae)  # Tue 10–12
    trips.add_traveller(trip, designer, actor=ae)
    db.session.commit()
    clash = make_booking(make_client(), title="Poster shoot", starts_at=utc(9, 9),
                         ends_at=utc(9, 11))
    assign(clash, designer, status="accepted")
    with pytest.raises(Invalid) as caught:
        bookings.update_booking(stop, _booking_input(
            acme, starts_local=datetime(2026, 12, 9, 10, 0),
            ends_local=datetime(2026, 12, 9, 12, 0)), actor=ae)
    assert "Poster shoot" in caught.value.message
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(Booking, stop.id).starts_at == utc(8, 9)


# --- expenses ------------------------------------------------------------------------


def test_expense_attributed_to_one_served_client(trip, ae, stops, acme):
    e = trips.add_expense(trip, _expense(category="meals", amount="120.00",
                                         allocation="client", client_id=acme.id,
                                         note=" Dinner "), actor=ae)
    db.session.commit()
    assert (e.amount_minor, e.currency, e.client_id, e.note) == (12000, "EUR", acme.id,
                                                                 "Dinner")
    assert e.created_by_id == ae.id
    assert _summary(trip).shares[e.id] == {acme.id: 12000}


def test_expense_split_evenly(trip, ae, stops, acme, globex):
    e = trips.add_expense(trip, _expense(category="flight", amount="412.50"), actor=ae)
    db.session.commit()
    assert _summary(trip).shares[e.id] == {acme.id: 20625, globex.id: 20625}


def test_expense_split_by_hours_on_site(trip, ae, stops, acme, globex):
    # Acme: 180 minutes, Globex: 60 (the travel buffers do not count).
    e = trips.add_expense(trip, _expense(amount="100.01", allocation="hours"), actor=ae)
    db.session.commit()
    assert _summary(trip).shares[e.id] == {acme.id: 7501, globex.id: 2500}


def test_amount_typed_the_german_way_and_currency_in_lower_case(trip, ae, stops):
    e = trips.add_expense(trip, _expense(amount="12,50", currency="usd"), actor=ae)
    assert (e.amount_minor, e.currency) == (1250, "USD")


@pytest.mark.parametrize(("over", "field", "message"), [
    (dict(amount="-5"), "amount", "more than zero"),
    (dict(amount="0"), "amount", "more than zero"),
    (dict(amount="abc"), "amount", "as a number"),
    (dict(amount=""), "amount", "as a number"),
    (dict(amount="1.234"), "amount", "2 decimal places"),
    (dict(currency="EUX"), "currency", "ISO 4217"),
    (dict(currency=""), "currency", "ISO 4217"),
    (dict(category="spa"), "category", "category"),
    (dict(allocation="random"), "allocation", "attribute"),
    (dict(spent_on=None), "spent_on", "date"),
    (dict(spent_on=date(2028, 1, 1)), "spent_on", "more than a year"),
    (dict(note="x" * 501), "note", "500"),
    (dict(allocation="client", client_id=None), "client_id", "clients this trip serves"),
    (dict(allocation="client", client_id="not served"), "client_id",
     "clients this trip serves"),
    (dict(allocation="client", client_id="other ae's"), "client_id",
     "clients this trip serves"),
    (dict(allocation="client", client_id="cancelled stop"), "client_id",
     "clients this trip serves"),
])
def test_bad_expense_is_refused_and_nothing_written(trip, ae, other_ae, stops, make_client,
                                                    make_booking, over, field, message):
    if over.get("client_id") == "not served":
        over["client_id"] = make_client(ae, name="Not on this trip").id
    elif over.get("client_id") == "other ae's":
        over["client_id"] = make_client(other_ae).id
    elif over.get("client_id") == "cancelled stop":
        dropped = make_client(ae, name="Dropped")
        make_booking(dropped, starts_at=utc(9, 9), trip_id=trip.id, status="cancelled")
        over["client_id"] = dropped.id
    stamp = trip.updated_at
    with pytest.raises(Invalid) as caught:
        trips.add_expense(trip, _expense(**over), actor=ae)
    assert caught.value.field == field
    assert message in caught.value.message
    assert trip.updated_at == stamp
    db.session.rollback()
    assert _count(Expense) == 0


@pytest.mark.parametrize("allocation", ["even", "hours", "client"])
def test_split_on_a_trip_serving_no_client_is_refused(trip, ae, acme, allocation):
    with pytest.raises(Invalid):
        trips.add_expense(trip, _expense(allocation=allocation, client_id=acme.id),
                          actor=ae)
    db.session.rollback()
    assert _count(Expense) == 0


def test_no_expense_on_a_cancelled_trip(trip, ae, stops):
    trips.cancel_trip(trip, actor=ae)
    with pytest.raises(Invalid):
        trips.add_expense(trip, _expense(), actor=ae)


def test_remove_expense_is_soft(trip, ae, stops):
    kept = trips.add_expense(trip, _expense(amount="10.00"), actor=ae)
    gone = trips.add_expense(trip, _expense(amount="99.00"), actor=ae)
    db.session.commit()
    trips.remove_expense(gone, actor=ae)
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Expense, gone.id)
    assert stored is not None and stored.removed_at is not None
    summary = _summary(trip)
    assert summary.totals == {"EUR": 1000}
    assert set(summary.shares) == {kept.id}
    # Removing it again is harmless; another AE may not.
    trips.remove_expense(stored, actor=ae)


def test_another_ae_cannot_remove_an_expense(trip, ae, other_ae, stops):
    e = trips.add_expense(trip, _expense(), actor=ae)
    db.session.commit()
    with pytest.raises(NotAllowed):
        trips.remove_expense(e, actor=other_ae)
    db.session.rollback()
    assert db.session.get(Expense, e.id).removed_at is None


# --- what the trip cost each client --------------------------------------------------


def test_summary_per_client_and_per_currency(trip, ae, stops, acme, globex):
    trips.add_expense(trip, _expense(category="flight", amount="412.51"), actor=ae)
    trips.add_expense(trip, _expense(category="hotel", amount="389.01", allocation="hours"),
                      actor=ae)
    trips.add_expense(trip, _expense(category="meals", amount="120", allocation="client",
                                     client_id=acme.id), actor=ae)
    trips.add_expense(trip, _expense(category="ground_transport", amount="75.00",
                                     currency="USD"), actor=ae)
    trips.add_expense(trip, _expense(category="other", amount="3001", currency="JPY",
                                     allocation="hours"), actor=ae)
    db.session.commit()
    summary = _summary(trip)

    for e in summary.trip.expenses:
        parts = summary.shares[e.id]
        assert sum(parts.values()) == e.amount_minor  # to the cent
        assert all(isinstance(p, int) and p >= 0 for p in parts.values())

    # Never mixed: each currency totals on its own.
    assert summary.totals == {"EUR": 41251 + 38901 + 12000, "USD": 7500, "JPY": 3001}
    flight = sorted(summary.shares[summary.trip.expenses[0].id].values())
    assert flight == [20625, 20626]
    acme_eur = (summary.shares[summary.trip.expenses[0].id][acme.id] + 29176 + 12000)
    assert summary.per_client[acme.id] == {"EUR": acme_eur, "USD": 3750, "JPY": 2251}
    assert summary.per_client[globex.id] == {"EUR": 41251 + 38901 + 12000 - acme_eur,
                                             "USD": 3750, "JPY": 750}
    for cur, total in summary.totals.items():
        assert sum(summary.per_client[c][cur] for c in summary.per_client) == total
    assert summary.unattributed == {}
    assert [c.name for c in summary.clients] == ["Acme Bank", "Globex Media"]
    assert not summary.serves_no_client


def test_hours_use_minutes_on_site_of_stops_that_are_not_cancelled(trip, ae, stops, acme,
                                                                   globex, make_booking):
    # A second Acme stop of 60 minutes: Acme 240, Globex 60.
    make_booking(acme, starts_at=utc(9, 9), ends_at=utc(9, 10), trip_id=trip.id)
    e = trips.add_expense(trip, _expense(amount="500.00", allocation="hours"), actor=ae)
    db.session.commit()
    assert _summary(trip).shares[e.id] == {acme.id: 40000, globex.id: 10000}
    assert trips.minutes_on_site(_summary(trip).stops) == {acme.id: 240, globex.id: 60}


def test_a_cancelled_stop_drops_its_client(trip, ae, stops, acme, globex):
    even = trips.add_expense(trip, _expense(amount="100.00"), actor=ae)
    hours = trips.add_expense(trip, _expense(amount="100.00", allocation="hours"), actor=ae)
    to_globex = trips.add_expense(trip, _expense(amount="30.00", allocation="client",
                                                 client_id=globex.id), actor=ae)
    db.session.commit()
    bookings.cancel_booking(db.session.get(Booking, stops[1].id), actor=ae,
                            reason="Client ill")
    db.session.commit()
    summary = _summary(trip)
    assert [c.id for c in summary.clients] == [acme.id]
    assert summary.shares[even.id] == {acme.id: 10000}
    assert summary.shares[hours.id] == {acme.id: 10000}
    # Attributed to a client the trip no longer serves: it goes to those it serves.
    assert summary.shares[to_globex.id] == {acme.id: 3000}
    assert globex.id not in summary.per_client
    assert summary.per_client[acme.id] == {"EUR": 23000}


def test_a_trip_serving_no_client_is_flagged(trip, ae, stops):
    fresh = trips.create_trip(_trip_input(title="Scouting"), actor=ae)
    db.session.commit()
    assert _summary(fresh).serves_no_client
    assert not _summary(trip).serves_no_client


def test_expenses_become_unattributed_when_the_stops_leave(trip, ae, stops):
    trips.add_expense(trip, _expense(amount="200.00"), actor=ae)
    trips.add_expense(trip, _expense(amount="50.00", currency="USD", allocation="hours"),
                      actor=ae)
    db.session.commit()
    for stop in stops:
        trips.detach_stop(trip, db.session.get(Booking, stop.id), actor=ae)
    db.session.commit()
    summary = _summary(trip)
    assert summary.serves_no_client
    assert summary.per_client == {}
    assert summary.unattributed == {"EUR": 20000, "USD": 5000}
    assert summary.totals == {"EUR": 20000, "USD": 5000}
    assert all(parts == {} for parts in summary.shares.values())


def test_days_list_stops_and_expenses_day_by_day_in_the_trip_timezone(trip, ae, stops,
                                                                      acme, make_booking):
    late = make_booking(acme, title="Late call", starts_at=utc(6, 23, 30),
                        ends_at=utc(7, 0, 30), trip_id=trip.id)  # Monday in Frankfurt
    trips.add_expense(trip, _expense(spent_on=TUE), actor=ae)
    trips.add_expense(trip, _expense(category="flight", spent_on=date(2026, 11, 20)),
                      actor=ae)
    db.session.commit()
    summary = _summary(trip)
    days = summary.days()
    assert [d for d, _, _ in days] == [MON, TUE, WED]
    assert [s.id for s in days[0][1]] == [late.id, stops[0].id]
    assert [s.id for s in days[1][1]] == [stops[1].id]
    assert [e.spent_on for e in days[1][2]] == [TUE]
    assert [e.category for e in summary.outside_days()] == ["flight"]


def test_cancel_trip_keeps_it_and_detaches_its_stops(trip, ae, stops):
    trips.add_expense(trip, _expense(), actor=ae)
    db.session.commit()
    trips.cancel_trip(trip, actor=ae)
    db.session.commit()
    db.session.expire_all()
    t = db.session.get(Trip, trip.id)
    assert t is not None and t.cancelled_at is not None and t.is_cancelled
    for stop in stops:
        b = db.session.get(Booking, stop.id)
        assert b.trip_id is None and b.status != "cancelled"
    assert _count(Expense) == 1
    first = t.cancelled_at
    trips.cancel_trip(t, actor=ae)  # again: nothing changes
    assert t.cancelled_at == first
    with pytest.raises(Invalid):
        trips.attach_stop(t, db.session.get(Booking, stops[0].id), actor=ae)


def test_trips_for_client_lists_trips_with_a_stop_there_and_their_cost(
        trip, ae, manager, stops, acme, globex, make_client):
    trips.add_expense(trip, _expense(amount="400.00", allocation="hours"), actor=ae)
    db.session.commit()
    [s] = trips.trips_for_client(acme, manager)
    assert s.trip.id == trip.id and s.per_client[acme.id] == {"EUR": 30000}
    [s] = trips.trips_for_client(globex, manager)
    assert s.per_client[globex.id] == {"EUR": 10000}
    assert trips.trips_for_client(make_client(ae), manager) == []


def test_summarise_many_trips_at_once(ae, acme, make_booking):
    made = []
    for week in range(3):
        t = trips.create_trip(_trip_input(starts_on=MON + timedelta(weeks=week),
                                          ends_on=WED + timedelta(weeks=week)), actor=ae)
        make_booking(acme, starts_at=T0 + timedelta(weeks=week), trip_id=t.id)
        trips.add_expense(t, _expense(amount=f"{week + 1}0.00"), actor=ae)
        made.append(t)
    db.session.commit()
    summaries = trips.summarise(made)
    assert [summaries[t.id].per_client[acme.id] for t in made] == [
        {"EUR": 1000}, {"EUR": 2000}, {"EUR": 3000}]
