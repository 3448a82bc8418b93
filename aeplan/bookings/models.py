from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table, Text, and_
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aeplan.auth.models import User, split_skills
from aeplan.clients.models import Client, Contact
from aeplan.extensions import db
from aeplan.timeutil import UTCDateTime, now_utc

if TYPE_CHECKING:
    from aeplan.trips.models import Trip

KINDS = ("demo", "visit")
# Travel time blocked around a booking unless the AE says otherwise: visits are on site.
DEFAULT_BUFFER_MINUTES = {"demo": 0, "visit": 60}
MAX_BUFFER_MINUTES = 720
MAX_DURATION = timedelta(days=14)  # no booking lasts longer (bookings.service refuses it)
STATUSES = ("tentative", "confirmed", "done", "cancelled")
# Fields whose change a calendar app must see: each raises the iCal SEQUENCE.
CALENDAR_FIELDS = frozenset(
    {"starts_at", "ends_at", "timezone", "location", "status", "title", "kind", "agenda"}
)
STAFF_DISCIPLINES = ("technical", "creative", "other")


def new_uid() -> str:
    return f"{uuid.uuid4()}@aeplan"


class Booking(db.Model):
    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(80), unique=True, default=new_uid)
    sequence: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(500), default="")
    agenda: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="tentative")
    needs_technical: Mapped[int] = mapped_column(default=0)
    needs_creative: Mapped[int] = mapped_column(default=0)
    needs_other: Mapped[int] = mapped_column(default=0)
    # Skills wanted from support staff, comma separated; used to rank suggestions.
    skills: Mapped[str] = mapped_column(String(500), default="")
    # Travel time blocked before and after for everyone on the booking.
    travel_buffer_minutes: Mapped[int] = mapped_column(default=0)
    # The trip this booking is a stop of, if any.
    trip_id: Mapped[int | None] = mapped_column(ForeignKey("trips.id"))
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    client: Mapped[Client] = relationship()
    owner: Mapped[User] = relationship()
    trip: Mapped[Trip | None] = relationship()
    changes: Mapped[list[BookingChange]] = relationship(
        back_populates="booking", order_by="BookingChange.id"
    )
    # Client contacts invited: they get the invitation as attendees.
    contacts: Mapped[list[Contact]] = relationship(secondary="booking_contacts",
                                                   order_by="Contact.name")

    __table_args__ = (
        # Covers the list's filters, so counting and paging never read the table;
        # (starts_at, id) is the list's order.
        Index("ix_bookings_starts_at", "starts_at", "id", "ends_at", "status", "kind",
              "owner_id", "client_id"),
        Index("ix_bookings_owner_starts", "owner_id", "starts_at"),
        Index("ix_bookings_client_starts", "client_id", "starts_at"),
        Index("ix_bookings_status_starts", "status", "starts_at"),
        Index("ix_bookings_trip_id", "trip_id"),
    )

    @property
    def busy_starts_at(self) -> datetime:
        return self.starts_at - timedelta(minutes=self.travel_buffer_minutes)

    @property
    def busy_ends_at(self) -> datetime:
        return self.ends_at + timedelta(minutes=self.travel_buffer_minutes)

    @property
    def skill_list(self) -> list[str]:
        return split_skills(self.skills)

    @property
    def is_cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def location_is_link(self) -> bool:
        return is_link(self.location)

    @property
    def needs_total(self) -> int:
        return self.needs_technical + self.needs_creative + self.needs_other


booking_contacts = Table(
    "booking_contacts",
    db.metadata,
    Column("booking_id", ForeignKey("bookings.id"), primary_key=True),
    Column("contact_id", ForeignKey("contacts.id"), primary_key=True),
)


class BookingChange(db.Model):
    """One recorded change to a booking: who, when, and each field from what to what."""

    __tablename__ = "booking_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(32))
    # {"field": [old, new], ...} with values as display strings
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    booking: Mapped[Booking] = relationship(back_populates="changes")
    actor: Mapped[User | None] = relationship()

    __table_args__ = (Index("ix_booking_changes_booking_id", "booking_id"),)


def is_link(location: str | None) -> bool:
    """Whether a location is a meeting link (shown as a link) rather than a place."""
    return bool(location) and location.startswith(("https://", "http://"))


def ending_after(moment: datetime):
    """Bookings that end after `moment`, as a range on the starts_at index: a booking
    lasts at most MAX_DURATION, so it cannot start earlier than that before `moment`."""
    return and_(Booking.starts_at > moment - MAX_DURATION, Booking.ends_at > moment)


def overlapping(start: datetime, end: datetime):
    """Bookings overlapping [start, end), as a bounded range on the starts_at index."""
    return and_(Booking.starts_at < end, ending_after(start))
