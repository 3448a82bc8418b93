"""The week and month calendar: each booking on the right local day of the viewer."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from tests.conftest import T0, freeze_now

WEEK = "/calendar?date=2026-12-07"  # Monday 7 to Sunday 13 December 2026
MONTH = "/calendar?view=month&date=2026-12-15"




NOW = T0 - timedelta(hours=1)  # Monday 7 December 2026, 08:00 UTC


@pytest.fixture(autouse=True)
def _frozen_now(monkeypatch):
    """Pages that start from "today" see Monday 7 December 2026, whenever the tests run."""
    freeze_now(monkeypatch, NOW)


class Days(HTMLParser):
    """The calendar's day cells: {"Monday 7 Dec": "all text inside that day", ...}."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.days: dict[str, str] = {}
        self._depth = 0  # <li> nesting inside the current day cell
        self._heading: list[str] | None = None
        self._text: list[str] = []
        self._in_h2 = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "li":
            if self._depth:
                self._depth += 1
            elif "day" in classes:
                self._depth, self._heading, self._text = 1, [], []
        elif tag == "h2" and self._depth == 1:
            self._in_h2 = True

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False
        elif tag == "li" and self._depth:
            self._depth -= 1
            if not self._depth:
                heading = " ".join("".join(self._heading).split())
                self.days[heading] = " ".join(" ".join(self._text).split())

    def handle_data(self, data):
        if self._in_h2:
            self._heading.append(data)
        elif self._depth:
            self._text.append(data)


def days(response) -> dict[str, str]:
    assert response.status_code == 200
    found = Days(response.get_data(as_text=True)).days
    assert found, "no day cells found"
    return found


def days_with(response, needle: str) -> set[str]:
    return {day for day, content in days(response).items() if needle in content}


@pytest.fixture
def ae(make_user):
    return make_user("ae", name="Berta Berlin", timezone="Europe/Berlin")


@pytest.fixture
def acme(make_client, ae):
    return make_client(ae, name="Acme Rocket GmbH", timezone="Europe/Berlin")


def test_week_shows_each_booking_on_its_local_day_with_client_name(ae, acme, make_booking,
                                                                   login_as):
    make_booking(acme, title="Rocket demo", starts_at=T0 + timedelta(days=2))  # Wed 10:00
    response = login_as(ae).get(WEEK)
    cells = days(response)
    assert len(cells) == 7
    assert days_with(response, "Acme Rocket GmbH") == {"Wednesday 9 Dec"}
    assert "Rocket demo" in cells["Wednesday 9 Dec"]
    assert "10:00" in cells["Wednesday 9 Dec"]  # 09:00 UTC in Berlin


@pytest.mark.parametrize("zone, day, time", [
    ("Europe/Berlin", "Tuesday 8 Dec", "00:30"),
    ("UTC", "Monday 7 Dec", "23:30"),
    ("America/New_York", "Monday 7 Dec", "18:30"),
])
def test_late_utc_booking_lands_on_the_viewers_local_day(make_user, make_client,
                                                          make_booking, login_as, zone, day,
                                                          time):
    viewer = make_user("manager", timezone=zone)
    make_booking(make_client(name="Late Night Ltd"), title="Late call",
                 starts_at=datetime(2026, 12, 7, 23, 30, tzinfo=UTC),
                 ends_at=datetime(2026, 12, 7, 23, 50, tzinfo=UTC))
    response = login_as(viewer).get(WEEK)
    assert days_with(response, "Late Night Ltd") == {day}
    assert time in days(response)[day]


def test_booking_at_local_midnight_before_the_week_is_not_shown(make_user, make_client,
                                                                make_booking, login_as):
    viewer = make_user("manager", timezone="Europe/Berlin")
    # 22:30 UTC on Sunday 6 December is 23:30 that Sunday in Berlin: the week before
    make_booking(make_client(name="Sunday Night Ltd"),
                 starts_at=datetime(2026, 12, 6, 22, 30, tzinfo=UTC),
                 ends_at=datetime(2026, 12, 6, 22, 50, tzinfo=UTC))
    response = login_as(viewer).get(WEEK)
    assert days_with(response, "Sunday Night Ltd") == set()
    assert "Sunday Night Ltd" not in response.get_data(as_text=True)


def test_multi_day_visit_shows_on_every_day_it_covers(ae, acme, make_booking, login_as):
    make_booking(acme, kind="visit", title="Roadshow",
                 starts_at=datetime(2026, 12, 8, 8, 0, tzinfo=UTC),   # Tue 09:00 Berlin
                 ends_at=datetime(2026, 12, 10, 16, 0, tzinfo=UTC))   # Thu 17:00 Berlin
    response = login_as(ae).get(WEEK)
    assert days_with(response, "Acme Rocket GmbH") == \
        {"Tuesday 8 Dec", "Wednesday 9 Dec", "Thursday 10 Dec"}


def test_visit_ending_at_local_midnight_does_not_spill_into_the_next_day(ae, acme,
                                                                         make_booking,
                                                                         login_as):
    make_booking(acme, kind="visit",
                 starts_at=datetime(2026, 12, 8, 8, 0, tzinfo=UTC),
                 ends_at=datetime(2026, 12, 9, 23, 0, tzinfo=UTC))  # Thu 10 Dec 00:00 Berlin
    response = login_as(ae).get(WEEK)
    assert days_with(response, "Acme Rocket GmbH") == {"Tuesday 8 Dec", "Wednesday 9 Dec"}


def test_visit_running_past_the_week_is_clipped_to_the_week(ae, acme, make_booking, login_as):
    make_booking(acme, kind="visit",
                 starts_at=datetime(2026, 12, 12, 8, 0, tzinfo=UTC),  # Saturday
                 ends_at=datetime(2026, 12, 16, 8, 0, tzinfo=UTC))    # next Wednesday
    response = login_as(ae).get(WEEK)
    assert days_with(response, "Acme Rocket GmbH") == {"Saturday 12 Dec", "Sunday 13 Dec"}
    following = login_as(ae).get("/calendar?date=2026-12-14")
    assert days_with(following, "Acme Rocket GmbH") == \
        {"Monday 14 Dec", "Tuesday 15 Dec", "Wednesday 16 Dec"}


def test_month_view_shows_client_names_on_their_days(ae, acme, make_client, make_booking,
                                                     login_as):
    other = make_client(ae, name="Borealis Oy")
    make_booking(acme, starts_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    make_booking(other, starts_at=datetime(2026, 12, 31, 9, 0, tzinfo=UTC))
    make_booking(other, title="Next year", starts_at=datetime(2027, 2, 3, 9, 0, tzinfo=UTC))
    response = login_as(ae).get(MONTH)
    cells = days(response)
    # whole weeks: Monday 30 November to Sunday 3 January
    assert len(cells) == 35
    assert days_with(response, "Acme Rocket GmbH") == {"Tuesday 1"}
    assert days_with(response, "Borealis Oy") == {"Thursday 31"}
    assert "Next year" not in response.get_data(as_text=True)


def test_month_view_also_shows_multi_day_visits_on_each_day(ae, acme, make_booking, login_as):
    make_booking(acme, kind="visit",
                 starts_at=datetime(2026, 12, 30, 8, 0, tzinfo=UTC),
                 ends_at=datetime(2027, 1, 2, 8, 0, tzinfo=UTC))
    response = login_as(ae).get(MONTH)
    assert days_with(response, "Acme Rocket GmbH") == \
        {"Wednesday 30", "Thursday 31", "Friday 1", "Saturday 2"}


@pytest.mark.parametrize("query", [
    "date=garbage", "date=2026-02-30", "date=", "view=year&date=2026-12-07",
    "view=month&date=garbage", "owner=abc", "scope=everything",
])
def test_malformed_parameters_fall_back_instead_of_failing(ae, login_as, query):
    response = login_as(ae).get(f"/calendar?{query}")
    assert response.status_code == 200
    assert len(days(response)) in (7, 35, 42)


@pytest.mark.parametrize("query", [
    "date=9999-12-31", "date=0001-01-01", "view=month&date=9999-12-31",
    "view=month&date=0001-01-01", "owner=99999999999999999999",
])
def test_extreme_parameters_do_not_fail(ae, login_as, query):
    response = login_as(ae).get(f"/calendar?{query}")
    assert response.status_code in (200, 400)


def test_ae_sees_own_bookings_by_default_and_everyones_with_scope_all(
        ae, acme, make_user, make_client, make_booking, login_as):
    colleague = make_user("ae", name="Carl Colleague")
    theirs = make_client(colleague, name="Colleague Client SA")
    make_booking(acme, starts_at=T0)
    make_booking(theirs, starts_at=T0 + timedelta(days=1))
    browser = login_as(ae)

    own = browser.get(WEEK)
    assert days_with(own, "Acme Rocket GmbH") == {"Monday 7 Dec"}
    assert days_with(own, "Colleague Client SA") == set()

    everyone = browser.get(WEEK + "&scope=all")
    assert days_with(everyone, "Acme Rocket GmbH") == {"Monday 7 Dec"}
    assert days_with(everyone, "Colleague Client SA") == {"Tuesday 8 Dec"}

    theirs_only = browser.get(WEEK + f"&scope=all&owner={colleague.id}")
    assert days_with(theirs_only, "Acme Rocket GmbH") == set()
    assert days_with(theirs_only, "Colleague Client SA") == {"Tuesday 8 Dec"}


def test_manager_sees_everyone_by_default(ae, acme, make_user, make_client, make_booking,
                                          login_as):
    theirs = make_client(make_user("ae"), name="Colleague Client SA")
    make_booking(acme, starts_at=T0)
    make_booking(theirs, starts_at=T0 + timedelta(days=1))
    response = login_as(make_user("manager", timezone="Europe/Berlin")).get(WEEK)
    assert days_with(response, "Acme Rocket GmbH") == {"Monday 7 Dec"}
    assert days_with(response, "Colleague Client SA") == {"Tuesday 8 Dec"}


def test_support_sees_only_assigned_bookings(acme, make_user, make_booking, assign, login_as):
    support = make_user("support", timezone="Europe/Berlin")
    mine = make_booking(acme, title="Assigned briefing", starts_at=T0)
    make_booking(acme, title="Other briefing", starts_at=T0 + timedelta(days=1))
    assign(mine, support)
    response = login_as(support).get(WEEK)
    body = response.get_data(as_text=True)
    assert "Assigned briefing" in days(response)["Monday 7 Dec"]
    assert "Other briefing" not in body


def test_cancelled_booking_is_marked_as_cancelled(ae, acme, make_booking, login_as):
    make_booking(acme, status="cancelled", title="Called off")
    cells = days(login_as(ae).get(WEEK))
    assert "Called off" in cells["Monday 7 Dec"]
    assert "Cancelled" in cells["Monday 7 Dec"]


def test_week_navigation_links_move_by_a_week(ae, login_as):
    body = login_as(ae).get(WEEK).get_data(as_text=True)
    assert re.search(r'href="/calendar\?[^"]*date=2026-11-30[^"]*"[^>]*rel="prev"', body)
    assert re.search(r'href="/calendar\?[^"]*date=2026-12-14[^"]*"[^>]*rel="next"', body)


def test_calendar_needs_sign_in(client):
    response = client.get(WEEK)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
