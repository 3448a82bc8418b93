"""The outbox table: every email the app sends, stored ready to go.

A row is written in the same transaction as the change that calls for it, so a committed
change always has its mail queued and a rolled-back one has none. The worker
(`aeplan.outbox.worker`) delivers rows; it needs nothing but the row: envelope sender and
recipient and the message's bytes, exactly as they go over SMTP.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from aeplan.extensions import db
from aeplan.timeutil import UTCDateTime, now_utc

QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"
STATES = (QUEUED, SENDING, SENT, FAILED)
# The worker's pick: due rows among these. A partial index keeps it small however many
# sent rows pile up.
OPEN = (QUEUED, SENDING)
ERROR_LENGTH = 300


class OutboxMessage(db.Model):
    """One email to one recipient.

    `next_attempt_at` means: when queued, the time it is due; when sending, the end of
    the worker's lease (past it, another worker may take the row again); when sent or
    failed, the time of the last attempt. `attempts` counts claims, so it also fences a
    worker whose lease ran out: its final update names the attempt it made.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    status: Mapped[str] = mapped_column(String(10), default=QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Short, for people: "the mail server answered 451 ...". Never a password.
    last_error: Mapped[str] = mapped_column(String(ERROR_LENGTH), default="")
    sender: Mapped[str] = mapped_column(String(320))  # envelope MAIL FROM
    recipient_email: Mapped[str] = mapped_column(String(320))  # envelope RCPT TO
    recipient_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    # The MIME message with CRLF line ends; None for a message that could not be made
    # (the row is then failed from the start and says why).
    message: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The booking the message is about, for the booking page. No foreign key: the
    # outbox knows no domain table, and a message outlives what it was about.
    booking_id: Mapped[int | None] = mapped_column()

    __table_args__ = (
        CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed')", name="status"),
        Index("ix_outbox_due", "next_attempt_at", "id",
              postgresql_where=text("status IN ('queued', 'sending')"),
              sqlite_where=text("status IN ('queued', 'sending')")),
        Index("ix_outbox_booking", "booking_id", "id",
              postgresql_where=text("booking_id IS NOT NULL"),
              sqlite_where=text("booking_id IS NOT NULL")),
    )
