"""iCalendar output built with the icalendar library: pure functions from plain data to
bytes, used by the routes, the feeds and the mailer alike. Nothing here queries.

Invitations follow iTIP (RFC 5546): METHOD:REQUEST with ORGANIZER and ATTENDEEs, or
METHOD:CANCEL once cancelled (or to a person taken off the booking). Feeds carry no
METHOD and no ATTENDEE. Single events are written in UTC (``...Z``) so that no
client has to resolve a TZID; all-day events use DATE values.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar, Event, vCalAddress, vText

PRODID = "-//AE Plan//aeplan//EN"
STATUS = {"tentative": "TENTATIVE", "confirmed": "CONFIRMED", "done": "CONFIRMED",
          "cancelled": "CANCELLED"}
PARTSTAT = {"pending": "NEEDS-ACTION", "accepted": "ACCEPTED", "declined": "DECLINED"}


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    partstat: str = "NEEDS-ACTION"  # iCalendar PARTSTAT
    role: str = "REQ-PARTICIPANT"
    cutype: str = "INDIVIDUAL"
    label: str = ""  # what they do on the booking, for DESCRIPTION ("technical", "client")


@dataclass(frozen=True)
class EventData:
    """Everything a calendar needs to know about one booking (or trip)."""

    uid: str
    sequence: int
    summary: str
    status: str  # booking status: tentative, confirmed, done, cancelled
    starts_at: datetime | date  # aware UTC datetime, or a date for all-day events
    ends_at: datetime | date  # exclusive: the day after for all-day events
    stamp: datetime  # the last change: the same data gives the same bytes
    organizer: Person | None = None
    attendees: tuple[Person, ...] = ()
    location: str = ""
    url: str = ""
    client: str = ""
    kind: str = ""
    agenda: str = ""
    timezone: str = ""
    extra: tuple[str, ...] = field(default=())  # more DESCRIPTION lines

    @property
    def all_day(self) -> bool:
        return not isinstance(self.starts_at, datetime)

    def digest(self) -> str:
        """A stable fingerprint of the data, for caches."""
        return hashlib.sha256(repr(self).encode()).hexdigest()


class _Text(vText):
    """TEXT escaped per RFC 5545 3.3.11. icalendar 7.3 turns a backslash followed by a
    capital N into a line break before escaping, which mangles Windows paths (a server
    share named Nordwind, say); this escapes the backslash first and nothing else."""

    def to_ical(self) -> bytes:
        text = (str(self).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
                .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))
        return text.encode(self.encoding)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime in calendar data")
    return value.astimezone(UTC)


def _usable(person: Person | None) -> bool:
    """Whether `person` has an address a calendar can take. One stored before addresses
    were checked may hold a line break or a space; it is left out of the event (never
    cleaned up into some other address) instead of breaking the invitation for all."""
    email = person.email if person is not None else ""
    return bool(email) and email.isprintable() and not any(c.isspace() for c in email) \
        and email.count("@") == 1


def _address(person: Person) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    # DQUOTE may not appear inside a parameter value (RFC 5545 3.1).
    # Nor may a line break; a name stored with one is written on one line.
    address.params["CN"] = vText(" ".join(person.name.replace('"', "'").split()))
    return address


def description(event: EventData) -> str:
    lines = []
    if event.client:
        lines.append(f"Client: {event.client}")
    if event.kind:
        lines.append(f"Kind: {event.kind}")
    if event.timezone:
        lines.append(f"Local time zone: {event.timezone}")
    going = [event.organizer] if event.organizer else []
    going += [a for a in event.attendees if a.partstat != "DECLINED"]
    if going:
        people = ", ".join(f"{p.name} ({p.label})" if p.label else p.name for p in going)
        lines.append(f"Who is going: {people}")
    lines.extend(event.extra)
    if event.url:
        lines.append(f"Details: {event.url}")
    if event.agenda:
        lines += ["", "Agenda:", event.agenda]
    return "\n".join(lines)


def _event(event: EventData, *, with_people: bool, attendees: Iterable[Person] | None = None,
           cancelled: bool = False) -> Event:
    component = Event()
    component.add("uid", event.uid)
    component.add("sequence", event.sequence)
    component.add("dtstamp", _utc(event.stamp))
    if event.all_day:
        component.add("dtstart", event.starts_at)
        component.add("dtend", event.ends_at)
        component.add("transp", "TRANSPARENT")
    else:
        component.add("dtstart", _utc(event.starts_at))
        component.add("dtend", _utc(event.ends_at))
    component.add("summary", _Text(event.summary))
    component.add("status", "CANCELLED" if cancelled else STATUS.get(event.status, "CONFIRMED"))
    if event.location:
        component.add("location", _Text(event.location))
    if event.url:
        component.add("url", event.url, parameters={"VALUE": "URI"})
    text = description(event)
    if text:
        component.add("description", _Text(text))
    if with_people:
        if _usable(event.organizer):
            component.add("organizer", _address(event.organizer), encode=0)
        for person in event.attendees if attendees is None else attendees:
            if not _usable(person):
                continue
            address = _address(person)
            address.params["CUTYPE"] = person.cutype
            address.params["ROLE"] = person.role
            address.params["PARTSTAT"] = person.partstat
            address.params["RSVP"] = "TRUE"
            component.add("attendee", address, encode=0)
    return component


def _calendar(method: str | None = None) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    return calendar


def invitation(event: EventData) -> bytes:
    """The booking as an iTIP message: REQUEST, or CANCEL once cancelled (no alarm)."""
    cancelled = event.status == "cancelled"
    calendar = _calendar("CANCEL" if cancelled else "REQUEST")
    calendar.add_component(_event(event, with_people=True, cancelled=cancelled))
    return calendar.to_ical()


def uninvite(event: EventData, person: Person) -> bytes:
    """A CANCEL addressed to one person taken off the booking (RFC 5546 3.2.5)."""
    calendar = _calendar("CANCEL")
    calendar.add_component(_event(event, with_people=True, attendees=[person], cancelled=True))
    return calendar.to_ical()


def feed_event(event: EventData) -> bytes:
    """One VEVENT as it appears in a subscription feed (no ORGANIZER, no ATTENDEE)."""
    return _event(event, with_people=False).to_ical()


def feed(events: Iterable[EventData | bytes], *, name: str, calendar_uid: str,
         description_text: str = "") -> bytes:
    """A subscription calendar. `events` may hold EventData or VEVENT bytes made by
    `feed_event` earlier (feeds reuse each booking's serialised event)."""
    calendar = _calendar()
    calendar.add("name", _Text(name))
    calendar.add("x-wr-calname", _Text(name))
    calendar.add("uid", calendar_uid)
    if description_text:
        calendar.add("x-wr-caldesc", _Text(description_text))
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    head, tail = calendar.to_ical().rsplit(b"END:VCALENDAR", 1)
    parts = [head]
    for item in events:
        parts.append(item if isinstance(item, bytes) else feed_event(item))
    parts.append(b"END:VCALENDAR" + tail)
    return b"".join(parts)
