"""The iCalendar builders (`aeplan.calendar.ical`) as pure functions: invitations,
cancellations, uninvitations and feeds, each read back by icalendar, vobject (validating)
and ical.js, which must agree. Bad input survives the round trip; bookings across a
daylight-saving change keep their wall-clock times."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from aeplan.bookings import service as bookings
from aeplan.bookings.service import BookingInput
from aeplan.calendar import ical
from aeplan.calendar import service as calendar
from aeplan.calendar.ical import EventData, Person
from aeplan.extensions import db
from tests import interop

BASE = "https://plan.example.com"
START = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
STAMP = datetime(2026, 12, 1, 8, 30, 15, tzinfo=UTC)

AE = Person("Olga Owner", "olga@aeplan.example", "ACCEPTED", role="CHAIR", label="AE")
TECH = Person("Tomás Técnico", "tomas@aeplan.example", "ACCEPTED", label="technical")
DESIGNER = Person("Dana Design", "dana@aeplan.example", "NEEDS-ACTION", label="creative")
DECLINER = Person("Dirk Declines", "dirk@aeplan.example", "DECLINED", label="technical")
GUEST = Person('Pat "PJ" O\'Neil', "pat@nordwind.example", "NEEDS-ACTION",
               label="Nordwind AG")
AGENDA = "1. Welcome\n2. Payments API walkthrough\n3. Q&A"


def booking(**over) -> EventData:
    values = dict(
        uid="8c1f6a1e-0d55-4a39-9c77-2f0d7f1b2a10@aeplan", sequence=3,
        summary="Nordwind AG: Platform demo", status="confirmed",
        starts_at=START, ends_at=START + timedelta(hours=1, minutes=30), stamp=STAMP,
        organizer=AE, attendees=(TECH, DESIGNER, DECLINER, GUEST),
        location="Nordwind HQ, Hafenstraße 1, Hamburg", url=f"{BASE}/bookings/17",
        client="Nordwind AG", kind="demo", agenda=AGENDA, timezone="Europe/Berlin",
    )
    values.update(over)
    return EventData(**values)


def check_wire_format(data: bytes) -> None:
    """What every output must be on the wire, whichever parser reads it."""
    assert interop.overlong_lines(data) == []  # folded at 75 octets
    lines = interop.content_lines(data)  # CRLF everywhere, unfolds
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    for line in lines:
        interop.strict_line(line)
    assert [line for line in lines if line.startswith(("VERSION:", "PRODID:"))] \
        == ["VERSION:2.0", f"PRODID:{ical.PRODID}"]


def read(data: bytes) -> tuple[dict, dict]:
    check_wire_format(data)
    return interop.only_event(data)


def attendees_by_email(event: dict) -> dict[str, dict]:
    people = {a["email"].removeprefix("mailto:"): a for a in event["attendees"]}
    assert len(people) == len(event["attendees"]), "one ATTENDEE per person"
    return people


# --- ical.js itself ---------------------------------------------------------------------


def test_icaljs_is_installed_to_read_the_output():
    """Without node (or `make test`), every ical.js reading below is left out: this says so
    in the summary, and fails instead under AEPLAN_REQUIRE_ICALJS=1 (CI)."""
    missing = interop.icaljs_missing()
    if missing and interop.icaljs_required():
        pytest.fail(f"{missing} (AEPLAN_REQUIRE_ICALJS=1)")
    if missing:
        pytest.skip(missing)
    result = interop.parse_icaljs(ical.invitation(booking()))
    assert result["calendar"]["method"] == "REQUEST"
    assert result["events"][0]["uid"] == booking().uid


def test_icaljs_refuses_what_is_not_icalendar():
    """The ical.js check is real: the script fails on garbage instead of printing {}."""
    missing = interop.icaljs_missing()
    if missing and interop.icaljs_required():
        pytest.fail(f"{missing} (AEPLAN_REQUIRE_ICALJS=1)")
    if missing:
        pytest.skip(missing)
    with pytest.raises(AssertionError, match="ical.js refused"):
        interop.parse_icaljs(b"BEGIN:VCALENDAR\r\nthis is not a content line\r\n")


# --- invitations --------------------------------------------------------------------------


def test_invitation_is_an_itip_request_from_one_organizer():
    data = ical.invitation(booking())
    cal, event = read(data)

    assert cal["method"] == "REQUEST"
    assert len(interop.property_lines(data, "METHOD")) == 1
    assert len(interop.property_lines(data, "ORGANIZER")) == 1
    assert event["organizer"]["email"] == "mailto:olga@aeplan.example"
    assert event["organizer"]["cn"] == "Olga Owner"
    assert event["uid"] == booking().uid
    assert event["sequence"] == 3
    assert event["status"] == "CONFIRMED"
    assert event["alarms"] == 0


def test_invitation_has_an_attendee_per_person_with_cn_cutype_role_partstat_rsvp():
    data = ical.invitation(booking())
    _, event = read(data)

    people = attendees_by_email(event)
    assert set(people) == {"tomas@aeplan.example", "dana@aeplan.example",
                           "dirk@aeplan.example", "pat@nordwind.example"}
    assert people["tomas@aeplan.example"] == {
        "email": "mailto:tomas@aeplan.example", "cn": "Tomás Técnico",
        "partstat": "ACCEPTED", "role": "REQ-PARTICIPANT", "cutype": "INDIVIDUAL",
        "rsvp": "TRUE",
    }
    assert people["dana@aeplan.example"]["partstat"] == "NEEDS-ACTION"
    assert people["dirk@aeplan.example"]["partstat"] == "DECLINED"
    for person in people.values():
        assert person["cn"] and person["cutype"] and person["role"]
        assert person["rsvp"] == "TRUE"
    # The organizer is not also an attendee.
    assert "olga@aeplan.example" not in people


@pytest.mark.parametrize("name", [
    'Pat "PJ" O\'Neil',
    '"Quoted" at the start',
    'Müller, Jörg; "der Jüngere": CTO',
    'Just a quote: "',
])
def test_cn_never_carries_a_dquote_inside_the_value(name):
    """RFC 5545 3.1: DQUOTE may not appear inside a parameter value. The strict reading of
    each line fails if one does; every parser still finds the person."""
    guest = Person(name, "guest@nordwind.example", label="Nordwind AG")
    organizer = replace(AE, name=name)
    data = ical.invitation(booking(organizer=organizer, attendees=(guest,)))

    for line in interop.property_lines(data, "ATTENDEE") + \
            interop.property_lines(data, "ORGANIZER"):
        _, params, value = interop.strict_line(line)
        assert '"' not in params["CN"]
        assert value.startswith("mailto:")
    _, event = read(data)
    words = [w for w in name.replace('"', " ").replace("'", " ").split() if len(w) > 2]
    for cn in (event["attendees"][0]["cn"], event["organizer"]["cn"]):
        assert '"' not in cn
        for word in words:
            assert word in cn


def test_uid_stays_while_the_booking_changes():
    first = read(ical.invitation(booking()))[1]
    moved = read(ical.invitation(booking(
        sequence=4, starts_at=START + timedelta(days=2), ends_at=START + timedelta(days=2, hours=1),
        location="Online", attendees=(TECH,))))[1]
    cancelled = read(ical.invitation(booking(sequence=5, status="cancelled")))[1]

    assert first["uid"] == moved["uid"] == cancelled["uid"] == booking().uid
    assert (first["sequence"], moved["sequence"], cancelled["sequence"]) == (3, 4, 5)


def test_times_are_utc_with_z_and_no_tzid_anywhere():
    berlin = ZoneInfo("Europe/Berlin")
    data = ical.invitation(booking(
        starts_at=datetime(2026, 12, 8, 10, 0, tzinfo=berlin),  # 09:00 UTC
        ends_at=datetime(2026, 12, 8, 11, 30, tzinfo=berlin),
    ))
    cal, event = read(data)

    assert b"TZID" not in data
    assert cal["timezones"] == 0
    assert interop.property_lines(data, "DTSTART") == ["DTSTART:20261208T090000Z"]
    assert interop.property_lines(data, "DTEND") == ["DTEND:20261208T103000Z"]
    assert (event["dtstart"], event["dtend"]) == ("2026-12-08T09:00:00Z", "2026-12-08T10:30:00Z")
    assert event["all_day"] is False


def test_a_naive_time_is_refused_rather_than_written_floating():
    with pytest.raises(ValueError):
        ical.invitation(booking(starts_at=datetime(2026, 12, 8, 9, 0)))


def test_dtstamp_is_present_in_utc():
    data = ical.invitation(booking())
    _, event = read(data)
    assert interop.property_lines(data, "DTSTAMP") == ["DTSTAMP:20261201T083015Z"]
    assert event["dtstamp"] == "2026-12-01T08:30:15Z"


def test_location_url_and_description_say_client_kind_agenda_and_who_is_going():
    data = ical.invitation(booking())
    _, event = read(data)

    assert event["location"] == "Nordwind HQ, Hafenstraße 1, Hamburg"
    assert event["url"] == f"{BASE}/bookings/17"
    [url_line] = interop.property_lines(data, "URL")
    assert interop.strict_line(url_line)[2] == f"{BASE}/bookings/17"
    text = event["description"]
    assert "Nordwind AG" in text
    assert "demo" in text.lower()
    assert AGENDA in text
    for going in (AE, TECH, DESIGNER, GUEST):
        assert going.name.replace('"', "'") in text or going.name in text, going.name
    # Declined people are not going; their answer is in their PARTSTAT.
    assert DECLINER.name not in text


@pytest.mark.parametrize(("status", "expected"), [
    ("tentative", "TENTATIVE"), ("confirmed", "CONFIRMED"), ("done", "CONFIRMED"),
])
def test_status_of_a_live_booking(status, expected):
    cal, event = read(ical.invitation(booking(status=status)))
    assert cal["method"] == "REQUEST"
    assert event["status"] == expected


def test_cancelled_booking_is_a_cancel_with_the_same_uid_and_no_alarm():
    data = ical.invitation(booking(status="cancelled", sequence=4))
    cal, event = read(data)

    assert cal["method"] == "CANCEL"
    assert interop.property_lines(data, "METHOD") == ["METHOD:CANCEL"]
    assert event["status"] == "CANCELLED"
    assert event["uid"] == booking().uid
    assert event["sequence"] == 4
    assert event["alarms"] == 0
    assert b"VALARM" not in data
    # Everyone who had it is told (RFC 5546 3.2.5: the attendees of the cancelled event).
    assert set(attendees_by_email(event)) >= {"tomas@aeplan.example", "pat@nordwind.example"}


def test_uninvite_is_a_cancel_addressed_to_that_one_person():
    data = ical.uninvite(booking(attendees=(TECH, GUEST), sequence=6), DESIGNER)
    cal, event = read(data)

    assert cal["method"] == "CANCEL"
    assert event["uid"] == booking().uid
    assert event["sequence"] == 6
    assert [a["email"] for a in event["attendees"]] == ["mailto:dana@aeplan.example"]
    assert len(interop.property_lines(data, "ATTENDEE")) == 1
    assert event["organizer"]["email"] == "mailto:olga@aeplan.example"
    assert event["alarms"] == 0


# --- feeds ----------------------------------------------------------------------------------


def trip(**over) -> EventData:
    values = dict(uid="trip-4@aeplan", sequence=0, summary="Trip: Hamburg",
                  status="confirmed", starts_at=date(2026, 12, 7), ends_at=date(2026, 12, 10),
                  stamp=STAMP, location="Hamburg")
    values.update(over)
    return EventData(**values)


def make_feed(events=None, name="AE Plan: Olga Owner") -> bytes:
    if events is None:
        events = [booking(), booking(uid="second@aeplan", starts_at=START + timedelta(days=1),
                                     ends_at=START + timedelta(days=1, hours=2))]
    return ical.feed(events, name=name, calendar_uid="aeplan-feed-7:me@aeplan")


def test_feed_has_no_method_attendee_or_organizer():
    data = make_feed()
    result = interop.parsed(data)
    check_wire_format(data)

    assert result["calendar"]["method"] is None
    for name in ("METHOD", "ATTENDEE", "ORGANIZER"):
        assert interop.property_lines(data, name) == [], name
    assert [e["uid"] for e in result["events"]] == [booking().uid, "second@aeplan"]
    for event in result["events"]:
        assert event["attendees"] == [] and event["organizer"] is None
        # Who is going is still there, in the description.
        assert TECH.name in event["description"]
        assert DECLINER.name not in event["description"]


def test_feed_names_itself_refreshes_hourly_and_has_a_uid():
    data = make_feed(name="AE Plan: Olga Owner")
    cal = interop.parsed(data)["calendar"]

    assert cal["name"] == cal["x_wr_calname"] == "AE Plan: Olga Owner"
    assert interop.property_lines(data, "REFRESH-INTERVAL") == \
        ["REFRESH-INTERVAL;VALUE=DURATION:PT1H"]
    assert interop.property_lines(data, "X-PUBLISHED-TTL") == ["X-PUBLISHED-TTL:PT1H"]
    assert cal["refresh_interval"] == "PT1H"
    assert cal["published_ttl"] == "PT1H"
    assert cal["uid"] == "aeplan-feed-7:me@aeplan"


def test_feed_events_are_in_utc():
    data = make_feed()
    result = interop.parsed(data)
    assert b"TZID" not in data
    assert result["events"][0]["dtstart"] == "2026-12-08T09:00:00Z"
    assert all(line.endswith("Z") for line in interop.property_lines(data, "DTSTART"))


def test_same_data_gives_the_same_bytes():
    assert make_feed() == make_feed()
    assert ical.invitation(booking()) == ical.invitation(booking())
    # A feed made of VEVENTs serialised earlier (the cache) is the very same feed.
    cached = [ical.feed_event(booking()), ical.feed_event(
        booking(uid="second@aeplan", starts_at=START + timedelta(days=1),
                ends_at=START + timedelta(days=1, hours=2)))]
    assert make_feed(cached) == make_feed()


def test_all_day_events_are_dates_ending_the_day_after():
    data = make_feed([trip(), trip(uid="one-day@aeplan", starts_at=date(2026, 12, 24),
                                   ends_at=date(2026, 12, 25))])
    result = interop.parsed(data)

    assert interop.property_lines(data, "DTSTART") == \
        ["DTSTART;VALUE=DATE:20261207", "DTSTART;VALUE=DATE:20261224"]
    assert interop.property_lines(data, "DTEND") == \
        ["DTEND;VALUE=DATE:20261210", "DTEND;VALUE=DATE:20261225"]
    three_days, one_day = result["events"]
    assert (three_days["dtstart"], three_days["dtend"]) == ("2026-12-07", "2026-12-10")
    assert (one_day["dtstart"], one_day["dtend"]) == ("2026-12-24", "2026-12-25")
    assert three_days["all_day"] is one_day["all_day"] is True


def test_feed_with_no_events_is_still_a_valid_calendar():
    data = make_feed([])
    result = interop.parsed(data)
    check_wire_format(data)
    assert result["events"] == []
    assert result["calendar"]["name"] == "AE Plan: Olga Owner"


# --- bad input --------------------------------------------------------------------------------

NASTY = [
    pytest.param("Line one\nLine two\n\nLine four", id="newlines"),
    pytest.param("Commas, semicolons; colons: and more,,;;", id="commas-semicolons"),
    pytest.param('Double "quotes" and \'single\' ones', id="quotes"),
    pytest.param("back\\slash, C:\\temp\\x and a trailing one\\", id="backslashes"),
    pytest.param("\\\\fileserver\\Nordwind\\New Deck.pptx", id="backslash-before-N"),
    pytest.param("literal \\n and \\, and \\; stay literal", id="escape-lookalikes"),
    pytest.param("🚀 Launch 👩🏽‍💻 café Größe 日本語 ﷺ", id="emoji-and-scripts"),
    pytest.param("Tab\there, <b>html</b> & ampersand", id="tab-and-markup"),
    pytest.param("BEGIN:VALARM\nEND:VEVENT\nMETHOD:CANCEL", id="looks-like-icalendar"),
]


def long_agenda() -> str:
    line = 'Punkt 1: Zahlungen, "Risiken"; Größe \\ 🚀 — ok\n'
    text = (line * (5000 // len(line) + 1))[:4999] + "!"
    assert len(text) == 5000
    return text


def assert_survives(data: bytes, *, summary: str, location: str, agenda: str) -> None:
    check_wire_format(data)
    result = interop.parsed(data)
    [event] = result["events"]
    assert event["summary"] == summary
    assert event["location"] == location
    assert agenda in event["description"]
    # The bytes themselves say the same by the letter of RFC 5545.
    assert interop.raw_text(data, "SUMMARY") == [summary]
    assert interop.raw_text(data, "LOCATION") == [location]


@pytest.mark.parametrize("text", NASTY)
def test_bad_input_survives_every_parser(text):
    data = booking(summary=f"Nordwind: {text}", location=text, agenda=text)
    for output in (ical.invitation(data), make_feed([data])):
        assert_survives(output, summary=f"Nordwind: {text}", location=text, agenda=text)


def test_a_5000_character_agenda_survives_every_parser():
    agenda = long_agenda()
    data = booking(agenda=agenda)
    for output in (ical.invitation(data), make_feed([data]),
                   ical.invitation(replace(data, status="cancelled"))):
        assert_survives(output, summary=data.summary, location=data.location, agenda=agenda)
        [event] = interop.parsed(output)["events"]
        assert event["description"].endswith(agenda)


def test_names_with_commas_semicolons_and_emoji_survive_as_attendees():
    people = (Person("Doe, Jane; PhD", "jane@x.example"), Person("Zoë 🚀 Ng", "zoe@x.example"),
              Person("A:B", "ab@x.example"))
    _, event = read(ical.invitation(booking(attendees=people)))
    assert [a["cn"] for a in event["attendees"]] == ["Doe, Jane; PhD", "Zoë 🚀 Ng", "A:B"]


# --- daylight saving time: bookings made through the service ----------------------------------

DST_CASES = [
    # zone, local start, local end, UTC start, UTC end
    pytest.param("Europe/Berlin", datetime(2026, 10, 24, 10, 0), datetime(2026, 10, 26, 16, 0),
                 "2026-10-24T08:00:00Z", "2026-10-26T15:00:00Z", id="berlin-25-oct"),
    pytest.param("America/New_York", datetime(2026, 10, 31, 9, 0), datetime(2026, 11, 2, 17, 0),
                 "2026-10-31T13:00:00Z", "2026-11-02T22:00:00Z", id="new-york-1-nov"),
    pytest.param("Europe/Berlin", datetime(2026, 3, 28, 10, 0), datetime(2026, 3, 30, 16, 0),
                 "2026-03-28T09:00:00Z", "2026-03-30T14:00:00Z", id="berlin-29-mar"),
    pytest.param("America/New_York", datetime(2026, 3, 7, 9, 0), datetime(2026, 3, 9, 17, 0),
                 "2026-03-07T14:00:00Z", "2026-03-09T21:00:00Z", id="new-york-8-mar"),
]


def as_utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@pytest.mark.parametrize(("zone", "local_start", "local_end", "utc_start", "utc_end"), DST_CASES)
def test_visit_across_a_dst_change_keeps_its_wall_clock_times(
        make_user, make_client, zone, local_start, local_end, utc_start, utc_end):
    ae = make_user("ae", timezone=zone)
    client = make_client(ae, name="Hudson & Rhein GmbH", timezone=zone)
    created = bookings.create_booking(BookingInput(
        kind="visit", title="Three-day on-site visit", client_id=client.id,
        starts_local=local_start, ends_local=local_end, timezone=zone,
        location="Client HQ"), actor=ae)
    db.session.commit()
    booking_id = created.id
    db.session.expire_all()
    loaded = calendar.load_for_calendar(booking_id)

    data = calendar.event_data(loaded, base_url=BASE)
    for output in (calendar.invitation(loaded, base_url=BASE),
                   ical.feed([data], name="AE Plan", calendar_uid="x@aeplan")):
        assert b"TZID" not in output
        [event] = interop.parsed(output)["events"]
        check_wire_format(output)
        assert (event["dtstart"], event["dtend"]) == (utc_start, utc_end)
        tz = ZoneInfo(zone)
        assert as_utc(event["dtstart"]).astimezone(tz).replace(tzinfo=None) == local_start
        assert as_utc(event["dtend"]).astimezone(tz).replace(tzinfo=None) == local_end
        assert zone in event["description"]  # the booking's own zone is named
