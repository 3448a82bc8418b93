"""Invitations by email (iMIP, RFC 6047), queued in the outbox with the change.

Services queue notices (`aeplan.calendar.notify`) as they change a booking; when the
transaction commits, a before_commit hook here turns each notice into one email per
recipient and writes them to the outbox (`aeplan.outbox`) in that same transaction.
The outbox worker sends them later; no request ever waits on a mail server. Each email
is multipart/alternative: a readable text/plain part and a ``text/calendar;
method=REQUEST`` (or ``CANCEL``) part whose bytes come from `aeplan.calendar.service`
(never built here) and whose METHOD matches the Content-Type.

Who gets what:
- "update": a REQUEST to every support person on the booking who has not declined
  (a declined person asked not to come; a REQUEST would put it back in their calendar)
  and to every invited client contact with an email. The organizer, the AE, is the
  sender of the invitation and gets none.
- "cancel": a CANCEL to all of those, declined staff included (an earlier REQUEST may
  still sit in their calendar).
- "removed": a CANCEL addressed to the one person taken off the booking.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import compat32
from email.utils import format_datetime, make_msgid, parseaddr
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context, has_request_context, request
from sqlalchemy import event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, joinedload, selectinload

from aeplan import outbox
from aeplan.auth.models import User
from aeplan.bookings.models import Booking
from aeplan.calendar import ical, notify, service
from aeplan.extensions import db
from aeplan.staffing.models import Assignment
from aeplan.timeutil import is_valid_zone, now_utc

log = logging.getLogger("aeplan.mail")

DEFAULT_FROM = "AE Plan <aeplan@localhost>"
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")


# --- the text a person reads ----------------------------------------------------------

def _one_line(value: str) -> str:
    """Header-safe text: no line breaks, no runs of whitespace."""
    return " ".join((value or "").split())


def _local(value: datetime, zone: str) -> datetime:
    return value.astimezone(ZoneInfo(zone))


def _day(value: datetime | date) -> str:
    return f"{_DAYS[value.weekday()]} {value.day} {_MONTHS[value.month - 1]} {value.year}"


def format_span(starts_at: datetime | date, ends_at: datetime | date, zone: str) -> str:
    """'Mon 7 Dec 2026, 10:00–11:30 (Europe/Berlin, CET)' in `zone`; all-day spans as
    dates (`ends_at` exclusive)."""
    if not isinstance(starts_at, datetime):
        last = date.fromordinal(ends_at.toordinal() - 1)
        return _day(starts_at) if last <= starts_at else f"{_day(starts_at)} – {_day(last)}"
    start, end = _local(starts_at, zone), _local(ends_at, zone)
    label = zone
    abbreviations = {start.tzname(), end.tzname()} - {None, ""}
    # Skip abbreviations that are mere offsets ("+03") or the zone's own name ("UTC").
    named = sorted(a for a in abbreviations if a.isalpha() and a != zone)
    if named:
        label += ", " + "/".join(named)
    if start.date() == end.date():
        return f"{_day(start)}, {start:%H:%M}–{end:%H:%M} ({label})"
    return f"{_day(start)}, {start:%H:%M} – {_day(end)}, {end:%H:%M} ({label})"


def _who(event: ical.EventData) -> str:
    going = [event.organizer] if event.organizer else []
    going += [a for a in event.attendees if a.partstat != "DECLINED"]
    return ", ".join(f"{p.name} ({p.label})" if p.label else p.name for p in going)


def body_text(event: ical.EventData, *, recipient_zone: str, method: str,
              removed: bool = False, reason: str = "") -> str:
    """The plain-text part: what, client, when (the recipient's zone first, then the
    booking's own zone where it differs), where, who is going, and the link."""
    if removed:
        lead = ("You are no longer on this booking. The calendar entry attached removes "
                "it from your calendar.")
    elif method == "CANCEL":
        lead = "This booking is cancelled. The calendar entry attached removes it."
    else:
        lead = ("You are invited. The calendar entry attached adds this booking to your "
                "calendar, or updates it there.")
    lines = [lead, ""]
    if method == "CANCEL" and not removed and reason.strip():
        lines += ["Reason: " + reason.strip(), ""]
    lines.append(f"What:    {event.summary}" + (f" ({event.kind})" if event.kind else ""))
    if event.client:
        lines.append(f"Client:  {event.client}")
    zone = recipient_zone if is_valid_zone(recipient_zone) else event.timezone or "UTC"
    lines.append(f"When:    {format_span(event.starts_at, event.ends_at, zone)}")
    if isinstance(event.starts_at, datetime) and event.timezone and event.timezone != zone:
        lines.append("         local time where it happens: "
                     + format_span(event.starts_at, event.ends_at, event.timezone))
    if event.location:
        lines.append(f"Where:   {event.location}")
    who = _who(event)
    if who:
        lines.append(f"Who:     {who}")
    if method != "CANCEL":
        lines.append(f"Status:  {event.status}")
    if event.url:
        lines.append(f"Details: {event.url}")
    if event.agenda and method != "CANCEL":
        lines += ["", "Agenda:", event.agenda]
    lines += ["", "-- ", "Sent by AE Plan on behalf of "
              + (event.organizer.name if event.organizer else "the organizer") + "."]
    return "\n".join(lines) + "\n"


def subject_for(event: ical.EventData, *, recipient_zone: str, method: str,
                removed: bool = False) -> str:
    zone = recipient_zone if is_valid_zone(recipient_zone) else event.timezone or "UTC"
    when = format_span(event.starts_at, event.ends_at, zone)
    if removed:
        prefix = "Removed from"
    elif method == "CANCEL":
        prefix = "Cancelled"
    else:
        prefix = "Invitation"
    return _one_line(f"{prefix}: {event.summary} — {when}")


# --- the message ----------------------------------------------------------------------

def build_message(*, sender: str, recipient_name: str, recipient_email: str, subject: str,
                  text: str, ics: bytes, method: str, reply_to: str = "",
                  reply_to_name: str = "") -> EmailMessage:
    """An iMIP email (RFC 6047): multipart/alternative of text/plain and
    ``text/calendar; method=<method>; charset=utf-8``. The calendar part is base64, so
    its bytes (CRLF line ends, long folded lines) arrive exactly as made."""
    method = method.upper()
    if f"\nMETHOD:{method}\r".encode() not in b"\n" + ics:
        raise ValueError(f"the calendar data does not carry METHOD:{method}")
    message = EmailMessage()
    message["Subject"] = _one_line(subject)
    message["From"] = _one_line(sender) or DEFAULT_FROM
    message["To"] = Address(display_name=_one_line(recipient_name),
                            addr_spec=recipient_email.strip())
    if reply_to:
        message["Reply-To"] = Address(display_name=_one_line(reply_to_name),
                                      addr_spec=reply_to.strip())
    message["Date"] = format_datetime(now_utc())
    domain = parseaddr(message["From"])[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(ics, maintype="text", subtype="calendar", cte="base64")
    _plain_content_type(message.get_payload()[1],
                        f"text/calendar; charset=utf-8; method={method}")
    return message


def _plain_content_type(part: EmailMessage, value: str) -> None:
    """Store the Content-Type as written. The default policy would quote every parameter
    (method="REQUEST"); RFC 6047 and the mailers calendar clients know write
    `method=REQUEST`, and some clients match that literally. A short raw header is
    written out unchanged and still parses as usual."""
    policy = part.policy
    part.policy = compat32
    try:
        part.replace_header("Content-Type", value)
    finally:
        part.policy = policy
    del part["MIME-Version"]  # only the top level carries it


def method_of(message: EmailMessage) -> str:
    for part in message.iter_parts():
        if part.get_content_type() == "text/calendar":
            return (part.get_param("method") or "").upper()
    return ""


# --- notices to messages --------------------------------------------------------------

@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    zone: str


def load_booking(booking_id: int, session=None) -> Booking | None:
    """The booking with everything its emails show, read afresh: objects the caller's
    session already holds are refreshed from the database (after its flush), so a
    collection loaded before a change cannot leave a recipient out."""
    session = session or db.session
    return session.scalar(
        select(Booking).where(Booking.id == booking_id).options(
            joinedload(Booking.client), joinedload(Booking.owner),
            selectinload(Booking.assignments).joinedload(Assignment.user),
            selectinload(Booking.contacts))
        .execution_options(populate_existing=True))


def recipients(booking: Booking, *, include_declined: bool) -> list[Recipient]:
    """Staff still on the booking (declined ones only with `include_declined`) and the
    invited client contacts with an email; never the organizer; each address once."""
    organizer = booking.owner.email.strip().lower()
    seen = {organizer}
    found = []
    staff = sorted((a for a in booking.assignments if a.removed_at is None),
                   key=lambda a: (a.role, a.user.name))
    for a in staff:
        if a.status == "declined" and not include_declined:
            continue
        found.append(Recipient(a.user.name, a.user.email, a.user.timezone))
    for contact in booking.contacts:
        if contact.email and contact.archived_at is None:
            found.append(Recipient(contact.name, contact.email,
                                   booking.client.timezone or booking.timezone))
    unique = []
    for r in found:
        key = r.email.strip().lower()
        if key and key not in seen:
            seen.add(key)
            unique.append(r)
    return unique


def _message(booking: Booking, data: ical.EventData, recipient: Recipient, ics: bytes, *,
             method: str, removed: bool, sender: str) -> EmailMessage:
    return build_message(
        sender=sender, recipient_name=recipient.name, recipient_email=recipient.email,
        subject=subject_for(data, recipient_zone=recipient.zone, method=method,
                            removed=removed),
        text=body_text(data, recipient_zone=recipient.zone, method=method, removed=removed,
                       reason=booking.cancel_reason or ""),
        ics=ics, method=method, reply_to=booking.owner.email, reply_to_name=booking.owner.name,
    )


def messages_for(notice: notify.Notice, *, base_url: str, sender: str, session=None,
                 failures: list | None = None) -> list[tuple[Recipient, EmailMessage]]:
    """The emails one notice calls for, one per recipient, from the booking as the
    session's transaction has it.

    A message that cannot be made (an address the email library refuses) raises, or
    with `failures` given is logged and noted there as (recipient, subject, reason)
    while the others are still made."""
    session = session or db.session
    booking = load_booking(notice.booking_id, session)
    if booking is None:
        log.warning("booking %s is gone; no calendar email for %s", notice.booking_id,
                    notice.kind)
        return []
    data = service.event_data(booking, base_url=base_url)
    if notice.kind == "removed":
        person = session.get(User, notice.user_id) if notice.user_id else None
        if person is None or person.email.strip().lower() == booking.owner.email.lower():
            return []
        ics = service.uninvitation(booking, person, base_url=base_url)
        people, method, removed = [Recipient(person.name, person.email, person.timezone)], \
            "CANCEL", True
    elif notice.kind in ("update", "cancel"):
        # The booking's state decides the method: an "update" of a booking cancelled
        # since would otherwise announce a REQUEST carrying METHOD:CANCEL.
        cancelled = booking.is_cancelled
        ics = service.invitation(booking, base_url=base_url)
        people = recipients(booking, include_declined=cancelled)
        method, removed = ("CANCEL" if cancelled else "REQUEST"), False
    else:
        log.warning("unknown calendar notice kind %r for booking %s", notice.kind,
                    booking.id)
        return []
    messages = []
    for person in people:
        try:
            messages.append((person, _message(booking, data, person, ics, method=method,
                                              removed=removed, sender=sender)))
        except Exception as error:
            if failures is None:
                raise
            log.warning("calendar email to %s <%s> could not be made: %s", person.name,
                        person.email, error)
            failures.append((person, subject_for(data, recipient_zone=person.zone,
                                                 method=method, removed=removed),
                             "the address cannot be used in an email"))
    return messages


def plan(notices: Iterable[notify.Notice]) -> list[notify.Notice]:
    """Notices in order, once each; an "update" is dropped where the same booking is
    cancelled (its CANCEL reaches the same people)."""
    notices = list(dict.fromkeys(notices))
    cancelled = {n.booking_id for n in notices if n.kind == "cancel"}
    return [n for n in notices if not (n.kind == "update" and n.booking_id in cancelled)]


# --- queued with the change ---------------------------------------------------------

@event.listens_for(Session, "before_commit")
def _queue_mail(session: Session) -> None:
    """Turn the notices queued in this transaction into outbox rows, in it: the emails
    are queued if and only if the change commits (`aeplan.outbox`). A rollback has
    dropped the notices already (`notify`).

    With MAIL_SERVER empty, email is off: nothing is queued (the installation sends no
    mail, and its outbox does not fill with messages that no worker could deliver)."""
    notices = notify.take(session)
    if not notices:
        return
    config = current_app.config if has_app_context() else {}
    if not config.get("MAIL_SERVER"):
        log.debug("MAIL_SERVER is not set; %d calendar notice(s) not emailed", len(notices))
        return
    base_url = config.get("AEPLAN_BASE_URL") or (
        request.url_root.rstrip("/") if has_request_context() else "")
    sender = config.get("MAIL_FROM") or DEFAULT_FROM
    session.flush()  # the messages are made from the booking as this commit leaves it
    for notice in plan(notices):
        queue_notice(session, notice, base_url=base_url, sender=sender)


def queue_notice(session: Session, notice: notify.Notice, *, base_url: str,
                 sender: str) -> None:
    """Queue the emails of one notice in `session`'s transaction. A message that cannot
    be made is queued as failed, with the reason, so the booking page shows it; the
    change itself still commits."""
    failures: list = []
    try:
        made = messages_for(notice, base_url=base_url, sender=sender, session=session,
                            failures=failures)
    except SQLAlchemyError:
        raise  # the transaction is broken: the commit fails with it
    except Exception:  # noqa: BLE001 - a bug in making the emails must not undo the change
        log.exception("calendar emails for booking %s (%s) could not be made",
                      notice.booking_id, notice.kind)
        outbox.enqueue_failure(session, recipient_email="", recipient_name="",
                               subject=f"Calendar email ({notice.kind})",
                               reason="the emails could not be made (see the log)",
                               booking_id=notice.booking_id)
        return
    for person, message in made:
        try:
            outbox.enqueue(session, message, recipient_name=person.name,
                           booking_id=notice.booking_id)
        except Exception as error:  # noqa: BLE001 - as above, for one message
            failures.append((person, str(message["Subject"] or ""),
                             f"the message cannot be written out ({type(error).__name__})"))
    for person, subject, reason in failures:
        outbox.enqueue_failure(session, recipient_email=person.email,
                               recipient_name=person.name, subject=subject, reason=reason,
                               booking_id=notice.booking_id)
