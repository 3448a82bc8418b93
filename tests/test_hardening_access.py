"""Issue 13, item 7: spreadsheet formulas in CSV cells, what a bookings filter reveals,
no-store on signed-in responses, hidden objects answering like missing ones, refused
writes answering 4xx, and AEPLAN_AE_SEES_TEAM."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

import aeplan.calendar.service as calendar
from aeplan.errors import NotAllowed
from aeplan.extensions import db
from aeplan.staffing.models import Assignment, TimeOff
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
                manager=make_user("manager"), admin=make_user("admin"))


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


# --- the bookings list's client filter -----------------------------------------------------

@pytest.mark.parametrize("who, shown", [
    ("stranger", False), ("sam", True), ("piet", True), ("manager", True), ("admin", True),
    ("olga", True)])
def test_client_filter_names_only_a_client_the_user_may_see(team, login_as, who, shown):
    response = login_as(team[who]).get(f"/bookings/?client={team['acme'].id}")
    assert response.status_code == 200
    assert ("Acme Secret Holdings" in text(response)) == shown


def test_client_filter_hides_other_aes_clients_when_aes_see_only_their_own(team, app,
                                                                          login_as):
    app.config["AEPLAN_AE_SEES_TEAM"] = False
    client = login_as(team["piet"])
    assert "Acme Secret Holdings" not in text(client.get(f"/bookings/?client={team['acme'].id}"))
    assert "Globex Hidden Corp" in text(client.get(f"/bookings/?client={team['globex'].id}"))


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


# --- hidden answers like missing -------------------------------------------------------------

def hidden_and_missing(team):
    """(viewer, path of an object they may not see, the same path for a missing id)."""
    b, a = team["booking"].id, team["assignment"].id
    return [
        ("stranger", "get", f"/bookings/{b}", "/bookings/987654"),
        ("stranger", "get", f"/bookings/{b}/invite.ics", "/bookings/987654/invite.ics"),
        ("stranger", "get", f"/bookings/{b}/edit", "/bookings/987654/edit"),
        ("stranger", "post", f"/bookings/{b}/cancel", "/bookings/987654/cancel"),
        ("stranger", "get", f"/clients/{team['acme'].id}", "/clients/987654"),
        ("piet", "get", f"/trips/{team['trip'].id}", "/trips/987654"),
        ("piet", "post", f"/trips/{team['trip'].id}/cancel", "/trips/987654/cancel"),
        ("stranger", "post", f"/assignments/{a}/accept", "/assignments/987654/accept"),
        ("olga", "post", f"/assignments/{a}/accept", "/assignments/987654/accept"),
        ("stranger", "post", f"/timeoff/{team['entry'].id}/cancel", "/timeoff/987654/cancel"),
        ("stranger", "post", f"/bookings/{b}/assignments/{a}/remove",
         f"/bookings/987654/assignments/{a}/remove"),
    ]


def test_objects_a_user_may_not_see_answer_like_missing_ones(team, login_as):
    before = db.session.scalars(select(Assignment.status)).all()
    for who, method, hidden, missing in hidden_and_missing(team):
        client = login_as(team[who])
        one, other = getattr(client, method)(hidden), getattr(client, method)(missing)
        assert (one.status_code, other.status_code) == (404, 404), (who, hidden)
        assert one.data == other.data, (who, hidden)
    assert db.session.scalars(select(Assignment.status)).all() == before
    assert db.session.get(TimeOff, team["entry"].id).cancelled_at is None


def test_objects_a_user_sees_but_may_not_change_stay_403(team, login_as):
    b = team["booking"].id
    client = login_as(team["piet"])  # sees the team's bookings, owns none of Olga's
    assert client.get(f"/bookings/{b}").status_code == 200
    assert client.get(f"/bookings/{b}/edit").status_code == 403
    assert client.post(f"/bookings/{b}/cancel").status_code == 403
    client = login_as(team["sam"])  # on the booking, not its AE
    assert client.get(f"/bookings/{b}").status_code == 200
    assert client.post(f"/bookings/{b}/cancel").status_code == 403


# --- refused writes answer 4xx with the reason -----------------------------------------------

def test_accepting_on_a_stale_page_after_cancellation_is_409(team, login_as):
    client = login_as(team["olga"])
    assert client.post(f"/bookings/{team['booking'].id}/cancel",
                       data={"reason": "No budget"}).status_code == 303
    response = login_as(team["sam"]).post(f"/assignments/{team['assignment'].id}/accept")
    assert response.status_code == 409
    assert "This booking is cancelled." in text(response)
    assert db.session.get(Assignment, team["assignment"].id).status == "pending"


def test_removing_someone_already_removed_is_409(team, login_as):
    client = login_as(team["olga"])
    path = f"/bookings/{team['booking'].id}/assignments/{team['assignment'].id}/remove"
    assert client.post(path).status_code == 303
    response = client.post(path)
    assert response.status_code == 409
    assert "no longer on the booking" in text(response)


# --- AEPLAN_AE_SEES_TEAM ---------------------------------------------------------------------

def pages_of(team) -> dict[str, str]:
    b = team["booking"].id
    return {"booking": f"/bookings/{b}", "invite": f"/bookings/{b}/invite.ics",
            "client": f"/clients/{team['acme'].id}"}


@pytest.mark.parametrize("sees_team", [True, False])
def test_ae_sees_the_team_only_when_the_setting_says_so(team, app, login_as, sees_team):
    app.config["AEPLAN_AE_SEES_TEAM"] = sees_team
    client = login_as(team["piet"])
    for name, path in pages_of(team).items():
        assert client.get(path).status_code == (200 if sees_team else 404), name
    listed = {
        "/bookings/": "Basilisk briefing",
        "/clients/": "Acme Secret Holdings",
        "/calendar?scope=all&date=2026-12-07": "Basilisk briefing",
        f"/calendar?owner={team['olga'].id}&date=2026-12-07": "Basilisk briefing",
    }
    for path, name in listed.items():
        response = client.get(path)
        assert response.status_code == 200
        assert (name in text(response)) == sees_team, path
    # Their own feed holds their own bookings only, and another AE's client has no feed
    # for them (its page is 404 or offers no link), whatever the setting.
    token = calendar.feed_token(team["piet"], calendar.key_from_config(app.config))
    db.session.commit()
    feed = text(client.get(f"/feeds/{token}.ics"))
    assert "Griffin review" in feed and "Basilisk briefing" not in feed
    with pytest.raises(NotAllowed):
        calendar.feed_token(team["piet"], calendar.key_from_config(app.config),
                            client=team["acme"])
    # Their own clients and bookings, whatever the setting.
    assert "Griffin review" in text(client.get("/bookings/"))
    assert "Globex Hidden Corp" in text(client.get("/clients/"))
    assert client.get(f"/bookings/{team['other'].id}/invite.ics").status_code == 200
    # Managers see everything either way.
    manager = login_as(team["manager"])
    for path in pages_of(team).values():
        assert manager.get(path).status_code == 200


def test_ae_sees_team_defaults_on_and_reads_the_environment(monkeypatch):
    from aeplan.config import from_environment

    monkeypatch.delenv("AEPLAN_AE_SEES_TEAM", raising=False)
    assert from_environment("instance")["AEPLAN_AE_SEES_TEAM"] is True
    monkeypatch.setenv("AEPLAN_AE_SEES_TEAM", "off")
    assert from_environment("instance")["AEPLAN_AE_SEES_TEAM"] is False
