"""Sign-in, throttling and user management. Functions flush; callers commit."""
from __future__ import annotations

import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from sqlalchemy import bindparam, delete, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from aeplan.auth.models import DISCIPLINES, ROLES, LoginFailure, User
from aeplan.auth.passwords import require_good_password
from aeplan.errors import DomainError, Invalid, NotAllowed
from aeplan.extensions import db
from aeplan.permissions import require_admin
from aeplan.timeutil import is_valid_zone, now_utc


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A real hash, so that unknown emails take as long to refuse as wrong passwords."""
    return generate_password_hash(secrets.token_hex(16))


class Throttled(DomainError):
    """Too many failures from one address; `retry_after` is in seconds."""

    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Throttle:
    """How failed sign-ins are slowed down, counted over the last `window_minutes`.

    - Per address: after `max_failures` failures from one address (any accounts), that
      address gets 429 until the oldest failure leaves the window. Other addresses are
      not affected, so a guesser cannot lock anyone out.
    - Per account: after `free_failures` failures for one email (from any address),
      every attempt on it waits `first_delay` seconds, doubling with each further
      failure up to `max_delay`. The account is never locked: the right password still
      signs in, only more slowly.

    The counts live in the database (LoginFailure), so every worker and machine sees
    the same ones. Flask-Limiter was not adopted: it keeps its counters in memory,
    Redis or Memcached, none of which every deployment of AE Plan shares, and it knows
    nothing of a per-account delay.
    """

    max_failures: int = 10
    window_minutes: int = 15
    free_failures: int = 3
    first_delay: float = 0.25
    max_delay: float = 5.0

    @classmethod
    def from_config(cls, config) -> Throttle:
        return cls(max_failures=config["LOGIN_MAX_FAILURES"],
                   window_minutes=config["LOGIN_WINDOW_MINUTES"],
                   free_failures=config["LOGIN_FREE_FAILURES"],
                   first_delay=config["LOGIN_FIRST_DELAY"],
                   max_delay=config["LOGIN_MAX_DELAY"])

    def delay(self, account_failures: int) -> float:
        """Seconds to wait before checking a password for an account with this many
        recent failures."""
        extra = account_failures - self.free_failures
        if extra <= 0:
            return 0.0
        return min(self.max_delay, self.first_delay * 2.0 ** min(extra - 1, 64))


@dataclass
class UserInput:
    email: str
    name: str
    role: str
    discipline: str | None = None
    skills: str = ""
    timezone: str = "UTC"
    password: str | None = None


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def address_key(address: str | None) -> str:
    """The key failures are counted under: the IPv4 address, or the IPv6 /64 (one
    machine usually holds a whole /64 and could walk through it)."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return "unknown"  # not an address (a proxy passing on garbage): one shared key
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# Built once: every signed-in request runs it, and Session.get() built and keyed a new
# statement each time.
_SIGNED_IN_USER = select(User).where(User.id == bindparam("user_id"), User.active.is_(True),
                                     User.session_generation == bindparam("generation"))


def signed_in_user(user_id: int, generation: int) -> User | None:
    """The account a session names, or None once it is deactivated or the session is
    stale (its generation is not the user's current one, see User.get_id)."""
    return db.session.scalar(_SIGNED_IN_USER, {"user_id": user_id, "generation": generation})


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def _failures_since(since, **where):
    stmt = select(func.count()).select_from(LoginFailure).where(LoginFailure.at >= since)
    for column, value in where.items():
        stmt = stmt.where(getattr(LoginFailure, column) == value)
    return stmt.scalar_subquery()


def sign_in_delay(email: str, address: str, throttle: Throttle) -> float:
    """Seconds the caller must wait before `authenticate`; raises Throttled when this
    address has failed too often. Only reads: the caller should end its transaction
    before it sleeps, so that no lock is held while it waits."""
    email, address = normalise_email(email), address_key(address)
    now = now_utc()
    window = timedelta(minutes=throttle.window_minutes)
    by_address, by_email = db.session.execute(select(
        _failures_since(now - window, address=address),
        _failures_since(now - window, email=email),
    )).one()
    if by_address >= throttle.max_failures:
        # The address may try again once enough failures have left the window.
        freed_at = db.session.scalar(
            select(LoginFailure.at)
            .where(LoginFailure.address == address, LoginFailure.at >= now - window)
            .order_by(LoginFailure.at).offset(by_address - throttle.max_failures).limit(1)
        )
        seconds = max(1, math.ceil(((freed_at or now) + window - now).total_seconds()))
        minutes = math.ceil(seconds / 60)
        raise Throttled("Too many failed sign-ins from this address. "
                        f"Wait {minutes} minute{'s' if minutes != 1 else ''} and try again.",
                        retry_after=seconds)
    return throttle.delay(by_email)


def authenticate(email: str, password: str, address: str) -> User:
    """Return the user for these credentials or raise Invalid. Call `sign_in_delay` first.

    A failure is recorded (the caller commits even on failure). Unknown emails, wrong
    passwords and deactivated accounts get the same answer after the same work (one
    password hash check), so none of them tells a guesser anything. A success forgets
    this address's failures for the account (the person's own typos); failures from
    elsewhere keep slowing the account down until they leave the window.
    """
    email, address = normalise_email(email), address_key(address)
    user = user_by_email(email)
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        ok = False
    else:
        ok = user.check_password(password or "") and user.active
    if not ok or user is None:
        db.session.add(LoginFailure(email=email[:254], address=address))
        db.session.flush()
        raise Invalid("Wrong email or password.")
    db.session.execute(delete(LoginFailure).where(LoginFailure.email == email,
                                                  LoginFailure.address == address))
    return user


def end_sessions(user: User) -> None:
    """Sign `user` out everywhere: every session issued so far becomes stale."""
    user.end_sessions()
    db.session.flush()


def _has_control_characters(text: str | None) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text or "")


def _check_user_input(data: UserInput, *, existing: User | None) -> None:
    # NUL above all: PostgreSQL can neither store nor compare it (a 500 before).
    for field in ("email", "name", "skills"):
        if _has_control_characters(getattr(data, field)):
            raise Invalid("Remove the control characters from this field.", field=field)
    if data.role not in ROLES:
        raise Invalid(f"Unknown role {data.role!r}.", field="role")
    if data.role == "support":
        if data.discipline not in DISCIPLINES:
            raise Invalid("Support staff need a discipline.", field="discipline")
    elif data.discipline not in (None, ""):
        raise Invalid("Only support staff have a discipline.", field="discipline")
    if not is_valid_zone(data.timezone):
        raise Invalid(f"Unknown timezone: {data.timezone!r}.", field="timezone")
    email = normalise_email(data.email)
    if "@" not in email or len(email) > 254:
        raise Invalid("Enter a valid email address.", field="email")
    if not data.name.strip():
        raise Invalid("Enter a name.", field="name")
    other = user_by_email(email)
    if other is not None and other is not existing:
        raise Invalid("A user with this email already exists.", field="email")


def create_user(data: UserInput, *, actor: User | None) -> User:
    """Create a user. `actor` None means the command line, which may do anything."""
    if actor is not None:
        require_admin(actor)
    _check_user_input(data, existing=None)
    require_good_password(data.password, email=data.email, name=data.name)
    user = User(
        email=normalise_email(data.email),
        name=data.name.strip(),
        role=data.role,
        discipline=data.discipline or None,
        skills=data.skills.strip(),
        timezone=data.timezone,
    )
    user.set_password(data.password)
    db.session.add(user)
    db.session.flush()
    return user


def update_user(user: User, data: UserInput, *, actor: User) -> User:
    require_admin(actor)
    _check_user_input(data, existing=user)
    if user.id == actor.id and data.role != "admin":
        raise NotAllowed("You cannot take away your own admin role.")
    if data.password:
        require_good_password(data.password, email=data.email, name=data.name)
    if data.password or data.role != user.role:
        # What the person may do, or how they prove who they are, has changed: sessions
        # signed in under the old role or password end.
        user.end_sessions()
    user.email = normalise_email(data.email)
    user.name = data.name.strip()
    user.role = data.role
    user.discipline = data.discipline or None
    user.skills = data.skills.strip()
    user.timezone = data.timezone
    if data.password:
        user.set_password(data.password)
    db.session.flush()
    return user


def set_active(user: User, active: bool, *, actor: User) -> User:
    require_admin(actor)
    if user.id == actor.id and not active:
        raise NotAllowed("You cannot deactivate yourself.")
    if user.active and not active:
        user.end_sessions()
    user.active = active
    user.deactivated_at = None if active else now_utc()
    db.session.flush()
    return user


def list_users(*, actor: User, role: str | None = None) -> list[User]:
    require_admin(actor)
    stmt = select(User).order_by(User.active.desc(), User.name)
    if role:
        stmt = stmt.where(User.role == role)
    return list(db.session.scalars(stmt))


def update_own_settings(user: User, *, timezone: str, locale: str | None) -> User:
    if not is_valid_zone(timezone):
        raise Invalid(f"Unknown timezone: {timezone!r}.", field="timezone")
    if locale not in (None, "", "en", "de"):
        raise Invalid("Unknown language.", field="locale")
    user.timezone = timezone
    user.locale = locale or None
    db.session.flush()
    return user


def change_password(user: User, current: str, new: str) -> None:
    """Set a new password and end every session of `user`; the caller signs its own
    browser in again (its session names the old generation)."""
    if not user.check_password(current):
        raise Invalid("Your current password is not right.", field="current_password")
    require_good_password(new, email=user.email, name=user.name, field="new_password")
    user.set_password(new)
    user.end_sessions()
    db.session.flush()
