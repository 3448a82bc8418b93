"""Trips: stops (on-site bookings) grouped into a journey, travellers, and expenses
attributed to the clients the trip serves. Functions flush; callers commit.

Kept whole for now, a little over the size we aim for: the coming split of the domains
(one-way dependencies) moves the stop and traveller checks that reach into bookings
and staffing, and the expenses then stand as a module of their own; splitting before
that would be redone."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import joinedload, selectinload

from aeplan.auth.models import User
from aeplan.bookings.models import Booking, BookingChange
from aeplan.clients.models import Client
from aeplan.errors import Invalid, NotAllowed, NotFound
from aeplan.extensions import db
from aeplan.staffing.models import Assignment
from aeplan.staffing.service import describe_clash, find_clashes
from aeplan.timeutil import (
    MAX_YEAR,
    MIN_YEAR,
    check_day,
    day_start_utc,
    is_valid_zone,
    now_utc,
    utc_to_local,
)
from aeplan.transactions import lock_people, valid_id
from aeplan.trips import money
from aeplan.trips.models import ALLOCATIONS, CATEGORIES, Expense, Trip, trip_travellers

MAX_TRIP_DAYS = 60


@dataclass
class TripInput:
    title: str
    destination: str
    timezone: str
    starts_on: date | None
    ends_on: date | None
    notes: str = ""
    owner_id: int | None = None


@dataclass
class ExpenseInput:
    category: str
    amount: str
    currency: str
    spent_on: date | None
    allocation: str
    client_id: int | None = None
    note: str = ""


# --- permissions ------------------------------------------------------------------------

def can_edit_trip(user: User, trip: Trip) -> bool:
    return user.is_manager or (user.role == "ae" and trip.owner_id == user.id)


def require_edit_trip(user: User, trip: Trip) -> None:
    if not can_edit_trip(user, trip):
        raise NotAllowed("Only the trip's AE or a manager can change this trip.")


def _visible(user: User):
    if user.is_manager:
        return None
    travelling = select(trip_travellers.c.trip_id).where(trip_travellers.c.user_id == user.id)
    return or_(Trip.owner_id == user.id, Trip.id.in_(travelling))


# --- reading ----------------------------------------------------------------------------

def get_trip(viewer: User, trip_id: int) -> Trip:
    trip = db.session.scalar(
        select(Trip).where(Trip.id == trip_id)
        .options(joinedload(Trip.owner), selectinload(Trip.travellers),
                 selectinload(Trip.expenses).joinedload(Expense.client))
    )
    if trip is None:
        raise NotFound("No such trip.")
    visible = _visible(viewer)
    if visible is not None and not (trip.owner_id == viewer.id
                                    or any(t.id == viewer.id for t in trip.travellers)):
        raise NotFound("No such trip.")  # as if it did not exist: ids cannot be probed
    return trip


def list_trips(viewer: User, *, include_past: bool = False) -> list[Trip]:
    stmt = (select(Trip).options(joinedload(Trip.owner), selectinload(Trip.travellers),
                                 selectinload(Trip.expenses))
            .order_by(Trip.starts_on.desc() if include_past else Trip.starts_on))
    visible = _visible(viewer)
    if visible is not None:
        stmt = stmt.where(visible)
    if not include_past:
        stmt = stmt.where(Trip.ends_on >= utc_to_local(now_utc(), viewer.timezone).date())
    return list(db.session.scalars(stmt.limit(200)))


def stops_of(trip_ids: Iterable[int]) -> dict[int, list[Booking]]:
    """Each trip's bookings (cancelled ones too), with client, owner and staff loaded."""
    ids = list(trip_ids)
    out: dict[int, list[Booking]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = db.session.scalars(
        select(Booking).where(Booking.trip_id.in_(ids))
        .options(joinedload(Booking.client), joinedload(Booking.owner),
                 selectinload(Booking.assignments).joinedload(Assignment.user))
        .order_by(Booking.starts_at)
    )
    for booking in rows:
        out[booking.trip_id].append(booking)
    return out


def clients_served(stops: Iterable[Booking]) -> list[Client]:
    seen = {}
    for stop in stops:
        if stop.status != "cancelled":
            seen.setdefault(stop.client_id, stop.client)
    return sorted(seen.values(), key=lambda c: c.name)


def minutes_on_site(stops: Iterable[Booking]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for stop in stops:
        if stop.status != "cancelled":
            out[stop.client_id] += int((stop.ends_at - stop.starts_at).total_seconds() // 60)
    return out


def allocate(expense: Expense, stops: list[Booking]) -> dict[int, int]:
    """The expense's parts per client id; they add up to the amount exactly. Empty when
    the trip serves no client (the page flags it)."""
    if expense.allocation == "client":
        served = {s.client_id for s in stops if s.status != "cancelled"}
        if expense.client_id in served:
            return {expense.client_id: expense.amount_minor}
        if served:  # the client's stop left the trip: fall back to an even split
            return money.split(expense.amount_minor, dict.fromkeys(served, 1))
        return {}
    minutes = minutes_on_site(stops)
    if not minutes:
        return {}
    weights = minutes if expense.allocation == "hours" else dict.fromkeys(minutes, 1)
    return money.split(expense.amount_minor, weights)


@dataclass
class TripSummary:
    trip: Trip
    stops: list[Booking]
    clients: list[Client]
    shares: dict[int, dict[int, int]]  # expense id → client id → minor units
    totals: dict[str, int] = field(default_factory=dict)  # currency → minor units
    per_client: dict[int, dict[str, int]] = field(default_factory=dict)
    unattributed: dict[str, int] = field(default_factory=dict)

    @property
    def serves_no_client(self) -> bool:
        return not self.clients

    def days(self) -> list[tuple[date, list[Booking], list[Expense]]]:
        zone = self.trip.timezone
        out = []
        # Counted, not stepped past the last day: a trip stored before years were
        # checked may end on 9999-12-31, and the day after that does not exist.
        for offset in range((self.trip.ends_on - self.trip.starts_on).days + 1):
            day = self.trip.starts_on + timedelta(days=offset)
            stops = [s for s in self.stops
                     if utc_to_local(s.starts_at, zone).date() == day]
            spent = [e for e in self.trip.expenses
                     if e.removed_at is None and e.spent_on == day]
            out.append((day, stops, spent))
        return out

    def outside_days(self) -> list[Expense]:
        """Expenses dated outside the trip (flights booked weeks before, say)."""
        return [e for e in self.trip.expenses if e.removed_at is None
                and not self.trip.starts_on <= e.spent_on <= self.trip.ends_on]


def summarise(trips: list[Trip]) -> dict[int, TripSummary]:
    """Stops, clients served, every expense's split and the totals for many trips, in a
    fixed number of queries (expenses must be loaded with the trips)."""
    stops = stops_of(t.id for t in trips)
    out = {}
    for trip in trips:
        summary = TripSummary(trip, stops[trip.id], clients_served(stops[trip.id]), {})
        for expense in trip.expenses:
            if expense.removed_at is not None:
                continue
            parts = allocate(expense, stops[trip.id])
            summary.shares[expense.id] = parts
            cur = expense.currency
            summary.totals[cur] = summary.totals.get(cur, 0) + expense.amount_minor
            if not parts:
                summary.unattributed[cur] = summary.unattributed.get(cur, 0) + \
                    expense.amount_minor
            for client_id, minor in parts.items():
                bucket = summary.per_client.setdefault(client_id, {})
                bucket[cur] = bucket.get(cur, 0) + minor
        out[trip.id] = summary
    return out


@cache
def _client_trips():
    """Built on first use (its loader options need every model mapped): every client
    page runs it."""
    served = select(Booking.trip_id).where(Booking.client_id == bindparam("client_id"),
                                           Booking.trip_id.is_not(None))
    return (select(Trip).where(Trip.id.in_(served))
            .options(joinedload(Trip.owner), selectinload(Trip.travellers),
                     selectinload(Trip.expenses))
            .order_by(Trip.starts_on.desc()))


def trips_for_client(client: Client, viewer: User) -> list[TripSummary]:
    """Every trip with a stop at this client, and what it cost the client."""
    trips = list(db.session.scalars(_client_trips(), {"client_id": client.id}))
    return list(summarise(trips).values())


# --- writing ----------------------------------------------------------------------------

def _check(data: TripInput, *, actor: User, existing: Trip | None) -> dict:
    title = (data.title or "").strip()
    if not title:
        raise Invalid("Enter a title.", field="title")
    if len(title) > 200:
        raise Invalid("The title can have at most 200 characters.", field="title")
    destination = (data.destination or "").strip()
    if not destination:
        raise Invalid("Enter where the trip goes.", field="destination")
    if len(destination) > 200:
        raise Invalid("The destination can have at most 200 characters.", field="destination")
    if not is_valid_zone(data.timezone):
        raise Invalid(f"Unknown timezone: {data.timezone!r}.", field="timezone")
    if data.starts_on is None:
        raise Invalid("Enter the first day.", field="starts_on")
    if data.ends_on is None:
        raise Invalid("Enter the last day.", field="ends_on")
    check_day(data.starts_on, field="starts_on")
    check_day(data.ends_on, field="ends_on")
    if data.ends_on < data.starts_on:
        raise Invalid("The trip cannot end before it starts.", field="ends_on")
    if (data.ends_on - data.starts_on).days >= MAX_TRIP_DAYS:
        raise Invalid(f"A trip can last at most {MAX_TRIP_DAYS} days.", field="ends_on")
    notes = (data.notes or "").strip()
    if len(notes) > 5000:
        raise Invalid("The notes can have at most 5,000 characters.", field="notes")
    owner_id = actor.id
    if actor.is_manager:
        owner_id = data.owner_id or (existing.owner_id if existing else None)
        owner = db.session.get(User, owner_id) if valid_id(owner_id) else None
        if owner is None or owner.role != "ae" or not owner.active:
            raise Invalid("Choose the account executive who travels.", field="owner_id")
    elif existing is not None:
        owner_id = existing.owner_id
    return dict(title=title, destination=destination, timezone=data.timezone,
                starts_on=data.starts_on, ends_on=data.ends_on, notes=notes,
                owner_id=owner_id)


def create_trip(data: TripInput, *, actor: User) -> Trip:
    if actor.role not in ("ae", "manager", "admin"):
        raise NotAllowed("Only AEs and managers plan trips.")
    trip = Trip(**_check(data, actor=actor, existing=None))
    db.session.add(trip)
    db.session.flush()
    return trip


def update_trip(trip: Trip, data: TripInput, *, actor: User) -> Trip:
    require_edit_trip(actor, trip)
    values = _check(data, actor=actor, existing=trip)
    stops = stops_of([trip.id])[trip.id]
    if values["owner_id"] != trip.owner_id and stops:
        raise Invalid("This trip has stops, which are its AE's own bookings: take them off "
                      "the trip before handing it to another AE.", field="owner_id")
    for stop in stops:
        if stop.status != "cancelled" and not _inside(stop, values["starts_on"],
                                                      values["ends_on"], values["timezone"]):
            raise Invalid(f"\u201c{stop.title}\u201d ({stop.client.name}) would fall outside "
                          "the trip's dates. Move or detach it first.", field="starts_on")
    for key, value in values.items():
        setattr(trip, key, value)
    trip.updated_at = now_utc()
    db.session.flush()
    return trip


def cancel_trip(trip: Trip, *, actor: User) -> Trip:
    """Cancel the trip (kept, marked cancelled); its bookings stay, no longer on a trip."""
    require_edit_trip(actor, trip)
    if trip.cancelled_at is None:
        trip.cancelled_at = now_utc()
        for stop in stops_of([trip.id])[trip.id]:
            stop.trip_id = None
        db.session.flush()
    return trip


def _inside(booking: Booking, first: date, last: date, zone: str) -> bool:
    start = utc_to_local(booking.starts_at, zone).date()
    end = utc_to_local(booking.ends_at - timedelta(seconds=1), zone).date()
    return first <= start and end <= last


def check_stop(trip: Trip, booking_or_times, *, actor: User) -> None:
    """Refuse a stop outside the trip's dates, on a cancelled trip or by another AE."""
    if trip.cancelled_at is not None:
        raise Invalid("This trip is cancelled.", field="trip_id")
    require_edit_trip(actor, trip)
    if not _inside(booking_or_times, trip.starts_on, trip.ends_on, trip.timezone):
        raise Invalid(f"The booking must fall inside the trip's dates "
                      f"({trip.starts_on:%d %b} – {trip.ends_on:%d %b %Y}, {trip.timezone}).",
                      field="starts_at")


def check_travellers_free(trip: Trip, stops: list[Booking], people: list[User]) -> None:
    people = [p for p in people if p.role == "support"]
    if not people or not stops:
        return
    lock_people(p.id for p in people)
    for stop in stops:
        if stop.status == "cancelled":
            continue
        clashes = find_clashes([p.id for p in people], stop.busy_starts_at, stop.busy_ends_at,
                               exclude_booking_id=stop.id)
        for person in people:
            if clashes[person.id]:
                raise Invalid(describe_clash(person, clashes[person.id][0], trip.timezone)
                              + f", during the stop \u201c{stop.title}\u201d.", field="user_id")


def attach_stop(trip: Trip, booking: Booking, *, actor: User) -> Booking:
    require_edit_trip(actor, trip)
    if booking.owner_id != trip.owner_id:
        raise NotAllowed("Only the trip's AE's own bookings can be stops on it.",
                         field="booking_id")
    if booking.is_cancelled:
        raise Invalid("A cancelled booking cannot be a stop.", field="booking_id")
    if booking.trip_id == trip.id:
        return booking
    if booking.trip_id is not None:
        raise Invalid("That booking is already a stop on another trip.", field="booking_id")
    check_stop(trip, booking, actor=actor)
    check_travellers_free(trip, [booking], list(trip.travellers))
    booking.trip_id = trip.id
    db.session.add(BookingChange(booking_id=booking.id, actor_id=actor.id, action="updated",
                                 changes={"trip": [None, trip.title]}))
    trip.updated_at = now_utc()
    db.session.flush()
    return booking


def detach_stop(trip: Trip, booking: Booking, *, actor: User) -> Booking:
    require_edit_trip(actor, trip)
    if booking.trip_id != trip.id:
        raise Invalid("That booking is not a stop on this trip.", field="booking_id")
    booking.trip_id = None
    db.session.add(BookingChange(booking_id=booking.id, actor_id=actor.id, action="updated",
                                 changes={"trip": [trip.title, None]}))
    trip.updated_at = now_utc()
    db.session.flush()
    return booking


def attachable_bookings(trip: Trip) -> list[Booking]:
    """The trip AE's bookings in the trip's dates that are on no trip yet."""
    if not (MIN_YEAR <= trip.starts_on.year and trip.ends_on.year <= MAX_YEAR):
        return []  # bookings lie inside these years; the window below would overflow
    first = trip.starts_on - timedelta(days=1)
    last = trip.ends_on + timedelta(days=2)

    rows = db.session.scalars(
        select(Booking).where(Booking.owner_id == trip.owner_id, Booking.trip_id.is_(None),
                              Booking.status != "cancelled",
                              Booking.starts_at >= day_start_utc(first, trip.timezone),
                              Booking.starts_at < day_start_utc(last, trip.timezone))
        .options(joinedload(Booking.client)).order_by(Booking.starts_at)
    )
    return [b for b in rows if _inside(b, trip.starts_on, trip.ends_on, trip.timezone)]


def add_traveller(trip: Trip, person: User | None, *, actor: User) -> Trip:
    require_edit_trip(actor, trip)
    if person is None:
        raise Invalid("Choose who travels.", field="user_id")
    if not person.active:
        raise Invalid(f"{person.name} is deactivated.", field="user_id")
    if person.role not in ("support", "ae"):
        raise Invalid("Travellers are AEs or support staff.", field="user_id")
    if person.id == trip.owner_id or person in trip.travellers:
        raise Invalid(f"{person.name} is already on this trip.", field="user_id")
    check_travellers_free(trip, stops_of([trip.id])[trip.id], [person])
    trip.travellers.append(person)
    trip.updated_at = now_utc()
    db.session.flush()
    return trip


def remove_traveller(trip: Trip, person: User, *, actor: User) -> Trip:
    require_edit_trip(actor, trip)
    if person not in trip.travellers:
        raise Invalid(f"{person.name} is not on this trip.", field="user_id")
    trip.travellers.remove(person)
    trip.updated_at = now_utc()
    db.session.flush()
    return trip


def add_expense(trip: Trip, data: ExpenseInput, *, actor: User) -> Expense:
    """Record an expense; refused whole if anything is wrong (nothing half-written)."""
    require_edit_trip(actor, trip)
    if trip.cancelled_at is not None:
        raise Invalid("This trip is cancelled.")
    if data.category not in CATEGORIES:
        raise Invalid("Choose a category from the list.", field="category")
    currency = money.check_currency(data.currency)
    amount = money.parse_amount(data.amount, currency)
    if data.spent_on is None:
        raise Invalid("Enter the date of the expense.", field="spent_on")
    check_day(data.spent_on, field="spent_on")
    if abs((data.spent_on - trip.starts_on).days) > 366:
        raise Invalid("The date is more than a year from the trip.", field="spent_on")
    note = (data.note or "").strip()
    if len(note) > 500:
        raise Invalid("The note can have at most 500 characters.", field="note")
    if data.allocation not in ALLOCATIONS:
        raise Invalid("Choose how to attribute the expense.", field="allocation")
    served = {c.id for c in clients_served(stops_of([trip.id])[trip.id])}
    client_id = None
    if data.allocation == "client":
        if not valid_id(data.client_id) or data.client_id not in served:
            raise Invalid("Choose one of the clients this trip serves.", field="client_id")
        client_id = data.client_id
    elif not served:
        raise Invalid("The trip serves no client yet: add a stop first, or there is nobody "
                      "to split the cost across.", field="allocation")
    expense = Expense(trip_id=trip.id, category=data.category, amount_minor=amount,
                      currency=currency, spent_on=data.spent_on, note=note,
                      allocation=data.allocation, client_id=client_id,
                      created_by_id=actor.id)
    db.session.add(expense)
    trip.updated_at = now_utc()
    db.session.flush()
    return expense


def remove_expense(expense: Expense, *, actor: User) -> Expense:
    require_edit_trip(actor, expense.trip)
    if expense.removed_at is None:
        expense.removed_at = now_utc()
        db.session.flush()
    return expense
