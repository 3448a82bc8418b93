"""Invitations by email (iMIP, RFC 6047) through a real SMTP server on localhost.

An aiosmtpd server keeps every message it receives; the tests drive the app over HTTP
as the AE, run the outbox worker (`deliver`), and check the MIME that arrives:
multipart/alternative with a readable text/plain part and a text/calendar part whose
`method=` matches the METHOD inside, parsed back by icalendar. Requests only queue
mail; the worker sends it (tests/test_outbox.py tests the outbox itself).
"""
from __future__ import annotations

import email
import logging
import socket
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from icalendar import Calendar
from sqlalchemy import select

from aeplan.bookings.models import Booking
from aeplan.calendar import ical, mail, notify
from aeplan.extensions import db
from aeplan.outbox import OutboxMessage, worker
from aeplan.outbox.smtp import Connection, SendError
from aeplan.staffing.models import Assignment
from tests.conftest import T0

# --- a real SMTP server ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping (envelope recipients, raw bytes, client port)."""

    def __init__(self, refuse: tuple[str, ...] = ()):
        self.received: list[tuple[list[str], bytes, int]] = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append((list(envelope.rcpt_tos), envelope.content, session.peer[1]))
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=policy.default)
                for _to, raw, _peer in self.received]

    def to(self, address: str) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=policy.default)
                for rcpt, raw, _peer in self.received if address in rcpt]


def deliver(app) -> worker.Tally:
    """Run the outbox worker over what is due, as `flask --app app outbox run --once`."""
    return worker.drain(app.config)


def outbox_rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def start_server(handler, **smtp_options) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **smtp_options)
    controller.start()
    return controller


@pytest.fixture
def mail_log(caplog):
    """mail_log for the "aeplan.mail" logger. Alembic's fileConfig (run by the schema
    fixture) disables loggers that existed before it, this one included."""
    logger = logging.getLogger("aeplan.mail")
    disabled, logger.disabled = logger.disabled, False
    caplog.set_level(logging.INFO, logger="aeplan.mail")
    yield caplog
    logger.disabled = disabled


@pytest.fixture
def inbox():
    return Inbox()


@pytest.fixture
def smtp(inbox):
    controller = start_server(inbox)
    yield controller
    if controller._thread is not None:  # a test may have stopped it
        controller.stop()


@pytest.fixture
def mail_on(app, smtp):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, MAIL_USE_TLS=False,
                      MAIL_USERNAME="", MAIL_PASSWORD="", MAIL_TIMEOUT=5,
                      MAIL_FROM="AE Plan <aeplan@example.com>",
                      AEPLAN_BASE_URL="https://aeplan.example.com")
    return app


# --- the people and the booking ------------------------------------------------------


@pytest.fixture
def ae(make_user):
    return make_user("ae", name="Olga Owner", email="olga@example.com",
                     timezone="Europe/Berlin")


@pytest.fixture
def cafe(make_client, ae):
    return make_client(ae, name="Café Zürich", timezone="Europe/Berlin")


@pytest.fixture
def zoe(make_user):
    # Works from New York: her email shows New York time first, then the booking's.
    return make_user("support", name="Zoë Müller", email="zoe@example.com",
                     timezone="America/New_York", discipline="technical")


@pytest.fixture
def dan(make_user):
    return make_user("support", name="Dan Design", email="dan@example.com",
                     timezone="Europe/Berlin", discipline="creative")


@pytest.fixture
def booking(make_booking, cafe):
    # T0 is 09:00 UTC: 10:00 in Berlin, 04:00 in New York.
    return make_booking(cafe, title="Payments API demo", location="Room 4, Bahnhofstr. 1")


def fresh(booking: Booking) -> Booking:
    db.session.expire_all()
    return db.session.get(Booking, booking.id)


def parts(message: EmailMessage) -> tuple[EmailMessage, EmailMessage]:
    assert message.get_content_type() == "multipart/alternative"
    plain, calendar = list(message.iter_parts())
    assert plain.get_content_type() == "text/plain"
    assert calendar.get_content_type() == "text/calendar"
    return plain, calendar


def calendar_of(message: EmailMessage) -> tuple[str, Calendar, bytes]:
    """(raw Content-Type of the calendar part, parsed calendar, its bytes)."""
    _plain, part = parts(message)
    assert part.get_content_charset() == "utf-8"
    body = part.get_payload(decode=True)
    raw_type = next(v for k, v in part.raw_items() if k.lower() == "content-type")
    return str(raw_type), Calendar.from_ical(body), body


def the_event(calendar: Calendar):
    [event] = calendar.walk("VEVENT")
    return event


def attendee_emails(event) -> set[str]:
    found = event.get("attendee", [])
    found = found if isinstance(found, list) else [found]
    return {str(a).removeprefix("mailto:") for a in found}


def assert_imip(message: EmailMessage, method: str, booking: Booking):
    raw_type, calendar, body = calendar_of(message)
    assert f"method={method}" in raw_type
    assert f"\r\nMETHOD:{method}\r\n".encode() in body
    assert calendar["METHOD"] == method
    event = the_event(calendar)
    assert str(event["UID"]) == booking.uid
    assert int(event["SEQUENCE"]) == booking.sequence
    return event


def assign_over_http(client, booking, person, role="technical"):
    return client.post(f"/bookings/{booking.id}/assignments",
                       data={"user_id": str(person.id), "role": role})


def edit_data(booking, **over) -> dict[str, str]:
    data = dict(kind="demo", title=booking.title, client_id=str(booking.client_id),
                starts_at="2026-12-07T10:00", ends_at="2026-12-07T11:00",
                timezone="Europe/Berlin", location=booking.location, needs_technical="1",
                needs_creative="0", needs_other="0")
    data.update(over)
    return data


# --- assign, reschedule, remove, cancel, contacts ----------------------------------------


def test_assigning_sends_the_person_one_imip_request(mail_on, inbox, login_as, ae, booking,
                                                     zoe):
    response = assign_over_http(login_as(ae), booking, zoe)
    assert response.status_code == 303

    assert inbox.received == []  # queued, not sent in the request
    assert str(deliver(mail_on)) == "sent 1, retry 0, failed 0"
    assert len(inbox.received) == 1
    rcpt, raw, _ = inbox.received[0]
    assert rcpt == ["zoe@example.com"]
    [message] = inbox.messages()
    booking = fresh(booking)
    event = assert_imip(message, "REQUEST", booking)
    assert booking.sequence == 1
    assert str(event["ORGANIZER"]) == "mailto:olga@example.com"
    assert "zoe@example.com" in attendee_emails(event)
    assert event.decoded("DTSTART") == T0

    plain, _calendar = parts(message)
    text = plain.get_content()
    assert "Café Zürich" in text
    assert "Payments API demo" in text
    assert "04:00–05:00 (America/New_York" in text  # her own time first
    assert "10:00–11:00 (Europe/Berlin" in text  # then the booking's own
    assert "Room 4, Bahnhofstr. 1" in text
    assert "Olga Owner (AE)" in text and "Zoë Müller (technical)" in text
    assert f"https://aeplan.example.com/bookings/{booking.id}" in text

    # Headers: non-ASCII names encoded (RFC 2047), decoded back intact.
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert header_block.isascii()
    assert b"=?utf-8?" in header_block
    assert message["To"].addresses[0].display_name == "Zoë Müller"
    assert message["To"].addresses[0].addr_spec == "zoe@example.com"
    assert "Café Zürich" in message["Subject"]
    assert message["Reply-To"].addresses[0].addr_spec == "olga@example.com"
    assert message["From"].addresses[0].addr_spec == "aeplan@example.com"
    assert message["Message-ID"] and message["Date"]


def test_the_organizer_gets_no_invitation(mail_on, inbox, login_as, ae, booking, zoe):
    assign_over_http(login_as(ae), booking, zoe)
    assert deliver(mail_on).sent == 1
    assert all("olga@example.com" not in rcpt for rcpt, _raw, _ in inbox.received)


def test_reschedule_sends_everyone_a_request_with_a_higher_sequence(
        mail_on, inbox, login_as, ae, booking, zoe, dan, make_contact, cafe):
    pat = make_contact(cafe, name="Pat Kunde", email="pat@cafe.example")
    booking.contacts = [pat]
    db.session.commit()
    client = login_as(ae)
    assign_over_http(client, booking, zoe)
    assign_over_http(client, booking, dan, role="creative")
    deliver(mail_on)
    before = {addr: int(the_event(calendar_of(inbox.to(addr)[-1])[1])["SEQUENCE"])
              for addr in ("zoe@example.com", "dan@example.com", "pat@cafe.example")}
    uid = fresh(booking).uid
    inbox.received.clear()

    response = client.post(f"/bookings/{booking.id}/edit", data=edit_data(
        booking, starts_at="2026-12-07T14:00", ends_at="2026-12-07T15:30"))
    assert response.status_code == 303
    deliver(mail_on)

    booking = fresh(booking)
    assert booking.starts_at == datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
    assert sorted(r for rcpt, _raw, _ in inbox.received for r in rcpt) == \
        ["dan@example.com", "pat@cafe.example", "zoe@example.com"]
    for address, old_sequence in before.items():
        [message] = inbox.to(address)
        event = assert_imip(message, "REQUEST", booking)
        assert int(event["SEQUENCE"]) > old_sequence
        assert str(event["UID"]) == uid
        assert event.decoded("DTSTART") == datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
    assert "08:00–09:30 (America/New_York" in parts(inbox.to("zoe@example.com")[0])[0] \
        .get_content()


def test_removed_person_gets_a_cancel_for_them_alone_and_the_others_a_request(
        mail_on, inbox, login_as, ae, booking, zoe, dan, assign):
    zoes = assign(booking, zoe)
    assign(booking, dan, role="creative")

    response = login_as(ae).post(f"/bookings/{booking.id}/assignments/{zoes.id}/remove")
    assert response.status_code == 303
    deliver(mail_on)

    booking = fresh(booking)
    assert len(inbox.received) == 2
    [to_zoe] = inbox.to("zoe@example.com")
    event = assert_imip(to_zoe, "CANCEL", booking)
    assert attendee_emails(event) == {"zoe@example.com"}
    assert str(event["STATUS"]) == "CANCELLED"
    assert "no longer on this booking" in parts(to_zoe)[0].get_content()
    [rcpt] = [r for r, _raw, _ in inbox.received if "zoe@example.com" in r]
    assert rcpt == ["zoe@example.com"]

    [to_dan] = inbox.to("dan@example.com")
    event = assert_imip(to_dan, "REQUEST", booking)
    assert "zoe@example.com" not in attendee_emails(event)
    assert "dan@example.com" in attendee_emails(event)


def test_cancelling_sends_everyone_a_cancel(mail_on, inbox, login_as, ae, booking, zoe, dan,
                                            assign, make_contact, cafe):
    assign(booking, zoe)
    assign(booking, dan, role="creative", status="declined", note="On leave")
    booking.contacts = [make_contact(cafe, name="Pat Kunde", email="pat@cafe.example")]
    db.session.commit()

    response = login_as(ae).post(f"/bookings/{booking.id}/cancel",
                                 data={"reason": "The client moved the launch"})
    assert response.status_code == 303
    deliver(mail_on)

    booking = fresh(booking)
    assert booking.status == "cancelled"
    # The declined person too: an earlier REQUEST may still sit in their calendar.
    assert sorted(r for rcpt, _raw, _ in inbox.received for r in rcpt) == \
        ["dan@example.com", "pat@cafe.example", "zoe@example.com"]
    for message in inbox.messages():
        event = assert_imip(message, "CANCEL", booking)
        assert str(event["STATUS"]) == "CANCELLED"
        assert "VALARM" not in [c.name for c in event.subcomponents]
        text = parts(message)[0].get_content()
        assert "cancelled" in text
        assert "Reason: The client moved the launch" in text
        assert message["Subject"].startswith("Cancelled: ")
    # One SMTP connection for all of them.
    assert len({peer for _rcpt, _raw, peer in inbox.received}) == 1


def test_invited_client_contacts_receive_the_invitation(mail_on, inbox, login_as, ae,
                                                        booking, zoe, assign, make_contact,
                                                        make_client, cafe):
    assign(booking, zoe)
    pat = make_contact(cafe, name="Pat Kunde", email="pat@cafe.example")

    response = login_as(ae).post(f"/bookings/{booking.id}/contacts",
                                 data={"contact_ids": [str(pat.id)]})
    assert response.status_code == 303
    deliver(mail_on)

    booking = fresh(booking)
    [to_pat] = inbox.to("pat@cafe.example")
    event = assert_imip(to_pat, "REQUEST", booking)
    assert {"pat@cafe.example", "zoe@example.com"} <= attendee_emails(event)
    text = parts(to_pat)[0].get_content()
    assert "10:00–11:00 (Europe/Berlin" in text  # the client's own zone
    assert "America/New_York" not in text
    assert to_pat["To"].addresses[0].display_name == "Pat Kunde"
    # The staff see the new guest too.
    assert_imip(inbox.to("zoe@example.com")[0], "REQUEST", booking)


def test_declined_staff_get_no_update(mail_on, inbox, login_as, ae, booking, zoe, dan,
                                      assign):
    assign(booking, zoe)
    assign(booking, dan, role="creative", status="declined", note="On leave")

    response = login_as(ae).post(f"/bookings/{booking.id}/edit", data=edit_data(
        booking, starts_at="2026-12-07T15:00", ends_at="2026-12-07T16:00"))
    assert response.status_code == 303
    deliver(mail_on)
    assert [rcpt for rcpt, _raw, _ in inbox.received] == [["zoe@example.com"]]


# --- refused changes and errors send nothing --------------------------------------------


def test_a_refused_assignment_sends_nothing(mail_on, inbox, login_as, ae, booking, zoe,
                                            make_booking, make_client, assign):
    other = make_client(ae, name="Globex")
    assign(make_booking(other, starts_at=T0, title="Elsewhere"), zoe)

    response = assign_over_http(login_as(ae), booking, zoe)
    assert response.status_code == 409
    assert outbox_rows() == []
    assert deliver(mail_on).sent == 0
    assert inbox.received == []


def test_a_refused_move_sends_nothing(mail_on, inbox, login_as, ae, booking, zoe,
                                      make_booking, make_client, assign):
    assign(booking, zoe)
    other = make_client(ae, name="Globex")
    assign(make_booking(other, starts_at=T0 + timedelta(hours=5), title="Later"), zoe)
    sequence = fresh(booking).sequence

    response = login_as(ae).post(f"/bookings/{booking.id}/edit", data=edit_data(
        booking, starts_at="2026-12-07T15:00", ends_at="2026-12-07T16:00"))
    assert response.status_code == 409
    assert fresh(booking).sequence == sequence
    assert outbox_rows() == []
    assert inbox.received == []


def test_mail_is_queued_exactly_when_the_change_commits(mail_on, inbox, client, booking,
                                                        zoe, assign):
    """Committed change <=> queued mail. Unlike the in-request sending this replaces, a
    change committed by a request that then answers 500 is announced: it happened."""
    assign(booking, zoe)

    def change(status: int, commit: bool):
        def view():
            row = db.session.get(Booking, booking.id)
            row.sequence += 1
            notify.queue(row.id, "update")
            if commit:
                db.session.commit()
            else:
                db.session.flush()
            return "done", status
        return view

    # POST: a write request's transaction (on PostgreSQL a GET runs in autocommit).
    for name, view in (("fails", change(500, commit=True)),
                       ("uncommitted", change(200, commit=False)),
                       ("works", change(200, commit=True))):
        mail_on.add_url_rule(f"/_test/{name}", f"test_{name}", view, methods=["POST"])

    assert client.post("/_test/uncommitted").status_code == 200
    assert outbox_rows() == []
    assert fresh(booking).sequence == 0  # never committed
    assert client.post("/_test/fails").status_code == 500
    assert client.post("/_test/works").status_code == 200
    assert [(r.recipient_email, r.status) for r in outbox_rows()] == \
        [("zoe@example.com", "queued")] * 2
    deliver(mail_on)
    assert [rcpt for rcpt, _raw, _ in inbox.received] == [["zoe@example.com"]] * 2
    sequences = [int(the_event(calendar_of(m)[1])["SEQUENCE"]) for m in inbox.messages()]
    assert sequences == [1, 2]


# --- when mail fails, the change stands and the booking page says why ---------------------


def delivery_section(page: str) -> str:
    return page.split('id="delivery"', 1)[1].split("</section>", 1)[0]


def test_with_the_smtp_server_stopped_the_change_is_saved_and_the_page_shows_a_retry(
        mail_on, smtp, inbox, login_as, ae, booking, zoe, mail_log):
    smtp.stop()
    client = login_as(ae)

    response = assign_over_http(client, booking, zoe)

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/bookings/{booking.id}#staff")
    db.session.expire_all()
    [assignment] = db.session.scalars(select(Assignment)).all()
    assert (assignment.booking_id, assignment.user_id) == (booking.id, zoe.id)
    assert fresh(booking).sequence == 1
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "could not be sent" not in page and "The change is saved, but" not in page
    assert "Queued" in delivery_section(page)

    assert str(deliver(mail_on)) == "sent 0, retry 1, failed 0"
    failures = [r for r in mail_log.records if r.name == "aeplan.mail"
                and r.levelno >= logging.WARNING]
    assert failures and "refused the connection" in failures[0].getMessage()
    [row] = outbox_rows()
    assert (row.status, row.attempts) == ("queued", 1)
    assert "refused the connection" in row.last_error
    section = delivery_section(client.get(f"/bookings/{booking.id}").get_data(as_text=True))
    assert "Zoë Müller" in section and "zoe@example.com" in section
    assert "Will retry" in section and "refused the connection" in section


def test_a_closed_port_does_not_break_a_cancel(mail_on, login_as, ae, booking, zoe, assign,
                                               mail_log):
    assign(booking, zoe)
    mail_on.config["MAIL_PORT"] = free_port()
    client = login_as(ae)

    response = client.post(f"/bookings/{booking.id}/cancel", data={})
    assert response.status_code == 303
    assert fresh(booking).status == "cancelled"
    assert deliver(mail_on).retry == 1
    assert any(r.name == "aeplan.mail" for r in mail_log.records)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Booking cancelled" in page
    assert "Cancelled: " in delivery_section(page)  # the CANCEL is what waits
    assert "refused the connection" in delivery_section(page)


def test_a_refused_recipient_fails_at_once_and_does_not_stop_the_others(
        app, login_as, ae, booking, zoe, dan, assign, mail_log):
    inbox = Inbox(refuse=("zoe@example.com",))
    controller = start_server(inbox)
    try:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port,
                          MAIL_USE_TLS=False)
        assign(booking, zoe)
        assign(booking, dan, role="creative")
        client = login_as(ae)
        response = client.post(f"/bookings/{booking.id}/cancel", data={})
        assert response.status_code == 303
        # 550 is permanent: no retry.
        assert str(deliver(app)) == "sent 1, retry 0, failed 1"
        assert [rcpt for rcpt, _raw, _ in inbox.received] == [["dan@example.com"]]
        section = delivery_section(client.get(f"/bookings/{booking.id}")
                                   .get_data(as_text=True))
        assert section.count(">Failed<") == 1 and section.count(">Sent<") == 1
        assert "refused the address (550 5.1.1 No such mailbox here)" in section
    finally:
        controller.stop()


def test_starttls_is_required_unless_turned_off(mail_on, inbox, login_as, ae, booking, zoe,
                                                mail_log):
    mail_on.config["MAIL_USE_TLS"] = True  # aiosmtpd here offers no STARTTLS
    client = login_as(ae)

    response = assign_over_http(client, booking, zoe)
    assert response.status_code == 303
    assert deliver(mail_on).retry == 1
    assert inbox.received == []  # never in the clear
    page = client.get(f"/bookings/{booking.id}").get_data(as_text=True)
    assert "does not offer STARTTLS" in delivery_section(page)


def test_mail_server_empty_queues_nothing_and_breaks_nothing(mail_on, inbox, login_as, ae,
                                                             booking, zoe, runner):
    mail_on.config["MAIL_SERVER"] = ""
    client = login_as(ae)

    response = assign_over_http(client, booking, zoe)
    assert response.status_code == 303
    assert fresh(booking).sequence == 1
    response = client.post(f"/bookings/{booking.id}/cancel", data={})
    assert response.status_code == 303
    assert outbox_rows() == []
    page = client.get(f"/bookings/{booking.id}").get_data(as_text=True)
    assert 'id="delivery"' not in page
    result = runner.invoke(args=["outbox", "run", "--once"])
    assert result.exit_code == 1 and "MAIL_SERVER is not set" in result.output
    assert inbox.received == []


def test_signs_in_when_a_user_name_is_set(app, login_as, ae, booking, zoe):
    seen = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append((mechanism, auth_data.login, auth_data.password))
        # handled=False: aiosmtpd answers 535 itself on failure.
        return AuthResult(success=auth_data.password == b"s3cret", handled=False)

    inbox = Inbox()
    controller = start_server(inbox, authenticator=authenticator, auth_require_tls=False)
    try:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port,
                          MAIL_USE_TLS=False, MAIL_USERNAME="aeplan",
                          MAIL_PASSWORD="s3cret")
        client = login_as(ae)
        assert assign_over_http(client, booking, zoe).status_code == 303
        assert deliver(app).sent == 1
        assert seen and seen[0][1:] == (b"aeplan", b"s3cret")
        assert len(inbox.received) == 1

        app.config["MAIL_PASSWORD"] = "wrong"
        assert client.post(f"/bookings/{booking.id}/cancel", data={}).status_code == 303
        assert deliver(app).retry == 1  # a password can be fixed: tried again later
        assert len(inbox.received) == 1
        page = client.get(f"/bookings/{booking.id}").get_data(as_text=True)
        assert "refused the user name or password" in delivery_section(page)
        assert "wrong" not in page
    finally:
        controller.stop()


# --- the message itself -------------------------------------------------------------------


def event_data(**over) -> ical.EventData:
    values = dict(
        uid="b1@aeplan", sequence=3, summary="Café Zürich: Demo, \"Q4\"; ✨", status="confirmed",
        starts_at=datetime(2027, 3, 28, 8, 30, tzinfo=UTC),
        ends_at=datetime(2027, 3, 28, 10, 0, tzinfo=UTC),
        stamp=datetime(2027, 3, 1, tzinfo=UTC),
        organizer=ical.Person("Olga Owner", "olga@example.com", "ACCEPTED", role="CHAIR",
                              label="AE"),
        attendees=(ical.Person("Zoë Müller", "zoe@example.com", label="technical"),),
        location="Bahnhofstr. 1, Zürich", url="https://aeplan.example.com/bookings/1",
        client="Café Zürich", kind="demo", agenda="line one\nline, two; \"three\" 🚀\n" +
        "x" * 5000, timezone="Europe/Berlin")
    values.update(over)
    return ical.EventData(**values)


def build(data: ical.EventData, **over) -> EmailMessage:
    ics = ical.invitation(data)
    method = "CANCEL" if data.status == "cancelled" else "REQUEST"
    values = dict(sender="AE Plan <aeplan@example.com>", recipient_name="Zoë Müller",
                  recipient_email="zoe@example.com", subject="Invitation: Café", text=
                  mail.body_text(data, recipient_zone="America/New_York", method=method),
                  ics=ics, method=method)
    values.update(over)
    return mail.build_message(**values)


def over_the_wire(message: EmailMessage) -> tuple[bytes, EmailMessage]:
    raw = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    return raw, email.message_from_bytes(raw, policy=policy.default)


def test_the_calendar_part_arrives_byte_for_byte():
    data = event_data()
    raw, parsed = over_the_wire(build(data))
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    _raw_type, calendar, body = calendar_of(parsed)
    assert body == ical.invitation(data)
    event = the_event(calendar)
    assert str(event["SUMMARY"]) == data.summary
    assert data.agenda in str(event["DESCRIPTION"])
    plain = parts(parsed)[0].get_content().replace("\r\n", "\n")
    assert data.agenda in plain
    # 28 March 2027 is the day Europe moves to summer time; New York moved on 14 March.
    assert "Sun 28 Mar 2027, 04:30–06:00 (America/New_York, EDT)" in plain
    assert "Sun 28 Mar 2027, 10:30–12:00 (Europe/Berlin, CEST)" in plain


def test_method_in_the_content_type_must_match_the_body():
    data = event_data(status="cancelled")
    with pytest.raises(ValueError):
        build(data, method="REQUEST")
    _raw, parsed = over_the_wire(build(data))
    raw_type, calendar, _body = calendar_of(parsed)
    assert "method=CANCEL" in raw_type and calendar["METHOD"] == "CANCEL"


def test_header_values_cannot_be_broken_open():
    message = build(event_data(), recipient_name="Eve\r\nBcc: victim@example.com",
                    subject="Hi\nBcc: victim@example.com")
    raw, parsed = over_the_wire(message)
    assert parsed["Bcc"] is None
    assert b"\r\nBcc:" not in raw.split(b"\r\n\r\n", 1)[0]


def test_messages_for_an_unknown_booking_are_none(app):
    assert mail.messages_for(notify.Notice(999, "update"), base_url="",
                             sender="a@example.com") == []


def test_a_server_that_accepts_and_never_greets_times_out(app):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        config = dict(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False,
                      MAIL_TIMEOUT=0.5)
        with pytest.raises(SendError) as refused, Connection(config):
            pass
        assert "did not answer in time" in refused.value.reason
        assert not refused.value.permanent
    finally:
        listener.close()
