from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Date, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aeplan.auth.models import User
from aeplan.clients.models import Client
from aeplan.extensions import db
from aeplan.timeutil import UTCDateTime, now_utc

CATEGORIES = ("flight", "hotel", "ground_transport", "meals", "other")
ALLOCATIONS = ("client", "even", "hours")

trip_travellers = Table(
    "trip_travellers",
    db.metadata,
    Column("trip_id", ForeignKey("trips.id"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True),
)


class Trip(db.Model):
    """An AE's journey: a date range at a destination, grouping the on-site bookings
    (stops) it makes and what it cost."""

    __tablename__ = "trips"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    destination: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)  # inclusive
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    owner: Mapped[User] = relationship()
    travellers: Mapped[list[User]] = relationship(secondary=trip_travellers,
                                                  order_by="User.name")
    expenses: Mapped[list[Expense]] = relationship(back_populates="trip",
                                                   order_by="Expense.spent_on, Expense.id")

    __table_args__ = (
        Index("ix_trips_owner_starts", "owner_id", "starts_on"),
        Index("ix_trips_starts_on", "starts_on"),
    )

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None


class Expense(db.Model):
    """Money spent on a trip, in integer minor units of its currency (cents for EUR,
    yen for JPY), attributed to one client or split across the clients the trip serves."""

    __tablename__ = "expenses"

    id: Mapped[int] = mapped_column(primary_key=True)
    trip_id: Mapped[int] = mapped_column(ForeignKey("trips.id"))
    category: Mapped[str] = mapped_column(String(32))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    spent_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(500), default="")
    # "client": all to client_id; "even": equal parts; "hours": by hours on site.
    allocation: Mapped[str] = mapped_column(String(16), default="even")
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    trip: Mapped[Trip] = relationship(back_populates="expenses")
    client: Mapped[Client | None] = relationship()

    __table_args__ = (Index("ix_expenses_trip_id", "trip_id"),)
