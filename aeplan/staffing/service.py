"""Staffing: who is on which booking, who is free, and who answered what.

The conflict rule (DESIGN.md): a person is busy for every non-cancelled booking they
are on and have not declined, widened by that booking's travel buffer, and during
their time off. Two busy spans clash when they overlap (touching ends do not).
Functions flush and raise domain errors; callers commit. Checks that guard a write
lock the people involved first (`aeplan.transactions`), so concurrent requests in
several workers cannot both pass the check.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from flask import current_app
from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import joinedload

from aeplan.auth.models import User, split_skills
from aeplan.bookings.models import (
    MAX_BUFFER_MINUTES,
    STAFF_DISCIPLINES,
    Booking,
    BookingChange,
    ending_after,
)
from aeplan.calendar import notify
from aeplan.calendar.models import CURRENT_VERSION
from aeplan.clients.models import Client
from aeplan.errors import Conflict, Invalid, NotAllowed, NotFound
from aeplan.extensions import db
from aeplan.permissions import booking_visibility, can_edit_booking, require_edit_booking
from aeplan.records import fetch, run
from aeplan.staffing.models import Assignment, TimeOff
from aeplan.timeutil import UTCDateTime, check_day, day_start_utc, minutes_inside, now_utc
from aeplan.transactions import lock_booking, lock_people

# No busy span is longer than this (14-day bookings plus a buffer each side), which
# bounds the index range a conflict check scans.
MAX_BUSY_SPAN = timedelta(days=14, minutes=2 * MAX_BUFFER_MINUTES)
# add_time_off allows 366 local days, which a daylight-saving change can stretch by an
# hour in UTC; the cut-off only has to be at least the longest span.
MAX_TIME_OFF = timedelta(days=367)
PAST_WINDOW = timedelta(days=120)  # how far back "my assignments" lists past work


@dataclass(frozen=True)
class Clash:
    """Why a person is not free: a booking they are on, or time off."""

    user_id: int
    kind: str  # "booking" or "time_off"
    starts_at: datetime
    ends_at: datetime
    title: str = ""
    client: str = ""
    booking_id: int | None = None


@dataclass
class Suggestion:
    user: Any  # the person as a row: id, name, skills, discipline
    clashes: list[Clash]
    matched_skills: list[str]
    wanted_skills: int
    week_minutes: int  # 0 for the busy (see ranked_suggestions)

    @property
    def is_free(self) -> bool:
        return not self.clashes


@dataclass
class Staffing:
    """A booking's needs against who is on it, per discipline."""

    needed: dict[str, int]
    active: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    accepted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    declined: int = 0

    @property
    def short(self) -> dict[str, int]:
        return {d: n - self.active[d] for d, n in self.needed.items() if n > self.active[d]}

    @property
    def is_understaffed(self) -> bool:
        return bool(self.short)

    @classmethod
    def needs_of(cls, booking: Booking) -> Staffing:
        return cls(needed={"technical": booking.needs_technical,
                           "creative": booking.needs_creative, "other": booking.needs_other})

    def count(self, role: str, status: str, n: int = 1) -> None:
        """Add `n` assignments (not removed) in `role` answered `status`."""
        if status == "declined":
            self.declined += n
            return
        self.active[role] += n
        if status == "accepted":
            self.accepted[role] += n


# --- finding clashes ---------------------------------------------------------------

def _busy_conditions():
    """What makes a person busy during the span bound as busy_start/busy_end: the WHERE
    clauses, but for whose, of a clash with a booking they are on (on the assignment,
    then on its booking: not cancelled) and of a clash with their time off. The floors
    keep each an index range scan."""
    busy_start = bindparam("busy_start", type_=UTCDateTime())
    busy_end = bindparam("busy_end", type_=UTCDateTime())
    on_assignment = (
        Assignment.removed_at.is_(None),
        Assignment.status != "declined",
        Assignment.busy_starts_at < busy_end,
        Assignment.busy_starts_at > bindparam("busy_floor", type_=UTCDateTime()),
        Assignment.busy_ends_at > busy_start,
        Assignment.booking_id != bindparam("exclude"),  # 0: exclude nothing
    )
    on_booking = (Booking.status != "cancelled",)
    off = (
        TimeOff.cancelled_at.is_(None),
        TimeOff.starts_at < busy_end,
        TimeOff.starts_at > bindparam("time_off_floor", type_=UTCDateTime()),
        TimeOff.ends_at > busy_start,
    )
    return on_assignment, on_booking, off


def _clashes_statement():
    """The conflict check as one statement, built once: constructing it took about a
    millisecond a call, twenty times what SQLite takes to run it for one person."""
    on_assignment, on_booking, off = _busy_conditions()
    bookings = (
        select(literal("booking").label("kind"), Assignment.user_id, Booking.id,
               Booking.title, Booking.starts_at, Booking.ends_at, Client.name)
        .join(Booking, Assignment.booking_id == Booking.id)
        .join(Client, Booking.client_id == Client.id)
        .where(Assignment.user_id.in_(bindparam("ids", expanding=True)), *on_assignment,
               *on_booking)
    )
    time_off = (
        select(literal("time_off"), TimeOff.user_id, cast(null(), Integer), TimeOff.reason,
               TimeOff.starts_at, TimeOff.ends_at, literal(""))
        .where(TimeOff.user_id.in_(bindparam("ids", expanding=True)), *off)
    )
    both = union_all(bookings, time_off).subquery()
    return select(both).order_by(both.c.starts_at, both.c.kind)


def _clash_params(busy_start: datetime, busy_end: datetime,
                  exclude_booking_id: int | None) -> dict:
    return {"busy_start": busy_start, "busy_end": busy_end,
            "busy_floor": busy_start - MAX_BUSY_SPAN, "time_off_floor": busy_start - MAX_TIME_OFF,
            "exclude": exclude_booking_id or 0}


_CLASHES = _clashes_statement()


def find_clashes(user_ids: Iterable[int], busy_start: datetime, busy_end: datetime, *,
                 exclude_booking_id: int | None = None) -> dict[int, list[Clash]]:
    """For each person, what makes them busy during [busy_start, busy_end), in time order.
    One query: the bookings they are on and their time off, each an index range scan per
    person whatever the size of the history."""
    ids = list(set(user_ids))
    out: dict[int, list[Clash]] = {uid: [] for uid in ids}
    if not ids:
        return out
    rows = run(_CLASHES, {"ids": ids, **_clash_params(busy_start, busy_end,
                                                     exclude_booking_id)})
    for kind, user_id, booking_id, title, starts_at, ends_at, client in rows:
        out[user_id].append(Clash(user_id, kind, starts_at, ends_at, title, client, booking_id))
    return out


def describe_clash(person: User, clash: Clash, zone: str) -> str:
    """A plain sentence naming the clash, times in `zone`."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    start, end = clash.starts_at.astimezone(tz), clash.ends_at.astimezone(tz)
    if clash.kind == "time_off":
        return (f"{person.name} has time off from {start:%Y-%m-%d %H:%M} "
                f"to {end:%Y-%m-%d %H:%M} ({zone})")
    return (f"{person.name} is on \u201c{clash.title}\u201d ({clash.client}) "
            f"{start:%Y-%m-%d %H:%M}\u2013{end:%H:%M} ({zone}), travel time included")


# --- reading -------------------------------------------------------------------------

# Built once (see _clashes_statement): every list and calendar page runs it.
_STAFF_COUNTS = (
    select(Assignment.booking_id, Assignment.role, Assignment.status, func.count())
    .where(Assignment.booking_id.in_(bindparam("booking_ids", expanding=True)),
           Assignment.removed_at.is_(None))
    .group_by(Assignment.booking_id, Assignment.role, Assignment.status)
)


def staffing_for(bookings: Iterable[Booking]) -> dict[int, Staffing]:
    """Needs against assignments for many bookings in one query."""
    bookings = list(bookings)
    out = {b.id: Staffing.needs_of(b) for b in bookings}
    if not out:
        return out
    rows = db.session.execute(_STAFF_COUNTS, {"booking_ids": list(out)})
    for booking_id, role, status, n in rows:
        out[booking_id].count(role, status, n)
    return out


def staffing_of_rows(rows: Iterable) -> dict[int, Staffing]:
    """staffing_for() for rows that carry the booking's needs_* and staffed_* counts
    (see staffed_count), without a query."""
    out = {}
    for row in rows:
        state = out[row.id] = Staffing.needs_of(row)
        state.active.update({d: getattr(row, f"staffed_{d}") for d in STAFF_DISCIPLINES})
    return out


def staffing_of(booking: Booking, assignments: Iterable[Assignment]) -> Staffing:
    """staffing_for() for one booking whose assignments are already loaded."""
    staffing = Staffing.needs_of(booking)
    for a in assignments:
        if a.removed_at is None:
            staffing.count(a.role, a.status)
    return staffing


def assignments_for_booking(booking: Booking) -> list[Assignment]:
    """Everyone ever put on the booking (removed ones too), current ones first, by role:
    from booking.assignments, which get_booking(for_page=True) loads with the people."""
    return sorted(booking.assignments,
                  key=lambda a: (a.removed_at is not None, a.role, a.id))


def staffed_count(role: str):
    """How many are on the booking in `role` (not removed, not declined), as a
    subquery of a statement over bookings."""
    return (
        select(func.count()).select_from(Assignment)
        .where(Assignment.booking_id == Booking.id, Assignment.role == role,
               Assignment.removed_at.is_(None), Assignment.status != "declined")
        .correlate(Booking).scalar_subquery()
    )


def needing_staff(viewer: User, *, limit: int = 50) -> list[Booking]:
    """Upcoming bookings short of staff in any discipline: key accounts first, then soonest."""
    short = or_(
        Booking.needs_technical > staffed_count("technical"),
        Booking.needs_creative > staffed_count("creative"),
        Booking.needs_other > staffed_count("other"),
    )
    stmt = (
        select(Booking).join(Client, Booking.client_id == Client.id)
        .where(booking_visibility(viewer), Booking.status != "cancelled",
               ending_after(now_utc()), short)
        .options(joinedload(Booking.client), joinedload(Booking.owner))
        .order_by((Client.tier == "key").desc(), Booking.starts_at)
        .limit(limit)
    )
    if viewer.is_ae:
        stmt = stmt.where(Booking.owner_id == viewer.id)
    return list(db.session.scalars(stmt))


def _week_load_statement():
    """week_minutes' query, built once (see _clashes_statement)."""
    week_start = bindparam("week_start", type_=UTCDateTime())
    week_end = bindparam("week_end", type_=UTCDateTime())
    return (
        select(Assignment.user_id,
               func.sum(minutes_inside(Booking.starts_at, Booking.ends_at, week_start,
                                       week_end)))
        .join(Booking, Assignment.booking_id == Booking.id)
        .where(Assignment.user_id.in_(bindparam("ids", expanding=True)),
               Assignment.removed_at.is_(None),
               Assignment.status != "declined", Booking.status != "cancelled",
               Assignment.busy_starts_at < week_end,
               Assignment.busy_starts_at > bindparam("busy_floor", type_=UTCDateTime()),
               # Implied by the booking's end, but answered from the index.
               Assignment.busy_ends_at > week_start,
               Booking.ends_at > week_start, Booking.starts_at < week_end)
        .group_by(Assignment.user_id)
    )


_WEEK_LOAD = _week_load_statement()


_WEEK_LOADS_KEPT = 64  # weeks, per worker


def _week_load_cache(week_start: datetime, version: int | None = None
                     ) -> dict[int, int] | None:
    """The minutes already summed for this week at the current data version (a dict to
    add to), or None when this transaction has changes of its own not yet committed.

    The data version moves with every committed change to bookings and assignments
    (aeplan.calendar.service), so a sum is good until the next change anywhere; ranking
    staff for several bookings of a week then sums each person's week once. It is read
    before the sums, so a sum is never stored under a version newer than the data it
    summed: `version` when the caller read it already (see _CANDIDATES), else here. The
    cache lives on the app: each worker has its own.
    """
    if version is None:
        version = db.session.scalar(CURRENT_VERSION)  # flushes pending changes first
    version = version or 0
    if db.session.info.get("feeds_changed"):
        return None
    caches = current_app.extensions.setdefault("aeplan.week_loads", {})
    key = (version, week_start)
    found = caches.get(key)
    if found is None:
        if len(caches) >= _WEEK_LOADS_KEPT:
            stale = [k for k in caches if k[0] != version] or list(caches)
            for k in stale[:max(1, len(stale) // 2)]:
                del caches[k]
        found = caches[key] = {}
    return found


def week_minutes(user_ids: Iterable[int], week_start: datetime, *,
                 version: int | None = None) -> dict[int, int]:
    """Minutes each person is booked in the week starting `week_start` (active assignments
    on bookings that are not cancelled), counting only the part inside the week. The
    database sums them: one row per person instead of one per booking. Sums are kept
    until the data changes (see _week_load_cache; `version` is the data version if the
    caller has read it, flushing first)."""
    ids = set(user_ids)
    if not ids:
        return {}
    known = _week_load_cache(week_start, version)
    wanted = [i for i in ids if known is None or i not in known]
    out = {i: known[i] for i in ids if known is not None and i in known}
    if wanted:
        fresh = dict.fromkeys(wanted, 0)
        rows = db.session.execute(_WEEK_LOAD, {
            "ids": wanted, "week_start": week_start,
            "week_end": week_start + timedelta(days=7),
            "busy_floor": week_start - MAX_BUSY_SPAN})
        for user_id, minutes in rows:
            fresh[user_id] = int(minutes or 0)
        out.update(fresh)
        if known is not None:
            known.update(fresh)
    return out


# Active support staff of some disciplines as (id, name, skills, discipline) rows, all
# that ranking and the page need of a person; whoever is on the booking, or declined it,
# is not suggested for it again. Each row also carries the data version, for the week
# loads (see _week_load_cache): on PostgreSQL a statement of its own cost the booking
# page a tenth of its throughput. Built once (see _clashes_statement).
_CANDIDATES = (
    select(User.id, User.name, User.skills, User.discipline,
           func.coalesce(CURRENT_VERSION.scalar_subquery(), 0).label("data_version"))
    .where(User.role == "support", User.active.is_(True),
           User.discipline.in_(bindparam("disciplines", expanding=True)),
           User.id.not_in(select(Assignment.user_id)
                          .where(Assignment.booking_id == bindparam("booking_id"),
                                 Assignment.removed_at.is_(None))))
    .order_by(User.name)
)


def _free_candidates_statement():
    """_CANDIDATES without anyone busy during the booking (see _busy_conditions): the
    booking page's top few, when there are enough free people, need no clash details."""
    on_assignment, on_booking, off = _busy_conditions()
    busy = (select(Assignment.id).join(Booking, Assignment.booking_id == Booking.id)
            .where(Assignment.user_id == User.id, *on_assignment, *on_booking))
    away = select(TimeOff.id).where(TimeOff.user_id == User.id, *off)
    return _CANDIDATES.where(~busy.exists(), ~away.exists())


_FREE_CANDIDATES = _free_candidates_statement()


def _candidates_with_clashes_statement():
    """_CANDIDATES with what makes each busy during the booking (see _busy_conditions):
    a row per person, or per clash of theirs (a booking on `clash_booking_id`, time off
    on `time_off_id`; both when they have both). Outer joins, each an index probe per
    person on either database: one statement where find_clashes on the candidates' ids
    was a second one, and on PostgreSQL its ANY(ids) scan took twice as long."""
    on_assignment, on_booking, off = _busy_conditions()
    return (
        _CANDIDATES.add_columns(
            Booking.id.label("clash_booking_id"), Booking.title.label("clash_title"),
            Booking.starts_at.label("clash_starts_at"), Booking.ends_at.label("clash_ends_at"),
            Client.name.label("clash_client"), TimeOff.id.label("time_off_id"),
            TimeOff.reason.label("time_off_reason"),
            TimeOff.starts_at.label("time_off_starts_at"),
            TimeOff.ends_at.label("time_off_ends_at"))
        .select_from(User)
        .outerjoin(Assignment, and_(Assignment.user_id == User.id, *on_assignment))
        # An assignment on a cancelled booking finds no booking: not a clash.
        .outerjoin(Booking, and_(Booking.id == Assignment.booking_id, *on_booking))
        .outerjoin(Client, Client.id == Booking.client_id)
        .outerjoin(TimeOff, and_(TimeOff.user_id == User.id, *off))
    )


_CANDIDATES_WITH_CLASHES = _candidates_with_clashes_statement()


def _people_and_clashes(rows) -> tuple[list, dict[int, list[Clash]]]:
    """The people of _CANDIDATES_WITH_CLASHES rows, each once and in the rows' order,
    and each one's clashes in time order."""
    people, found = {}, {}
    for row in rows:
        if row.id not in people:
            people[row.id] = row
            found[row.id] = {}
        if row.clash_booking_id is not None:
            found[row.id][("booking", row.clash_booking_id)] = Clash(
                row.id, "booking", row.clash_starts_at, row.clash_ends_at, row.clash_title,
                row.clash_client, row.clash_booking_id)
        if row.time_off_id is not None:
            found[row.id][("time_off", row.time_off_id)] = Clash(
                row.id, "time_off", row.time_off_starts_at, row.time_off_ends_at,
                row.time_off_reason, "")
    clashes = {person: sorted(each.values(), key=lambda c: (c.starts_at, c.kind))
               for person, each in found.items()}
    return list(people.values()), clashes


def suggestions(booking: Booking, discipline: str, *, viewer: User) -> list[Suggestion]:
    """Support staff of `discipline` ranked for `booking`: free first, then most matching
    skills, then (among the free) the lightest week, then by name. A fixed number of
    queries."""
    return ranked_suggestions(booking, [discipline], viewer=viewer)[discipline]


def ranked_suggestions(booking: Booking, disciplines: Iterable[str], *,
                       viewer: User, top: int | None = None) -> dict[str, list[Suggestion]]:
    """suggestions() for several disciplines at once, in the queries of one: the booking
    page ranks every discipline it is short of. With `top`, only the first `top` of each:
    when every discipline has that many free people, only the free are read (the busy
    rank after them), without their clashes."""
    require_edit_booking(viewer, booking)
    disciplines = list(disciplines)
    if any(d not in STAFF_DISCIPLINES for d in disciplines):
        raise Invalid("Unknown discipline.", field="role")
    out: dict[str, list[Suggestion]] = {d: [] for d in disciplines}
    if not disciplines:
        return out
    params = {"disciplines": disciplines, "booking_id": booking.id,
              **_clash_params(booking.busy_starts_at, booking.busy_ends_at, booking.id)}
    people = None
    if top is not None:
        free = fetch(_FREE_CANDIDATES, params)
        if all(sum(p.discipline == d for p in free) >= top for d in disciplines):
            people, clashes = free, defaultdict(list)
    if people is None:
        people, clashes = _people_and_clashes(fetch(_CANDIDATES_WITH_CLASHES, params))
    ids = [p.id for p in people]
    local_day = booking.starts_at.astimezone(_zone(booking.timezone)).date()
    monday = local_day - timedelta(days=local_day.weekday())
    # Only the free are ranked by their week's load (and shown it): the busy cannot be
    # assigned, and their line names the clash instead.
    load = week_minutes([i for i in ids if not clashes[i]], day_start_utc(monday, booking.timezone),
                        version=people[0].data_version if people else None)
    wanted = [s.lower() for s in booking.skill_list]
    for person in people:
        have = _skills_by_lowercase(person.skills)
        matched = [have[s] for s in wanted if s in have]
        out[person.discipline].append(Suggestion(person, clashes[person.id], matched,
                                                 len(wanted), load.get(person.id, 0)))
    for ranked in out.values():
        ranked.sort(key=lambda s: (not s.is_free, -len(s.matched_skills), s.week_minutes,
                                   s.user.name))
        if top is not None:
            del ranked[top:]
    return out


@lru_cache(maxsize=1024)
def _skills_by_lowercase(skills: str | None) -> dict[str, str]:
    """A person's skills keyed by their lower case, for matching a booking's; ranking
    asks for every person of a discipline on every page, so each text is split once.
    Callers must not change the dict."""
    return {skill.lower(): skill for skill in split_skills(skills)}


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


# --- writing -------------------------------------------------------------------------

def _record(booking: Booking, actor: User | None, action: str, changes: dict,
            note: str = "") -> None:
    db.session.add(BookingChange(booking_id=booking.id, actor_id=actor.id if actor else None,
                                 action=action, changes=changes, note=note))


def _refuse_clashes(person: User, booking: Booking, clashes: list[Clash]) -> None:
    if clashes:
        detail = "; ".join(describe_clash(person, c, booking.timezone) for c in clashes[:3])
        raise Conflict(f"{person.name} is not free then: {detail}.", field="user_id")


_ASSIGNMENT_OF = select(Assignment).where(Assignment.booking_id == bindparam("booking_id"),
                                          Assignment.user_id == bindparam("user_id"))


def check_assign(booking: Booking, person: User | None, role: str, *, actor: User,
                 expected_sequence: int | None = None) -> None:
    """assign()'s checks without its locks or writes, for a view to run before it opens a
    write transaction: a refusal (most often a clash) then never waits for, or holds up,
    another worker's writes. Passing says nothing for certain; assign() checks again
    under its locks."""
    _assignable(booking, person, role, actor=actor, expected_sequence=expected_sequence)


def assign(booking: Booking, person: User | None, role: str, *, actor: User,
           expected_sequence: int | None = None) -> Assignment:
    """Put `person` on `booking` in `role`, refusing anything that would double-book."""
    require_edit_booking(actor, booking)
    if person is None:
        raise Invalid("Choose a person to assign.", field="user_id")
    # Lock the booking, then the person (always in that order), and read both afresh.
    lock_booking(booking)
    lock_people([person.id])
    existing = _assignable(booking, person, role, actor=actor,
                           expected_sequence=expected_sequence)
    if existing is None:
        existing = Assignment(booking_id=booking.id, user_id=person.id)
        db.session.add(existing)
    existing.role = role
    existing.status = "pending"
    existing.note = ""
    existing.answered_at = None
    existing.removed_at = None
    existing.assigned_by_id = actor.id
    existing.created_at = now_utc()
    existing.busy_starts_at = booking.busy_starts_at
    existing.busy_ends_at = booking.busy_ends_at
    _record(booking, actor, "staff_added", {"staff": [None, f"{person.name} ({role})"]})
    booking.sequence += 1
    notify.queue(booking.id, "update")
    booking.updated_at = now_utc()
    db.session.flush()
    return existing


def _assignable(booking: Booking, person: User | None, role: str, *, actor: User,
                expected_sequence: int | None) -> Assignment | None:
    """Refuse (raise) unless `person` can go on `booking` in `role`; returns their
    earlier assignment to it (removed or declined), if any."""
    require_edit_booking(actor, booking)
    if person is None:
        raise Invalid("Choose a person to assign.", field="user_id")
    if expected_sequence is not None and expected_sequence != booking.sequence:
        raise Conflict("This booking changed since you opened the page (it may have moved). "
                       "Reload it and try again.")
    if booking.status in ("cancelled", "done"):
        raise Invalid(f"A {booking.status} booking cannot be staffed.")
    if role not in STAFF_DISCIPLINES:
        raise Invalid("Choose technical, creative or other.", field="role")
    if person.role != "support":
        raise Invalid(f"{person.name} is not support staff.", field="user_id")
    if not person.active:
        raise Invalid(f"{person.name} is deactivated.", field="user_id")
    existing = db.session.scalar(_ASSIGNMENT_OF, {"booking_id": booking.id,
                                                  "user_id": person.id})
    if existing is not None and existing.is_active:
        raise Invalid(f"{person.name} is already on this booking.", field="user_id")
    clashes = find_clashes([person.id], booking.busy_starts_at, booking.busy_ends_at,
                           exclude_booking_id=booking.id)[person.id]
    _refuse_clashes(person, booking, clashes)
    return existing


def remove(assignment: Assignment, *, actor: User) -> Assignment:
    """Take a person off a booking (the row stays, marked removed); frees their time."""
    booking = assignment.booking
    require_edit_booking(actor, booking)
    if assignment.removed_at is not None:  # a stale page: the state moved on (409)
        raise Conflict("This person is no longer on the booking.")
    assignment.removed_at = now_utc()
    _record(booking, actor, "staff_removed",
            {"staff": [f"{assignment.user.name} ({assignment.role})", None]})
    booking.sequence += 1
    notify.queue(booking.id, "removed", assignment.user_id)
    notify.queue(booking.id, "update")
    booking.updated_at = now_utc()
    db.session.flush()
    return assignment


def reassign(assignment: Assignment, person: User | None, *, actor: User) -> Assignment:
    """Replace one person by another in the same role, in one transaction."""
    role = assignment.role
    booking = assignment.booking
    if person is not None and person.id == assignment.user_id:
        raise Invalid("Choose someone else.", field="user_id")
    remove(assignment, actor=actor)
    return assign(booking, person, role, actor=actor)


def answer(assignment: Assignment, *, accept: bool, reason: str = "", actor: User) -> Assignment:
    """The assigned person accepts, or declines with a reason."""
    if actor.id != assignment.user_id:
        raise NotAllowed("Only the assigned person can answer this assignment.")
    booking = assignment.booking
    # The booking moved on since the page was shown: a conflict with its state (409).
    if assignment.removed_at is not None:
        raise Conflict("You are no longer on this booking.")
    if booking.status in ("cancelled", "done"):
        raise Conflict(f"This booking is {booking.status}.")
    reason = (reason or "").strip()
    if len(reason) > 500:
        raise Invalid("The reason can have at most 500 characters.", field="reason")
    new_status = "accepted" if accept else "declined"
    if assignment.status == new_status:
        return assignment
    if not accept and not reason:
        raise Invalid("Say why you decline, so the AE can plan around it.", field="reason")
    if accept and assignment.status == "declined":
        # Declining freed the time; taking it back must not double-book.
        lock_people([actor.id])
        clashes = find_clashes([actor.id], booking.busy_starts_at, booking.busy_ends_at,
                               exclude_booking_id=booking.id)[actor.id]
        _refuse_clashes(actor, booking, clashes)
    _record(booking, actor, "staff_answer",
            {"staff": [f"{actor.name}: {assignment.status}", f"{actor.name}: {new_status}"]},
            note=reason)
    assignment.status = new_status
    assignment.note = reason
    assignment.answered_at = now_utc()
    if not accept:  # their calendar drops the event; the AE sees the decline in AE Plan
        notify.queue(booking.id, "removed", actor.id)
    db.session.flush()
    return assignment


def check_move(booking: Booking, busy_start: datetime, busy_end: datetime) -> None:
    """Refuse moving or lengthening `booking` if it would double-book anyone on it."""
    active = db.session.scalars(
        select(Assignment).where(Assignment.booking_id == booking.id,
                                 Assignment.removed_at.is_(None),
                                 Assignment.status != "declined")
        .options(joinedload(Assignment.user))
    ).all()
    if not active:
        return
    lock_people(a.user_id for a in active)
    clashes = find_clashes([a.user_id for a in active], busy_start, busy_end,
                           exclude_booking_id=booking.id)
    for a in active:
        if clashes[a.user_id]:
            detail = describe_clash(a.user, clashes[a.user_id][0], booking.timezone)
            raise Conflict(f"Moving it would double-book {detail}.", field="starts_at")


def sync_busy(booking: Booking) -> None:
    """Copy the booking's widened time onto its assignments after it moved."""
    for a in db.session.scalars(select(Assignment).where(Assignment.booking_id == booking.id)):
        a.busy_starts_at = booking.busy_starts_at
        a.busy_ends_at = booking.busy_ends_at


# --- support staff's own view ------------------------------------------------------

@dataclass
class MyAssignments:
    """Rows with the assignment's id, status and role and its booking's booking_id,
    kind, title, starts_at, ends_at, timezone, location, booking_status, client_name,
    client_tier and owner_name."""
    upcoming: list  # soonest first
    past: list  # latest first
    others: dict[int, list[tuple[str, str]]]  # upcoming booking id -> (name, role) of others


def _my_statements():
    """my_assignments' two queries, built once with parameters (see _clashes_statement):
    building them cost more than running them. The first is both lists in one union,
    `part` telling them apart: on PostgreSQL each statement cost the page about a tenth
    of its throughput."""
    now = bindparam("now", type_=UTCDateTime())
    person = bindparam("person")
    base = (
        select(Assignment.id, Assignment.status, Assignment.role,
               Booking.id.label("booking_id"), Booking.kind, Booking.title, Booking.starts_at,
               Booking.ends_at, Booking.timezone, Booking.location,
               Booking.status.label("booking_status"), Client.name.label("client_name"),
               Client.tier.label("client_tier"), User.name.label("owner_name"))
        .join(Booking, Booking.id == Assignment.booking_id)
        .join(Client, Client.id == Booking.client_id)
        .join(User, User.id == Booking.owner_id)
        .where(Assignment.user_id == person, Assignment.removed_at.is_(None))
    )
    # busy_starts_at bounds follow from the conditions on the booking's times.
    upcoming = (
        base.where(Booking.ends_at > now,
                   Assignment.busy_starts_at > bindparam("busy_floor", type_=UTCDateTime()))
        .add_columns(literal("upcoming").label("part"))
        .order_by(Assignment.busy_starts_at, Assignment.id)
        .limit(bindparam("upcoming_limit")).subquery()
    )
    past = (
        base.where(Booking.ends_at <= now, Assignment.busy_starts_at < now,
                   Assignment.busy_starts_at > bindparam("past_floor", type_=UTCDateTime()))
        .add_columns(literal("past"))
        .order_by(Assignment.busy_starts_at.desc(), Assignment.id.desc())
        .limit(bindparam("past_limit")).subquery()
    )
    others = (
        select(Assignment.booking_id, User.name, Assignment.role)
        .join(User, User.id == Assignment.user_id)
        .where(Assignment.booking_id.in_(bindparam("booking_ids", expanding=True)),
               Assignment.user_id != person, Assignment.removed_at.is_(None),
               Assignment.status != "declined")
        .order_by(Assignment.booking_id, User.name)
    )
    return union_all(select(upcoming), select(past)), others


_MY_LISTS, _MY_OTHERS = _my_statements()


def my_assignments(person: User, *, upcoming_limit: int = 30,
                   past_limit: int = 15) -> MyAssignments:
    """A support person's upcoming assignments and those of the last 120 days, and who
    else is on each upcoming booking, in two queries.

    Both lists walk this person's (user_id, busy_starts_at) index in order from now and
    stop at the limit: ordering by the booking's start instead made the database join
    and sort every assignment in the window first (1.9 ms -> 0.07 ms per list at
    100,000 bookings). A busy span starts a fixed buffer before its booking, so the
    lists are then put in the booking's own order. This is the support staff's start
    page with up to 45 bookings, so it reads plain rows of the columns it shows: ORM
    objects for assignment, booking, client and AE cost ten times as much to build."""
    now = now_utc()
    upcoming, past = [], []
    for row in fetch(_MY_LISTS, {
            "person": person.id, "now": now, "busy_floor": now - MAX_BUSY_SPAN,
            "past_floor": now - PAST_WINDOW, "upcoming_limit": upcoming_limit,
            "past_limit": past_limit}):
        (upcoming if row.part == "upcoming" else past).append(row)
    others: dict[int, list[tuple[str, str]]] = defaultdict(list)
    booking_ids = [row.booking_id for row in upcoming]  # past work is a line each
    if booking_ids:
        for booking_id, name, role in db.session.execute(
                _MY_OTHERS, {"booking_ids": booking_ids, "person": person.id}):
            others[booking_id].append((name, role))
    return MyAssignments(
        upcoming=sorted(upcoming, key=lambda row: (row.starts_at, row.id)),
        past=sorted(past, key=lambda row: (row.starts_at, row.id), reverse=True),
        others=others)


def get_assignment(assignment_id: int) -> Assignment | None:
    return db.session.scalar(
        select(Assignment).where(Assignment.id == assignment_id)
        .options(joinedload(Assignment.booking), joinedload(Assignment.user))
    )


# --- time off --------------------------------------------------------------------------

def add_time_off(person: User, first_day: date | None, last_day: date | None, reason: str, *,
                 actor: User) -> TimeOff:
    """Whole days off in the person's own timezone, first to last day inclusive. Allowed
    over existing assignments; those bookings are flagged to their AEs."""
    if actor.id != person.id and not actor.is_manager:
        raise NotAllowed("You can only enter your own time off.")
    if first_day is None:
        raise Invalid("Enter the first day.", field="first_day")
    if last_day is None:
        raise Invalid("Enter the last day.", field="last_day")
    check_day(first_day, field="first_day")
    check_day(last_day, field="last_day")
    if last_day < first_day:
        raise Invalid("The last day cannot be before the first day.", field="last_day")
    if last_day - first_day > timedelta(days=365):
        raise Invalid("Time off can last at most a year.", field="last_day")
    reason = (reason or "").strip()
    if len(reason) > 200:
        raise Invalid("The note can have at most 200 characters.", field="reason")
    entry = TimeOff(user_id=person.id, reason=reason,
                    starts_at=day_start_utc(first_day, person.timezone),
                    ends_at=day_start_utc(last_day + timedelta(days=1), person.timezone))
    db.session.add(entry)
    db.session.flush()
    return entry


def cancel_time_off(entry: TimeOff, *, actor: User) -> TimeOff:
    if actor.id != entry.user_id and not actor.is_manager:
        # Nobody else's time off is listed for them: answer as if it did not exist.
        raise NotFound("No such time off.")
    if entry.cancelled_at is None:
        entry.cancelled_at = now_utc()
        db.session.flush()
    return entry


def time_off_for(person: User) -> list[TimeOff]:
    return list(db.session.scalars(
        select(TimeOff).where(TimeOff.user_id == person.id, TimeOff.cancelled_at.is_(None),
                              TimeOff.ends_at > now_utc() - timedelta(days=90))
        .order_by(TimeOff.starts_at)
    ))


@dataclass(frozen=True)
class TimeOffClash:
    booking: Booking
    person: User
    time_off: TimeOff


def time_off_clashes(viewer: User, *, limit: int = 50) -> list[TimeOffClash]:
    """Upcoming bookings whose staff have since taken time off over them: an AE sees
    their own, a manager everyone's. One query."""
    stmt = (
        select(Booking, User, TimeOff)
        .join(Assignment, Assignment.booking_id == Booking.id)
        .join(User, User.id == Assignment.user_id)
        .join(TimeOff, and_(TimeOff.user_id == Assignment.user_id,
                            TimeOff.cancelled_at.is_(None),
                            TimeOff.starts_at < Assignment.busy_ends_at,
                            TimeOff.ends_at > Assignment.busy_starts_at))
        .where(Assignment.removed_at.is_(None), Assignment.status != "declined",
               Booking.status != "cancelled", ending_after(now_utc()))
        .options(joinedload(Booking.client))
        .order_by(Booking.starts_at)
        .limit(limit)
    )
    if viewer.is_ae:
        stmt = stmt.where(Booking.owner_id == viewer.id)
    elif not viewer.is_manager:
        return []
    return [TimeOffClash(b, u, t) for b, u, t in db.session.execute(stmt).unique()]


# --- managers --------------------------------------------------------------------------

@dataclass
class WeekLoad:
    minutes: int = 0
    bookings: int = 0
    time_off_minutes: int = 0


def utilisation(first_monday: date, weeks: int, zone: str, *, viewer: User):
    """Per support person per week: booked minutes, bookings and time off; plus each
    person's declines over the last 90 days. Four queries whatever the team size."""
    if not viewer.is_manager:
        raise NotAllowed("Only managers see staff utilisation.")
    starts = [day_start_utc(first_monday + timedelta(weeks=i), zone) for i in range(weeks + 1)]
    people = list(db.session.scalars(
        select(User).where(User.role == "support", User.active.is_(True))
        .order_by(User.discipline, User.name)
    ))
    grid = {p.id: [WeekLoad() for _ in range(weeks)] for p in people}
    begin, end = starts[0], starts[-1]
    rows = db.session.execute(
        select(Assignment.user_id, Booking.starts_at, Booking.ends_at)
        .join(Booking, Assignment.booking_id == Booking.id)
        .join(User, User.id == Assignment.user_id)
        .where(User.role == "support", Assignment.removed_at.is_(None),
               Assignment.status != "declined", Booking.status != "cancelled",
               Assignment.busy_starts_at < end,
               Assignment.busy_starts_at > begin - MAX_BUSY_SPAN,
               Booking.ends_at > begin)
    )
    for user_id, b_start, b_end in rows:
        if user_id not in grid:
            continue
        for i in range(weeks):
            inside = min(b_end, starts[i + 1]) - max(b_start, starts[i])
            if inside.total_seconds() > 0:
                grid[user_id][i].minutes += int(inside.total_seconds() // 60)
                if starts[i] <= b_start < starts[i + 1]:
                    grid[user_id][i].bookings += 1
    off = db.session.execute(
        select(TimeOff.user_id, TimeOff.starts_at, TimeOff.ends_at)
        .where(TimeOff.cancelled_at.is_(None), TimeOff.starts_at < end, TimeOff.ends_at > begin)
    )
    for user_id, t_start, t_end in off:
        if user_id not in grid:
            continue
        for i in range(weeks):
            inside = min(t_end, starts[i + 1]) - max(t_start, starts[i])
            if inside.total_seconds() > 0:
                grid[user_id][i].time_off_minutes += int(inside.total_seconds() // 60)
    declines = dict(db.session.execute(
        select(Assignment.user_id, func.count())
        .where(Assignment.status == "declined",
               Assignment.answered_at > now_utc() - timedelta(days=90))
        .group_by(Assignment.user_id)
    ).all())
    return people, grid, declines, starts[:-1]


def can_staff(user: User, booking: Booking) -> bool:
    return can_edit_booking(user, booking) and booking.status not in ("cancelled", "done")


def understaffed(bookings) -> list:
    """The bookings, in order, that are short of staff in some discipline."""
    staffing = staffing_for(bookings)
    return [b for b in bookings if staffing[b.id].is_understaffed]

