from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from aeplan.extensions import db
from aeplan.timeutil import UTCDateTime, now_utc

ROLES = ("ae", "support", "manager", "admin")
DISCIPLINES = ("technical", "creative", "other")


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16), index=True)
    discipline: Mapped[str | None] = mapped_column(String(16))
    skills: Mapped[str] = mapped_column(Text, default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str | None] = mapped_column(String(8))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Random per-user value; feed URLs are an HMAC of it under a server-side key, so the
    # database alone never yields a working URL. None until a feed link is first issued.
    feed_secret: Mapped[str | None] = mapped_column(String(64))
    # Raised to end every session of this user on the server (sign-out, password or role
    # change, deactivation): sessions name "<id>:<generation>" and a stale one is refused.
    session_generation: Mapped[int] = mapped_column(default=0, server_default=text("0"))

    def get_id(self) -> str:
        """Flask-Login's "alternative token": what a session (or a remember-me cookie)
        stores to name this user. It changes when the generation does."""
        return f"{self.id}:{self.session_generation}"

    def end_sessions(self) -> None:
        """Make every session issued so far stale (see `get_id`)."""
        self.session_generation = User.session_generation + 1

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_manager(self) -> bool:
        return self.role in ("manager", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_ae(self) -> bool:
        return self.role == "ae"

    @property
    def is_support(self) -> bool:
        return self.role == "support"

    @property
    def skill_list(self) -> list[str]:
        return split_skills(self.skills)

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


class LoginFailure(db.Model):
    """One failed sign-in; counted per account and per address to throttle guessing.

    Kept in the database, not in process memory, so that every worker agrees.
    """

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    __table_args__ = (
        Index("ix_login_failures_email_at", "email", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
    )


def split_skills(text: str | None) -> list[str]:
    """Skills as typed, comma-separated, into a clean list."""
    return [s.strip() for s in (text or "").split(",") if s.strip()]
