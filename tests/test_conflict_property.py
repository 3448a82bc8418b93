"""The conflict rule against a brute-force oracle: random bookings, assignments and time off
for a few people, then `find_clashes` for a random span must name exactly what the rule says
(DESIGN.md: busy for every non-cancelled booking one is on and has not declined, widened by
its travel buffer, and during time off; two spans clash iff each starts before the other
ends)."""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from aeplan.bookings.models import Booking, BookingChange
from aeplan.extensions import db
from aeplan.staffing import service
from aeplan.staffing.models import Assignment, TimeOff

BASE = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # Monday after T0's midnight
REMOVED_AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CANCELLED_AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PEOPLE = 3
GRID = 15  # minutes

# Start offsets on a 15-minute grid over four days, so touching ends happen often.
offsets = st.integers(0, 4 * 24 * 60 // GRID).map(lambda n: n * GRID)
durations = st.integers(1, 10 * 60 // GRID).map(lambda n: n * GRID)  # 15 min to 10 h
buffers = st.one_of(st.sampled_from([0, 15, 30, 45, 60, 90, 120]), st.integers(0, 120))
states = st.sampled_from(["pending", "accepted", "declined", "removed"])

bookings_st = st.lists(
    st.fixed_dictionaries({
        "start": offsets,
        "minutes": durations,
        "buffer": buffers,
        "cancelled": st.booleans(),
        # person index -> what became of their assignment
        "staff": st.dictionaries(st.integers(0, PEOPLE - 1), states, min_size=1,
                                 max_size=PEOPLE),
    }),
    max_size=8,
)
time_off_st = st.lists(
    st.fixed_dictionaries({
        "person": st.integers(0, PEOPLE - 1),
        "start": offsets,
        "minutes": st.integers(1, 3 * 24 * 60 // GRID).map(lambda n: n * GRID),
        "cancelled": st.booleans(),
    }),
    max_size=4,
)
candidate_st = st.fixed_dictionaries({
    "start": st.one_of(offsets, st.integers(0, 4 * 24 * 60)),
    "minutes": st.one_of(durations, st.integers(1, 12 * 60)),
    "people": st.sets(st.integers(0, PEOPLE - 1), min_size=1),
    # which booking to leave out in a second check: the anchored one, or one by index
    "exclude": st.one_of(st.just("anchored"), st.integers(0, 7)),
    # Often place the span right at an edge of some busy span: touching it from either
    # side, or overlapping it by a single minute.
    "anchor": st.one_of(st.none(), st.tuples(
        st.integers(0, 11),
        st.sampled_from(["after_end", "before_start", "overlap_end", "overlap_start"]))),
})


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def overlaps(a_start, a_end, b_start, b_end) -> bool:
    return a_start < b_end and b_start < a_end


def oracle(people, bookings, time_off, span, wanted, exclude_id):
    """What the rule says, computed from the generated data alone."""
    start, end = span
    expected = {people[i].id: Counter() for i in wanted}
    for spec, row in bookings:
        if spec["cancelled"] or row.id == exclude_id:
            continue
        b_start = BASE + minutes(spec["start"])
        b_end = b_start + minutes(spec["minutes"])
        busy_start, busy_end = b_start - minutes(spec["buffer"]), b_end + minutes(spec["buffer"])
        for index, state in spec["staff"].items():
            if index not in wanted or state in ("declined", "removed"):
                continue
            if overlaps(busy_start, busy_end, start, end):
                expected[people[index].id][("booking", row.id, b_start, b_end)] += 1
    for spec in time_off:
        if spec["cancelled"] or spec["person"] not in wanted:
            continue
        t_start = BASE + minutes(spec["start"])
        t_end = t_start + minutes(spec["minutes"])
        if overlaps(t_start, t_end, start, end):
            expected[people[spec["person"]].id][("time_off", None, t_start, t_end)] += 1
    return expected


def _clean() -> None:
    db.session.rollback()
    for model in (Assignment, TimeOff, BookingChange, Booking):
        db.session.execute(delete(model))
    db.session.commit()


@pytest.fixture
def cast(make_user, make_client):
    """Made once for all examples of the test (function scope): the people and a client."""
    people = [make_user("support", name=f"Person {i}") for i in range(PEOPLE)]
    return people, make_client(make_user("ae"), name="Oracle Co")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bookings=bookings_st, time_off=time_off_st, candidate=candidate_st)
def test_find_clashes_matches_the_rule(cast, bookings, time_off, candidate):
    people, client = cast
    _clean()

    rows = []
    for spec in bookings:
        start = BASE + minutes(spec["start"])
        booking = Booking(
            kind="visit" if spec["buffer"] else "demo", title=f"B{spec['start']}",
            client_id=client.id, owner_id=client.owner_id, starts_at=start,
            ends_at=start + minutes(spec["minutes"]), timezone="UTC",
            travel_buffer_minutes=spec["buffer"],
            status="cancelled" if spec["cancelled"] else "confirmed",
        )
        db.session.add(booking)
        rows.append((spec, booking))
    db.session.flush()
    for spec, booking in rows:
        for index, state in spec["staff"].items():
            db.session.add(Assignment(
                booking_id=booking.id, user_id=people[index].id, role="technical",
                status="declined" if state == "declined" else
                ("accepted" if state == "accepted" else "pending"),
                removed_at=REMOVED_AT if state == "removed" else None,
                busy_starts_at=booking.busy_starts_at, busy_ends_at=booking.busy_ends_at,
            ))
    for spec in time_off:
        start = BASE + minutes(spec["start"])
        db.session.add(TimeOff(
            user_id=people[spec["person"]].id, starts_at=start,
            ends_at=start + minutes(spec["minutes"]), reason="off",
            cancelled_at=CANCELLED_AT if spec["cancelled"] else None,
        ))
    db.session.commit()

    length = minutes(candidate["minutes"])
    span_start = BASE + minutes(candidate["start"])
    edges = [(b.busy_starts_at, b.busy_ends_at) for _, b in rows] + [
        (BASE + minutes(t["start"]), BASE + minutes(t["start"] + t["minutes"]))
        for t in time_off]
    if candidate["anchor"] is not None and edges:
        index, how = candidate["anchor"]
        edge_start, edge_end = edges[index % len(edges)]
        span_start = {
            "after_end": edge_end,
            "before_start": edge_start - length,
            "overlap_end": edge_end - minutes(1),
            "overlap_start": edge_start + minutes(1) - length,
        }[how]
    span = (span_start, span_start + length)
    wanted = candidate["people"]
    ids = [people[i].id for i in wanted]

    def check(exclude_id):
        got = service.find_clashes(ids, *span, exclude_booking_id=exclude_id)
        expected = oracle(people, rows, time_off, span, wanted, exclude_id)
        assert set(got) == set(expected)
        for user_id, clashes in got.items():
            seen = Counter((c.kind, c.booking_id, c.starts_at, c.ends_at) for c in clashes)
            assert seen == expected[user_id], (user_id, span, exclude_id)
            assert all(c.user_id == user_id for c in clashes)

    check(None)
    if rows:
        pick = candidate["exclude"]
        if pick == "anchored":
            anchored = candidate["anchor"][0] % len(edges) if candidate["anchor"] else 0
            pick = anchored if anchored < len(rows) else 0
        check(rows[pick % len(rows)][1].id)
