"""The outbox: mail is queued with the change and delivered by a worker, with real SMTP
servers on localhost (aiosmtpd, or raw sockets for servers that misbehave).

Requests never wait on the mail server; the worker retries with backoff, gives up after
AEPLAN_OUTBOX_MAX_ATTEMPTS, survives a worker that died mid-send, and two workers
never send one message twice.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from aeplan import outbox
from aeplan.bookings.models import Booking
from aeplan.calendar import notify
from aeplan.extensions import db
from aeplan.outbox import OutboxMessage, worker
from tests.conftest import T0, freeze_now
from tests.test_mail import Inbox, assign_over_http, delivery_section, free_port, start_server

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ae(make_user):
    return make_user("ae", name="Olga Owner", email="olga@example.com")


@pytest.fixture
def zoe(make_user):
    return make_user("support", name="Zoë Müller", email="zoe@example.com",
                     discipline="technical")


@pytest.fixture
def booking(make_booking, make_client, ae):
    return make_booking(make_client(ae, name="Café Zürich"), title="Payments API demo")


def mail_settings(app, port: int, **over) -> None:
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False,
                      MAIL_USERNAME="", MAIL_PASSWORD="", MAIL_TIMEOUT=2, MAIL_DEADLINE=5,
                      MAIL_FROM="AE Plan <aeplan@example.com>",
                      AEPLAN_BASE_URL="https://aeplan.example.com",
                      AEPLAN_OUTBOX_RETRY_SECONDS=60, AEPLAN_OUTBOX_MAX_ATTEMPTS=3)
    app.config.update(over)


def rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def queue_plain(n: int, *, prefix: str = "person") -> None:
    """n ready messages, as any domain would queue them, committed."""
    for i in range(n):
        message = EmailMessage()
        message["From"] = "AE Plan <aeplan@example.com>"
        message["To"] = f"{prefix}{i}@example.com"
        message["Subject"] = f"Message {i}"
        message.set_content(f"Hello {i}\n")
        outbox.enqueue(db.session, message, recipient_name=f"Person {i}")
    db.session.commit()


class Refusing(Inbox):
    """Answers 451 (try again later) to the first `refusals` messages, then accepts."""

    def __init__(self, refusals: int):
        super().__init__()
        self.refusals = refusals

    async def handle_DATA(self, server, session, envelope):
        if self.refusals > 0:
            self.refusals -= 1
            return "451 4.3.0 Greylisted, try again later"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def silent_server():
    """A port that accepts TCP connections (the kernel completes the handshake from the
    backlog) and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


# --- the request never waits ---------------------------------------------------------


def test_a_request_returns_at_once_while_the_smtp_server_hangs(app, silent_server, login_as,
                                                                ae, booking, zoe):
    mail_settings(app, silent_server, MAIL_TIMEOUT=1.5)
    client = login_as(ae)

    started = time.monotonic()
    response = assign_over_http(client, booking, zoe)
    elapsed = time.monotonic() - started

    assert response.status_code == 303
    assert elapsed < 1.0, elapsed  # in-request sending waited MAIL_TIMEOUT here
    [row] = rows()
    assert (row.status, row.recipient_email, row.booking_id) == \
        ("queued", "zoe@example.com", booking.id)
    assert b"METHOD:REQUEST" in row.message or b"text/calendar" in row.message

    started = time.monotonic()
    assert str(worker.drain(app.config)) == "sent 0, retry 1, failed 0"
    assert time.monotonic() - started < 5
    [row] = rows()
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.last_error == f"the mail server 127.0.0.1:{silent_server} did not answer in time"


def test_a_trickling_server_is_cut_off_by_the_deadline(app, booking, zoe, assign):
    """One byte every 0.1 s never trips the 2 s socket timeout; the 0.6 s deadline does."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def trickle():
        connection, _ = listener.accept()
        with connection:
            for byte in b"220 mail.example.com" * 100:
                if stop.wait(0.1):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    mail_settings(app, listener.getsockname()[1], MAIL_TIMEOUT=2, MAIL_DEADLINE=0.6)
    queue_plain(1)
    try:
        started = time.monotonic()
        tally = worker.drain(app.config)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        server.join(5)
        listener.close()
    assert str(tally) == "sent 0, retry 1, failed 0"
    assert elapsed < 2, elapsed
    [row] = rows()
    assert row.last_error.endswith("did not finish within 0.6 s")


# --- retries, backoff, giving up ----------------------------------------------------


def test_refused_with_451_then_accepted_is_delivered_on_a_retry_after_backoff(
        app, monkeypatch):
    inbox = Refusing(refusals=2)
    controller = start_server(inbox)
    try:
        mail_settings(app, controller.port, AEPLAN_OUTBOX_MAX_ATTEMPTS=5)
        freeze_now(monkeypatch, T0)
        queue_plain(1)

        assert str(worker.drain(app.config)) == "sent 0, retry 1, failed 0"
        [row] = rows()
        assert (row.status, row.attempts, row.next_attempt_at) == \
            ("queued", 1, T0 + timedelta(seconds=60))
        assert row.last_error == "the mail server answered 451 4.3.0 Greylisted, try again later"
        assert str(worker.drain(app.config)) == "sent 0, retry 0, failed 0"  # not due yet

        freeze_now(monkeypatch, T0 + timedelta(seconds=60))
        assert str(worker.drain(app.config)) == "sent 0, retry 1, failed 0"
        [row] = rows()
        assert row.next_attempt_at == T0 + timedelta(seconds=60 + 120)  # doubled

        freeze_now(monkeypatch, T0 + timedelta(seconds=180))
        assert str(worker.drain(app.config)) == "sent 1, retry 0, failed 0"
        [row] = rows()
        assert (row.status, row.attempts, row.sent_at, row.last_error) == \
            ("sent", 3, T0 + timedelta(seconds=180), "")
        assert [rcpt for rcpt, _raw, _ in inbox.received] == [["person0@example.com"]]
    finally:
        controller.stop()


def test_after_max_attempts_the_message_is_failed_with_the_reason(app, login_as, ae, booking,
                                                                  zoe):
    inbox = Refusing(refusals=99)
    controller = start_server(inbox)
    try:
        mail_settings(app, controller.port, AEPLAN_OUTBOX_MAX_ATTEMPTS=3,
                      AEPLAN_OUTBOX_RETRY_SECONDS=0)
        client = login_as(ae)
        assert assign_over_http(client, booking, zoe).status_code == 303

        assert str(worker.drain(app.config)) == "sent 0, retry 2, failed 1"
        [row] = rows()
        assert (row.status, row.attempts) == ("failed", 3)
        assert "451 4.3.0 Greylisted" in row.last_error
        assert str(worker.drain(app.config)) == "sent 0, retry 0, failed 0"  # done with it
        assert inbox.received == []
        section = delivery_section(client.get(f"/bookings/{booking.id}").get_data(as_text=True))
        assert ">Failed<" in section and "451 4.3.0 Greylisted" in section
    finally:
        controller.stop()


def test_a_worker_that_died_mid_send_leaves_nothing_stuck(app, monkeypatch):
    """At-least-once: a claimed row whose worker vanished is sent again once its lease
    runs out; after the last allowed attempt it is failed, not sent again."""
    inbox = Inbox()
    controller = start_server(inbox)
    try:
        mail_settings(app, controller.port, MAIL_DEADLINE=10, AEPLAN_OUTBOX_MAX_ATTEMPTS=2)
        freeze_now(monkeypatch, T0)
        queue_plain(2)
        [first, second] = worker.claim(app.config)  # ... and the worker dies here
        assert [r.status for r in rows()] == ["sending", "sending"]
        assert str(worker.drain(app.config)) == "sent 0, retry 0, failed 0"  # leased

        # Each row's lease covers the connection step and the messages before it.
        freeze_now(monkeypatch, T0 + timedelta(seconds=10 * 2 + 30))
        assert str(worker.drain(app.config)) == "sent 1, retry 0, failed 0"
        assert [r.status for r in rows()] == ["sent", "sending"]
        # The vanished worker's late word on the first row no longer counts.
        assert [r.attempts for r in rows()] == [2, 1]
        assert worker._finish(first, {"status": "failed", "last_error": "late"}) is False
        assert rows()[0].status == "sent"

        [again] = worker.claim(app.config, now=T0 + timedelta(hours=1))  # dies again
        assert again.id == second.id and again.attempts == 2
        freeze_now(monkeypatch, T0 + timedelta(hours=2))
        assert str(worker.drain(app.config)) == "sent 0, retry 0, failed 0"
        last = rows()[1]
        assert (last.status, last.last_error) == ("failed", worker.CRASHED)
        assert [rcpt for rcpt, _raw, _ in inbox.received] == [["person0@example.com"]]
    finally:
        controller.stop()


# --- exactly once with two workers --------------------------------------------------


class SlowInbox(Inbox):
    """Takes 10 ms per message, so that two workers' batches interleave."""

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


def test_two_workers_send_every_message_exactly_once(app):
    """Two workers, each with its own database connection, drain 30 messages at the same
    time: on PostgreSQL they claim with FOR UPDATE SKIP LOCKED, on SQLite one at a time
    under BEGIN IMMEDIATE. Every message arrives once."""
    inbox = SlowInbox()
    controller = start_server(inbox)
    try:
        mail_settings(app, controller.port, AEPLAN_OUTBOX_BATCH=3)
        queue_plain(30)
        start = threading.Barrier(2)
        tallies: list[worker.Tally] = []
        errors: list[BaseException] = []

        def work():
            try:
                with app.app_context():  # its own session, its own connection
                    start.wait(10)
                    tallies.append(worker.drain(app.config))
                    db.session.remove()
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        received = sorted(r for rcpt, _raw, _ in inbox.received for r in rcpt)
        assert received == sorted(f"person{i}@example.com" for i in range(30))
        assert sum(t.sent for t in tallies) == 30
        assert all(t.sent > 0 for t in tallies), [str(t) for t in tallies]  # both worked
        assert {r.status for r in rows()} == {"sent"}
        assert {r.attempts for r in rows()} == {1}
    finally:
        controller.stop()


# --- what is queued ------------------------------------------------------------------


def test_a_rolled_back_change_queues_nothing(app, booking, zoe, assign):
    mail_settings(app, free_port())
    assign(booking, zoe)
    row = db.session.get(Booking, booking.id)
    row.sequence += 1
    notify.queue(row.id, "update")
    db.session.flush()
    db.session.rollback()
    db.session.commit()  # a later commit does not announce the undone change
    assert rows() == []

    row = db.session.get(Booking, booking.id)
    row.sequence += 1
    notify.queue(row.id, "update")
    db.session.commit()
    assert [(r.status, r.recipient_email) for r in rows()] == [("queued", "zoe@example.com")]


def test_a_commit_that_fails_queues_nothing(app, booking, zoe, assign, make_user):
    mail_settings(app, free_port())
    assign(booking, zoe)
    row = db.session.get(Booking, booking.id)
    row.sequence += 1
    notify.queue(row.id, "update")
    from aeplan.auth.models import User

    db.session.add(User(email=zoe.email, name="Duplicate", role="ae", timezone="UTC",
                        password_hash="x"))
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        db.session.commit()
    db.session.rollback()
    assert rows() == []


# --- the commands --------------------------------------------------------------------


def test_outbox_status_prints_the_count_in_each_state(app, runner):
    queue_plain(4)
    db.session.execute(OutboxMessage.__table__.update()
                       .where(OutboxMessage.id.in_([1, 2])).values(status="sent"))
    db.session.execute(OutboxMessage.__table__.update()
                       .where(OutboxMessage.id == 3).values(status="failed"))
    db.session.commit()
    result = runner.invoke(args=["outbox", "status"])
    assert result.exit_code == 0, result.output
    assert result.output.split("\n") == ["queued   1", "sending  0", "sent     2",
                                         "failed   1", ""]


def test_outbox_run_once_delivers_what_is_due_and_exits(app, runner):
    inbox = Inbox()
    controller = start_server(inbox)
    try:
        mail_settings(app, controller.port)
        queue_plain(2)
        result = runner.invoke(args=["outbox", "run", "--once"])
        assert result.exit_code == 0, result.output
        assert result.output == "sent 2, retry 0, failed 0\n"
        assert len(inbox.received) == 2
        result = runner.invoke(args=["outbox", "run", "--once"])
        assert result.output == "sent 0, retry 0, failed 0\n"
    finally:
        controller.stop()


def test_outbox_run_keeps_delivering_until_sigterm(app):
    """The long-running worker, as systemd or `make run` start it: a real process that
    picks up mail queued while it runs and stops cleanly on SIGTERM."""
    inbox = Inbox()
    controller = start_server(inbox)
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               SECRET_KEY="outbox-test", MAIL_SERVER="127.0.0.1",
               MAIL_PORT=str(controller.port), MAIL_USE_TLS="false")
    env.pop("FLASK_DEBUG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "outbox", "run", "--interval", "0.2"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        queue_plain(1)
        deadline = time.monotonic() + 20
        while not inbox.received and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert len(inbox.received) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        output = proc.stdout.read().decode()
        assert "sent 1, retry 0, failed 0" in output and "Stopped." in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
        controller.stop()
    assert [r.status for r in rows()] == ["sent"]


# --- the booking page ---------------------------------------------------------------


def test_the_booking_page_shows_each_recipients_delivery_state(
        app, login_as, ae, booking, zoe, make_user, assign, make_contact):
    dan = make_user("support", name="Dan Design", email="dan@example.com",
                    discipline="creative")
    inbox = Inbox(refuse=("dan@example.com",))
    controller = start_server(inbox)
    try:
        mail_settings(app, controller.port)
        client = login_as(ae)
        assert assign_over_http(client, booking, zoe).status_code == 303
        assert assign_over_http(client, booking, dan, role="creative").status_code == 303
        worker.drain(app.config)
        db.session.expire_all()
        pat = make_contact(db.session.get(Booking, booking.id).client, name="Pat Kunde",
                           email="pat@cafe.example")
        # Inviting Pat queues a new round for everyone: Zoë's and Dan's are queued again.
        response = client.post(f"/bookings/{booking.id}/contacts",
                               data={"contact_ids": [str(pat.id)]})
        assert response.status_code == 303
        [dans_failure] = [r for r in rows() if r.status == "failed"]

        section = delivery_section(client.get(f"/bookings/{booking.id}").get_data(as_text=True))
        assert section.count("<tr>") == 1 + 3  # head, one row per recipient
        assert section.count(">Queued<") == 3  # the latest to each is the new round
        assert "Pat Kunde" in section and "pat@cafe.example" in section

        worker.drain(app.config)
        page = client.get(f"/bookings/{booking.id}").get_data(as_text=True)
        section = delivery_section(page)
        zoe_row, dan_row, pat_row = (section.split(name, 1)[1].split("</tr>", 1)[0]
                                     for name in ("Zoë Müller", "Dan Design", "Pat Kunde"))
        assert ">Sent<" in zoe_row and ">Sent<" in pat_row
        assert ">Failed<" in dan_row and "refused the address (550" in dan_row
        assert dans_failure.id < max(r.id for r in rows())
    finally:
        controller.stop()


def test_an_address_that_cannot_be_mailed_is_queued_as_failed_and_the_change_stands(
        app, login_as, ae, booking, zoe, assign, make_contact):
    """One unusable address (stored before addresses were checked, say): its row is
    failed with the reason from the start, the others go out, and the change commits."""
    inbox = Inbox()
    controller = start_server(inbox)
    try:
        mail_settings(app, controller.port)
        assign(booking, zoe)
        row = db.session.get(Booking, booking.id)
        odd = make_contact(row.client, name="Odd Address", email="odd@@cafe.example")
        row.contacts = [odd]
        row.sequence += 1
        notify.queue(row.id, "update")
        db.session.commit()
        db.session.expire_all()
        assert [c.id for c in db.session.get(Booking, booking.id).contacts] == [odd.id]
        assert sorted((r.recipient_email, r.status, r.last_error) for r in rows()) == [
            ("odd@@cafe.example", "failed", "the address cannot be used in an email"),
            ("zoe@example.com", "queued", "")]
        assert str(worker.drain(app.config)) == "sent 1, retry 0, failed 0"
        section = delivery_section(login_as(ae).get(f"/bookings/{booking.id}")
                                   .get_data(as_text=True))
        assert "Odd Address" in section and "the address cannot be used in an email" in section
    finally:
        controller.stop()
