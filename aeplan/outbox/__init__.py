"""Outgoing mail: queued in the database with the change that causes it, delivered by a
worker (`flask --app app outbox run`).

This package is part of the kernel: it stores and sends ready-made messages and knows
no domain. Domains build the message and call `enqueue` inside their transaction;
`aeplan.outbox.worker` delivers; `aeplan.outbox.smtp` speaks to the mail server.
"""
from __future__ import annotations

from email.message import EmailMessage
from email.utils import getaddresses

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aeplan.outbox.models import ERROR_LENGTH, FAILED, QUEUED, STATES, OutboxMessage
from aeplan.timeutil import now_utc

__all__ = ["OutboxMessage", "STATES", "counts", "enqueue", "enqueue_failure",
           "latest_per_recipient", "wire_bytes"]


def wire_bytes(message: EmailMessage) -> bytes:
    """The message as it travels: CRLF line ends (smtplib sends bytes unchanged)."""
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def _address(header) -> str:
    found = getaddresses([str(header or "")])
    return found[0][1] if found else ""


def enqueue(session: Session, message: EmailMessage, *, recipient_name: str = "",
            booking_id: int | None = None) -> OutboxMessage:
    """Queue `message` (one recipient, in its To header) in `session`'s transaction: it
    is sent once, and only if, that transaction commits. Raises what the email library
    raises for a message it cannot write out; nothing is added then."""
    raw = wire_bytes(message)
    row = OutboxMessage(
        status=QUEUED, next_attempt_at=now_utc(), sender=_address(message["From"]),
        recipient_email=_address(message["To"]), recipient_name=recipient_name[:200],
        subject=str(message["Subject"] or "")[:500], message=raw, booking_id=booking_id)
    session.add(row)
    return row


def enqueue_failure(session: Session, *, recipient_email: str, recipient_name: str,
                    subject: str, reason: str, booking_id: int | None = None) -> OutboxMessage:
    """Record a message that could not be made (an unusable address, say) as failed, so
    that the people who look at delivery states see it and why."""
    row = OutboxMessage(
        status=FAILED, next_attempt_at=now_utc(), sender="",
        recipient_email=recipient_email[:320], recipient_name=recipient_name[:200],
        subject=subject[:500], message=None, booking_id=booking_id,
        last_error=reason[:ERROR_LENGTH])
    session.add(row)
    return row


def counts(session: Session) -> dict[str, int]:
    """Rows per state, every state present."""
    found = dict(session.execute(select(OutboxMessage.status, func.count())
                                 .group_by(OutboxMessage.status)).all())
    return {state: found.get(state, 0) for state in STATES}


def latest_per_recipient(booking_id):
    """SELECT the latest message to each recipient about one booking (`booking_id` is a
    value or a bindparam): id, status, recipient_name, recipient_email, subject,
    last_error, attempts, at (sent_at once sent, else next_attempt_at). For pages that
    fold it into a statement of their own."""
    latest = (select(func.max(OutboxMessage.id))
              .where(OutboxMessage.booking_id == booking_id)
              .group_by(func.lower(OutboxMessage.recipient_email)))
    return (select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.recipient_name,
                   OutboxMessage.recipient_email, OutboxMessage.subject,
                   OutboxMessage.last_error, OutboxMessage.attempts,
                   func.coalesce(OutboxMessage.sent_at, OutboxMessage.next_attempt_at)
                   .label("at"))
            .where(OutboxMessage.id.in_(latest)))
