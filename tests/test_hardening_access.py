"""Issue 13, item 7: spreadsheet formulas in CSV cells and no-store on signed-in
responses."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from aeplan.extensions import db
from aeplan.staffing.models import TimeOff
from aeplan.trips.models import Trip
from tests.conftest import T0

FORMULA = ("=", "+", "-", "@")


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def team(make_user, make_client, make_booking, assign):
    """Two AEs with a client and a booking each; Sam is on Olga's booking only."""
    olga, piet = make_user("ae", name="Olga Owner"), make_user("ae", name="Piet Peer")
    acme = make_client(olga, name="Acme Secret Holdings")
    globex = make_client(piet, name="Globex Hidden Corp")
    booking = make_booking(acme, title="Basilisk briefing")
    other = make_booking(globex, title="Griffin review", starts_at=T0 + timedelta(days=1))
    sam, stranger = make_user("support", name="Sam Tech"), make_user("support")
    assignment = assign(booking, sam)
    trip = Trip(owner_id=olga.id, title="Frankfurt week", destination="Frankfurt",
                timezone="Europe/Berlin", starts_on=T0.date(),
                ends_on=T0.date() + timedelta(days=2))
    db.session.add(trip)
    entry = TimeOff(user_id=sam.id, starts_at=T0, ends_at=T0 + timedelta(days=1),
                    reason="Dentist")
    db.session.add(entry)
    db.session.commit()
    return dict(olga=olga, piet=piet, acme=acme, globex=globex, booking=booking, other=other,
                sam=sam, stranger=stranger, assignment=assignment, trip=trip, entry=entry,
                manager=make_user("manager"))


# --- CSV: formulas hidden in any piece a spreadsheet may split off ------------------------

HOSTILE = ["Acme;=1+1;x", "Beta,-2+3,y", "Gamma\t@SUM(A1)", "Delta; +cmd|' /C calc'!A0",
           '=HYPERLINK("http://evil.example","x")', 'Quote "me";=1']


@pytest.mark.parametrize("path", ["/reports/coverage.csv", "/reports/clients.csv"])
def test_csv_cells_cannot_start_a_formula_for_any_separator(make_user, make_client,
                                                            login_as, path):
    owner = make_user("ae")
    for name in HOSTILE:
        make_client(owner, name=name)
    response = login_as(make_user("manager")).get(path)
    assert response.status_code == 200
    body = response.get_data().decode("utf-8-sig")
    for delimiter in (",", ";"):
        for row in csv.reader(io.StringIO(body, newline=""), delimiter=delimiter):
            for cell in row:
                start = cell.lstrip(" ")
                if start[:1] in FORMULA:
                    float(start)  # only a plain number (a negative figure) may start so
    # Read as written (commas), every name is one whole cell, defused where it must be.
    names = [r["client"] for r in csv.DictReader(io.StringIO(body, newline=""))]
    assert sorted(names) == sorted([
        "Acme;'=1+1;x", "Beta,'-2+3,y", "Gamma\t'@SUM(A1)", "Delta; '+cmd|' /C calc'!A0",
        '\'=HYPERLINK("http://evil.example","x")', 'Quote "me";\'=1'])
    # A reader splitting on ";" keeps every such cell whole: it is quoted.
    for line in body.splitlines()[1:]:
        assert ";" not in line or '"' in line, line


# --- no-store --------------------------------------------------------------------------------

def test_signed_in_responses_are_not_stored(team, login_as):
    client = login_as(team["olga"])
    for path in ("/", "/profile", "/bookings/", "/clients/", f"/bookings/{team['booking'].id}",
                 f"/bookings/{team['booking'].id}/invite.ics", "/reports/clients.csv",
                 "/reports/coverage.csv", "/calendar", "/no/such/page"):
        response = client.get(path)
        assert response.status_code in (200, 404), path
        assert "no-store" in response.headers.get("Cache-Control", ""), path


def test_anonymous_pages_static_files_and_feeds_keep_their_caching(team, app, login_as,
                                                                   client):
    import aeplan.calendar.service as calendar

    response = client.get("/login")
    assert "no-store" not in response.headers.get("Cache-Control", "")
    login_as(team["olga"])
    static = client.get("/static/css/app.css")
    static.close()
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("Cache-Control", "")
    token = calendar.feed_token(team["olga"], calendar.key_from_config(app.config))
    db.session.commit()
    feed = client.get(f"/feeds/{token}.ics")
    assert feed.status_code == 200
    assert feed.headers["Cache-Control"] == "private, no-cache" and feed.headers["ETag"]
    again = client.get(f"/feeds/{token}.ics", headers={"If-None-Match": feed.headers["ETag"]})
    assert again.status_code == 304
