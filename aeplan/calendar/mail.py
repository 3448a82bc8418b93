"""Invitations by email (iMIP, RFC 6047), sent after a change is committed.

Services queue notices (`aeplan.calendar.notify`) as they change a booking; once the
request has committed, `deliver` turns each notice into one email per recipient and
sends them over one SMTP connection. Each email is multipart/alternative: a readable
text/plain part and a ``text/calendar; method=REQUEST`` (or ``CANCEL``) part whose
bytes come from `aeplan.calendar.service` (never built here) and whose METHOD matches
the Content-Type. A failed send is logged (logger ``aeplan.mail``) and reported back
as text; nothing here raises, and nothing here changes the database.

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
import smtplib
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import compat32
from email.utils import format_datetime, make_msgid, parseaddr
from zoneinfo import ZoneInfo

from sqlalchemy import event, select
from sqlalchemy.orm import Session, joinedload, selectinload

from aeplan.auth.models import User
from aeplan.bookings.models import Booking
from aeplan.calendar import ical, notify, service
from aeplan.extensions import db
from aeplan.staffing.models import Assignment
from aeplan.timeutil import is_valid_zone, now_utc

log = logging.getLogger("aeplan.mail")

DEFAULT_FROM = "AE Plan <aeplan@localhost>"
COMMITTED = "calendar_notices_committed"
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")


# --- which notices were committed -----------------------------------------------------
# `notify` drops the queue on rollback. These two hooks also remember how many of the
# queued notices a commit covered, so that a notice queued after the last commit (work
# that was never committed) is never announced.

@event.listens_for(Session, "after_commit")
def _mark_committed(session):
    session.info[COMMITTED] = len(session.info.get(notify.KEY, ()))


@event.listens_for(Session, "after_rollback")
def _forget_committed(session):
    session.info.pop(COMMITTED, None)


def committed_notices() -> list[notify.Notice]:
    """Take the request's queued notices (the queue is empty afterwards) and return the
    ones that were committed."""
    notices = notify.take()
    committed = db.session.info.pop(COMMITTED, 0)
    if len(notices) > committed:
        log.warning("dropping %d calendar notice(s) of uncommitted changes",
                    len(notices) - committed)
    return notices[:committed]


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
    session = session or db.session
    return session.scalar(
        select(Booking).where(Booking.id == booking_id).options(
            joinedload(Booking.client), joinedload(Booking.owner),
            selectinload(Booking.assignments).joinedload(Assignment.user),
            selectinload(Booking.contacts)))


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
                 failures: list | None = None) -> list[EmailMessage]:
    """The emails one notice calls for, one per recipient, from the booking as committed.

    A message that cannot be made (an address the email library refuses) raises, or
    with `failures` given is logged and noted there as (recipient, method, reason)
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
            messages.append(_message(booking, data, person, ics, method=method,
                                     removed=removed, sender=sender))
        except Exception as error:
            if failures is None:
                raise
            log.warning("calendar email to %s <%s> could not be made: %s", person.name,
                        person.email, error)
            failures.append((f"{person.name} <{person.email}>", method,
                             "the address cannot be used in an email"))
    return messages


def plan(notices: Iterable[notify.Notice]) -> list[notify.Notice]:
    """Notices in order, once each; an "update" is dropped where the same booking is
    cancelled (its CANCEL reaches the same people)."""
    notices = list(dict.fromkeys(notices))
    cancelled = {n.booking_id for n in notices if n.kind == "cancel"}
    return [n for n in notices if not (n.kind == "update" and n.booking_id in cancelled)]


# --- sending --------------------------------------------------------------------------

class MailError(Exception):
    """A failure with a message meant for people."""


def _reason(error: BaseException, config) -> str:
    """A short, human-readable reason for a failed send (no secrets)."""
    where = f"{config.get('MAIL_SERVER')}:{_port(config)}"
    if isinstance(error, MailError):
        return str(error)
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return "the mail server refused the user name or password"
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return f"the mail server {where} does not support {error.args[0] if error.args else 'it'}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [f"{code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
                 for code, msg in error.recipients.values()]
        return "the mail server refused the address" + (f" ({codes[0]})" if codes else "")
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error
        text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        return f"the mail server answered {error.smtp_code} {text}".strip()
    if isinstance(error, ConnectionRefusedError):
        return f"the mail server {where} refused the connection"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return f"the mail server {where} did not answer in time"
    if isinstance(error, ssl.SSLError):
        return f"the secure connection to {where} failed ({error.reason or error})"
    if isinstance(error, socket.gaierror):
        return f"the mail server name {config.get('MAIL_SERVER')!r} could not be resolved"
    if isinstance(error, smtplib.SMTPServerDisconnected) and "timed out" in str(error):
        return f"the mail server {where} did not answer in time"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return f"the mail server {where} closed the connection"
    if isinstance(error, OSError):
        return f"the mail server {where} could not be reached ({error.strerror or error})"
    if isinstance(error, UnicodeError):
        return "the address cannot be written in an email header"
    return str(error) or type(error).__name__


def _port(config) -> int:
    port = config.get("MAIL_PORT")
    if port:
        return int(port)
    return 587 if config.get("MAIL_USE_TLS", True) else 25


def _recipient(message: EmailMessage) -> str:
    return str(message["To"] or "someone")


def _what(method: str) -> tuple[str, str]:
    return ("cancellation email", "cancellation emails") if method == "CANCEL" else \
        ("invitation email", "invitation emails")


def _summarise(failures: list[tuple[str, str, str]]) -> list[str]:
    """[(recipient, method, reason)] as sentences, one per method and reason:
    'the invitation emails to A and B could not be sent: <reason>'."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for recipient, method, reason in failures:
        grouped.setdefault((method, reason), []).append(recipient)
    sentences = []
    for (method, reason), people in grouped.items():
        one, many = _what(method)
        names = people[0] if len(people) == 1 else ", ".join(people[:-1]) + " and " + people[-1]
        sentences.append(f"the {one if len(people) == 1 else many} to {names} "
                         f"could not be sent: {reason}")
    return sentences


def send(config, messages: list[EmailMessage]) -> list[tuple[str, str, str]]:
    """Send over one SMTP connection; returns [(recipient, method, reason)] for each
    message not sent. Never raises."""
    failures: list[tuple[str, str, str]] = []
    if not messages:
        return failures
    host, port = config.get("MAIL_SERVER"), _port(config)
    timeout = float(config.get("MAIL_TIMEOUT") or 10)
    try:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    except Exception as error:  # noqa: BLE001 - reported, never raised
        reason = _reason(error, config)
        log.warning("cannot connect to the mail server %s:%s: %s", host, port, reason)
        return [(_recipient(m), method_of(m), reason) for m in messages]
    pending = list(messages)
    try:
        smtp.ehlo_or_helo_if_needed()
        if config.get("MAIL_USE_TLS", True):
            if not smtp.has_extn("starttls"):
                # Never fall back to sending (and signing in) in the clear.
                raise MailError(f"the mail server {host}:{port} does not offer STARTTLS "
                                "(set MAIL_USE_TLS=false only for a local relay)")
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if config.get("MAIL_USERNAME"):
            if not smtp.has_extn("auth"):
                raise MailError(f"the mail server {host}:{port} does not offer sign-in "
                                "(AUTH) here")
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        while pending:
            message = pending[0]
            try:
                smtp.send_message(message)
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError,
                    smtplib.SMTPSenderRefused, smtplib.SMTPNotSupportedError,
                    UnicodeError, ValueError) as error:
                # This message only; the connection is still good for the others.
                reason = _reason(error, config)
                log.warning("calendar email to %s not sent: %s", _recipient(message), reason)
                failures.append((_recipient(message), method_of(message), reason))
            else:
                log.info("calendar email (%s) sent to %s", method_of(message),
                         _recipient(message))
            pending.pop(0)
    except Exception as error:  # noqa: BLE001 - the connection is gone: the rest fail
        reason = _reason(error, config)
        log.warning("mail server %s:%s failed, %d calendar email(s) not sent: %s", host, port,
                    len(pending), reason)
        failures += [(_recipient(m), method_of(m), reason) for m in pending]
    finally:
        try:
            smtp.quit()
        except Exception:  # noqa: BLE001
            smtp.close()
    return failures


def deliver(app, notices: Iterable[notify.Notice], *, base_url: str | None = None) -> list[str]:
    """Build and send the emails for committed `notices`; returns a readable sentence per
    kind of failure (empty when all went out). Logs every failure; never raises.

    The booking data is read in a short session of its own, closed before the network
    is touched, so the caller's session and transaction are left alone."""
    config = app.config
    if base_url is None:
        base_url = config.get("AEPLAN_BASE_URL") or ""
    sender = config.get("MAIL_FROM") or DEFAULT_FROM
    messages: list[EmailMessage] = []
    failures: list[tuple[str, str, str]] = []
    try:
        with Session(db.engine) as session:
            for notice in plan(notices):
                try:
                    messages += messages_for(notice, base_url=base_url, sender=sender,
                                             session=session, failures=failures)
                except Exception as error:  # noqa: BLE001
                    log.exception("calendar email for booking %s (%s) could not be made",
                                  notice.booking_id, notice.kind)
                    failures.append((f"the people on booking {notice.booking_id}",
                                     "CANCEL" if notice.kind != "update" else "REQUEST",
                                     _reason(error, config)))
    except Exception as error:  # noqa: BLE001 - the database failed us
        log.exception("calendar emails could not be prepared")
        return _summarise(failures + [("the people on the booking", "REQUEST",
                                       _reason(error, config))])
    failures += send(config, messages)
    return _summarise(failures)
