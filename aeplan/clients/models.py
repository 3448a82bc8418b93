from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aeplan.auth.models import User
from aeplan.extensions import db
from aeplan.timeutil import UTCDateTime, now_utc

INDUSTRIES = (
    "advertising",
    "public_relations",
    "financial_services",
    "technology",
    "healthcare",
    "other",
)
TIERS = ("key", "standard")


class Client(db.Model):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160), unique=True)
    industry: Mapped[str] = mapped_column(String(32), index=True)
    tier: Mapped[str] = mapped_column(String(16), default="standard", index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    cadence_days: Mapped[int] = mapped_column(default=30)
    gift_rules: Mapped[bool] = mapped_column(default=False)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    owner: Mapped[User] = relationship()
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="client", order_by="Contact.name"
    )

    @property
    def is_key_account(self) -> bool:
        return self.tier == "key"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class Contact(db.Model):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), default="")
    title: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[Client] = relationship(back_populates="contacts")

    __table_args__ = (Index("ix_contacts_client_id", "client_id"),)
