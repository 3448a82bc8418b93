"""Every list and page runs a bounded number of SQL queries whatever the data size:
the same count with 10 bookings as with 500."""
from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

import aeplan.bookings.service
import aeplan.bookings.views
import aeplan.calendar.views
import aeplan.main.views
import aeplan.staffing.service
from aeplan.bookings.models import Booking, BookingChange
from aeplan.extensions import db
from aeplan.outbox import OutboxMessage
from aeplan.staffing.models import Assignment, TimeOff
from tests.conftest import T0

WEEK = "/calendar?date=2026-12-07"
MONTH = "/calendar?view=month&date=2026-12-07"
PAGES = {
    "manager": ["/bookings/", "/bookings/?kind=visit", WEEK, MONTH, "/"],
    "ae": ["/bookings/", "/bookings/?status=confirmed", WEEK, MONTH, "/"],
    "support": ["/bookings/", WEEK, MONTH],
}




@pytest.fixture(autouse=True)
def _frozen_now(monkeypatch):
    """Pages that start from "today" (the list, the start page's "this week") see
    Monday 7 December 2026, 08:00 UTC: the week the bookings are in."""
    for module in (aeplan.bookings.views, aeplan.calendar.views, aeplan.main.views,
                   aeplan.bookings.service, aeplan.staffing.service):
        if hasattr(module, "now_utc"):
            monkeypatch.setattr(module, "now_utc", lambda: T0 - timedelta(hours=1))


class World:
    """Five AEs, forty clients, two support people; bookings added in bulk. More clients
    than the first ten bookings use, so a per-client lazy load would show in the count."""

    def __init__(self, make_user, make_client):
        self.aes = [make_user("ae", timezone="Europe/Berlin") for _ in range(5)]
        self.manager = make_user("manager", timezone="Europe/Berlin")
        self.support = make_user("support", timezone="Europe/Berlin")
        self.other_support = make_user("support", discipline="creative")
        self.clients = [make_client(self.aes[i % 5], tier="key" if i == 0 else "standard",
                                    timezone=("Europe/Berlin", "America/New_York")[i % 2])
                        for i in range(40)]
        self.client_ids = [(c.id, c.owner_id, c.timezone) for c in self.clients]
        self.ids = (self.support.id, self.other_support.id, self.aes[0].id)
        self.added = 0
        db.session.add(TimeOff(user_id=self.support.id, starts_at=T0 + timedelta(days=2),
                               ends_at=T0 + timedelta(days=3), reason="Dentist"))
        db.session.commit()

    def add(self, n: int) -> None:
        """`n` more bookings, all within the week of T0, with staff, needs and history."""
        support_id, other_id, actor_id = self.ids
        statuses = itertools.cycle(["tentative", "confirmed", "done", "cancelled"])
        bookings = []
        for i in range(self.added, self.added + n):
            client_id, owner_id, zone = self.client_ids[i % len(self.client_ids)]
            starts = T0 + timedelta(days=i % 5, hours=i % 8, minutes=i % 60)
            bookings.append(Booking(
                kind=("demo", "visit")[i % 2], title=f"Bulk booking {i}", client_id=client_id,
                owner_id=owner_id, starts_at=starts, ends_at=starts + timedelta(hours=1),
                timezone=zone, location="https://meet.example.com/bulk",
                status=next(statuses), needs_technical=i % 3, needs_creative=i % 2,
            ))
        db.session.add_all(bookings)
        db.session.flush()
        rows = []
        for i, b in enumerate(bookings):
            rows.append(BookingChange(booking_id=b.id, actor_id=actor_id, action="created",
                                      changes={"title": [None, b.title]}))
            rows.append(Assignment(booking_id=b.id, user_id=support_id, role="technical",
                                   status=("pending", "accepted", "declined")[i % 3],
                                   busy_starts_at=b.starts_at, busy_ends_at=b.ends_at))
            if i % 4 == 0:
                rows.append(Assignment(booking_id=b.id, user_id=other_id, role="creative",
                                       status="accepted", busy_starts_at=b.starts_at,
                                       busy_ends_at=b.ends_at))
        db.session.add_all(rows)
        db.session.commit()
        self.added += n


def measure(browser, count_queries, urls) -> dict[str, int]:
    counts = {}
    for url in urls:
        with count_queries() as n:
            response = browser.get(url)
        assert response.status_code == 200, (url, response.status_code)
        counts[url] = n()
    return counts


@pytest.mark.parametrize("role", ["manager", "ae", "support"])
def test_pages_run_as_many_queries_for_500_bookings_as_for_10(
        make_user, make_client, login_as, count_queries, role):
    world = World(make_user, make_client)
    viewer = {"manager": world.manager, "ae": world.aes[0], "support": world.support}[role]
    browser = login_as(viewer)
    urls = PAGES[role]

    world.add(10)
    measure(browser, count_queries, urls)  # warm up: first-request work is not the point
    with_10 = measure(browser, count_queries, urls)

    world.add(490)
    with_500 = measure(browser, count_queries, urls)

    assert with_500 == with_10
    assert all(0 < n <= 15 for n in with_500.values()), with_500

    # A deep page of the list costs what the first one does.
    deep = measure(browser, count_queries, [
        "/bookings/?after=20261208T090000Z-1", "/bookings/?after=20261210T120000Z-1",
        "/bookings/?before=20261211T090000Z-1"])
    assert set(deep.values()) == {with_500["/bookings/"]}

    # The pages really did show the bigger data set.
    listing = browser.get("/bookings/").get_data(as_text=True)
    assert "500 bookings" in listing
    assert listing.count("Bulk booking ") >= 25
    week = browser.get(WEEK).get_data(as_text=True)
    assert week.count("Bulk booking ") >= 100


def test_booking_page_runs_as_many_queries_for_a_big_booking_as_for_a_small_one(
        make_user, make_client, make_contact, login_as, count_queries):
    """Staff, history and contacts are each read at once, not per row: a booking with
    a dozen people, a long history and many contacts costs what a bare one does."""
    ae = make_user("ae", timezone="Europe/Berlin")
    client = make_client(ae, timezone="Europe/Berlin")
    staff = [make_user("support", discipline=("technical", "creative")[i % 2])
             for i in range(24)]
    contacts = [make_contact(client, name=f"Contact {i}", email=f"c{i}@client.example")
                for i in range(8)]

    def booking(day: int, people: int, changes: int, invited: int) -> Booking:
        starts = T0 + timedelta(days=day)
        b = Booking(kind="demo", title=f"Page booking {day}", client_id=client.id,
                    owner_id=ae.id, starts_at=starts, ends_at=starts + timedelta(hours=1),
                    timezone="Europe/Berlin", location="Berlin", status="tentative",
                    needs_technical=8, needs_creative=8)
        b.contacts = contacts[:invited]
        db.session.add(b)
        db.session.flush()
        db.session.add_all(
            BookingChange(booking_id=b.id, actor_id=ae.id, action="updated",
                          changes={"title": [str(i), str(i + 1)]}) for i in range(changes))
        db.session.add_all(
            Assignment(booking_id=b.id, user_id=p.id, role=p.discipline,
                       status=("pending", "accepted", "declined")[i % 3],
                       removed_at=T0 if i % 5 == 4 else None,
                       busy_starts_at=b.starts_at, busy_ends_at=b.ends_at)
            for i, p in enumerate(staff[:people]))
        # Two rounds of calendar email to each person: the page shows the latest of each.
        db.session.add_all(
            OutboxMessage(booking_id=b.id, recipient_email=p.email, recipient_name=p.name,
                          sender="aeplan@example.com", subject=f"Round {round_}",
                          status=("sent", "queued", "failed")[i % 3], message=b"x")
            for round_ in (1, 2) for i, p in enumerate(staff[:people]))
        db.session.commit()
        return b

    small, big = booking(1, 1, 1, 1), booking(2, 12, 30, 8)
    browser = login_as(ae)
    measure(browser, count_queries, [f"/bookings/{small.id}"])  # warm up
    counts = measure(browser, count_queries, [f"/bookings/{small.id}", f"/bookings/{big.id}"])
    assert counts[f"/bookings/{small.id}"] == counts[f"/bookings/{big.id}"] <= 6, counts

    page = browser.get(f"/bookings/{big.id}").get_data(as_text=True)
    assert page.count('name="contact_ids"') == 8
    assert page.count("class=\"inactive\"") == 2  # the removed two, still listed
    assert page.count("<del>") == 30  # every change in the history
    assert page.count('class="badge mail-') == 12  # the latest email to each person
    assert page.count("Round 2") == 12 and "Round 1" not in page
