"""Bookings: the rules for creating, changing, cancelling and listing them.

Functions flush and raise domain errors; views and commands commit.
"""
from __future__ import annotations

import re
from collections import namedtuple
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from types import SimpleNamespace

from sqlalchemy import and_, bindparam, cast, func, literal, null, or_, select, union_all
from sqlalchemy.orm import joinedload

from aeplan import outbox
from aeplan.auth.models import User, split_skills
from aeplan.bookings.models import (
    CALENDAR_FIELDS,
    DEFAULT_BUFFER_MINUTES,
    KINDS,
    MAX_BUFFER_MINUTES,
    MAX_DURATION,
    STAFF_DISCIPLINES,
    STATUSES,
    Booking,
    BookingChange,
    booking_contacts,
    overlapping,
)
from aeplan.calendar import notify
from aeplan.clients.models import Client, Contact
from aeplan.errors import Invalid, NotAllowed, NotFound
from aeplan.extensions import db
from aeplan.permissions import (
    assigned_to,
    booking_visibility,
    can_book,
    can_view_client,
    of_own_accounts,
    require_edit_booking,
    require_view_booking,
    require_view_clients,
    sees_own_only,
)
from aeplan.records import fetch, run
from aeplan.staffing import service as staffing
from aeplan.staffing.models import Assignment
from aeplan.timeutil import (
    MAX_YEAR,
    MIN_YEAR,
    UTCDateTime,
    day_start_utc,
    is_valid_zone,
    local_to_utc,
    now_utc,
)
from aeplan.transactions import lock_booking, valid_id
from aeplan.trips import service as trips
from aeplan.trips.models import Trip

MAX_LENGTH = MAX_DURATION
COUNT_LIMIT = 1000
MAX_NEEDS = 20


@dataclass
class BookingInput:
    kind: str
    title: str
    client_id: int | None
    starts_local: datetime | None  # naive wall-clock time in `timezone`
    ends_local: datetime | None
    timezone: str = ""
    location: str = ""
    agenda: str = ""
    needs_technical: int = 0
    needs_creative: int = 0
    needs_other: int = 0
    skills: str = ""
    travel_buffer_minutes: int | None = None  # None: the default for the kind
    trip_id: int | None = None  # a new booking made inside a trip


@dataclass
class BookingFilters:
    start: date | None = None
    end: date | None = None
    client_id: int | None = None
    owner_id: int | None = None
    kind: str = ""
    status: str = ""
    client_q: str = ""  # part of the client's name


@dataclass
class Checked:
    client: Client
    values: dict = field(default_factory=dict)


def default_timezone(client: Client | None, actor: User) -> str:
    return client.timezone if client is not None else actor.timezone


def _check(data: BookingInput, *, actor: User, existing: Booking | None) -> Checked:
    if data.kind not in KINDS:
        raise Invalid("Choose demo or visit.", field="kind")
    title = (data.title or "").strip()
    if not title:
        raise Invalid("Enter a title.", field="title")
    if len(title) > 200:
        raise Invalid("The title can have at most 200 characters.", field="title")
    client = db.session.get(Client, data.client_id) if valid_id(data.client_id) else None
    if client is None:
        raise Invalid("Choose the client this booking serves.", field="client_id")
    changing_client = existing is None or existing.client_id != client.id
    if changing_client:
        if client.archived_at is not None:
            raise Invalid("This client is archived.", field="client_id")
        if not actor.is_manager and client.owner_id != actor.id:
            raise NotAllowed("You can only book for your own clients.", field="client_id")
    zone = (data.timezone or "").strip() or default_timezone(client, actor)
    if not is_valid_zone(zone):
        raise Invalid(f"Unknown timezone: {zone!r}.", field="timezone")
    if data.starts_local is None:
        raise Invalid("Enter when it starts.", field="starts_at")
    if data.ends_local is None:
        raise Invalid("Enter when it ends.", field="ends_at")
    starts_at = local_to_utc(data.starts_local, zone, field="starts_at")
    ends_at = local_to_utc(data.ends_local, zone, field="ends_at")
    if ends_at <= starts_at:
        raise Invalid("The end must be after the start.", field="ends_at")
    if ends_at - starts_at > MAX_LENGTH:
        raise Invalid("A booking can last at most 14 days.", field="ends_at")
    location = (data.location or "").strip()
    if len(location) > 500:
        raise Invalid("The location can have at most 500 characters.", field="location")
    agenda = (data.agenda or "").strip()
    if len(agenda) > 10000:
        raise Invalid("The agenda can have at most 10,000 characters.", field="agenda")
    needs = {}
    for name in ("needs_technical", "needs_creative", "needs_other"):
        value = getattr(data, name)
        if value is None or not 0 <= value <= MAX_NEEDS:
            raise Invalid(f"Enter a number from 0 to {MAX_NEEDS}.", field=name)
        needs[name] = value
    skills = ", ".join(split_skills(data.skills))
    if len(skills) > 500:
        raise Invalid("The skills can have at most 500 characters.", field="skills")
    buffer = data.travel_buffer_minutes
    if buffer is None:
        buffer = DEFAULT_BUFFER_MINUTES[data.kind]
    if not 0 <= buffer <= MAX_BUFFER_MINUTES:
        raise Invalid(f"Travel time must be between 0 and {MAX_BUFFER_MINUTES} minutes.",
                      field="travel_buffer_minutes")
    owner_id = client.owner_id if actor.is_manager else actor.id
    if existing is not None and not changing_client:
        owner_id = existing.owner_id
    trip_id = existing.trip_id if existing is not None else data.trip_id
    if trip_id is not None:
        trip = db.session.get(Trip, trip_id) if valid_id(trip_id) else None
        if trip is None:
            raise Invalid("No such trip.", field="trip_id")
        if trip.owner_id != owner_id:
            raise Invalid("A trip's stops are its AE's own bookings.", field="client_id")
        trips.check_stop(trip, SimpleNamespace(starts_at=starts_at, ends_at=ends_at),
                         actor=actor)
    return Checked(client, dict(
        kind=data.kind, title=title, client_id=client.id, owner_id=owner_id,
        starts_at=starts_at, ends_at=ends_at, timezone=zone, location=location,
        agenda=agenda, skills=skills, travel_buffer_minutes=buffer, trip_id=trip_id, **needs,
    ))


def _shown(name: str, value, zone: str) -> str:
    """A value as the history shows it: times in the booking's own zone."""
    if isinstance(value, datetime):
        from zoneinfo import ZoneInfo

        return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M ") + zone
    return "" if value is None else str(value)


def _record(booking: Booking, actor: User | None, action: str, changes: dict,
            note: str = "") -> None:
    db.session.add(BookingChange(
        booking=booking, actor_id=actor.id if actor else None, action=action,
        changes=changes, note=note,
    ))


def create_booking(data: BookingInput, *, actor: User) -> Booking:
    if not can_book(actor):
        raise NotAllowed("Only AEs and managers create bookings.")
    checked = _check(data, actor=actor, existing=None)
    booking = Booking(**checked.values, status="tentative")
    db.session.add(booking)
    db.session.flush()
    if booking.trip_id is not None:
        trip = db.session.get(Trip, booking.trip_id)
        trips.check_travellers_free(trip, [booking], list(trip.travellers))
    _record(booking, actor, "created", {
        k: [None, _shown(k, v, booking.timezone)] for k, v in checked.values.items()
        if k not in ("owner_id", "trip_id")
    })
    db.session.flush()
    return booking


def update_booking(booking: Booking, data: BookingInput, *, actor: User) -> Booking:
    require_edit_booking(actor, booking)
    lock_booking(booking)  # serialise with staffing changes to the same booking
    if booking.is_cancelled:
        raise Invalid("A cancelled booking cannot be changed.")
    checked = _check(data, actor=actor, existing=booking)
    values = checked.values
    buffer = timedelta(minutes=values["travel_buffer_minutes"])
    busy_start, busy_end = values["starts_at"] - buffer, values["ends_at"] + buffer
    moved = (busy_start, busy_end) != (booking.busy_starts_at, booking.busy_ends_at)
    if moved and booking.status != "done":
        staffing.check_move(booking, busy_start, busy_end)
    changes = {}
    for key, new in checked.values.items():
        old = getattr(booking, key)
        if old != new:
            changes[key] = [_shown(key, old, booking.timezone),
                            _shown(key, new, checked.values["timezone"])]
            setattr(booking, key, new)
    if not changes:
        return booking
    if moved:
        staffing.sync_busy(booking)
        if booking.trip_id is not None:  # the trip's travellers must be free at the new time
            trip = db.session.get(Trip, booking.trip_id)
            trips.check_travellers_free(trip, [booking], list(trip.travellers))
    if CALENDAR_FIELDS & changes.keys():
        booking.sequence += 1
        notify.queue(booking.id, "update")
    booking.updated_at = now_utc()
    _record(booking, actor, "updated", changes)
    db.session.flush()
    return booking


def set_status(booking: Booking, status: str, *, actor: User) -> Booking:
    """Confirm or mark done; cancelling goes through `cancel_booking`."""
    require_edit_booking(actor, booking)
    if status not in STATUSES or status == "cancelled":
        raise Invalid("Choose tentative, confirmed or done.", field="status")
    if booking.is_cancelled:
        raise Invalid("A cancelled booking cannot change status.")
    if booking.status == status:
        return booking
    _record(booking, actor, "status", {"status": [booking.status, status]})
    booking.status = status
    booking.sequence += 1
    notify.queue(booking.id, "update")
    booking.updated_at = now_utc()
    db.session.flush()
    return booking


def cancel_booking(booking: Booking, *, actor: User, reason: str = "") -> Booking:
    """Cancel but keep the booking: calendars need its UID and a raised SEQUENCE."""
    require_edit_booking(actor, booking)
    if booking.is_cancelled:
        raise Invalid("This booking is already cancelled.")
    reason = (reason or "").strip()
    if len(reason) > 1000:
        raise Invalid("The reason can have at most 1,000 characters.", field="reason")
    _record(booking, actor, "cancelled", {"status": [booking.status, "cancelled"]}, note=reason)
    booking.status = "cancelled"
    booking.cancel_reason = reason
    booking.sequence += 1
    notify.queue(booking.id, "cancel")
    booking.updated_at = now_utc()
    db.session.flush()
    return booking


@cache
def _booking_query(for_page: bool):
    """Built once, on first use (loader options need every model mapped, which is not so
    while the modules still import one another): every booking page and every change
    to a booking starts here. The page's also has the staff, joined: a booking has a
    handful, so its row repeats a handful of times, where a statement of their own
    cost the page (on PostgreSQL) about a tenth of its throughput."""
    query = (select(Booking).where(Booking.id == bindparam("booking_id"))
             .options(joinedload(Booking.client), joinedload(Booking.owner)))
    if for_page:
        query = query.options(joinedload(Booking.assignments).joinedload(Assignment.user))
    return query


def get_booking(viewer: User, booking_id: int, *, for_page: bool = False) -> Booking:
    """The booking if the viewer may see it. `for_page` loads its staff too
    (booking.assignments, people loaded)."""
    booking = (db.session.execute(_booking_query(for_page), {"booking_id": booking_id})
               .unique().scalar_one_or_none())
    if booking is None:
        raise NotFound("No such booking.")
    require_view_booking(viewer, booking)
    return booking


# The booking page's history and the state of its emails, in one statement (below).
Change = namedtuple("Change", "id action at note changes actor_name")
Delivery = namedtuple("Delivery", "id status at last_error name email subject attempts")


def _history_and_mail_statement():
    """The booking's changes (newest first) and the latest email to each recipient
    (aeplan.outbox), as one UNION ALL of rows tagged by `source`: the page's budget is a
    fixed handful of statements (tests/test_query_counts.py), and a statement of its own
    for the delivery states would add a round trip to every view of the page."""
    booking_id = bindparam("booking_id")
    mail = outbox.latest_per_recipient(booking_id).subquery()
    changes = (
        select(literal("change").label("source"), BookingChange.id, BookingChange.at,
               BookingChange.action, BookingChange.note, BookingChange.changes,
               User.name.label("person"), null().label("email"), null().label("subject"),
               null().label("attempts"))
        .outerjoin(User, User.id == BookingChange.actor_id)
        .where(BookingChange.booking_id == booking_id)
    )
    deliveries = select(literal("mail"), mail.c.id, mail.c.at, mail.c.status,
                        mail.c.last_error, cast(null(), BookingChange.changes.type),
                        mail.c.recipient_name, mail.c.recipient_email, mail.c.subject,
                        mail.c.attempts)
    both = union_all(changes, deliveries).subquery()
    return select(both).order_by(both.c.source, both.c.id.desc())


_HISTORY_AND_MAIL = _history_and_mail_statement()


def history_and_mail(booking: Booking) -> tuple[list, list]:
    """(history, deliveries) for the booking's page: history as records with id, action,
    at, note, changes and actor_name (None for the system), newest first; deliveries as
    records with id, status, at, last_error, name, email, subject and
    attempts, the latest email to each recipient, by name."""
    history, deliveries = [], []
    for row in run(_HISTORY_AND_MAIL, {"booking_id": booking.id}).all():
        if row.source == "change":
            history.append(Change(row.id, row.action, row.at, row.note, row.changes,
                                  row.person))
        else:
            deliveries.append(Delivery(row.id, row.action, row.at, row.note, row.person,
                                       row.email, row.subject, row.attempts))
    deliveries.sort(key=lambda d: ((d.name or d.email).lower(), d.email))
    return history, deliveries


@dataclass
class BookingPage:
    """One page of the bookings list. `total` counts everything the filters match, up to
    COUNT_LIMIT (`more` says it stopped there); the cursors name the rows either side of
    the page, None where the list ends. `rows` are plain rows (see _list_statements)."""
    rows: list
    total: int
    more: bool
    earlier: str | None
    later: str | None


_CURSOR = re.compile(r"(\d{8}T\d{6})(?:\.(\d{6}))?Z-(\d{1,18})")


def cursor_of(booking) -> str:
    """A position in the list: the booking's start (UTC) and id, readable in a URL."""
    at = booking.starts_at.astimezone(UTC)
    micro = f".{at.microsecond:06d}" if at.microsecond else ""
    return f"{at:%Y%m%dT%H%M%S}{micro}Z-{booking.id}"


def parse_cursor(value: str | None) -> tuple[datetime, int] | None:
    """(start, id) from cursor_of's text; None for anything else."""
    found = _CURSOR.fullmatch(value or "")
    if not found:
        return None
    try:
        at = datetime.strptime(found.group(1), "%Y%m%dT%H%M%S").replace(
            microsecond=int(found.group(2) or 0), tzinfo=UTC)
    except ValueError:
        return None
    booking_id = int(found.group(3))
    if not valid_id(booking_id) or not MIN_YEAR <= at.year <= MAX_YEAR:
        return None
    return at, booking_id


def _like_pattern(text: str) -> str:
    """A LIKE pattern finding `text` anywhere, its own % and _ escaped with '/'."""
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


@cache
def _list_statements(shape: tuple[bool, ...]):
    """The bookings list's count and page queries for one combination of filters
    (`shape`: support viewer, start, end, client, client name, owner, kind, status, AE
    limited to their own accounts), built once with bound parameters. Building them
    afresh cost more than running them.

    The page reads plain rows with the few columns the list shows: loading whole
    bookings, clients and owners was most of the list's time outside its template.
    Each row counts its own staff (for staffing.staffing_of_rows), which took a query
    of its own, and carries the count of the whole list (`total`, computed once: an
    uncorrelated subquery), which took another; on PostgreSQL each statement cost the
    list about a tenth of its throughput. The count alone is for an empty page.
    """
    support, start, end, client, client_q, owner, kind, status, own = shape
    where = []
    if support:
        where.append(assigned_to(bindparam("viewer_id")))
    if own:
        where.append(of_own_accounts(bindparam("viewer_id")))
    if start:
        # ending_after(): a booking lasts at most MAX_DURATION, so the range stays on the
        # starts_at index.
        where += [Booking.starts_at > bindparam("start_floor", type_=UTCDateTime()),
                  Booking.ends_at > bindparam("start", type_=UTCDateTime())]
    if end:
        where.append(Booking.starts_at < bindparam("end", type_=UTCDateTime()))
    if client:
        where.append(Booking.client_id == bindparam("client_id"))
    if client_q:
        where.append(Booking.client_id.in_(select(Client.id).where(
            func.lower(Client.name).like(bindparam("client_like"), escape="/"))))
    if owner:
        where.append(Booking.owner_id == bindparam("owner_id"))
    if kind:
        where.append(Booking.kind == bindparam("kind"))
    if status:
        where.append(Booking.status == bindparam("status"))
    counted = select(func.count()).select_from(
        select(Booking.id).where(*where).limit(COUNT_LIMIT + 1).subquery())
    rows = (select(Booking.id, Booking.starts_at, Booking.ends_at, Booking.timezone,
                   Booking.status, Booking.kind, Booking.title, Booking.needs_technical,
                   Booking.needs_creative, Booking.needs_other, Booking.client_id,
                   Client.name.label("client_name"), Client.tier.label("client_tier"),
                   User.name.label("owner_name"),
                   *(staffing.staffed_count(role).label(f"staffed_{role}")
                     for role in STAFF_DISCIPLINES),
                   counted.scalar_subquery().label("total"))
            .join(Client, Client.id == Booking.client_id)
            .join(User, User.id == Booking.owner_id)
            .where(*where).limit(bindparam("limit")))
    at = bindparam("at", type_=UTCDateTime())
    at_id = bindparam("at_id")
    first = rows.order_by(Booking.starts_at, Booking.id)
    # The plain range condition lets the planner start on the index at the cursor.
    after = rows.where(Booking.starts_at >= at,
                       or_(Booking.starts_at > at, Booking.id > at_id)) \
        .order_by(Booking.starts_at, Booking.id)
    before = rows.where(Booking.starts_at <= at,
                        or_(Booking.starts_at < at, Booking.id < at_id)) \
        .order_by(Booking.starts_at.desc(), Booking.id.desc())
    return counted, first, after, before


def _list_query(viewer: User, filters: BookingFilters):
    """The statements for these filters and their parameters."""
    shape = (viewer.role == "support", bool(filters.start), bool(filters.end),
             bool(filters.client_id), bool(filters.client_q.strip()), bool(filters.owner_id),
             bool(filters.kind), bool(filters.status), sees_own_only(viewer))
    params: dict = {}
    zone = viewer.timezone
    if viewer.role == "support" or sees_own_only(viewer):
        params["viewer_id"] = viewer.id
    if filters.start:
        start = day_start_utc(filters.start, zone)
        params.update(start=start, start_floor=start - MAX_DURATION)
    if filters.end:
        params["end"] = day_start_utc(filters.end + timedelta(days=1), zone)
    if filters.client_id:
        params["client_id"] = filters.client_id
    if filters.client_q.strip():
        params["client_like"] = _like_pattern(filters.client_q.strip().lower())
    if filters.owner_id:
        params["owner_id"] = filters.owner_id
    if filters.kind:
        params["kind"] = filters.kind
    if filters.status:
        params["status"] = filters.status
    return _list_statements(shape), params


def list_bookings(viewer: User, filters: BookingFilters, *, after: str | None = None,
                  before: str | None = None, per_page: int = 25) -> BookingPage:
    """A page of bookings (soonest first) after or before a cursor; the first page
    without one. Keyset paging: a page deep in years of history costs what the first
    does, since the query starts on the index at the cursor instead of skipping rows,
    and only the page's rows are joined to their client and owner. The count reads the
    index alone: ix_bookings_starts_at covers every filter but the client name.
    """
    (count_query, first, forward, backward), params = _list_query(viewer, filters)
    # A cursor names a row beside the page the reader came from, so the way back is
    # offered without a query to check it; if those rows have gone since, the way back
    # shows the first page (before) or says the list ends there (after).
    position = parse_cursor(before)
    if position is not None:
        rows = fetch(backward, {**params, "at": position[0], "at_id": position[1],
                                "limit": per_page + 1})
        has_earlier, has_later = len(rows) > per_page, True
        rows = rows[:per_page][::-1]
        if not has_earlier and len(rows) < per_page:
            # Back at the start with a short page: show a full first page instead.
            return list_bookings(viewer, filters, per_page=per_page)
    else:
        position = parse_cursor(after)
        if position is not None:
            rows = fetch(forward, {**params, "at": position[0], "at_id": position[1],
                                   "limit": per_page + 1})
        else:
            rows = fetch(first, {**params, "limit": per_page + 1})
        has_earlier, has_later = position is not None, len(rows) > per_page
        rows = rows[:per_page]
    counted = rows[0].total if rows else db.session.scalar(count_query, params)
    total, more = min(counted, COUNT_LIMIT), counted > COUNT_LIMIT
    return BookingPage(
        rows=rows, total=total, more=more,
        earlier=cursor_of(rows[0]) if rows and has_earlier else None,
        later=cursor_of(rows[-1]) if rows and has_later else None)


def filter_client(viewer: User, client_id: int | None) -> Client | None:
    """The client a bookings list is filtered by, to name it on the page: only one the
    viewer may see (support staff: a client of a booking they are on), else None, so the
    filter never reveals a client's name."""
    client = db.session.get(Client, client_id) if valid_id(client_id) else None
    if client is None:
        return None
    if viewer.role == "support":
        on_it = select(Booking.id).where(Booking.client_id == client.id,
                                         assigned_to(viewer.id)).limit(1)
        return client if db.session.scalar(on_it) is not None else None
    return client if can_view_client(viewer, client) else None


def bookings_between(viewer: User, start: datetime, end: datetime, *,
                     owner_id: int | None = None, client_id: int | None = None,
                     include_cancelled: bool = True) -> list[Booking]:
    """Bookings overlapping [start, end) that `viewer` may see, with client and owner loaded."""
    stmt = (
        select(Booking)
        .where(booking_visibility(viewer), overlapping(start, end))
        .options(joinedload(Booking.client), joinedload(Booking.owner))
        .order_by(Booking.starts_at, Booking.id)
    )
    if owner_id:
        stmt = stmt.where(Booking.owner_id == owner_id)
    if client_id:
        stmt = stmt.where(Booking.client_id == client_id)
    if not include_cancelled:
        stmt = stmt.where(Booking.status != "cancelled")
    return list(db.session.scalars(stmt))


@dataclass
class ClientBookings:
    upcoming: list  # soonest first; plain rows (see _client_booking_statements)
    recent: list  # latest first
    total: int  # all the client's bookings, up to COUNT_LIMIT
    more: bool  # the count stopped at COUNT_LIMIT


@cache
def _client_bookings_statement():
    """client_bookings' query, built once (on first use) with parameters: the client's
    next `upcoming` and latest `recent` bookings, with the columns the client page
    shows, and a row that counts them all (up to COUNT_LIMIT + 1) in its `id`; `part`
    says which is which. One statement, not three: on PostgreSQL each statement cost
    the page about a tenth of its throughput."""
    client_id, now = bindparam("client_id"), bindparam("now", type_=UTCDateTime())
    base = (select(Booking.id, Booking.starts_at, Booking.ends_at, Booking.timezone,
                   Booking.status, Booking.kind, Booking.title,
                   User.name.label("owner_name"))
            .join(User, User.id == Booking.owner_id)
            .where(Booking.client_id == client_id))
    ahead = (base.add_columns(literal("ahead").label("part"))
             .where(Booking.starts_at >= now).order_by(Booking.starts_at, Booking.id)
             .limit(bindparam("upcoming")).subquery())
    behind = (base.add_columns(literal("behind"))
              .where(Booking.starts_at < now)
              .order_by(Booking.starts_at.desc(), Booking.id.desc())
              .limit(bindparam("recent")).subquery())
    counted = select(func.count()).select_from(
        select(Booking.id).where(Booking.client_id == client_id)
        .limit(COUNT_LIMIT + 1).subquery()).scalar_subquery()
    total = select(counted, *(null() for _ in range(7)), literal("total"))
    return union_all(select(ahead), select(behind), total)


def client_bookings(client: Client, viewer: User, *, upcoming: int = 10,
                    recent: int = 15) -> ClientBookings:
    """The client's next and latest bookings for its page; the bookings list has all.
    Client pages are for AEs and managers, who see every booking."""
    require_view_clients(viewer)
    rows = fetch(_client_bookings_statement(), {
        "client_id": client.id, "now": now_utc(), "upcoming": upcoming, "recent": recent})
    parts = {"ahead": [], "behind": [], "total": []}
    for row in rows:
        parts[row.part].append(row)
    counted = parts["total"][0].id
    # A union keeps no order of its own.
    ahead = sorted(parts["ahead"], key=lambda r: (r.starts_at, r.id))
    behind = sorted(parts["behind"], key=lambda r: (r.starts_at, r.id), reverse=True)
    return ClientBookings(ahead, behind, min(counted, COUNT_LIMIT), counted > COUNT_LIMIT)


def recent_answers(viewer: User, *, days: int = 7, limit: int = 10) -> list[BookingChange]:
    """Support staff's answers on the viewer's bookings (all, for managers) lately."""
    stmt = (
        select(BookingChange).join(Booking, BookingChange.booking_id == Booking.id)
        .where(BookingChange.action == "staff_answer",
               BookingChange.at > now_utc() - timedelta(days=days))
        .options(joinedload(BookingChange.booking).joinedload(Booking.client),
                 joinedload(BookingChange.actor))
        .order_by(BookingChange.at.desc()).limit(limit)
    )
    if not viewer.is_manager:
        stmt = stmt.where(Booking.owner_id == viewer.id)
    return list(db.session.scalars(stmt))


_CLIENT_CONTACTS = (select(Contact).where(Contact.client_id == bindparam("client_id"),
                                          Contact.archived_at.is_(None))
                    .order_by(Contact.name))


def contacts_of(booking: Booking) -> list[Contact]:
    """The booking client's current contacts: the ones set_contacts may invite (the
    page reads them with the invited ones, in page_contacts)."""
    return list(db.session.scalars(_CLIENT_CONTACTS, {"client_id": booking.client_id}))


def _page_contacts_statement():
    """The contacts a booking's page shows, as (id, name, email, title, offered,
    invited) rows by name: those invited (booking.contacts) and the client's current
    ones (contacts_of), which are offered as checkboxes. A union, so that each half is
    an index lookup; one statement for both lists."""
    booking_id, client_id = bindparam("booking_id"), bindparam("client_id")
    on_booking = select(booking_contacts.c.contact_id).where(
        booking_contacts.c.booking_id == booking_id)
    columns = (Contact.id, Contact.name, Contact.email, Contact.title)
    invited = (
        select(*columns, and_(Contact.client_id == client_id, Contact.archived_at.is_(None))
               .label("offered"), literal(True).label("invited"))
        .where(Contact.id.in_(on_booking))
    )
    offered = (
        select(*columns, literal(True), literal(False))
        .where(Contact.client_id == client_id, Contact.archived_at.is_(None),
               Contact.id.not_in(on_booking))
    )
    both = union_all(invited, offered).subquery()
    return select(both).order_by(both.c.name, both.c.id)


_PAGE_CONTACTS = _page_contacts_statement()


def page_contacts(booking: Booking) -> tuple[list, list]:
    """(invited, offered) for the booking's page, as records with id, name, email,
    title and `invited`: the contacts on the invitation, and the client's current
    contacts for the checkboxes (contacts_of)."""
    rows = fetch(_PAGE_CONTACTS, {"booking_id": booking.id, "client_id": booking.client_id})
    return [r for r in rows if r.invited], [r for r in rows if r.offered]


def set_contacts(booking: Booking, contact_ids: list[int], *, actor: User) -> Booking:
    """Invite exactly these client contacts; they become attendees of the invitation."""
    require_edit_booking(actor, booking)
    if booking.is_cancelled:
        raise Invalid("A cancelled booking cannot be changed.")
    wanted = set(contact_ids)
    available = {c.id: c for c in contacts_of(booking)}
    unknown = wanted - available.keys()
    if unknown:
        raise Invalid("Choose contacts of this booking's client.", field="contact_ids")
    if any(not available[i].email for i in wanted):
        raise Invalid("A contact needs an email address to be invited.", field="contact_ids")
    before = {c.id for c in booking.contacts}
    if before == wanted:
        return booking
    def names(ids):
        return ", ".join(sorted(available[i].name if i in available else str(i) for i in ids))

    _record(booking, actor, "updated", {"contacts": [names(before), names(wanted)]})
    booking.contacts = [available[i] for i in sorted(wanted)]
    booking.sequence += 1
    notify.queue(booking.id, "update")
    booking.updated_at = now_utc()
    db.session.flush()
    return booking
