"""Client coverage and activity reports: read-only, in a fixed number of grouped queries
whatever the number of clients, bookings or trips.

Definitions the pages and CSVs state:
- last contact: the start of the client's latest booking with status `done`;
- next booking: the earliest non-cancelled booking starting from now;
- days overdue: today − last contact − cadence (a client never contacted counts from the
  day it was created), in the viewer's zone; 0 when contact is not yet due;
- bookings: non-cancelled bookings starting in the period (planned ones included);
- hours on site: the length of those bookings that are visits;
- trips: non-cancelled trips with a non-cancelled stop at the client (reports: trips
  whose first day falls in the period); travel cost: their expenses (not removed),
  attributed to clients by `trips.service.allocate`, per currency, never converted.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import and_, case, extract, func, literal_column, or_, select
from sqlalchemy.orm import aliased, joinedload

from aeplan.auth.models import User
from aeplan.bookings.models import Booking
from aeplan.clients.models import INDUSTRIES, TIERS, Client
from aeplan.errors import Invalid, NotAllowed
from aeplan.extensions import db
from aeplan.staffing.models import Assignment
from aeplan.timeutil import MAX_YEAR, MIN_YEAR, day_start_utc, now_utc, utc_to_local
from aeplan.trips.models import Expense, Trip, trip_travellers
from aeplan.trips.service import allocate

MAX_PERIOD_DAYS = 3 * 366  # a report covers at most three years (36 months in the chart)
CHART_SERIES = 8  # the chart draws the busiest clients or AEs; its table adds the rest


def require_reports(viewer: User) -> None:
    if viewer.role not in ("ae", "manager", "admin"):
        raise NotAllowed("Coverage and reports are for account executives and managers.")


def hours_on_site(minutes: int) -> Decimal:
    """Minutes as hours with two decimals, the same number on the page and in the CSV."""
    return (Decimal(minutes) / 60).quantize(Decimal("0.01"))


def add_money(into: dict[str, int], amounts: dict[str, int]) -> None:
    for currency, minor in amounts.items():
        into[currency] = into.get(currency, 0) + minor


def currencies_in(costs: Iterable[dict[str, int]]) -> list[str]:
    return sorted({c for cost in costs for c in cost})


# --- periods ------------------------------------------------------------------------------

def quarter_of(day: date) -> tuple[date, date]:
    """First day of `day`'s quarter and first day of the next one."""
    first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return first, _add_months(first, 3)


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """Local days `first` to `last`, both included, in the viewer's zone."""

    first: date
    last: date

    def bounds(self, zone: str) -> tuple[datetime, datetime]:
        return day_start_utc(self.first, zone), day_start_utc(self.last + timedelta(days=1), zone)

    def months(self) -> list[date]:
        """The first day of each calendar month the period touches."""
        out = [self.first.replace(day=1)]
        while _add_months(out[-1], 1) <= self.last:
            out.append(_add_months(out[-1], 1))
        return out

    def month_bounds(self, zone: str) -> list[datetime]:
        """UTC instants splitting the period into its months: len(months()) + 1 values."""
        start, end = self.bounds(zone)
        inner = [day_start_utc(m, zone) for m in self.months()[1:]]
        return [start, *inner, end]


def default_period(today: date) -> Period:
    first, following = quarter_of(today)
    return Period(first, following - timedelta(days=1))


def parse_period(first_text: str | None, last_text: str | None, *, today: date) -> Period:
    """The period from the `from` and `to` query values (ISO dates); an empty value takes
    the current quarter's bound. Raises Invalid with a message for anything else."""
    default = default_period(today)

    def parse(text: str | None, fallback: date, field_name: str, what: str) -> date:
        text = (text or "").strip()
        if not text:
            return fallback
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise Invalid(f"The {what} date must look like 2026-10-01 (year-month-day).",
                          field=field_name) from None
        if not MIN_YEAR <= day.year <= MAX_YEAR:
            raise Invalid(f"Enter a {what} date between {MIN_YEAR} and {MAX_YEAR}.",
                          field=field_name)
        return day

    first = parse(first_text, default.first, "from", "start")
    last = parse(last_text, default.last, "to", "end")
    if last < first:
        raise Invalid("The period cannot end before it starts.", field="to")
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise Invalid("A report can cover at most three years.", field="to")
    return Period(first, last)


# --- SQL pieces ---------------------------------------------------------------------------

def _minutes(start, end):
    """Whole minutes between two timestamp columns, on SQLite and PostgreSQL."""
    if db.engine.dialect.name == "postgresql":
        return func.round(extract("epoch", end - start) / 60)
    return func.round((func.julianday(end) - func.julianday(start)) * 1440)


def _count_if(condition):
    return func.sum(case((condition, 1), else_=0))


def _month_index(column, bounds: list[datetime]):
    """Which month of the period a timestamp falls in (bounds from Period.month_bounds)."""
    if len(bounds) <= 2:
        return literal_column("0")
    return case(*[(column < b, literal_column(str(i))) for i, b in enumerate(bounds[1:-1])],
                else_=literal_column(str(len(bounds) - 2)))


def _visible_clients(viewer: User):
    """A WHERE clause on Client limiting to what `viewer` reports on."""
    require_reports(viewer)
    if viewer.is_manager:
        return Client.id.is_not(None)
    return Client.owner_id == viewer.id


# --- trips and their cost -----------------------------------------------------------------

@dataclass
class TripFacts:
    """What one trip served and cost: totals and parts per client, per currency."""

    owner_id: int
    clients: set[int] = field(default_factory=set)
    totals: dict[str, int] = field(default_factory=dict)
    per_client: dict[int, dict[str, int]] = field(default_factory=dict)
    travellers: set[int] = field(default_factory=set)


class _Stop(NamedTuple):
    trip_id: int
    client_id: int
    status: str
    starts_at: datetime
    ends_at: datetime


class _Expense(NamedTuple):
    trip_id: int
    allocation: str
    client_id: int | None
    amount_minor: int
    currency: str


def trip_facts(where: list, *, with_travellers: bool = False) -> dict[int, TripFacts]:
    """Facts for the trips matching `where` (clauses on Trip): three queries (four with
    travellers), however many trips. The split per client is `trips.service.allocate`,
    fed plain rows with the attributes it reads."""
    trips = {tid: TripFacts(owner_id) for tid, owner_id in db.session.execute(
        select(Trip.id, Trip.owner_id).where(*where))}
    stops: dict[int, list[_Stop]] = defaultdict(list)
    for row in db.session.execute(
            select(Booking.trip_id, Booking.client_id, Booking.status, Booking.starts_at,
                   Booking.ends_at).join(Trip, Trip.id == Booking.trip_id).where(*where)):
        stop = _Stop(*row)
        stops[stop.trip_id].append(stop)
        if stop.status != "cancelled" and stop.trip_id in trips:
            trips[stop.trip_id].clients.add(stop.client_id)
    for row in db.session.execute(
            select(Expense.trip_id, Expense.allocation, Expense.client_id, Expense.amount_minor,
                   Expense.currency).join(Trip, Trip.id == Expense.trip_id)
            .where(Expense.removed_at.is_(None), *where)):
        expense = _Expense(*row)
        facts = trips.get(expense.trip_id)
        if facts is None:
            continue
        add_money(facts.totals, {expense.currency: expense.amount_minor})
        if len(facts.clients) == 1:
            # Whatever the mode, a trip serving one client gives it all (as allocate()
            # would, through a split of one part); skipping the split saves its
            # Fraction arithmetic, which dominates with thousands of expenses.
            parts = {next(iter(facts.clients)): expense.amount_minor}
        else:
            parts = allocate(expense, stops[expense.trip_id])
        for client_id, minor in parts.items():
            add_money(facts.per_client.setdefault(client_id, {}), {expense.currency: minor})
    if with_travellers:
        for trip_id, user_id in db.session.execute(
                select(trip_travellers.c.trip_id, trip_travellers.c.user_id)
                .join(Trip, Trip.id == trip_travellers.c.trip_id).where(*where)):
            if trip_id in trips:
                trips[trip_id].travellers.add(user_id)
    return trips


def _serving(client_ids) -> list:
    """Clauses on Trip: not cancelled, with a non-cancelled stop at one of `client_ids`.
    For a short list of ids (a page) the stops are found through the client index; for a
    SELECT of many, each trip is checked through the trip index (a correlated EXISTS)."""
    if isinstance(client_ids, list | tuple):
        stops = select(Booking.trip_id).where(Booking.client_id.in_(client_ids),
                                              Booking.trip_id.is_not(None),
                                              Booking.status != "cancelled")
        return [Trip.cancelled_at.is_(None), Trip.id.in_(stops)]
    stop = aliased(Booking)  # the outer query may read bookings too
    at_client = (select(stop.id).where(stop.trip_id == Trip.id, stop.status != "cancelled",
                                       stop.client_id.in_(client_ids))
                 .correlate(Trip).exists())
    return [Trip.cancelled_at.is_(None), at_client]


# --- coverage -----------------------------------------------------------------------------

@dataclass
class CoverageFilters:
    owner_id: int | None = None
    tier: str = ""
    industry: str = ""
    overdue_only: bool = False


class NextBooking(NamedTuple):
    id: int
    client_id: int
    starts_at: datetime
    kind: str
    title: str


@dataclass
class CoverageRow:
    client: Client
    last_contact_at: datetime | None
    last_contact_on: date | None  # in the viewer's zone
    next_booking: NextBooking | None
    due_on: date
    days_overdue: int
    trips: int = 0
    visits_quarter: int = 0
    demos_quarter: int = 0
    visits_year: int = 0
    demos_year: int = 0
    travel_cost: dict[str, int] = field(default_factory=dict)

    @property
    def is_overdue(self) -> bool:
        return self.days_overdue > 0


def _urgency(row: CoverageRow):
    """Overdue accounts first, key accounts ahead of standard ones, then the most overdue;
    then the others by the day contact is next due."""
    key_last = not row.client.is_key_account
    if row.is_overdue:
        return (0, key_last, -row.days_overdue, date.min, row.client.name.lower())
    return (1, False, 0, row.due_on, key_last, row.client.name.lower())


def coverage(viewer: User, *, today: date, now: datetime | None = None,
             filters: CoverageFilters | None = None, details: bool = True,
             ) -> list[CoverageRow]:
    """Per non-archived client the viewer covers (AEs: their own; managers: all), most
    urgent first: one query, and four more for the trips, travel cost and counts
    (`details=False` leaves those to `add_details`, for the rows a page shows)."""
    filters = filters or CoverageFilters()
    now = now or now_utc()
    zone = viewer.timezone
    where = [_visible_clients(viewer), Client.archived_at.is_(None)]
    if filters.owner_id and viewer.is_manager:
        where.append(Client.owner_id == filters.owner_id)
    if filters.tier in TIERS:
        where.append(Client.tier == filters.tier)
    if filters.industry in INDUSTRIES:
        where.append(Client.industry == filters.industry)
    client_ids = select(Client.id).where(*where)
    # One query: each client with its last contact and next booking, found by correlated
    # subqueries that each seek ix_bookings_client_starts (client_id, starts_at) and stop
    # at the first row that qualifies.
    last_done = (select(Booking.starts_at)
                 .where(Booking.client_id == Client.id, Booking.status == "done")
                 .order_by(Booking.starts_at.desc()).limit(1).scalar_subquery())
    next_id = (select(Booking.id)
               .where(Booking.client_id == Client.id, Booking.status != "cancelled",
                      Booking.starts_at >= now)
               .order_by(Booking.starts_at, Booking.id).limit(1).scalar_subquery())
    found = select(Client.id.label("client_id"), last_done.label("last_contact_at"),
                   next_id.label("next_id")).where(*where).subquery()
    upcoming = aliased(Booking)
    result = db.session.execute(
        select(Client, found.c.last_contact_at, upcoming.id, upcoming.client_id,
               upcoming.starts_at, upcoming.kind, upcoming.title)
        .join(found, found.c.client_id == Client.id)
        .outerjoin(upcoming, upcoming.id == found.c.next_id)
        .options(joinedload(Client.owner)).order_by(Client.name))

    rows = []
    for client, last, *next_booking in result:
        last_on = utc_to_local(last, zone).date() if last else None
        counted_from = last_on or utc_to_local(client.created_at, zone).date()
        due_on = counted_from + timedelta(days=client.cadence_days)
        rows.append(CoverageRow(
            client=client, last_contact_at=last, last_contact_on=last_on,
            next_booking=NextBooking(*next_booking) if next_booking[0] else None,
            due_on=due_on, days_overdue=max(0, (today - due_on).days)))
    if filters.overdue_only:
        rows = [r for r in rows if r.is_overdue]
    rows.sort(key=_urgency)
    if details:
        add_details(rows, viewer, today=today, client_ids=client_ids)
    return rows


def add_details(rows: list[CoverageRow], viewer: User, *, today: date,
                client_ids=None) -> None:
    """Fill in trips, travel cost and this quarter's and year's visits and demos: four
    queries for any number of rows. `client_ids` may be a SELECT of the rows' client ids
    (for many rows); by default their ids are listed."""
    if not rows:
        return
    if client_ids is None:
        client_ids = [r.client.id for r in rows]
    _add_counts(rows, client_ids, today, viewer.timezone)
    _add_trips(rows, client_ids)


def _add_counts(rows: list[CoverageRow], client_ids, today: date, zone: str) -> None:
    quarter_first, quarter_next = quarter_of(today)
    year_start = day_start_utc(date(today.year, 1, 1), zone)
    year_end = day_start_utc(date(today.year + 1, 1, 1), zone)
    q_start, q_end = day_start_utc(quarter_first, zone), day_start_utc(quarter_next, zone)
    in_quarter = and_(Booking.starts_at >= q_start, Booking.starts_at < q_end)
    counts = db.session.execute(
        select(Booking.client_id, Booking.kind, func.count(), _count_if(in_quarter))
        .where(Booking.status != "cancelled", Booking.client_id.in_(client_ids),
               Booking.starts_at >= year_start, Booking.starts_at < year_end)
        .group_by(Booking.client_id, Booking.kind))
    by_client = {r.client.id: r for r in rows}
    for client_id, kind, year, quarter in counts:
        row = by_client.get(client_id)
        if row is None:
            continue
        if kind == "visit":
            row.visits_year, row.visits_quarter = year, int(quarter or 0)
        elif kind == "demo":
            row.demos_year, row.demos_quarter = year, int(quarter or 0)


def _add_trips(rows: list[CoverageRow], client_ids) -> None:
    by_client = {r.client.id: r for r in rows}
    for facts in trip_facts(_serving(client_ids)).values():
        for client_id in facts.clients:
            if client_id in by_client:
                by_client[client_id].trips += 1
        for client_id, cost in facts.per_client.items():
            if client_id in by_client:
                add_money(by_client[client_id].travel_cost, cost)


def overdue_accounts(viewer: User, *, today: date, now: datetime | None = None,
                     limit: int = 5) -> tuple[list[CoverageRow], int]:
    """The most urgent overdue accounts for the start page, and how many are overdue."""
    rows = coverage(viewer, today=today, now=now,
                    filters=CoverageFilters(overdue_only=True), details=False)
    return rows[:limit], len(rows)


def next_bookings(viewer: User, *, now: datetime, limit: int = 5) -> list[Booking]:
    """The viewer's next non-cancelled bookings (all bookings for managers)."""
    require_reports(viewer)
    stmt = (select(Booking).where(Booking.status != "cancelled", Booking.starts_at >= now)
            .options(joinedload(Booking.client)).order_by(Booking.starts_at, Booking.id)
            .limit(limit))
    if not viewer.is_manager:
        stmt = stmt.where(Booking.owner_id == viewer.id)
    return list(db.session.scalars(stmt))


# --- reports over a period ----------------------------------------------------------------

@dataclass
class Activity:
    """One entity's figures over the period."""

    months: int
    bookings: int = 0
    demos: int = 0
    visits: int = 0
    done: int = 0
    minutes_on_site: int = 0
    trips: int = 0
    clients: int = 0  # AEs: distinct clients booked
    travel_cost: dict[str, int] = field(default_factory=dict)
    per_month: list[int] = field(default_factory=list)

    def __post_init__(self):
        if not self.per_month:
            self.per_month = [0] * self.months

    @property
    def hours_on_site(self) -> Decimal:
        return hours_on_site(self.minutes_on_site)

    def add(self, other: Activity) -> None:
        self.bookings += other.bookings
        self.demos += other.demos
        self.visits += other.visits
        self.done += other.done
        self.minutes_on_site += other.minutes_on_site
        add_money(self.travel_cost, other.travel_cost)
        self.per_month = [a + b for a, b in zip(self.per_month, other.per_month, strict=True)]


@dataclass
class ReportRow:
    id: int
    name: str
    activity: Activity
    client: Client | None = None
    person: User | None = None


@dataclass
class Report:
    kind: str  # "clients", "aes" or "staff"
    period: Period
    months: list[date]
    rows: list[ReportRow]
    currencies: list[str]
    # Totals where they add up (each booking has one client and one AE, each trip one
    # AE, and attributed parts add up to each expense); None for staff, who share.
    totals: Activity | None = None

    def chart_rows(self, others=lambda n: f"{n} others") -> list[tuple[str, list[int]]]:
        """Bookings per month: the busiest entities, then the rest together, named by
        `others(how_many)`."""
        busy = sorted((r for r in self.rows if r.activity.bookings),
                      key=lambda r: (-r.activity.bookings, r.name.lower()))
        series = [(r.name, list(r.activity.per_month)) for r in busy[:CHART_SERIES]]
        rest = busy[CHART_SERIES:]
        if rest:
            rest_months = [sum(r.activity.per_month[i] for r in rest)
                           for i in range(len(self.months))]
            series.append((others(len(rest)), rest_months))
        return series


def _booking_stats(period: Period, zone: str, keys: list, where: list, *, join=None):
    """Grouped counts of non-cancelled bookings starting in the period, per month: rows
    of (*keys, month, bookings, demos, visits, done, minutes on site). The month is
    computed in a subquery so that GROUP BY names it rather than repeating the CASE
    (PostgreSQL does not see two copies with their own parameters as the same)."""
    start, end = period.bounds(zone)
    inner = select(*[k.label(f"key{i}") for i, k in enumerate(keys)],
                   _month_index(Booking.starts_at, period.month_bounds(zone)).label("month"),
                   Booking.kind, Booking.status,
                   _minutes(Booking.starts_at, Booking.ends_at).label("minutes"))
    if join is not None:
        inner = inner.select_from(join)
    inner = inner.where(Booking.status != "cancelled", Booking.starts_at >= start,
                        Booking.starts_at < end, *where).subquery()
    grouping = [inner.c[f"key{i}"] for i in range(len(keys))] + [inner.c.month]
    visit = inner.c.kind == "visit"
    return db.session.execute(
        select(*grouping, func.count(), _count_if(inner.c.kind == "demo"), _count_if(visit),
               _count_if(inner.c.status == "done"),
               func.sum(case((visit, inner.c.minutes), else_=0)))
        .group_by(*grouping))


def _tally(activity: Activity, month: int, bookings, demos, visits, done, minutes) -> None:
    activity.bookings += bookings
    activity.demos += int(demos or 0)
    activity.visits += int(visits or 0)
    activity.done += int(done or 0)
    activity.minutes_on_site += int(minutes or 0)
    activity.per_month[int(month)] += bookings


def _trips_in(period: Period) -> list:
    """Non-cancelled trips whose first day falls in the period."""
    return [Trip.cancelled_at.is_(None), Trip.starts_on >= period.first,
            Trip.starts_on <= period.last]


def _report(kind: str, period: Period, rows: list[ReportRow], totals: Activity | None):
    return Report(kind, period, period.months(), rows,
                  currencies_in(r.activity.travel_cost for r in rows), totals)


def client_report(viewer: User, period: Period) -> Report:
    """Per client (AEs: their own): bookings, hours on site, trips and attributed cost.
    Lists every non-archived client, and archived ones with bookings in the period."""
    visible = _visible_clients(viewer)
    zone, n = viewer.timezone, len(period.months())
    client_ids = select(Client.id).where(visible)
    activity: dict[int, Activity] = defaultdict(lambda: Activity(n))
    for client_id, month, *figures in _booking_stats(
            period, zone, [Booking.client_id], [Booking.client_id.in_(client_ids)]):
        _tally(activity[client_id], month, *figures)
    trips = trip_facts(_serving(client_ids) + _trips_in(period))
    for facts in trips.values():
        for client_id in facts.clients:
            activity[client_id].trips += 1
        for client_id, cost in facts.per_client.items():
            add_money(activity[client_id].travel_cost, cost)
    start, end = period.bounds(zone)
    booked = select(Booking.client_id).where(Booking.starts_at >= start, Booking.starts_at < end,
                                             Booking.status != "cancelled")
    clients = db.session.scalars(
        select(Client).where(visible, or_(Client.archived_at.is_(None), Client.id.in_(booked)))
        .options(joinedload(Client.owner)).order_by(Client.name))
    rows = [ReportRow(c.id, c.name, activity.get(c.id) or Activity(n), client=c)
            for c in clients]
    totals = Activity(n)
    for row in rows:
        totals.add(row.activity)
    shown = {r.id for r in rows}
    totals.trips = sum(1 for f in trips.values() if f.clients & shown)
    return _report("clients", period, rows, totals)


def _people(role: str, viewer: User, active_ids: Iterable[int]) -> list[User]:
    """Active people in `role`, and anyone else with figures in the period."""
    ids = set(active_ids)
    stmt = select(User).where(or_(and_(User.role == role, User.active.is_(True)),
                                  User.id.in_(ids)))
    if role == "ae" and not viewer.is_manager:
        stmt = select(User).where(User.id == viewer.id)
    return list(db.session.scalars(stmt.order_by(User.name)))


def ae_report(viewer: User, period: Period) -> Report:
    """Per AE (an AE: themselves): the bookings they own, the clients those serve, the
    trips they own and those trips' whole cost."""
    require_reports(viewer)
    zone, n = viewer.timezone, len(period.months())
    mine = [] if viewer.is_manager else [Booking.owner_id == viewer.id]
    activity: dict[int, Activity] = defaultdict(lambda: Activity(n))
    clients: dict[int, set[int]] = defaultdict(set)
    for owner_id, client_id, month, *figures in _booking_stats(
            period, zone, [Booking.owner_id, Booking.client_id], mine):
        _tally(activity[owner_id], month, *figures)
        clients[owner_id].add(client_id)
    trip_where = _trips_in(period)
    if not viewer.is_manager:
        trip_where.append(Trip.owner_id == viewer.id)
    for facts in trip_facts(trip_where).values():
        activity[facts.owner_id].trips += 1
        add_money(activity[facts.owner_id].travel_cost, facts.totals)
    rows = []
    for person in _people("ae", viewer, activity):
        figures = activity.get(person.id) or Activity(n)
        figures.clients = len(clients.get(person.id, ()))
        rows.append(ReportRow(person.id, person.name, figures, person=person))
    totals = Activity(n)
    for row in rows:
        totals.add(row.activity)
        totals.trips += row.activity.trips
    totals.clients = len(set().union(*clients.values())) if clients else 0
    return _report("aes", period, rows, totals)


def staff_report(viewer: User, period: Period) -> Report:
    """Per support person: the non-cancelled bookings they are on (not declined, not
    removed), hours on site on those, and the trips they travel on with each trip's
    whole cost. For an AE, only the AE's own bookings and trips count."""
    require_reports(viewer)
    zone, n = viewer.timezone, len(period.months())
    where = [Assignment.removed_at.is_(None), Assignment.status != "declined"]
    if not viewer.is_manager:
        where.append(Booking.owner_id == viewer.id)
    activity: dict[int, Activity] = defaultdict(lambda: Activity(n))
    for user_id, month, *figures in _booking_stats(
            period, zone, [Assignment.user_id], where,
            join=Assignment.__table__.join(Booking.__table__,
                                           Booking.id == Assignment.booking_id)):
        _tally(activity[user_id], month, *figures)
    trip_where = _trips_in(period)
    if not viewer.is_manager:
        trip_where.append(Trip.owner_id == viewer.id)
    for facts in trip_facts(trip_where, with_travellers=True).values():
        for user_id in facts.travellers:
            activity[user_id].trips += 1
            add_money(activity[user_id].travel_cost, facts.totals)
    people = [p for p in _people("support", viewer, activity) if p.role == "support"]
    rows = [ReportRow(p.id, p.name, activity.get(p.id) or Activity(n), person=p)
            for p in people]
    return _report("staff", period, rows, None)
