from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aeplan.auth.models import User
from aeplan.bookings.models import Booking
from aeplan.extensions import db
from aeplan.timeutil import UTCDateTime, now_utc

ASSIGNMENT_STATUSES = ("pending", "accepted", "declined")


class Assignment(db.Model):
    """A support person on a booking; one per person per booking."""

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

    booking: Mapped[Booking] = relationship(backref="assignments")
    user: Mapped[User] = relationship(foreign_keys=[user_id])

    __table_args__ = (
        UniqueConstraint("booking_id", "user_id", name="uq_assignments_booking_user"),
        Index("ix_assignments_user_id", "user_id"),
    )
