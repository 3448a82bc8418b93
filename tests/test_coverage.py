"""Client coverage: last contact, next booking, days overdue, counts, trips and cost per
client, against a small world whose numbers are worked out by hand below; the page, its
CSV, the start page's overdue accounts, filters and access."""
from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest

import aeplan.main.views
import aeplan.reports.views
from aeplan.errors import NotAllowed
from aeplan.extensions import db
from aeplan.reports import service
from aeplan.trips.models import Expense, Trip

# "Now" for every test here: Monday 7 December 2026, 08:00 UTC, 09:00 in Berlin, where
# everyone in the world lives. This quarter is 1 Oct – 31 Dec 2026.
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
TODAY = date(2026, 12, 7)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_now(monkeypatch):
    for module in (aeplan.reports.views, aeplan.main.views):
        monkeypatch.setattr(module, "now_utc", lambda: NOW)


def build_world(make_user, make_client, make_booking, assign) -> SimpleNamespace:
    """Two AEs, four live clients and an archived one, a dozen bookings, one trip with a
    hotel split by hours and a flight for one client (EUR and USD), one cancelled trip.

    Bookings (UTC; Berlin is UTC+1 in winter, UTC+2 until 25 October):
      acme      b1 visit done       2 Nov 09:00–12:00 (3 h)  on trip T1
                b2 demo done       15 Jun 08:00–09:00
                b3 visit confirmed 10 Dec 09:00–11:00 (2 h)
                b4 demo cancelled   8 Dec 09:00–10:00
      borealis  b5 demo done       30 Nov 14:00–15:00
                b7 visit done       3 Nov 09:00–10:00 (1 h)  on trip T1
                b12 demo done      30 Sep 22:30 UTC = 1 Oct 00:30 in Berlin: this quarter
      cobalt    b8 visit done      20 Oct 08:00–10:00 (2 h)
                b9 demo confirmed   7 Dec 13:00 (later today)
                b10 demo cancelled 15 Nov
      dune      b11 demo tentative 12 Jan 2027; never contacted, added 1 Oct 2026
      archived  b13 demo done      10 Mar 2026
    Trip T1 (Anna, 1–3 Nov, Sam travels): hotel 300.01 EUR split by hours on site,
    acme 180 min : borealis 60 min → 22500.75 and 7500.25 cents → floors 22500 + 7500,
    the cent left over to the larger remainder (acme): 225.01 + 75.00 = 300.01;
    flight 450.00 USD all to acme; a taxi of 99.00 EUR removed (not counted).
    Trip T2 (Ben, cancelled, Cleo travels): 1,000.00 EUR, counted nowhere.
    """
    w = SimpleNamespace()
    w.manager = make_user("manager", name="Mara Manager")
    w.anna = make_user("ae", name="Anna Adler")
    w.ben = make_user("ae", name="Ben Brandt")
    w.sam = make_user("support", name="Sam Support", discipline="technical")
    w.cleo = make_user("support", name="Cleo Creative", discipline="creative")
    early = at(2026, 1, 5, 9, 0)
    w.acme = make_client(w.anna, name="Acme Bank", tier="key", industry="financial_services",
                         cadence_days=30, created_at=early)
    w.borealis = make_client(w.anna, name="Borealis Media", industry="advertising",
                             cadence_days=14, created_at=early)
    w.cobalt = make_client(w.ben, name="Cobalt Health", industry="healthcare",
                           cadence_days=14, created_at=early)
    w.dune = make_client(w.ben, name="Dune Tech", tier="key", cadence_days=30,
                         created_at=at(2026, 10, 1, 8, 0))
    w.archived = make_client(w.anna, name="Old Archive GmbH", created_at=early,
                             archived_at=at(2026, 6, 1, 9, 0))

    w.t1 = Trip(owner_id=w.anna.id, title="Frankfurt round", destination="Frankfurt",
                timezone="Europe/Berlin", starts_on=date(2026, 11, 1), ends_on=date(2026, 11, 3))
    w.t2 = Trip(owner_id=w.ben.id, title="Cancelled trip", destination="Vienna",
                timezone="Europe/Berlin", starts_on=date(2026, 11, 10),
                ends_on=date(2026, 11, 11), cancelled_at=at(2026, 11, 5, 9, 0))
    w.t1.travellers.append(w.sam)
    w.t2.travellers.append(w.cleo)
    db.session.add_all([w.t1, w.t2])
    db.session.commit()

    def booking(client, kind, status, start, hours=1, **over):
        return make_booking(client, kind=kind, status=status, starts_at=start,
                            ends_at=start + timedelta(hours=hours), **over)

    w.b1 = booking(w.acme, "visit", "done", at(2026, 11, 2, 9, 0), 3, trip_id=w.t1.id)
    w.b2 = booking(w.acme, "demo", "done", at(2026, 6, 15, 8, 0))
    w.b3 = booking(w.acme, "visit", "confirmed", at(2026, 12, 10, 9, 0), 2)
    w.b4 = booking(w.acme, "demo", "cancelled", at(2026, 12, 8, 9, 0))
    w.b5 = booking(w.borealis, "demo", "done", at(2026, 11, 30, 14, 0))
    w.b7 = booking(w.borealis, "visit", "done", at(2026, 11, 3, 9, 0), 1, trip_id=w.t1.id)
    w.b12 = booking(w.borealis, "demo", "done", at(2026, 9, 30, 22, 30))
    w.b8 = booking(w.cobalt, "visit", "done", at(2026, 10, 20, 8, 0), 2)
    w.b9 = booking(w.cobalt, "demo", "confirmed", at(2026, 12, 7, 13, 0))
    w.b10 = booking(w.cobalt, "demo", "cancelled", at(2026, 11, 15, 10, 0))
    w.b11 = booking(w.dune, "demo", "tentative", at(2027, 1, 12, 10, 0))
    w.b13 = booking(w.archived, "demo", "done", at(2026, 3, 10, 10, 0))

    db.session.add_all([
        Expense(trip_id=w.t1.id, category="hotel", amount_minor=30001, currency="EUR",
                spent_on=date(2026, 11, 2), allocation="hours"),
        Expense(trip_id=w.t1.id, category="flight", amount_minor=45000, currency="USD",
                spent_on=date(2026, 10, 20), allocation="client", client_id=w.acme.id),
        Expense(trip_id=w.t1.id, category="ground_transport", amount_minor=9900,
                currency="EUR", spent_on=date(2026, 11, 3), allocation="even",
                removed_at=at(2026, 11, 4, 9, 0)),
        Expense(trip_id=w.t2.id, category="hotel", amount_minor=100000, currency="EUR",
                spent_on=date(2026, 11, 10), allocation="even"),
    ])
    db.session.commit()

    assign(w.b1, w.sam, status="accepted")
    assign(w.b3, w.sam, status="pending")
    assign(w.b8, w.sam, status="declined")
    assign(w.b5, w.cleo, status="accepted")
    assign(w.b10, w.cleo, status="accepted")
    assign(w.b7, w.cleo, status="accepted", removed_at=at(2026, 11, 1, 9, 0))
    return w


@pytest.fixture
def world(make_user, make_client, make_booking, assign):
    return build_world(make_user, make_client, make_booking, assign)


class Rows(HTMLParser):
    """Table rows carrying `data-id` or `data-client-id`: the id → the cells' text, and
    each cell's attributes."""

    def __init__(self, html: str):
        super().__init__()
        self.rows: dict[int, list[str]] = {}
        self.attrs: dict[int, list[dict]] = {}
        self._row = None
        self._cell = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and ("data-id" in attrs or "data-client-id" in attrs):
            self._row = int(attrs.get("data-id") or attrs["data-client-id"])
            self.rows[self._row], self.attrs[self._row] = [], []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
            self.attrs[self._row].append(attrs)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[self._row].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def read_csv(response) -> list[dict]:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    text = response.get_data().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


# --- the service, against the hand-worked numbers -----------------------------------------

def by_name(rows):
    return {r.client.name: r for r in rows}


def test_coverage_figures_match_the_hand_worked_world(world):
    rows = service.coverage(world.manager, today=TODAY, now=NOW)
    got = by_name(rows)
    assert set(got) == {"Acme Bank", "Borealis Media", "Cobalt Health", "Dune Tech"}

    acme = got["Acme Bank"]
    assert acme.last_contact_at == at(2026, 11, 2, 9, 0)
    assert acme.last_contact_on == date(2026, 11, 2)
    assert acme.next_booking.id == world.b3.id  # b4 on 8 Dec is cancelled
    assert acme.due_on == date(2026, 12, 2)
    assert acme.days_overdue == 5  # 35 days since contact, cadence 30
    assert (acme.visits_quarter, acme.demos_quarter, acme.visits_year, acme.demos_year) == \
        (2, 0, 2, 1)
    assert acme.trips == 1
    assert acme.travel_cost == {"EUR": 22501, "USD": 45000}

    borealis = got["Borealis Media"]
    assert borealis.last_contact_on == date(2026, 11, 30)
    assert borealis.next_booking is None
    assert borealis.due_on == date(2026, 12, 14)
    assert borealis.days_overdue == 0
    # b12 starts on 30 September in UTC but on 1 October in Berlin: this quarter.
    assert (borealis.visits_quarter, borealis.demos_quarter, borealis.visits_year,
            borealis.demos_year) == (1, 2, 1, 2)
    assert borealis.trips == 1
    assert borealis.travel_cost == {"EUR": 7500}

    cobalt = got["Cobalt Health"]
    assert cobalt.last_contact_on == date(2026, 10, 20)
    assert cobalt.next_booking.id == world.b9.id  # later today counts as upcoming
    assert cobalt.days_overdue == 34  # 48 days since contact, cadence 14
    assert (cobalt.visits_quarter, cobalt.demos_quarter) == (1, 1)  # b10 cancelled
    assert (cobalt.trips, cobalt.travel_cost) == (0, {})

    dune = got["Dune Tech"]
    assert dune.last_contact_at is None
    assert dune.due_on == date(2026, 10, 31)  # counted from the day it was added
    assert dune.days_overdue == 37
    assert dune.next_booking.id == world.b11.id
    assert (dune.visits_year, dune.demos_year) == (0, 0)  # b11 is next year

    # The attributed parts add up to what trip T1 cost, to the cent.
    assert acme.travel_cost["EUR"] + borealis.travel_cost["EUR"] == 30001


def test_overdue_key_accounts_come_first_then_most_overdue_then_by_due_day(world):
    rows = service.coverage(world.manager, today=TODAY, now=NOW)
    # Dune (key, 37 days) and Acme (key, 5) before Cobalt (standard, 34); Borealis is
    # not overdue and comes last.
    assert [r.client.name for r in rows] == ["Dune Tech", "Acme Bank", "Cobalt Health",
                                             "Borealis Media"]


def test_quarter_and_year_follow_the_viewers_zone(world):
    world.manager.timezone = "America/New_York"
    db.session.commit()
    borealis = by_name(service.coverage(world.manager, today=TODAY, now=NOW))["Borealis Media"]
    assert borealis.demos_quarter == 1  # b12 is 30 September, 18:30 in New York
    assert borealis.demos_year == 2


def test_filters(world):
    def names(**filters):
        return [r.client.name for r in service.coverage(
            world.manager, today=TODAY, now=NOW, filters=service.CoverageFilters(**filters))]

    assert names(owner_id=world.ben.id) == ["Dune Tech", "Cobalt Health"]
    assert names(tier="key") == ["Dune Tech", "Acme Bank"]
    assert names(industry="healthcare") == ["Cobalt Health"]
    assert names(overdue_only=True) == ["Dune Tech", "Acme Bank", "Cobalt Health"]
    assert names(tier="nonsense") == names()


def test_an_ae_covers_their_own_clients_only(world):
    rows = service.coverage(world.anna, today=TODAY, now=NOW,
                            filters=service.CoverageFilters(owner_id=world.ben.id))
    assert [r.client.name for r in rows] == ["Acme Bank", "Borealis Media"]


def test_support_staff_are_refused(world):
    with pytest.raises(NotAllowed):
        service.coverage(world.sam, today=TODAY, now=NOW)


# --- the page and its CSV -----------------------------------------------------------------

def test_page_and_csv_show_the_same_numbers(world, login_as):
    browser = login_as(world.manager)
    page = browser.get("/reports/coverage")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Overdue accounts come first, key accounts ahead of standard ones" in html
    table = Rows(html)
    rows = read_csv(browser.get("/reports/coverage.csv"))
    assert [int(r["client_id"]) for r in rows] == list(table.rows)  # same order
    assert list(rows[0]) == [
        "client_id", "client", "tier", "industry", "owner", "cadence_days", "last_contact",
        "next_booking", "contact_due", "days_overdue", "trips", "visits_quarter",
        "demos_quarter", "visits_year", "demos_year", "travel_cost_EUR", "travel_cost_USD"]
    acme = next(r for r in rows if r["client"] == "Acme Bank")
    assert acme == {
        "client_id": str(world.acme.id), "client": "Acme Bank", "tier": "key",
        "industry": "financial_services", "owner": "Anna Adler", "cadence_days": "30",
        "last_contact": "2026-11-02", "next_booking": "2026-12-10",
        "contact_due": "2026-12-02", "days_overdue": "5", "trips": "1",
        "visits_quarter": "2", "demos_quarter": "0", "visits_year": "2", "demos_year": "1",
        "travel_cost_EUR": "225.01", "travel_cost_USD": "450.00"}
    dune = next(r for r in rows if r["client"] == "Dune Tech")
    assert (dune["last_contact"], dune["travel_cost_EUR"], dune["travel_cost_USD"]) == \
        ("", "0.00", "0.00")

    for row in rows:
        cells = table.rows[int(row["client_id"])]
        attrs = table.attrs[int(row["client_id"])]
        assert cells[0].startswith(row["client"])
        assert cells[1] == row["owner"]
        assert attrs[2]["data-days-overdue"] == row["days_overdue"]
        if row["days_overdue"] != "0":
            assert f"{row['days_overdue']} days overdue" in cells[2]
        assert cells[5] == f"{row['visits_quarter']} / {row['visits_year']}"
        assert cells[6] == f"{row['demos_quarter']} / {row['demos_year']}"
        assert cells[7] == row["trips"]
    acme_cells = table.rows[world.acme.id]
    assert acme_cells[3].startswith("2 Nov 2026") and "35 days ago" in acme_cells[3]
    assert acme_cells[4].startswith("10 Dec 2026")
    assert acme_cells[8] == "€225.01 $450.00"
    assert table.rows[world.dune.id][3] == "never"


def test_every_page_of_the_list_has_its_details(world, login_as, monkeypatch):
    monkeypatch.setattr(aeplan.reports.views, "PER_PAGE", 2)
    browser = login_as(world.manager)
    first = Rows(browser.get("/reports/coverage").get_data(as_text=True)).rows
    assert list(first) == [world.dune.id, world.acme.id]
    html = browser.get("/reports/coverage?page=2").get_data(as_text=True)
    second = Rows(html).rows
    assert list(second) == [world.cobalt.id, world.borealis.id]
    assert second[world.borealis.id][5:] == ["1 / 1", "2 / 2", "1", "€75.00"]
    assert "Page 2 of 2" in html


def test_filters_on_the_page_and_csv(world, login_as):
    browser = login_as(world.manager)
    url = f"/reports/coverage?owner={world.ben.id}&overdue=1"
    assert list(Rows(browser.get(url).get_data(as_text=True)).rows) == \
        [world.dune.id, world.cobalt.id]
    assert [r["client"] for r in read_csv(browser.get(url.replace("coverage", "coverage.csv")))] \
        == ["Dune Tech", "Cobalt Health"]
    page = browser.get("/reports/coverage?tier=key&industry=technology")
    assert list(Rows(page.get_data(as_text=True)).rows) == [world.dune.id]
    # Junk in the filters is ignored, never an error.
    junk = browser.get("/reports/coverage?owner=abc&tier=<b>&industry=1&overdue=yes&page=-3")
    assert junk.status_code == 200
    assert len(Rows(junk.get_data(as_text=True)).rows) == 4


def test_ae_sees_own_clients_and_support_is_refused(world, login_as, client):
    browser = login_as(world.anna)
    page = browser.get(f"/reports/coverage?owner={world.ben.id}")
    assert list(Rows(page.get_data(as_text=True)).rows) == [world.acme.id, world.borealis.id]
    assert [r["client"] for r in read_csv(browser.get("/reports/coverage.csv"))] == \
        ["Acme Bank", "Borealis Media"]
    login_as(world.sam)
    assert client.get("/reports/coverage").status_code == 403
    assert client.get("/reports/coverage.csv").status_code == 403
    client.post("/logout")
    assert client.get("/reports/coverage").status_code == 302  # to the sign-in page


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(world, login_as, make_client):
    make_client(world.anna, name='=HYPERLINK("http://evil.example","x")')
    rows = read_csv(login_as(world.anna).get("/reports/coverage.csv"))
    assert '\'=HYPERLINK("http://evil.example","x")' in [r["client"] for r in rows]


# --- the start page -----------------------------------------------------------------------

def test_start_page_shows_an_aes_overdue_accounts_and_next_bookings(world, login_as):
    html = login_as(world.ben).get("/").get_data(as_text=True)
    section = html[html.index('id="overdue-h"'):html.index('id="upcoming-h"')]
    assert section.index("Dune Tech") < section.index("Cobalt Health")
    assert "37 days overdue" in section and "34 days overdue" in section
    assert "never contacted" in section
    assert 'href="/reports/coverage' in section
    upcoming = html[html.index('id="upcoming-h"'):]
    assert upcoming.index("Cobalt Health") < upcoming.index("Dune Tech")  # b9, then b11

    html = login_as(world.anna).get("/").get_data(as_text=True)
    section = html[html.index('id="overdue-h"'):html.index('id="upcoming-h"')]
    assert "Acme Bank" in section and "5 days overdue" in section
    assert "Borealis Media" not in section
    assert "Dune Tech" not in html


def test_start_page_lists_at_most_five_overdue_accounts(world, login_as, make_client):
    for i in range(6):
        make_client(world.anna, name=f"Quiet {i}", created_at=at(2026, 1, 1, 9, 0))
    html = login_as(world.anna).get("/").get_data(as_text=True)
    section = html[html.index('id="overdue-h"'):html.index('id="upcoming-h"')]
    assert section.count("days overdue") == 5
    assert "All 7 overdue accounts" in section


def test_start_page_of_a_manager_is_unchanged(world, login_as):
    html = login_as(world.manager).get("/").get_data(as_text=True)
    assert 'id="overdue-h"' not in html
    assert 'href="/reports/coverage"' in html  # the nav link
