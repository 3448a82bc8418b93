from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aeplan.auth.models import User
from aeplan.bookings.models import Booking
from aeplan.extensions import db
from aeplan.timeutil import UTCDateTime, now_utc

ASSIGNMENT_STATUSES = ("pending", "accepted", "declined")


class Assignment(db.Model):
    """A support person on a booking; one row per person per booking, kept when removed."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    note: Mapped[str] = mapped_column(Text, default="")
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Copies of the booking's time widened by its travel buffer, kept in step by the
    # services, so that "is this person busy then?" is one index range scan.
    busy_starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    busy_ends_at: Mapped[datetime] = mapped_column(UTCDateTime)

    booking: Mapped[Booking] = relationship(backref="assignments")
    user: Mapped[User] = relationship(foreign_keys=[user_id])

    __table_args__ = (
        UniqueConstraint("booking_id", "user_id", name="uq_assignments_booking_user"),
        # A person's busy spans in time order, with what a conflict check tests, so
        # that only real clashes are read from the table; (busy_starts_at, id) is the
        # order "my assignments" walks.
        Index("ix_assignments_user_busy", "user_id", "busy_starts_at", "id", "busy_ends_at",
              "status", "removed_at"),
        Index("ix_assignments_booking_id", "booking_id"),
    )

    @property
    def is_active(self) -> bool:
        """On the booking and not declined: the person's time is taken."""
        return self.removed_at is None and self.status != "declined"


class TimeOff(db.Model):
    """A span when a person cannot be assigned; cancelled entries are kept."""

    __tablename__ = "time_off"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    __table_args__ = (Index("ix_time_off_user_starts", "user_id", "starts_at"),)

    @property
    def last_moment(self) -> datetime:
        """Just before the end, so that whole days show their last day, not the next."""
        return self.ends_at - timedelta(seconds=1)
