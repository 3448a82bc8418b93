"""Trip pages over HTTP: planning, stops, travellers and expenses; bad input answered
4xx with the reason on the page and nothing written; who may see and change a trip;
the client page and the calendar feed; a bounded number of queries per page."""
from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta

import icalendar
import pytest
from flask import current_app
from sqlalchemy import func, select

import aeplan.calendar.service
import aeplan.trips.service
from aeplan.bookings.models import Booking
from aeplan.calendar import service as calendar
from aeplan.extensions import db
from aeplan.staffing.models import Assignment
from aeplan.trips import service as trips
from aeplan.trips.models import Expense, Trip, trip_travellers
from aeplan.trips.service import ExpenseInput, TripInput
from tests.conftest import T0

NOW = T0 - timedelta(days=1)  # Sunday 6 December 2026, 09:00 UTC


@pytest.fixture(autouse=True)
def _frozen_now(monkeypatch):
    """The trip list starts from "today" and feeds cover a window around now: both see
    the day before the trips in these tests."""
    for module in (aeplan.trips.service, aeplan.calendar.service):
        monkeypatch.setattr(module, "now_utc", lambda: NOW)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _travellers(trip_id: int) -> set[int]:
    return set(db.session.scalars(select(trip_travellers.c.user_id)
                                  .where(trip_travellers.c.trip_id == trip_id)))


def _fresh(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


def trip_form(**over) -> dict:
    data = dict(title="Frankfurt client week", destination="Frankfurt",
                timezone="Europe/Berlin", starts_on="2026-12-07", ends_on="2026-12-09",
                notes="")
    data.update(over)
    return data


def expense_form(**over) -> dict:
    data = dict(category="hotel", amount="389.01", currency="EUR", spent_on="2026-12-07",
                allocation="hours", client_id="", note="Hotel Frankfurter Hof")
    data.update(over)
    return data


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers["Location"]


# --- people, clients and a trip ---------------------------------------------------------


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
    t = trips.create_trip(TripInput("Frankfurt client week", "Frankfurt", "Europe/Berlin",
                                    date(2026, 12, 7), date(2026, 12, 9)), actor=ae)
    db.session.commit()
    return t


@pytest.fixture
def stops(trip, acme, globex, make_booking):
    """Acme for three hours on Monday, Globex for one hour on Tuesday."""
    a = make_booking(acme, kind="visit", title="Acme review", starts_at=utc(7, 9),
                     ends_at=utc(7, 12), trip_id=trip.id)
    g = make_booking(globex, kind="visit", title="Globex workshop", starts_at=utc(8, 9),
                     ends_at=utc(8, 10), trip_id=trip.id)
    return a, g


@pytest.fixture
def planned(trip, ae, designer, stops):
    """The trip with a designer along and a hotel split by hours on site."""
    trips.add_traveller(trip, designer, actor=ae)
    hotel = trips.add_expense(trip, ExpenseInput("hotel", "400.00", "EUR", date(2026, 12, 7),
                                                 "hours"), actor=ae)
    db.session.commit()
    return trip, hotel


# --- creating a trip -------------------------------------------------------------------


def test_new_trip_form_has_the_fields(ae, login_as):
    response = login_as(ae).get("/trips/new")
    assert response.status_code == 200
    page = text_of(response)
    for name in ("title", "destination", "timezone", "starts_on", "ends_on"):
        assert f'name="{name}"' in page
    assert 'type="date"' in page
    assert '<option selected value="Europe/Berlin">' in page


def test_ae_creates_a_trip(ae, login_as):
    client = login_as(ae)
    response = client.post("/trips/new", data=trip_form())
    assert response.status_code == 303
    t = db.session.scalars(select(Trip)).one()
    assert response.headers["Location"].endswith(f"/trips/{t.id}")
    assert (t.title, t.owner_id, t.starts_on, t.ends_on) == (
        "Frankfurt client week", ae.id, date(2026, 12, 7), date(2026, 12, 9))
    page = text_of(client.get(f"/trips/{t.id}"))
    assert "Trip created." in page and "This trip serves no client yet" in page


def test_manager_creates_a_trip_for_an_ae(manager, ae, login_as):
    client = login_as(manager)
    assert 'name="owner_id"' in text_of(client.get("/trips/new"))
    response = client.post("/trips/new", data=trip_form(owner_id=str(ae.id)))
    assert response.status_code == 303
    assert db.session.scalars(select(Trip)).one().owner_id == ae.id


@pytest.mark.parametrize(("over", "message"), [
    (dict(ends_on="2026-12-06"), "The trip cannot end before it starts."),
    (dict(ends_on="2027-02-05"), "A trip can last at most 60 days."),
    (dict(timezone="Mars/Olympus_Mons"), "Choose a timezone from the list."),
    (dict(starts_on="someday"), "Enter a date."),
    (dict(ends_on=""), "Enter a date."),
    (dict(title=""), "This field is required."),
    (dict(destination="   "), "This field is required."),
])
def test_bad_trip_input_answers_422_with_the_reason_and_writes_nothing(ae, login_as, over,
                                                                       message):
    response = login_as(ae).post("/trips/new", data=trip_form(**over))
    assert response.status_code == 422
    assert message in text_of(response)
    assert 'aria-invalid="true"' in text_of(response)
    assert _count(Trip) == 0


def test_support_cannot_create_trips(designer, login_as):
    client = login_as(designer)
    assert client.get("/trips/new").status_code == 403
    assert client.post("/trips/new", data=trip_form()).status_code == 403
    assert "New trip" not in text_of(client.get("/trips/"))
    assert _count(Trip) == 0


def test_anonymous_is_sent_to_sign_in(client, trip):
    for path in ("/trips/", "/trips/new", f"/trips/{trip.id}", f"/trips/{trip.id}/edit"):
        assert is_login_redirect(client.get(path)), path
    assert is_login_redirect(client.post("/trips/new", data=trip_form()))
    assert is_login_redirect(client.post(f"/trips/{trip.id}/cancel"))
    assert _count(Trip) == 1 and _fresh(Trip, trip.id).cancelled_at is None


# --- the trip page ---------------------------------------------------------------------


def test_trip_page_lists_stops_day_by_day_travellers_and_costs(planned, ae, login_as):
    trip, _ = planned
    page = text_of(login_as(ae).get(f"/trips/{trip.id}"))
    assert "Frankfurt (Europe/Berlin)" in page
    assert "Monday 7 December" in page and "Wednesday 9 December" in page
    assert page.index("Acme review") < page.index("Globex workshop")
    assert "Dana Designer" in page
    assert "This trip serves no client yet" not in page
    assert "Acme Bank: €300.00" in page and "Globex Media: €100.00" in page
    assert "€400.00" in page
    # The day with nothing on it says so.
    wednesday = page[page.index("Wednesday 9 December"):]
    assert "Nothing planned" in wednesday[:wednesday.index("</li>")]


def test_trip_list_shows_clients_and_cost(planned, ae, login_as):
    trip, _ = planned
    page = text_of(login_as(ae).get("/trips/"))
    assert "Frankfurt client week" in page
    assert "Acme Bank, Globex Media" in page and "€400.00" in page


def test_trip_list_flags_a_trip_serving_no_client(trip, ae, login_as):
    page = text_of(login_as(ae).get("/trips/"))
    assert "Frankfurt client week" in page and "No client" in page


# --- editing and cancelling ------------------------------------------------------------


def test_edit_form_and_save(trip, ae, login_as):
    client = login_as(ae)
    page = text_of(client.get(f"/trips/{trip.id}/edit"))
    assert 'value="Frankfurt client week"' in page and 'value="2026-12-09"' in page
    response = client.post(f"/trips/{trip.id}/edit",
                           data=trip_form(title="Frankfurt and Mainz", ends_on="2026-12-10"))
    assert response.status_code == 303
    t = _fresh(Trip, trip.id)
    assert (t.title, t.ends_on) == ("Frankfurt and Mainz", date(2026, 12, 10))


def test_edit_that_leaves_a_stop_outside_is_refused(trip, ae, stops, login_as):
    response = login_as(ae).post(f"/trips/{trip.id}/edit",
                                 data=trip_form(title="Shorter", ends_on="2026-12-07"))
    assert response.status_code == 422
    assert "“Globex workshop” (Globex Media) would fall outside the trip's dates" in \
        text_of(response)
    t = _fresh(Trip, trip.id)
    assert (t.title, t.ends_on) == ("Frankfurt client week", date(2026, 12, 9))


def test_cancel_keeps_the_trip_and_frees_its_stops(planned, ae, stops, login_as):
    trip, _ = planned
    client = login_as(ae)
    response = client.post(f"/trips/{trip.id}/cancel")
    assert response.status_code == 303
    assert _fresh(Trip, trip.id).cancelled_at is not None
    assert all(_fresh(Booking, s.id).trip_id is None for s in stops)
    page = text_of(client.get(f"/trips/{trip.id}"))
    assert "Cancelled" in page and "Record an expense" not in page


# --- travellers ------------------------------------------------------------------------


def test_add_and_remove_a_traveller(trip, ae, designer, stops, login_as):
    client = login_as(ae)
    assert "Dana Designer (creative)" in text_of(client.get(f"/trips/{trip.id}"))
    response = client.post(f"/trips/{trip.id}/travellers", data={"user_id": designer.id})
    assert response.status_code == 303
    assert _travellers(trip.id) == {designer.id}
    response = client.post(f"/trips/{trip.id}/travellers/{designer.id}/remove")
    assert response.status_code == 303
    assert _travellers(trip.id) == set()


def test_busy_traveller_is_refused_naming_the_clash(trip, ae, designer, stops, make_client,
                                                    make_booking, assign, login_as):
    clash = make_booking(make_client(name="Initech"), title="Logo review",
                         starts_at=utc(7, 10), ends_at=utc(7, 11))
    assign(clash, designer, status="accepted")
    response = login_as(ae).post(f"/trips/{trip.id}/travellers",
                                 data={"user_id": designer.id})
    assert response.status_code == 422
    page = text_of(response)
    assert "Dana Designer is on “Logo review” (Initech) 2026-12-07 11:00–12:00" in page
    assert "during the stop “Acme review”" in page
    assert _travellers(trip.id) == set()


@pytest.mark.parametrize(("user_id", "message"), [
    ("", "Choose who travels."), ("0", "Choose who travels."),
    ("999999", "Choose who travels."), ("abc", "Choose who travels."),
])
def test_traveller_that_is_nobody_is_refused(trip, ae, login_as, user_id, message):
    response = login_as(ae).post(f"/trips/{trip.id}/travellers", data={"user_id": user_id})
    assert response.status_code == 422
    assert message in text_of(response)
    assert _travellers(trip.id) == set()


def test_removing_someone_not_on_the_trip_is_refused(trip, ae, designer, login_as):
    response = login_as(ae).post(f"/trips/{trip.id}/travellers/{designer.id}/remove")
    assert response.status_code == 422
    assert "Dana Designer is not on this trip." in text_of(response)


# --- stops -----------------------------------------------------------------------------


def test_attach_and_detach_a_stop(trip, ae, acme, make_booking, login_as):
    booking = make_booking(acme, title="Acme lunch", starts_at=utc(8, 11))
    client = login_as(ae)
    page = text_of(client.get(f"/trips/{trip.id}"))
    assert f'<option value="{booking.id}">Acme Bank: Acme lunch</option>' in page
    response = client.post(f"/trips/{trip.id}/stops", data={"booking_id": booking.id})
    assert response.status_code == 303
    assert _fresh(Booking, booking.id).trip_id == trip.id
    response = client.post(f"/trips/{trip.id}/stops/{booking.id}/detach")
    assert response.status_code == 303
    assert _fresh(Booking, booking.id).trip_id is None


@pytest.mark.parametrize(("case", "status", "message"), [
    ("other_ae", 403, "Only the trip's AE's own bookings can be stops on it."),
    ("outside", 422, "The booking must fall inside the trip's dates"),
    ("next_day_there", 422, "The booking must fall inside the trip's dates"),
    ("cancelled", 422, "A cancelled booking cannot be a stop."),
    ("traveller_busy", 422, "Dana Designer is on “Poster shoot”"),
    ("nothing", 422, "Choose a booking."),
    ("unknown", 422, "Choose a booking."),
])
def test_bad_stop_is_refused_with_the_reason(trip, ae, other_ae, acme, designer, make_client,
                                             make_booking, assign, login_as, case, status,
                                             message):
    if case == "traveller_busy":
        trips.add_traveller(trip, designer, actor=ae)
        db.session.commit()
        shoot = make_booking(make_client(), title="Poster shoot", starts_at=utc(8, 9))
        assign(shoot, designer, status="accepted")
    booking_id = {
        "traveller_busy": lambda: make_booking(acme, starts_at=utc(8, 9, 30)).id,
        "other_ae": lambda: make_booking(make_client(other_ae), starts_at=utc(8, 9)).id,
        "outside": lambda: make_booking(acme, starts_at=utc(11, 9)).id,
        "next_day_there": lambda: make_booking(acme, starts_at=utc(9, 23, 30)).id,
        "cancelled": lambda: make_booking(acme, starts_at=utc(8, 9), status="cancelled").id,
        "nothing": lambda: 0,
        "unknown": lambda: 999999,
    }[case]()
    response = login_as(ae).post(f"/trips/{trip.id}/stops", data={"booking_id": booking_id})
    assert response.status_code == status
    assert message in text_of(response)
    assert db.session.scalar(select(func.count()).where(Booking.trip_id.is_not(None))) == 0


def test_new_visit_on_the_trip_through_the_booking_form(trip, ae, acme, login_as):
    client = login_as(ae)
    page = text_of(client.get(f"/trips/{trip.id}"))
    assert f"/bookings/new?trip_id={trip.id}&kind=visit" in page
    form = text_of(client.get(f"/bookings/new?trip_id={trip.id}&kind=visit"))
    assert f'name="trip_id" type="hidden" value="{trip.id}"' in form
    data = dict(kind="visit", title="Acme review", client_id=acme.id,
                starts_at="2026-12-08T10:00", ends_at="2026-12-08T12:00",
                timezone="Europe/Berlin", needs_technical=0, needs_creative=0,
                needs_other=0, trip_id=trip.id)
    response = client.post("/bookings/new", data=data)
    assert response.status_code == 303
    assert db.session.scalars(select(Booking)).one().trip_id == trip.id

    outside = dict(data, title="Too late", starts_at="2026-12-10T10:00",
                   ends_at="2026-12-10T11:00")
    response = client.post("/bookings/new", data=outside)
    assert response.status_code == 422
    assert "The booking must fall inside the trip's dates" in text_of(response)
    assert _count(Booking) == 1


# --- expenses --------------------------------------------------------------------------


def test_record_and_remove_an_expense(trip, ae, stops, login_as):
    client = login_as(ae)
    response = client.post(f"/trips/{trip.id}/expenses", data=expense_form())
    assert response.status_code == 303
    expense = db.session.scalars(select(Expense)).one()
    assert (expense.amount_minor, expense.currency, expense.allocation) == (38901, "EUR",
                                                                            "hours")
    page = text_of(client.get(f"/trips/{trip.id}"))
    assert "Acme Bank: €291.76" in page and "Globex Media: €97.25" in page
    response = client.post(f"/trips/{trip.id}/expenses/{expense.id}/remove")
    assert response.status_code == 303
    assert _fresh(Expense, expense.id).removed_at is not None
    assert "No expenses yet." in text_of(client.get(f"/trips/{trip.id}"))


def test_expense_to_one_client(trip, ae, acme, stops, login_as):
    response = login_as(ae).post(f"/trips/{trip.id}/expenses", data=expense_form(
        category="meals", amount="120,00", allocation="client", client_id=str(acme.id)))
    assert response.status_code == 303
    expense = db.session.scalars(select(Expense)).one()
    assert (expense.amount_minor, expense.client_id) == (12000, acme.id)


@pytest.mark.parametrize(("over", "message"), [
    (dict(amount="-5"), "The amount must be more than zero."),
    (dict(amount="abc"), "Enter the amount as a number, e.g. 149.90."),
    (dict(amount=""), "Enter the amount."),
    (dict(amount="1.234"), "EUR has 2 decimal places."),
    (dict(currency="EUX"), "EUX is not an ISO 4217 currency code"),
    (dict(category="spa"), "Not a valid choice"),
    (dict(allocation="lottery"), "Not a valid choice"),
    (dict(spent_on=""), "Enter a date."),
    (dict(allocation="client", client_id="not served"),
     "Choose one of the clients this trip serves."),
    (dict(allocation="client", client_id=""), "Choose one of the clients this trip serves."),
])
def test_bad_expense_answers_4xx_with_the_reason_and_writes_nothing(
        trip, ae, stops, make_client, login_as, over, message):
    if over.get("client_id") == "not served":
        over["client_id"] = str(make_client(ae, name="Elsewhere GmbH").id)
    response = login_as(ae).post(f"/trips/{trip.id}/expenses", data=expense_form(**over))
    assert 400 <= response.status_code < 500
    page = text_of(response)
    assert message in page
    assert 'aria-invalid="true"' in page or 'role="alert"' in page
    assert _count(Expense) == 0


@pytest.mark.parametrize("allocation", ["even", "hours"])
def test_split_on_a_trip_serving_no_client_is_refused(trip, ae, login_as, allocation):
    response = login_as(ae).post(f"/trips/{trip.id}/expenses",
                                 data=expense_form(allocation=allocation))
    assert response.status_code == 422
    assert "The trip serves no client yet" in text_of(response)
    assert _count(Expense) == 0


# --- who may do what -------------------------------------------------------------------


class World:
    """A planned trip (two stops, a designer along, a hotel expense) and, free to be
    added, a support person and a booking of the trip's AE."""

    def __init__(self, trip, hotel, stops, ae, designer, make_user, make_booking, acme):
        self.trip, self.hotel, self.stops, self.ae = trip, hotel, stops, ae
        self.designer = designer
        self.free_person = make_user("support", name="Fay Free", discipline="creative")
        self.free_booking = make_booking(acme, title="Acme lunch", starts_at=utc(9, 11))

    def state(self):
        db.session.expire_all()
        t = db.session.get(Trip, self.trip.id)
        return dict(
            title=t.title, cancelled=t.cancelled_at is not None,
            travellers=_travellers(t.id),
            stops=sorted(db.session.scalars(select(Booking.id)
                                            .where(Booking.trip_id == t.id))),
            expenses=sorted((e.id, e.removed_at is not None) for e in
                            db.session.scalars(select(Expense))),
        )


@pytest.fixture
def world(planned, stops, ae, designer, make_user, make_booking, acme):
    trip, hotel = planned
    return World(trip, hotel, stops, ae, designer, make_user, make_booking, acme)


ACTIONS = {
    "edit": lambda w: ("post", f"/trips/{w.trip.id}/edit",
                       trip_form(title="Changed", owner_id=str(w.ae.id))),
    "cancel": lambda w: ("post", f"/trips/{w.trip.id}/cancel", {}),
    "add_traveller": lambda w: ("post", f"/trips/{w.trip.id}/travellers",
                                {"user_id": w.free_person.id}),
    "remove_traveller": lambda w: ("post",
                                   f"/trips/{w.trip.id}/travellers/{w.designer.id}/remove", {}),
    "attach": lambda w: ("post", f"/trips/{w.trip.id}/stops",
                         {"booking_id": w.free_booking.id}),
    "detach": lambda w: ("post", f"/trips/{w.trip.id}/stops/{w.stops[0].id}/detach", {}),
    "add_expense": lambda w: ("post", f"/trips/{w.trip.id}/expenses", expense_form()),
    "remove_expense": lambda w: ("post",
                                 f"/trips/{w.trip.id}/expenses/{w.hotel.id}/remove", {}),
}


def _actor(role, world, other_ae, manager, engineer):
    return {"other_ae": other_ae, "support_traveller": world.designer,
            "support_outsider": engineer, "manager": manager, "owner": world.ae}[role]


@pytest.mark.parametrize(("role", "view", "form"), [
    ("owner", 200, 200), ("manager", 200, 200), ("support_traveller", 200, 403),
    ("other_ae", 404, 404), ("support_outsider", 404, 404),  # hidden: as if missing
])
def test_who_may_see_the_trip_and_its_edit_form(world, other_ae, manager, engineer,
                                                login_as, role, view, form):
    client = login_as(_actor(role, world, other_ae, manager, engineer))
    response = client.get(f"/trips/{world.trip.id}")
    assert response.status_code == view
    if view == 200:
        page = text_of(response)
        assert "Frankfurt client week" in page and "Acme review" in page
        assert ("Record an expense" in page) == (role in ("owner", "manager"))
        assert ("Cancel trip" in page) == (role in ("owner", "manager"))
    assert client.get(f"/trips/{world.trip.id}/edit").status_code == form
    listed = "Frankfurt client week" in text_of(client.get("/trips/"))
    assert listed == (view == 200)


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("role", ["other_ae", "support_traveller", "support_outsider"])
def test_only_the_owner_and_managers_change_a_trip(world, other_ae, manager, engineer,
                                                   login_as, role, action):
    client = login_as(_actor(role, world, other_ae, manager, engineer))
    before = world.state()
    method, path, data = ACTIONS[action](world)
    response = getattr(client, method)(path, data=data)
    # 403 for a traveller, who sees the trip; 404 for whoever does not see it at all.
    assert response.status_code == (403 if role == "support_traveller" else 404)
    assert world.state() == before


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("role", ["owner", "manager"])
def test_owner_and_manager_may_change_a_trip(world, other_ae, manager, engineer, login_as,
                                             role, action):
    client = login_as(_actor(role, world, other_ae, manager, engineer))
    before = world.state()
    method, path, data = ACTIONS[action](world)
    response = getattr(client, method)(path, data=data)
    assert response.status_code == 303, text_of(response)[:2000]
    assert response.headers["Location"].split("#")[0].endswith(f"/trips/{world.trip.id}")
    assert world.state() != before


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_anonymous_changes_nothing(world, client, action):
    before = world.state()
    method, path, data = ACTIONS[action](world)
    assert is_login_redirect(getattr(client, method)(path, data=data))
    assert world.state() == before


def test_unknown_ids_answer_404(world, ae, make_booking, acme, login_as):
    client = login_as(ae)
    other = trips.create_trip(TripInput("Other", "Mainz", "Europe/Berlin", date(2026, 12, 7),
                                        date(2026, 12, 9)), actor=ae)
    db.session.commit()
    t = world.trip.id
    for path in ("/trips/999999", "/trips/999999/edit", "/trips/99999999999"):
        assert client.get(path).status_code == 404, path
    for path in ("/trips/999999/edit", "/trips/999999/cancel", "/trips/999999/travellers",
                 "/trips/999999/stops", "/trips/999999/expenses",
                 f"/trips/999999/stops/{world.stops[0].id}/detach",
                 f"/trips/999999/travellers/{world.designer.id}/remove",
                 f"/trips/999999/expenses/{world.hotel.id}/remove",
                 f"/trips/{t}/travellers/999999/remove",
                 f"/trips/{t}/stops/999999/detach",
                 f"/trips/{t}/expenses/999999/remove",
                 f"/trips/{other.id}/expenses/{world.hotel.id}/remove"):
        assert client.post(path, data={}).status_code == 404, path
    assert _fresh(Expense, world.hotel.id).removed_at is None


def test_detaching_a_booking_that_is_not_a_stop_is_refused(world, ae, login_as):
    response = login_as(ae).post(
        f"/trips/{world.trip.id}/stops/{world.free_booking.id}/detach")
    assert response.status_code == 422
    assert "That booking is not a stop on this trip." in text_of(response)


# --- the client page and the calendar feed ---------------------------------------------


@pytest.mark.parametrize("who", ["ae", "manager"])
def test_client_page_lists_the_trip_and_what_it_cost_that_client(planned, acme, globex, ae,
                                                                 manager, login_as, who):
    trip, _ = planned
    client = login_as(ae if who == "ae" else manager)
    page = text_of(client.get(f"/clients/{acme.id}"))
    section = page[page.index("Trips that served this client"):]
    row = section[:section.index("</tr>", section.index("<tbody>"))]
    assert "Frankfurt client week" in row and f'href="/trips/{trip.id}"' in row
    assert re.search(r"Cost to this client\">€300\.00</td>", row)
    assert re.search(r"Trip total\">€400\.00</td>", row)
    page = text_of(client.get(f"/clients/{globex.id}"))
    assert re.search(r"Cost to this client\">€100\.00</td>", page)


def test_client_page_without_trips_says_so(acme, ae, login_as):
    page = text_of(login_as(ae).get(f"/clients/{acme.id}"))
    assert "No trip has served this client yet." in page


def _feed(client, user) -> icalendar.Calendar:
    token = calendar.feed_token(user, calendar.key_from_config(current_app.config))
    db.session.commit()
    response = client.get(calendar.feed_url_path(token))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _trip_events(body: str) -> list:
    cal = icalendar.Calendar.from_ical(body)
    return [e for e in cal.walk("VEVENT") if str(e["SUMMARY"]).startswith("Trip:")]


def test_the_trip_is_an_all_day_event_in_the_feeds_of_those_on_it(planned, ae, designer,
                                                                   other_ae, engineer,
                                                                   client):
    trip, _ = planned
    body = _feed(client, ae)
    assert "DTSTART;VALUE=DATE:20261207" in body
    assert "DTEND;VALUE=DATE:20261210" in body  # the day after the last day
    [event] = _trip_events(body)
    assert str(event["SUMMARY"]) == "Trip: Frankfurt client week (Frankfurt)"
    assert event.decoded("DTSTART") == date(2026, 12, 7)
    assert event.decoded("DTEND") == date(2026, 12, 10)
    assert not isinstance(event.decoded("DTSTART"), datetime)
    assert "Acme Bank, Globex Media" in str(event["DESCRIPTION"])
    assert len(_trip_events(_feed(client, designer))) == 1  # a traveller
    assert _trip_events(_feed(client, other_ae)) == []
    assert _trip_events(_feed(client, engineer)) == []


def test_a_cancelled_trip_leaves_the_feed(planned, ae, client):
    trip, _ = planned
    trips.cancel_trip(trip, actor=ae)
    db.session.commit()
    assert _trip_events(_feed(client, ae)) == []


# --- a bounded number of queries -------------------------------------------------------


def _fill(trip, ae, supports, make_client, n_stops: int, n_expenses: int, start: int = 0,
          expense_start: int = 0):
    """Stops at distinct clients, each with a support person on it; expenses in three
    currencies and all three ways of attributing them."""
    clients = [make_client(ae, name=f"Client {start + i:03d}") for i in range(n_stops)]
    for i, c in enumerate(clients):
        n = start + i
        starts = T0 + timedelta(days=n // 4, hours=2 * (n % 4))
        b = Booking(kind="visit", title=f"Stop {n}", client_id=c.id, owner_id=ae.id,
                    starts_at=starts, ends_at=starts + timedelta(minutes=60 + 15 * (n % 3)),
                    timezone="Europe/Berlin", trip_id=trip.id)
        db.session.add(b)
        db.session.flush()
        person = supports[n % len(supports)]
        db.session.add(Assignment(booking_id=b.id, user_id=person.id, role=person.discipline,
                                  status="accepted", busy_starts_at=b.busy_starts_at,
                                  busy_ends_at=b.busy_ends_at))
    for i in range(n_expenses):
        n = expense_start + i
        allocation = ("client", "even", "hours")[n % 3]
        db.session.add(Expense(
            trip_id=trip.id, category=("flight", "hotel", "meals")[n % 3],
            amount_minor=10000 + n, currency=("EUR", "USD", "JPY")[n % 3],
            spent_on=trip.starts_on + timedelta(days=n % 5), allocation=allocation,
            client_id=clients[n % len(clients)].id if allocation == "client" else None,
            note=f"Expense {n}"))
    db.session.commit()


@pytest.mark.parametrize("who", ["owner", "manager", "traveller"])
def test_trip_page_runs_the_same_queries_for_a_small_and_a_big_trip(
        ae, manager, make_user, make_client, login_as, count_queries, who):
    supports = [make_user("support", discipline=d) for d in ("technical", "creative")]
    trip = trips.create_trip(TripInput("Long trip", "Frankfurt", "Europe/Berlin",
                                       date(2026, 12, 7), date(2026, 12, 16)), actor=ae)
    trip.travellers.extend(supports)
    db.session.commit()
    _fill(trip, ae, supports, make_client, 2, 3)
    client = login_as({"owner": ae, "manager": manager, "traveller": supports[1]}[who])
    path = f"/trips/{trip.id}"
    client.get(path)  # warm up anything cached per process
    with count_queries() as small:
        assert client.get(path).status_code == 200
    _fill(trip, ae, supports, make_client, 18, 27, start=2, expense_start=3)
    assert db.session.scalar(select(func.count()).where(Booking.trip_id == trip.id)) == 20
    with count_queries() as big:
        response = client.get(path)
    assert response.status_code == 200
    assert "Stop 19" in text_of(response) and "Expense 29" in text_of(response)
    assert big() == small(), f"{small()} queries with 2 stops, {big()} with 20"


@pytest.mark.parametrize("who", ["owner", "manager", "traveller"])
@pytest.mark.parametrize("path", ["/trips/", "/trips/?past=1"])
def test_trip_list_runs_the_same_queries_for_3_and_30_trips(
        ae, manager, make_user, make_client, login_as, count_queries, who, path):
    supports = [make_user("support", discipline=d) for d in ("technical", "creative")]

    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            t = trips.create_trip(TripInput(f"Trip {i:02d}", "Frankfurt", "Europe/Berlin",
                                            date(2026, 12, 7) + timedelta(weeks=i),
                                            date(2026, 12, 9) + timedelta(weeks=i)),
                                  actor=ae)
            t.travellers.extend(supports)
            db.session.flush()
            for j, c in enumerate((make_client(ae), make_client(ae))):
                starts = T0 + timedelta(weeks=i, days=j)
                db.session.add(Booking(kind="visit", title=f"Stop {i}.{j}", client_id=c.id,
                                       owner_id=ae.id, starts_at=starts,
                                       ends_at=starts + timedelta(hours=2),
                                       timezone="Europe/Berlin", trip_id=t.id))
            for k, allocation in enumerate(("even", "hours")):
                db.session.add(Expense(trip_id=t.id, category="hotel", amount_minor=9999,
                                       currency=("EUR", "USD")[k], spent_on=t.starts_on,
                                       allocation=allocation))
        db.session.commit()

    add(3, 0)
    client = login_as({"owner": ae, "manager": manager, "traveller": supports[0]}[who])
    client.get(path)
    with count_queries() as small:
        assert client.get(path).status_code == 200
    add(27, 3)
    with count_queries() as big:
        response = client.get(path)
    assert response.status_code == 200
    assert "Trip 29" in text_of(response)
    assert big() == small(), f"{small()} queries with 3 trips, {big()} with 30"
