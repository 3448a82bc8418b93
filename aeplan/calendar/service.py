"""Calendar publishing: invitations, personal feeds and their tokens, and the caches
that make a poll cheap. Builds EventData from bookings and hands it to `ical`."""
from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, event, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, joinedload, selectinload

from aeplan.auth.models import User
from aeplan.bookings.models import Booking, ending_after
from aeplan.calendar import ical
from aeplan.calendar.models import CURRENT_VERSION, DataVersion, EventCache, FeedCache
from aeplan.clients.models import Client, Contact
from aeplan.errors import NotAllowed
from aeplan.extensions import db
from aeplan.staffing.models import Assignment
from aeplan.timeutil import now_utc
from aeplan.transactions import begin_write, valid_id
from aeplan.trips.models import Trip, trip_travellers

log = logging.getLogger(__name__)

FEED_PAST = timedelta(days=60)
FEED_FUTURE = timedelta(days=548)  # about 18 months
TOKEN = re.compile(r"^(\d{1,10})-(me|c\d{1,10})-([A-Za-z0-9_-]{32})$")
# Changes to these make some feed show something else.
FEED_MODELS = (Booking, Assignment, Client, Contact, User, Trip)


# --- the data version: one number that moves with every change a feed could show ----

@event.listens_for(Session, "after_flush")
def _note_feed_changes(session, flush_context):
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, FEED_MODELS):
            session.info["feeds_changed"] = True
            return


@event.listens_for(Session, "before_commit")
def _bump_version(session):
    session.flush()  # pending changes are noted by the flush above
    if session.info.pop("feeds_changed", False):
        result = session.execute(update(DataVersion).where(DataVersion.id == 1)
                                 .values(value=DataVersion.value + 1))
        if result.rowcount == 0:
            session.add(DataVersion(id=1, value=1))
            session.flush()


@event.listens_for(Session, "after_rollback")
def _forget_changes(session):
    session.info.pop("feeds_changed", None)


# --- turning bookings into calendar data ---------------------------------------------

def _label(value: str) -> str:
    return value.replace("_", " ")


def event_data(booking: Booking, *, base_url: str) -> ical.EventData:
    """The booking as calendar data; client, owner, assignments (with users) and contacts
    must be loaded."""
    organizer = ical.Person(booking.owner.name, booking.owner.email, "ACCEPTED",
                            role="CHAIR", label="AE")
    staff = tuple(
        ical.Person(a.user.name, a.user.email, ical.PARTSTAT[a.status], label=a.role)
        for a in sorted(booking.assignments, key=lambda a: (a.role, a.user.name))
        if a.removed_at is None
    )
    guests = tuple(
        ical.Person(c.name, c.email, "NEEDS-ACTION", label=f"{booking.client.name}")
        for c in booking.contacts if c.email and c.archived_at is None
    )
    return ical.EventData(
        uid=booking.uid, sequence=booking.sequence,
        summary=f"{booking.client.name}: {booking.title}", status=booking.status,
        starts_at=booking.starts_at, ends_at=booking.ends_at, stamp=booking.updated_at,
        organizer=organizer, attendees=staff + guests, location=booking.location,
        url=f"{base_url}/bookings/{booking.id}" if base_url else "",
        client=booking.client.name, kind=_label(booking.kind), agenda=booking.agenda,
        timezone=booking.timezone,
    )


def _calendar_options():
    return (joinedload(Booking.client), joinedload(Booking.owner),
            selectinload(Booking.assignments).joinedload(Assignment.user),
            selectinload(Booking.contacts))


def load_for_calendar(booking_id: int) -> Booking:
    return db.session.scalar(select(Booking).where(Booking.id == booking_id)
                             .options(*_calendar_options()))


def invitation(booking: Booking, *, base_url: str) -> bytes:
    return ical.invitation(event_data(booking, base_url=base_url))


def uninvitation(booking: Booking, person: User, *, base_url: str) -> bytes:
    return ical.uninvite(event_data(booking, base_url=base_url),
                         ical.Person(person.name, person.email, "NEEDS-ACTION"))


# --- feed tokens ----------------------------------------------------------------------

def derive_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"aeplan feed tokens v1", hashlib.sha256).digest()


def key_from_config(config) -> bytes:
    """The server-side key for feed tokens: AEPLAN_FEED_KEY, else derived from SECRET_KEY."""
    configured = config.get("AEPLAN_FEED_KEY")
    return configured.encode() if configured else derive_key(config["SECRET_KEY"])


def _mac(key: bytes, user: User, scope: str) -> str:
    return _mac_of(key, user.id, scope, user.feed_secret)


def _mac_of(key: bytes, user_id: int, scope: str, secret: str) -> str:
    digest = hmac.new(key, f"{user_id}:{scope}:{secret}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:32]  # 192 bits


def feed_token(user: User, key: bytes, *, client: Client | None = None) -> str:
    """The user's feed token (for a client's feed with `client`), issuing a secret first
    if the user has none; the caller commits."""
    if client is not None and not can_follow_client(user, client):
        raise NotAllowed("Only the client's AE and managers can subscribe to its calendar.")
    if not user.feed_secret:
        user.feed_secret = secrets.token_urlsafe(32)
        db.session.flush()
    scope = f"c{client.id}" if client is not None else "me"
    return f"{user.id}-{scope}-{_mac(key, user, scope)}"


def rotate_feed_secret(user: User) -> None:
    """A new secret: every feed URL issued before stops working."""
    user.feed_secret = secrets.token_urlsafe(32)
    db.session.flush()


def can_follow_client(user: User, client: Client) -> bool:
    return user.is_manager or (user.role == "ae" and client.owner_id == user.id)


@dataclass(frozen=True)
class Feed:
    owner: User
    scope: str  # "me" or "c<client id>"
    client: Client | None

    @property
    def cache_key(self) -> str:
        return f"{self.owner.id}:{self.scope}"


def resolve_token(token: str, key: bytes) -> Feed | None:
    """The feed a token opens, or None: unknown, rotated, forged and deactivated all look
    the same to the caller."""
    match = TOKEN.match(token or "")
    if not match:
        return None
    user_id, scope, mac = int(match[1]), match[2], match[3]
    if not valid_id(user_id) or (scope != "me" and not valid_id(int(scope[1:]))):
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active or not user.feed_secret:
        return None
    if not hmac.compare_digest(_mac(key, user, scope), mac):
        return None
    client = None
    if scope != "me":
        client = db.session.get(Client, int(scope[1:]))
        if client is None or not can_follow_client(user, client):
            return None
    return Feed(user, scope, client)


# --- feeds ----------------------------------------------------------------------------

@dataclass(frozen=True)
class FeedBody:
    etag: str
    last_modified: datetime
    body_gzip: bytes | None = None

    @property
    def body(self) -> bytes | None:
        """The plain bytes, for clients that do not take gzip."""
        return gzip.decompress(self.body_gzip) if self.body_gzip is not None else None


def _version_key(value: int | None) -> str:
    """What a cached feed is valid for: the data version and the day (the feed's window
    moves with the day, so a feed is rebuilt at least daily)."""
    return f"{value or 0}:{now_utc().date().isoformat()}"


def _version() -> str:
    return _version_key(db.session.scalar(CURRENT_VERSION))


def feed_name(feed: Feed) -> str:
    if feed.client is not None:
        return f"AE Plan: {feed.client.name}"
    if feed.owner.is_manager:
        return "AE Plan: team"
    return f"AE Plan: {feed.owner.name}"


def _feed_bookings(feed: Feed) -> list[Booking]:
    now = now_utc()
    stmt = (select(Booking)
            .where(Booking.status != "cancelled", ending_after(now - FEED_PAST),
                   Booking.starts_at < now + FEED_FUTURE)
            .options(*_calendar_options()).order_by(Booking.starts_at, Booking.id))
    user = feed.owner
    if feed.client is not None:
        stmt = stmt.where(Booking.client_id == feed.client.id)
    elif user.role == "support":
        stmt = stmt.where(Booking.id.in_(
            select(Assignment.booking_id).where(Assignment.user_id == user.id,
                                                Assignment.removed_at.is_(None),
                                                Assignment.status != "declined")))
    elif not user.is_manager:
        stmt = stmt.where(Booking.owner_id == user.id)
    return list(db.session.scalars(stmt))


def _chunks(items: list, size: int = 500):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def trip_data(trip: Trip, clients: list[str], *, base_url: str) -> ical.EventData:
    """A trip as an all-day event spanning its days (DTEND the day after)."""
    people = [trip.owner.name] + [t.name for t in trip.travellers]
    extra = (f"Clients: {', '.join(clients) if clients else 'none yet'}",
             f"Travellers: {', '.join(people)}")
    return ical.EventData(
        uid=f"trip-{trip.id}-{int(trip.created_at.timestamp())}@aeplan", sequence=0,
        summary=f"Trip: {trip.title} ({trip.destination})", status="confirmed",
        starts_at=trip.starts_on, ends_at=trip.ends_on + timedelta(days=1),
        stamp=trip.updated_at, location=trip.destination,
        url=f"{base_url}/trips/{trip.id}" if base_url else "", extra=extra,
    )


def _feed_trips(feed: Feed) -> list[Trip]:
    today = now_utc().date()
    stmt = (select(Trip)
            .where(Trip.cancelled_at.is_(None), Trip.ends_on >= today - FEED_PAST,
                   Trip.starts_on <= today + FEED_FUTURE)
            .options(joinedload(Trip.owner), selectinload(Trip.travellers))
            .order_by(Trip.starts_on, Trip.id))
    user = feed.owner
    if feed.client is not None:
        stmt = stmt.where(Trip.id.in_(select(Booking.trip_id).where(
            Booking.client_id == feed.client.id, Booking.status != "cancelled")))
    elif user.role == "support":
        stmt = stmt.where(Trip.id.in_(select(trip_travellers.c.trip_id)
                                      .where(trip_travellers.c.user_id == user.id)))
    elif not user.is_manager:
        stmt = stmt.where(Trip.owner_id == user.id)
    return list(db.session.scalars(stmt))


def _trip_clients(trip_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, set[str]] = {i: set() for i in trip_ids}
    if trip_ids:
        rows = db.session.execute(
            select(Booking.trip_id, Client.name).join(Client, Booking.client_id == Client.id)
            .where(Booking.trip_id.in_(trip_ids), Booking.status != "cancelled"))
        for trip_id, name in rows:
            out[trip_id].add(name)
    return {k: sorted(v) for k, v in out.items()}


def build_feed(feed: Feed, *, base_url: str) -> tuple[bytes, dict[int, tuple[str, bytes]]]:
    """The feed's bytes, reusing each booking's cached VEVENT while its data is the same.
    Returns the bytes and the cache entries that were (re)made."""
    bookings = _feed_bookings(feed)
    cached: dict[int, EventCache] = {}
    for ids in _chunks([b.id for b in bookings]):
        for row in db.session.scalars(select(EventCache).where(EventCache.booking_id.in_(ids))):
            cached[row.booking_id] = row
    parts, fresh = [], {}
    for booking in bookings:
        data = event_data(booking, base_url=base_url)
        digest = data.digest()
        row = cached.get(booking.id)
        if row is not None and row.digest == digest:
            parts.append(row.body)
        else:
            body = ical.feed_event(data)
            fresh[booking.id] = (digest, body)
            parts.append(body)
    trips = _feed_trips(feed)
    clients = _trip_clients([t.id for t in trips])
    parts += [trip_data(t, clients[t.id], base_url=base_url) for t in trips]
    body = ical.feed(parts, name=feed_name(feed),
                     calendar_uid=f"aeplan-feed-{feed.cache_key}@aeplan")
    return body, fresh


# Built once: the revalidation path runs it as plain Core, no ORM work per request.
_VALIDATORS = (
    select(User.feed_secret, User.active, FeedCache.etag, FeedCache.last_modified,
           FeedCache.version,
           CURRENT_VERSION.scalar_subquery()
           .label("data_version"))
    .join(FeedCache, FeedCache.key == bindparam("key"))
    .where(User.id == bindparam("user_id"))
)


def cached_validators(token: str, key: bytes) -> FeedBody | None:
    """For a valid token whose feed is cached and current, its ETag and Last-Modified;
    else None (the caller then resolves the token fully). One query, so that a calendar
    app's revalidation costs little more than a trivial route."""
    match = TOKEN.match(token or "")
    if not match:
        return None
    user_id, scope, mac = int(match[1]), match[2], match[3]
    if not valid_id(user_id) or (scope != "me" and not valid_id(int(scope[1:]))):
        return None
    row = db.session.connection().execute(
        _VALIDATORS, {"user_id": user_id, "key": f"{user_id}:{scope}"}
    ).first()
    if row is None or not row.active or not row.feed_secret:
        return None
    if not hmac.compare_digest(_mac_of(key, user_id, scope, row.feed_secret), mac):
        return None
    if row.version != _version_key(row.data_version):
        return None
    # The cache row exists only for feeds served before, so the token's scope was
    # checked then; any change since (a client changing hands, a role change) has
    # moved the data version and lands in the full path.
    return FeedBody(row.etag, row.last_modified)


def feed_body(feed: Feed, *, base_url: str) -> FeedBody:
    """The feed's bytes (plain and gzipped), from the cache or built and cached."""
    version = _version()
    row = db.session.get(FeedCache, feed.cache_key)
    if row is not None and row.version == version:
        return FeedBody(row.etag, row.last_modified, row.body_gzip)
    old_etag, old_modified = (row.etag, row.last_modified) if row else (None, None)
    body, fresh = build_feed(feed, base_url=base_url)
    etag = hashlib.sha256(body).hexdigest()[:40]
    # Last-Modified moves only when the bytes change, and never backwards.
    now = now_utc().replace(microsecond=0)
    modified = old_modified if etag == old_etag and old_modified else now
    if old_modified and modified < old_modified:
        modified = old_modified
    body_gzip = gzip.compress(body, compresslevel=6, mtime=0)
    _store(feed.cache_key, version, etag, modified, body_gzip, fresh)
    return FeedBody(etag, modified, body_gzip)


def _store(key, version, etag, modified, body_gzip, fresh) -> None:
    """Write the caches in a short write transaction of their own; a failure (another
    worker writing the same row) costs nothing but a rebuild later."""
    db.session.rollback()  # end the read transaction before writing
    try:
        begin_write()
        row = db.session.get(FeedCache, key)
        if row is None:
            db.session.add(FeedCache(key=key, version=version, etag=etag,
                                     last_modified=modified, body_gzip=body_gzip))
        else:
            row.version, row.etag, row.last_modified = version, etag, modified
            row.body_gzip = body_gzip
        for booking_id, (digest, event_body) in fresh.items():
            db.session.merge(EventCache(booking_id=booking_id, digest=digest, body=event_body))
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("feed cache %s not stored (another worker may have written it)", key,
                    exc_info=True)


def feed_url_path(token: str) -> str:
    return f"/feeds/{token}.ics"

