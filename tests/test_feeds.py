"""Calendar feeds and invitations over HTTP, as calendar apps and people use them: the
feed link on the profile page and from the CLI, what each role's feed holds, tokens and
their rotation, conditional GET and gzip, the invitation download through a booking's
life, and a bounded number of queries per poll. Every calendar served is read back by
icalendar, vobject and ical.js (tests/interop.py)."""
from __future__ import annotations

import gzip
import re
from datetime import date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from flask import current_app
from sqlalchemy import select

import aeplan.auth.service
import aeplan.bookings.service
import aeplan.bookings.views
import aeplan.calendar.service
import aeplan.calendar.views
import aeplan.main.views
import aeplan.staffing.service
from aeplan.bookings.models import Booking
from aeplan.calendar import service as calendar
from aeplan.errors import NotAllowed
from aeplan.extensions import db
from aeplan.staffing.models import Assignment
from aeplan.trips.models import Trip
from tests import interop
from tests.conftest import T0

NOW = T0 - timedelta(hours=1)  # Monday 7 December 2026, 08:00 UTC
BASE = "https://plan.example.com"


class Clock:
    """A frozen now_utc that a test can move forward."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """Feeds cover 60 days back and 18 months ahead of calendar.service's now_utc: every
    module that asks for "now" sees the same frozen, movable time."""
    frozen = Clock(NOW)
    for module in (aeplan.calendar.service, aeplan.calendar.views, aeplan.bookings.service,
                   aeplan.bookings.views, aeplan.staffing.service, aeplan.main.views,
                   aeplan.auth.service):
        if hasattr(module, "now_utc"):
            monkeypatch.setattr(module, "now_utc", frozen)
    return frozen


# --- harness ------------------------------------------------------------------------------


@pytest.fixture
def ae(make_user):
    return make_user("ae", name="Olga Owner")


@pytest.fixture
def other_ae(make_user):
    return make_user("ae", name="Otto Other")


@pytest.fixture
def support(make_user):
    return make_user("support", name="Tomás Técnico", email="tomas@aeplan.example")


@pytest.fixture
def manager(make_user):
    return make_user("manager", name="Mia Manager")


@pytest.fixture
def acme(make_client, ae):
    return make_client(ae, name="Nordwind AG")


@pytest.fixture
def globex(make_client, other_ae):
    return make_client(other_ae, name="Globex Corp")


def key() -> bytes:
    return calendar.key_from_config(current_app.config)


def feed_path(user, client=None) -> str:
    """The feed URL's path, as the profile page and the CLI give it."""
    token = calendar.feed_token(user, key(), client=client)
    db.session.commit()
    return calendar.feed_url_path(token)


def token_of(path: str) -> str:
    return path.removeprefix("/feeds/").removesuffix(".ics")


def read_feed(response) -> dict:
    """A 200 feed, checked the way a calendar app would need it, read by all parsers."""
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/calendar"
    assert response.mimetype_params.get("charset") == "utf-8"
    assert "method" not in response.mimetype_params
    body = response.data
    if response.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    result = interop.parsed(body)
    assert result["calendar"]["method"] is None
    for name in ("METHOD", "ATTENDEE", "ORGANIZER"):
        assert interop.property_lines(body, name) == [], f"{name} in a feed"
    assert b"TZID" not in body
    for event in result["events"]:
        assert event["attendees"] == [] and event["organizer"] is None
        if event["all_day"]:  # trips: DATE values, DTEND the day after the last
            assert re.fullmatch(r"\d{4}-\d\d-\d\d", event["dtstart"])
            assert event["dtend"] > event["dtstart"]
        else:
            assert event["dtstart"].endswith("Z") and event["dtend"].endswith("Z")
    assert result["calendar"]["name"] and \
        result["calendar"]["name"] == result["calendar"]["x_wr_calname"]
    return result


def feed_uids(client, path: str) -> set[str]:
    return {e["uid"] for e in read_feed(client.get(path))["events"]}


def reload(model, id_):
    db.session.rollback()
    return db.session.get(model, id_)


def invite(client, booking_id: int):
    return client.get(f"/bookings/{booking_id}/invite.ics")


def read_invite(response, method: str = "REQUEST") -> tuple[dict, dict]:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/calendar"
    assert response.mimetype_params.get("method") == method
    cal, event = interop.only_event(response.data)
    assert cal["method"] == method
    assert b"TZID" not in response.data
    return cal, event


def attendees(event: dict) -> dict[str, dict]:
    return {a["email"].removeprefix("mailto:"): a for a in event["attendees"]}


def edit_form(booking: Booking, **over) -> dict[str, str]:
    data = dict(kind=booking.kind, title=booking.title, client_id=str(booking.client_id),
                starts_at="2026-12-08T10:00", ends_at="2026-12-08T11:30",
                timezone=booking.timezone, location=booking.location, needs_technical="1",
                needs_creative="0", needs_other="0")
    data.update(over)
    return data


class Inputs(HTMLParser):
    """Inputs by id, buttons' data-copy targets and forms' (method, action)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.inputs: dict[str, str] = {}
        self.copy_targets: list[str] = []
        self.forms: list[tuple[str, str]] = []
        self.labels: set[str] = set()
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("id"):
            self.inputs[a["id"]] = a.get("value") or ""
        elif tag == "button" and a.get("data-copy"):
            self.copy_targets.append(a["data-copy"])
        elif tag == "form":
            self.forms.append(((a.get("method") or "get").lower(), a.get("action") or ""))
        elif tag == "label" and a.get("for"):
            self.labels.add(a["for"])


def profile_links(client) -> Inputs:
    response = client.get("/profile")
    assert response.status_code == 200
    return Inputs(response.get_data(as_text=True))


# --- the link: profile page and CLI ----------------------------------------------------------


def test_profile_shows_webcal_and_https_links_with_copy_buttons_and_rotate(
        app, ae, acme, make_booking, login_as, client):
    app.config["AEPLAN_BASE_URL"] = BASE
    booking = make_booking(acme, starts_at=T0 + timedelta(days=1))
    page = profile_links(login_as(ae))

    https, webcal = page.inputs["feed-https"], page.inputs["feed-webcal"]
    assert re.fullmatch(rf"{re.escape(BASE)}/feeds/[A-Za-z0-9_-]+\.ics", https), https
    assert webcal == "webcal://" + https.removeprefix("https://")
    assert {"feed-https", "feed-webcal"} <= set(page.copy_targets)
    assert {"feed-https", "feed-webcal"} <= page.labels
    assert ("post", "/profile/feed/rotate") in page.forms
    # The owner sees the same link again on the next visit.
    assert profile_links(client).inputs["feed-https"] == https

    client.post("/logout")
    path = https.removeprefix(BASE)
    assert feed_uids(client, path) == {booking.uid}


def test_profile_link_uses_the_request_host_without_a_base_url(ae, login_as):
    page = profile_links(login_as(ae))
    assert page.inputs["feed-https"].startswith("http://localhost/feeds/")
    assert page.inputs["feed-webcal"].startswith("webcal://localhost/feeds/")


def test_cli_prints_the_same_working_link_as_the_profile(app, runner, ae, acme, make_booking,
                                                        login_as, client):
    app.config["AEPLAN_BASE_URL"] = BASE
    booking = make_booking(acme, starts_at=T0 + timedelta(days=2))

    result = runner.invoke(args=["feed-url", ae.email])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith(f"{BASE}/feeds/") and url.endswith(".ics")
    again = runner.invoke(args=["feed-url", ae.email])
    assert again.stdout.strip() == url  # the link is stable until rotated
    assert feed_uids(client, url.removeprefix(BASE)) == {booking.uid}
    assert profile_links(login_as(ae)).inputs["feed-https"] == url


def test_cli_refuses_unknown_and_deactivated_users(runner, make_user):
    unknown = runner.invoke(args=["feed-url", "nobody@example.com"])
    assert unknown.exit_code != 0
    assert "nobody@example.com" in unknown.output
    gone = make_user("ae", active=False)
    deactivated = runner.invoke(args=["feed-url", gone.email])
    assert deactivated.exit_code != 0
    assert "/feeds/" not in deactivated.stdout


# --- tokens --------------------------------------------------------------------------------------


def test_token_carries_at_least_128_secret_bits(ae, other_ae, acme):
    paths = [feed_path(ae), feed_path(other_ae), feed_path(ae, client=acme)]
    macs = []
    for path in paths:
        match = re.fullmatch(r"(\d+)-(me|c\d+)-([A-Za-z0-9_-]+)", token_of(path))
        assert match, path
        mac = match[3]
        assert len(mac) * 6 >= 128, f"{len(mac) * 6} bits"
        macs.append(mac)
    assert len(set(macs)) == 3


def test_the_database_alone_never_yields_a_working_url(ae, acme, make_booking, client):
    make_booking(acme)
    path = feed_path(ae)
    assert client.get(path).status_code == 200
    user = reload(type(ae), ae.id)
    secret = user.feed_secret
    assert secret and secret not in path
    # Whoever reads the database has the per-user secret, but not the server-side key.
    for guessed_key in (b"", secret.encode(), b"test-secret",
                        calendar.derive_key("some other secret")):
        forged = f"{user.id}-me-{calendar._mac(guessed_key, user, 'me')}"
        assert client.get(calendar.feed_url_path(forged)).status_code == 404


def test_rotating_the_link_kills_the_old_url(ae, acme, make_booking, login_as, client):
    booking = make_booking(acme)
    old = profile_links(login_as(ae)).inputs["feed-https"].removeprefix("http://localhost")
    old_client_feed = feed_path(ae, client=acme)
    assert client.get(old).status_code == 200
    assert client.get(old_client_feed).status_code == 200

    response = client.post("/profile/feed/rotate")
    assert response.status_code == 303
    new = profile_links(client).inputs["feed-https"].removeprefix("http://localhost")

    assert new != old
    assert client.get(old).status_code == 404
    assert client.get(old_client_feed).status_code == 404  # every link of the user
    assert feed_uids(client, new) == {booking.uid}
    client.post("/logout")
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200


def test_rotating_needs_sign_in(client):
    response = client.post("/profile/feed/rotate")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_deactivated_user_feed_answers_404(make_user, ae, acme, make_booking, login_as, client):
    make_booking(acme)
    path = feed_path(ae)
    assert client.get(path).status_code == 200
    admin = make_user("admin")
    response = login_as(admin).post(f"/admin/users/{ae.id}/active", data={"active": "0"})
    assert response.status_code == 303
    client.post("/logout")
    assert client.get(path).status_code == 404


NOT_TOKENS = [
    "nope",
    "",
    "1-me-",
    "1-me-" + "A" * 31,
    "1-me-" + "A" * 33,
    "999999-me-" + "A" * 32,
    "9999999999-me-" + "A" * 32,
    "99999999999-me-" + "A" * 32,
    "1-c9999999999-" + "A" * 32,
    "1-xx-" + "A" * 32,
    "-1-me-" + "A" * 32,
    "1-me-" + "A" * 30 + "==",
    "1-me-" + "Ä" * 32,
    "1-me-" + "A" * 32 + "\n",
    "x" * 5000,
    "%00",
    "..%2F..%2Fetc%2Fpasswd",
]


def test_unknown_and_malformed_tokens_answer_404_without_a_hint(ae, acme, make_booking, client):
    make_booking(acme)
    real = token_of(feed_path(ae))
    user_id = real.split("-")[0]
    reference = client.get("/feeds/" + "Z" * 10 + ".ics")
    assert reference.status_code == 404

    wrong_mac = f"{user_id}-me-" + ("B" if real[-1] == "A" else "A") * 32
    flipped = real[:-1] + ("B" if real[-1] == "A" else "A")
    other_scope = real.replace("-me-", "-c1-")
    never_issued = f"{int(user_id) + 1000}-me-{real.split('-')[-1]}"
    for token in [*NOT_TOKENS, wrong_mac, flipped, other_scope, never_issued, real.upper()]:
        response = client.get(f"/feeds/{token}.ics")
        assert response.status_code == 404, token
        assert response.data == reference.data, token
        assert "ETag" not in response.headers and "Last-Modified" not in response.headers
    assert client.get(f"/feeds/{real}.ics").status_code == 200


def test_user_without_a_feed_secret_has_no_working_url(ae, acme, make_booking, client):
    make_booking(acme)
    assert reload(type(ae), ae.id).feed_secret is None
    response = client.get(f"/feeds/{ae.id}-me-" + "A" * 32 + ".ics")
    assert response.status_code == 404


# --- what each feed holds ----------------------------------------------------------------------


@pytest.fixture
def world(ae, other_ae, support, manager, acme, globex, make_booking, make_user, assign):
    """Bookings of two AEs, with the support person in every kind of assignment."""
    day = timedelta(days=1)
    b = dict(
        a1=make_booking(acme, starts_at=T0 + day, title="Acme pending"),
        a2=make_booking(acme, starts_at=T0 + 2 * day, status="confirmed", title="Acme accepted"),
        a_cancelled=make_booking(acme, starts_at=T0 + 3 * day, status="cancelled", sequence=1),
        a_recent=make_booking(acme, starts_at=NOW - 59 * day - timedelta(hours=2),
                              ends_at=NOW - 59 * day, status="done"),
        a_old=make_booking(acme, starts_at=NOW - 61 * day - timedelta(hours=2),
                           ends_at=NOW - 61 * day, status="done"),
        a_ahead=make_booking(acme, starts_at=NOW + 500 * day),
        a_too_far=make_booking(acme, starts_at=NOW + 560 * day),
        g1=make_booking(globex, starts_at=T0 + day + timedelta(hours=4), title="Globex declined"),
        g2=make_booking(globex, starts_at=T0 + 4 * day, title="Globex removed"),
        g3=make_booking(globex, starts_at=T0 + 5 * day, title="Globex nobody"),
    )
    assign(b["a1"], support, status="pending")
    assign(b["a2"], support, status="accepted")
    assign(b["a_cancelled"], support, status="accepted")
    assign(b["g1"], support, status="declined", note="Ill")
    assign(b["g2"], support, status="accepted", removed_at=NOW - timedelta(days=1))
    return {name: booking.uid for name, booking in b.items()}


def test_ae_feed_has_own_bookings_in_the_window(world, ae, client):
    assert feed_uids(client, feed_path(ae)) == \
        {world["a1"], world["a2"], world["a_recent"], world["a_ahead"]}


def test_other_ae_feed_has_only_theirs(world, other_ae, client):
    assert feed_uids(client, feed_path(other_ae)) == {world["g1"], world["g2"], world["g3"]}


def test_support_feed_has_assignments_not_declined_or_removed(world, support, client):
    result = read_feed(client.get(feed_path(support)))
    assert {e["uid"] for e in result["events"]} == {world["a1"], world["a2"]}
    for event in result["events"]:
        assert "Tomás Técnico" in event["description"]  # who is going, without ATTENDEE


def test_manager_feed_has_everyones(world, manager, client):
    assert feed_uids(client, feed_path(manager)) == {
        world[name] for name in ("a1", "a2", "a_recent", "a_ahead", "g1", "g2", "g3")}


def test_client_feed_for_its_ae_and_for_managers(world, ae, manager, acme, globex, client):
    acme_uids = {world["a1"], world["a2"], world["a_recent"], world["a_ahead"]}
    result = read_feed(client.get(feed_path(ae, client=acme)))
    assert {e["uid"] for e in result["events"]} == acme_uids
    assert "Nordwind AG" in result["calendar"]["name"]
    assert feed_uids(client, feed_path(manager, client=acme)) == acme_uids
    assert feed_uids(client, feed_path(manager, client=globex)) == \
        {world["g1"], world["g2"], world["g3"]}
    # A client feed is not the personal feed: different calendar UID and URL.
    personal = read_feed(client.get(feed_path(ae)))
    assert personal["calendar"]["uid"] != result["calendar"]["uid"]


def test_client_feed_is_refused_to_other_aes_and_support(world, other_ae, support, acme):
    for user in (other_ae, support):
        with pytest.raises(NotAllowed):
            calendar.feed_token(user, key(), client=acme)


def test_signed_client_token_stops_when_the_ae_may_no_longer_follow_the_client(
        world, ae, other_ae, acme, globex, client):
    # Correctly signed, but for a client the AE does not own: still 404.
    user = reload(type(ae), ae.id)
    calendar.feed_token(user, key())  # issues the secret
    db.session.commit()
    forged = f"{ae.id}-c{globex.id}-{calendar._mac(key(), user, f'c{globex.id}')}"
    assert client.get(calendar.feed_url_path(forged)).status_code == 404
    # The client moves to another AE: the old owner's client feed closes.
    path = feed_path(ae, client=acme)
    assert client.get(path).status_code == 200
    moved = reload(type(acme), acme.id)
    moved.owner_id = other_ae.id
    db.session.commit()
    assert client.get(path).status_code == 404


def test_feed_events_carry_the_booking_times_and_sequence(ae, acme, make_booking, client):
    booking = make_booking(acme, starts_at=T0 + timedelta(days=1, hours=5), sequence=7,
                           agenda="Bring the deck")
    [event] = read_feed(client.get(feed_path(ae)))["events"]
    assert event["uid"] == booking.uid
    assert event["sequence"] == 7
    assert event["dtstart"] == "2026-12-08T14:00:00Z"
    assert event["dtend"] == "2026-12-08T15:00:00Z"
    assert "Nordwind AG" in event["summary"]
    assert "Bring the deck" in event["description"]


def test_cancelled_booking_leaves_every_feed(world, ae, support, manager, acme, login_as,
                                             client):
    paths = [feed_path(ae), feed_path(support), feed_path(manager), feed_path(ae, client=acme)]
    for path in paths:
        assert world["a2"] in feed_uids(client, path)
    [booking_id] = db.session.scalars(select(Booking.id).where(Booking.uid == world["a2"]))

    response = login_as(ae).post(f"/bookings/{booking_id}/cancel", data={"reason": "Moved"})
    assert response.status_code == 303
    client.post("/logout")

    for path in paths:
        uids = feed_uids(client, path)
        assert world["a2"] not in uids
        assert world["a1"] in uids


def test_trips_are_all_day_events_ending_the_day_after(ae, acme, make_booking, client):
    make_booking(acme, starts_at=T0 + timedelta(days=2))
    trip = Trip(owner_id=ae.id, title="Hamburg, Bremen", destination="Hamburg; Bremen",
                timezone="Europe/Berlin", starts_on=date(2026, 12, 9), ends_on=date(2026, 12, 11))
    db.session.add(trip)
    db.session.commit()
    path = feed_path(ae)

    response = client.get(path)
    result = read_feed(response)
    [event] = [e for e in result["events"] if e["all_day"]]
    assert (event["dtstart"], event["dtend"]) == ("2026-12-09", "2026-12-12")
    assert "DTSTART;VALUE=DATE:20261209" in interop.property_lines(response.data, "DTSTART")
    assert "DTEND;VALUE=DATE:20261212" in interop.property_lines(response.data, "DTEND")
    assert event["location"] == "Hamburg; Bremen"
    assert "Hamburg, Bremen" in event["summary"]
    assert len(result["events"]) == 2

    trip = reload(Trip, trip.id)
    trip.cancelled_at = NOW
    db.session.commit()
    assert event["uid"] not in feed_uids(client, path)


# --- conditional GET and gzip ----------------------------------------------------------------


def validators(response) -> tuple[str, datetime]:
    etag, weak = response.get_etag()
    assert etag and not weak, "a strong ETag"
    assert response.last_modified is not None
    return response.headers["ETag"], response.last_modified


def test_conditional_get_200_then_304_then_change_then_200(ae, acme, make_booking, login_as,
                                                          client, clock):
    booking = make_booking(acme, starts_at=T0 + timedelta(days=1))
    path = feed_path(ae)

    first = client.get(path)
    read_feed(first)
    etag, modified = validators(first)
    assert first.headers["Cache-Control"]
    assert modified <= clock.now

    by_etag = client.get(path, headers={"If-None-Match": etag})
    assert by_etag.status_code == 304
    assert by_etag.data == b""
    assert by_etag.headers["ETag"] == etag

    by_date = client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert by_date.status_code == 304
    assert by_date.data == b""
    later = (modified + timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert client.get(path, headers={"If-Modified-Since": later}).status_code == 304

    clock.advance(minutes=10)
    response = login_as(ae).post(f"/bookings/{booking.id}/edit", data=edit_form(
        booking, starts_at="2026-12-09T14:00", ends_at="2026-12-09T15:30"))
    assert response.status_code == 303
    client.post("/logout")

    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    new_etag, new_modified = validators(changed)
    assert new_etag != etag
    assert new_modified >= modified
    assert new_modified > modified  # time moved on and the bytes changed
    [event] = read_feed(changed)["events"]
    assert event["dtstart"] == "2026-12-09T13:00:00Z"

    # A poller that only knows the old date gets the new feed too.
    stale = client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert stale.status_code == 200
    assert client.get(path, headers={"If-None-Match": new_etag}).status_code == 304


def test_if_none_match_is_read_as_rfc_9110_says(ae, acme, make_booking, client):
    make_booking(acme)
    path = feed_path(ae)
    first = client.get(path)
    etag, _ = validators(first)
    later = (first.last_modified + timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")

    # One of several tags; any tag with "*".
    assert client.get(path, headers={"If-None-Match": f'"nope", {etag}'}).status_code == 304
    assert client.get(path, headers={"If-None-Match": "*"}).status_code == 304
    # If-None-Match uses the weak comparison (13.1.2), so a proxy that weakened the tag
    # still gets its 304.
    weak = client.get(path, headers={"If-None-Match": f"W/{etag}"})
    assert weak.status_code == 304, "W/ tag with the same opaque value"
    # A present If-None-Match decides alone; If-Modified-Since is then ignored (13.2.2).
    other = client.get(path, headers={"If-None-Match": '"nope"', "If-Modified-Since": later})
    assert other.status_code == 200
    assert other.data == first.data
    # A 304 carries the fields the 200 would have that caches need (15.4.5).
    not_modified = client.get(path, headers={"If-None-Match": etag})
    for name in ("ETag", "Cache-Control", "Vary"):
        assert not_modified.headers.get(name) == first.headers.get(name), name


def test_same_bytes_keep_their_etag_and_last_modified(ae, acme, globex, make_booking,
                                                      login_as, other_ae, client, clock):
    """Changes that do not touch this feed (another AE's booking, a new day) leave its bytes,
    ETag and Last-Modified alone, and a poller holding them still gets a 304."""
    make_booking(acme, starts_at=T0 + timedelta(days=1))
    other = make_booking(globex, starts_at=T0 + timedelta(days=2))
    path = feed_path(ae)
    first = client.get(path)
    etag, modified = validators(first)

    clock.advance(minutes=5)
    response = login_as(other_ae).post(f"/bookings/{other.id}/edit", data=edit_form(
        other, starts_at="2026-12-10T10:00", ends_at="2026-12-10T11:00"))
    assert response.status_code == 303
    client.post("/logout")

    polled = client.get(path, headers={"If-None-Match": etag})
    assert polled.status_code == 304, "unchanged bytes, matching ETag"
    again = client.get(path)
    assert again.data == first.data
    assert validators(again) == (etag, modified)

    clock.advance(days=1)  # the window moves; nothing enters or leaves it
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert validators(client.get(path)) == (etag, modified)


def test_last_modified_never_moves_backwards(ae, acme, make_booking, login_as, client, clock):
    booking = make_booking(acme, starts_at=T0 + timedelta(days=1))
    path = feed_path(ae)
    _, before = validators(client.get(path))
    clock.advance(hours=2)
    login_as(ae).post(f"/bookings/{booking.id}/edit", data=edit_form(
        booking, starts_at="2026-12-08T12:00", ends_at="2026-12-08T13:00"))
    _, after_change = validators(client.get(path))
    clock.now = NOW - timedelta(hours=3)  # a worker whose clock is behind
    login_as(ae).post(f"/bookings/{booking.id}/edit", data=edit_form(
        booking, starts_at="2026-12-08T15:00", ends_at="2026-12-08T16:00"))
    _, after_skew = validators(client.get(path))
    assert before <= after_change <= after_skew


def test_gzip_when_the_client_accepts_it(ae, acme, make_booking, client):
    for i in range(20):
        make_booking(acme, starts_at=T0 + timedelta(days=i), agenda="Agenda " * 50)
    path = feed_path(ae)
    plain = client.get(path)
    zipped = client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})

    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) < len(plain.data) / 3
    for response in (plain, zipped):
        assert "accept-encoding" in response.headers["Vary"].lower()
    assert len(read_feed(zipped)["events"]) == 20
    # The two encodings are different representations, each with its own strong ETag,
    # and each is answered with a 304.
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    not_modified = client.get(path, headers={"Accept-Encoding": "gzip",
                                             "If-None-Match": zipped.headers["ETag"]})
    assert not_modified.status_code == 304
    assert not_modified.data == b""


def test_no_gzip_when_the_client_refuses_it(ae, acme, make_booking, client):
    make_booking(acme)
    path = feed_path(ae)
    plain = client.get(path)
    for header in ("identity", "gzip;q=0, identity", "deflate"):
        response = client.get(path, headers={"Accept-Encoding": header})
        assert "Content-Encoding" not in response.headers, header
        assert response.data == plain.data, header


def test_feed_serves_the_same_bytes_to_every_poll(ae, acme, make_booking, client):
    for i in range(3):
        make_booking(acme, starts_at=T0 + timedelta(days=i))
    path = feed_path(ae)
    bodies = {client.get(path).data for _ in range(3)}
    assert len(bodies) == 1


# --- the invitation download ---------------------------------------------------------------------


def test_invitation_is_a_request_with_the_booking(ae, acme, make_booking, login_as, client):
    booking = make_booking(acme, starts_at=T0 + timedelta(days=1), sequence=2,
                           agenda="1. Intro\n2. Demo")
    response = invite(login_as(ae), booking.id)
    cal, event = read_invite(response)

    assert response.headers["Content-Type"].startswith("text/calendar")
    assert "attachment" in response.headers.get("Content-Disposition", "")
    assert event["uid"] == booking.uid
    assert event["sequence"] == 2
    assert event["dtstart"] == "2026-12-08T09:00:00Z"
    assert event["organizer"]["email"] == f"mailto:{ae.email}"
    assert event["organizer"]["cn"] == "Olga Owner"
    assert event["url"].endswith(f"/bookings/{booking.id}")
    assert event["location"] == booking.location
    assert "Nordwind AG" in event["description"] and "1. Intro\n2. Demo" in event["description"]
    assert event["alarms"] == 0


def test_booking_page_links_the_download(ae, acme, make_booking, login_as):
    booking = make_booking(acme)
    page = login_as(ae).get(f"/bookings/{booking.id}").get_data(as_text=True)
    assert f'href="/bookings/{booking.id}/invite.ics"' in page


def test_reschedule_raises_sequence_and_keeps_uid(ae, acme, make_booking, login_as, client):
    booking = make_booking(acme)
    signed_in = login_as(ae)
    _, before = read_invite(invite(signed_in, booking.id))

    response = signed_in.post(f"/bookings/{booking.id}/edit", data=edit_form(
        booking, starts_at="2026-12-10T15:00", ends_at="2026-12-10T16:00"))
    assert response.status_code == 303
    _, after = read_invite(invite(signed_in, booking.id))

    assert after["uid"] == before["uid"] == booking.uid
    assert after["sequence"] > before["sequence"]
    assert (after["dtstart"], after["dtend"]) == ("2026-12-10T14:00:00Z", "2026-12-10T15:00:00Z")


def test_staffing_changes_raise_sequence_and_show_partstat(ae, acme, support, make_booking,
                                                            login_as, client):
    booking = make_booking(acme)
    signed_in = login_as(ae)
    _, before = read_invite(invite(signed_in, booking.id))
    assert attendees(before) == {}

    response = signed_in.post(f"/bookings/{booking.id}/assignments",
                              data={"user_id": str(support.id), "role": "technical"})
    assert response.status_code == 303
    _, assigned = read_invite(invite(signed_in, booking.id))
    assert assigned["uid"] == booking.uid
    assert assigned["sequence"] > before["sequence"]
    person = attendees(assigned)["tomas@aeplan.example"]
    assert person == {"email": "mailto:tomas@aeplan.example", "cn": "Tomás Técnico",
                      "partstat": "NEEDS-ACTION", "role": "REQ-PARTICIPANT",
                      "cutype": "INDIVIDUAL", "rsvp": "TRUE"}

    [assignment_id] = db.session.scalars(select(Assignment.id).where(
        Assignment.booking_id == booking.id))
    response = login_as(support).post(f"/assignments/{assignment_id}/accept")
    assert response.status_code == 303
    _, accepted = read_invite(invite(client, booking.id))  # the support person downloads it
    assert attendees(accepted)["tomas@aeplan.example"]["partstat"] == "ACCEPTED"
    assert accepted["uid"] == booking.uid
    assert "Tomás Técnico" in accepted["description"]


def test_declined_person_is_declined_and_not_listed_as_going(ae, acme, support, make_booking,
                                                            assign, login_as):
    booking = make_booking(acme)
    assign(booking, support, status="declined", note="Ill")
    _, event = read_invite(invite(login_as(ae), booking.id))
    assert attendees(event)["tomas@aeplan.example"]["partstat"] == "DECLINED"
    assert "Tomás Técnico" not in event["description"]


def test_removed_person_leaves_the_attendees(ae, acme, support, make_booking, assign,
                                             login_as):
    booking = make_booking(acme)
    assignment = assign(booking, support, status="accepted")
    signed_in = login_as(ae)
    _, before = read_invite(invite(signed_in, booking.id))
    assert "tomas@aeplan.example" in attendees(before)

    response = signed_in.post(
        f"/bookings/{booking.id}/assignments/{assignment.id}/remove")
    assert response.status_code == 303
    _, after = read_invite(invite(signed_in, booking.id))
    assert "tomas@aeplan.example" not in attendees(after)
    assert after["sequence"] > before["sequence"]
    assert after["uid"] == booking.uid


def test_invited_client_contacts_are_attendees(ae, acme, make_booking, make_contact, login_as):
    booking = make_booking(acme)
    pat = make_contact(acme, name='Pat "PJ" Meyer', email="pat@nordwind.example")
    kim = make_contact(acme, name="Kim, Lee", email="kim@nordwind.example")
    make_contact(acme, name="Not Invited", email="no@nordwind.example")
    signed_in = login_as(ae)
    _, before = read_invite(invite(signed_in, booking.id))

    response = signed_in.post(f"/bookings/{booking.id}/contacts",
                              data={"contact_ids": [str(pat.id), str(kim.id)]})
    assert response.status_code == 303
    response = invite(signed_in, booking.id)
    _, event = read_invite(response)

    people = attendees(event)
    assert set(people) == {"pat@nordwind.example", "kim@nordwind.example"}
    assert people["kim@nordwind.example"]["cn"] == "Kim, Lee"
    assert '"' not in people["pat@nordwind.example"]["cn"]
    for person in people.values():
        assert person["rsvp"] == "TRUE" and person["partstat"] == "NEEDS-ACTION"
        assert person["cutype"] and person["role"]
    for line in interop.property_lines(response.data, "ATTENDEE"):
        interop.strict_line(line)
    assert event["sequence"] > before["sequence"]


def test_cancel_turns_the_invitation_into_a_cancel(ae, acme, support, make_booking, assign,
                                                   login_as):
    booking = make_booking(acme)
    assign(booking, support, status="accepted")
    signed_in = login_as(ae)
    _, before = read_invite(invite(signed_in, booking.id))

    response = signed_in.post(f"/bookings/{booking.id}/cancel", data={"reason": "Client ill"})
    assert response.status_code == 303
    response = invite(signed_in, booking.id)
    cal, event = read_invite(response, method="CANCEL")

    assert interop.property_lines(response.data, "METHOD") == ["METHOD:CANCEL"]
    assert event["status"] == "CANCELLED"
    assert event["uid"] == booking.uid
    assert event["sequence"] > before["sequence"]
    assert event["alarms"] == 0
    assert "tomas@aeplan.example" in attendees(event)


def test_support_not_on_the_booking_gets_404(acme, make_booking, make_user, login_as):
    booking = make_booking(acme)
    stranger = make_user("support")
    assert invite(login_as(stranger), booking.id).status_code == 404  # as if missing


def test_invitation_needs_sign_in(acme, make_booking, client):
    booking = make_booking(acme)
    response = invite(client, booking.id)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_invitation_of_a_missing_booking_is_404(ae, login_as):
    assert invite(login_as(ae), 987654).status_code == 404


def test_invitation_is_not_cached_by_shared_caches(ae, acme, make_booking, login_as):
    booking = make_booking(acme)
    response = invite(login_as(ae), booking.id)
    assert "private" in response.headers.get("Cache-Control", "") or \
        "no-store" in response.headers.get("Cache-Control", "")


# --- a bounded number of queries per poll -------------------------------------------------------


def add_bookings(client_row, n: int) -> None:
    start = T0 - timedelta(days=30)
    db.session.add_all([
        Booking(kind="demo", title=f"Demo {i}", client_id=client_row.id,
                owner_id=client_row.owner_id, starts_at=start + timedelta(hours=7 * i),
                ends_at=start + timedelta(hours=7 * i + 1), timezone="Europe/Berlin",
                location="Online", status="confirmed")
        for i in range(n)
    ])
    db.session.commit()


def poll_costs(client, count_queries, path: str, events: int) -> tuple[int, int]:
    """Queries for a cached 200 and for a 304, after a first poll built the cache."""
    first = client.get(path)
    assert len(read_feed(first)["events"]) == events
    cached = None
    for _ in range(2):  # the second poll is the steady state
        with count_queries() as queries:
            response = client.get(path)
        assert response.status_code == 200
        assert response.data == first.data
        cached = queries()
    with count_queries() as queries:
        response = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert response.status_code == 304
    return cached, queries()


def test_cached_feed_and_304_cost_the_same_queries_for_10_and_300_bookings(
        ae, acme, client, count_queries):
    path = feed_path(ae)
    add_bookings(acme, 10)
    small = poll_costs(client, count_queries, path, 10)
    add_bookings(acme, 290)
    large = poll_costs(client, count_queries, path, 300)

    assert small == large, f"10 bookings: {small}, 300 bookings: {large} (cached 200, 304)"
    assert small[1] <= small[0]
    assert small[0] <= 6, f"a cached poll ran {small[0]} queries"
