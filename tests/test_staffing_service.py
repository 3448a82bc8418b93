"""Staffing rules called directly: who is busy when, assigning, answering, removing,
moving a staffed booking, suggestions, the queue of short bookings, time off and
utilisation."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from aeplan.bookings import service as bookings
from aeplan.bookings.models import Booking, BookingChange
from aeplan.bookings.service import BookingInput
from aeplan.errors import Conflict, Invalid, NotAllowed, NotFound
from aeplan.extensions import db
from aeplan.staffing import service
from aeplan.staffing.models import Assignment, TimeOff

LONG_AGO = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # fixed, far more than 90 days back


def at(hour: int, minute: int = 0, *, day: int = 0) -> datetime:
    """A fixed UTC time on T0's Monday (2026-12-07) or `day` days later."""
    return datetime(2026, 12, 7, hour, minute, tzinfo=UTC) + timedelta(days=day)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def writes() -> tuple[int, int, int]:
    return count(Assignment), count(BookingChange), count(TimeOff)


def reload(obj):
    db.session.rollback()
    return db.session.get(type(obj), obj.id)


def refused(error, action, *contains):
    """Run `action`, expect `error`, and check that nothing was written, neither pending in
    the session nor after the caller rolls back."""
    before = writes()
    with pytest.raises(error) as info:
        action()
    for text in contains:
        assert text in info.value.message, info.value.message
    assert writes() == before
    db.session.rollback()
    assert writes() == before
    return info.value


def busy(person, start, end, **kw):
    return service.find_clashes([person.id], start, end, **kw)[person.id]


@pytest.fixture
def ae(make_user):
    return make_user("ae", name="Olga Owner", timezone="UTC")


@pytest.fixture
def acme(make_client, ae):
    return make_client(ae, name="Acme Bank", timezone="UTC")


@pytest.fixture
def sam(make_user):
    return make_user("support", name="Sam Tech", timezone="UTC")


@pytest.fixture
def manager(make_user):
    return make_user("manager", name="Mia Manager", timezone="UTC")


@pytest.fixture
def book(make_booking, acme):
    """A booking for Acme between two fixed times."""
    def make(start, end, **over) -> Booking:
        over.setdefault("needs_technical", 1)
        return make_booking(acme, starts_at=start, ends_at=end, **over)
    return make


# --- the conflict rule -------------------------------------------------------------------


def test_overlapping_booking_is_a_clash_with_its_title_client_and_times(book, assign, sam):
    a = book(at(10), at(12), title="Vault walkthrough")
    assign(a, sam)

    [clash] = busy(sam, at(11), at(13))
    assert clash.kind == "booking"
    assert clash.booking_id == a.id
    assert (clash.title, clash.client) == ("Vault walkthrough", "Acme Bank")
    assert (clash.starts_at, clash.ends_at) == (at(10), at(12))
    assert busy(sam, at(10, 30), at(11, 30))  # inside
    assert busy(sam, at(9), at(13))  # around


@pytest.mark.parametrize("start, end", [(at(12), at(13)), (at(9), at(10)), (at(13), at(14))])
def test_touching_or_separate_spans_do_not_clash(book, assign, sam, start, end):
    assign(book(at(10), at(12)), sam)
    assert busy(sam, start, end) == []


def test_find_clashes_answers_for_every_person_asked(book, assign, sam, make_user):
    other = make_user("support")
    assign(book(at(10), at(12)), sam)
    result = service.find_clashes([sam.id, other.id, sam.id], at(11), at(12))
    assert set(result) == {sam.id, other.id}
    assert len(result[sam.id]) == 1
    assert result[other.id] == []
    assert service.find_clashes([], at(11), at(12)) == {}


def test_visit_buffer_blocks_a_demo_in_the_travel_time_but_not_after(book, assign, sam, ae):
    visit = book(at(10), at(12), kind="visit", travel_buffer_minutes=60, title="On-site visit")
    assign(visit, sam)
    close = book(at(12, 30), at(13), kind="demo", travel_buffer_minutes=0)
    later = book(at(13), at(14), kind="demo", travel_buffer_minutes=0)
    early = book(at(8, 30), at(9), kind="demo", travel_buffer_minutes=0)

    assert [c.booking_id for c in busy(sam, at(12, 30), at(13))] == [visit.id]
    error = refused(Conflict, lambda: service.assign(close, sam, "technical", actor=ae),
                    "Sam Tech", "On-site visit")
    assert error.field == "user_id"
    assert busy(sam, at(13), at(14)) == []
    assert busy(sam, at(8), at(9)) == []
    assert service.assign(later, sam, "technical", actor=ae).status == "pending"
    assert service.assign(early, sam, "technical", actor=ae).status == "pending"


def test_two_visits_clash_when_their_buffers_overlap(book, assign, sam, ae):
    first = book(at(10), at(12), kind="visit", travel_buffer_minutes=60)  # busy 9:00-13:00
    assign(first, sam)
    too_close = book(at(13, 30), at(14, 30), kind="visit", travel_buffer_minutes=60)  # 12:30-
    far_enough = book(at(14), at(15), kind="visit", travel_buffer_minutes=60)  # 13:00-16:00

    refused(Conflict, lambda: service.assign(too_close, sam, "technical", actor=ae))
    assignment = service.assign(far_enough, sam, "technical", actor=ae)
    db.session.commit()
    assert (assignment.busy_starts_at, assignment.busy_ends_at) == (at(13), at(16))


@pytest.mark.parametrize("state", ["declined", "removed", "cancelled booking"])
def test_what_does_not_make_a_person_busy(book, assign, sam, ae, state):
    a = book(at(10), at(12))
    if state == "declined":
        assign(a, sam, status="declined", note="ill")
    elif state == "removed":
        assign(a, sam, removed_at=datetime(2026, 11, 20, tzinfo=UTC))
    else:
        assign(a, sam, status="accepted")
        a.status = "cancelled"
        db.session.commit()

    assert busy(sam, at(11), at(13)) == []
    b = book(at(11), at(13))
    assert service.assign(b, sam, "technical", actor=ae).status == "pending"


@pytest.mark.parametrize("status", ["pending", "accepted"])
def test_pending_and_accepted_both_make_a_person_busy(book, assign, sam, status):
    assign(book(at(10), at(12)), sam, status=status)
    assert len(busy(sam, at(11), at(13))) == 1


def test_time_off_blocks_and_cancelled_time_off_does_not(book, sam, ae):
    db.session.add(TimeOff(user_id=sam.id, starts_at=at(0), ends_at=at(0, day=1),
                           reason="Dentist"))
    db.session.add(TimeOff(user_id=sam.id, starts_at=at(0, day=2), ends_at=at(0, day=3),
                           reason="Cancelled trip", cancelled_at=datetime(2026, 11, 20,
                                                                          tzinfo=UTC)))
    db.session.commit()

    [clash] = busy(sam, at(10), at(11))
    assert (clash.kind, clash.title, clash.booking_id) == ("time_off", "Dentist", None)
    assert (clash.starts_at, clash.ends_at) == (at(0), at(0, day=1))
    assert busy(sam, at(0, day=1), at(1, day=1)) == []  # touching its end
    assert busy(sam, at(10, day=2), at(11, day=2)) == []  # cancelled

    monday = book(at(10), at(11))
    error = refused(Conflict, lambda: service.assign(monday, sam, "technical", actor=ae),
                    "Sam Tech has time off")
    assert error.field == "user_id"
    wednesday = book(at(10, day=2), at(11, day=2))
    assert service.assign(wednesday, sam, "technical", actor=ae).status == "pending"


def test_exclude_booking_id_ignores_that_booking_only(book, assign, sam):
    a = book(at(10), at(12))
    b = book(at(11), at(13))
    assign(a, sam)
    assign(b, sam)
    assert {c.booking_id for c in busy(sam, at(10), at(13))} == {a.id, b.id}
    assert [c.booking_id for c in busy(sam, at(10), at(13), exclude_booking_id=a.id)] == [b.id]


def test_long_booking_that_started_days_before_still_clashes(book, assign, sam):
    long = book(at(8, day=-10), at(18), kind="visit", travel_buffer_minutes=720)
    assign(long, sam)
    assert [c.booking_id for c in busy(sam, at(17), at(17, 30))] == [long.id]
    assert [c.booking_id for c in busy(sam, at(5, day=1), at(5, 30, day=1))] == [long.id]


def test_year_of_time_off_across_a_dst_change_blocks_its_last_evening(make_user, book, ae):
    """366 local days from summer to winter time are 366 days and one hour in UTC."""
    berliner = make_user("support", name="Bea Berlin", timezone="Europe/Berlin")
    entry = service.add_time_off(berliner, date(2027, 10, 30), date(2028, 10, 29), "Sabbatical",
                                 actor=berliner)
    db.session.commit()
    assert entry.starts_at == datetime(2027, 10, 29, 22, 0, tzinfo=UTC)  # CEST midnight
    assert entry.ends_at == datetime(2028, 10, 29, 23, 0, tzinfo=UTC)  # CET midnight
    # 23:30 on 29 October 2028 in Berlin, the last day off
    late = book(datetime(2028, 10, 29, 22, 30, tzinfo=UTC), datetime(2028, 10, 29, 23, 30,
                                                                      tzinfo=UTC))
    assert [c.kind for c in busy(berliner, late.starts_at, late.ends_at)] == ["time_off"]
    refused(Conflict, lambda: service.assign(late, berliner, "technical", actor=ae),
            "has time off")


# --- assigning ---------------------------------------------------------------------------


def test_assign_creates_a_pending_assignment_with_busy_copy_history_and_sequence(
        book, sam, ae):
    visit = book(at(10), at(12), kind="visit", travel_buffer_minutes=45, sequence=3)
    assignment = service.assign(visit, sam, "technical", actor=ae)
    db.session.commit()

    assignment = reload(assignment)
    assert (assignment.booking_id, assignment.user_id, assignment.role, assignment.status) == \
        (visit.id, sam.id, "technical", "pending")
    assert assignment.assigned_by_id == ae.id
    assert assignment.removed_at is None and assignment.answered_at is None
    assert assignment.busy_starts_at == at(9, 15)
    assert assignment.busy_ends_at == at(12, 45)
    visit = db.session.get(Booking, visit.id)
    assert visit.sequence == 4
    [change] = db.session.scalars(select(BookingChange)
                                  .where(BookingChange.booking_id == visit.id)).all()
    assert (change.action, change.actor_id) == ("staff_added", ae.id)
    assert change.changes == {"staff": [None, "Sam Tech (technical)"]}


def test_assign_in_another_role_than_the_discipline(book, sam, ae):
    assignment = service.assign(book(at(10), at(11)), sam, "other", actor=ae)
    db.session.commit()
    assert reload(assignment).role == "other"


def test_assigning_an_ae_is_refused(book, ae, make_user):
    other_ae = make_user("ae", name="Andy Ae")
    a = book(at(10), at(11))
    error = refused(Invalid, lambda: service.assign(a, other_ae, "technical", actor=ae),
                    "Andy Ae is not support staff")
    assert error.field == "user_id"


def test_assigning_nobody_is_refused(book, ae):
    a = book(at(10), at(11))
    assert refused(Invalid, lambda: service.assign(a, None, "technical", actor=ae)).field == \
        "user_id"


def test_assigning_a_deactivated_person_is_refused(book, ae, make_user):
    gone = make_user("support", name="Gina Gone", active=False)
    a = book(at(10), at(11))
    refused(Invalid, lambda: service.assign(a, gone, "technical", actor=ae), "deactivated")


def test_assigning_the_same_person_twice_is_refused(book, sam, ae):
    a = book(at(10), at(11))
    service.assign(a, sam, "technical", actor=ae)
    db.session.commit()
    refused(Invalid, lambda: service.assign(a, sam, "creative", actor=ae), "already on")
    assert reload(a).sequence == 1


def test_clash_is_refused_naming_the_other_booking_and_client(book, make_booking,
                                                              make_client, ae, sam):
    globex = make_client(ae, name="Globex Insurance", timezone="UTC")
    there = make_booking(globex, starts_at=at(10), ends_at=at(12), title="Claims API demo")
    service.assign(there, sam, "technical", actor=ae)
    db.session.commit()
    here = book(at(11), at(12, 30), title="Other demo")

    error = refused(Conflict, lambda: service.assign(here, sam, "technical", actor=ae))
    assert "Sam Tech is not free then" in error.message
    assert "Claims API demo" in error.message
    assert "Globex Insurance" in error.message
    assert reload(here).sequence == 0


def test_stale_expected_sequence_is_a_conflict(book, sam, ae):
    a = book(at(10), at(11), sequence=5)
    refused(Conflict, lambda: service.assign(a, sam, "technical", actor=ae,
                                             expected_sequence=4), "changed")
    assignment = service.assign(a, sam, "technical", actor=ae, expected_sequence=5)
    assert assignment.status == "pending"


@pytest.mark.parametrize("status", ["cancelled", "done"])
def test_cancelled_or_done_booking_cannot_be_staffed(book, sam, ae, status):
    a = book(at(10), at(11), status=status)
    refused(Invalid, lambda: service.assign(a, sam, "technical", actor=ae), status)


@pytest.mark.parametrize("role", ["", "designer", "Technical", None])
def test_unknown_role_is_refused(book, sam, ae, role):
    a = book(at(10), at(11))
    assert refused(Invalid, lambda: service.assign(a, sam, role, actor=ae)).field == "role"


@pytest.mark.parametrize("who", ["other_ae", "support", "the_assignee"])
def test_only_the_owner_or_a_manager_may_assign(book, sam, make_user, who):
    a = book(at(10), at(11))
    actor = sam if who == "the_assignee" else make_user("support" if who == "support" else "ae")
    refused(NotAllowed, lambda: service.assign(a, sam, "technical", actor=actor))


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_may_assign_on_any_booking(book, sam, make_user, role):
    boss = make_user(role)
    assignment = service.assign(book(at(10), at(11)), sam, "technical", actor=boss)
    db.session.commit()
    assert reload(assignment).assigned_by_id == boss.id


@pytest.mark.parametrize("how", ["removed", "declined"])
def test_assigning_again_reuses_the_row(book, sam, ae, how):
    a = book(at(10), at(11))
    first = service.assign(a, sam, "technical", actor=ae)
    db.session.commit()
    if how == "removed":
        service.remove(first, actor=ae)
    else:
        service.answer(first, accept=False, reason="Sick", actor=sam)
    db.session.commit()

    again = service.assign(a, sam, "creative", actor=ae)
    db.session.commit()
    again = reload(again)
    assert again.id == first.id
    assert count(Assignment) == 1
    assert (again.status, again.role, again.note) == ("pending", "creative", "")
    assert again.removed_at is None and again.answered_at is None
    assert len(busy(sam, at(10), at(11))) == 1


# --- moving a staffed booking ------------------------------------------------------------


def move(booking: Booking, start: datetime, end: datetime, **over) -> BookingInput:
    """The booking as its edit form would send it, with a new time (UTC zone)."""
    values = dict(
        kind=booking.kind, title=booking.title, client_id=booking.client_id,
        starts_local=start.replace(tzinfo=None), ends_local=end.replace(tzinfo=None),
        timezone="UTC", location=booking.location, agenda=booking.agenda,
        needs_technical=booking.needs_technical, needs_creative=booking.needs_creative,
        needs_other=booking.needs_other, skills=booking.skills,
        travel_buffer_minutes=booking.travel_buffer_minutes,
    )
    values.update(over)
    return BookingInput(**values)


@pytest.fixture
def day_of_sam(book, assign, sam):
    """Sam on a morning visit (10-12, no buffer) and an afternoon demo (14-15)."""
    morning = book(at(10), at(12), kind="visit", travel_buffer_minutes=0, title="Morning visit")
    afternoon = book(at(14), at(15), kind="demo", travel_buffer_minutes=0, title="Afternoon demo")
    assign(morning, sam, status="accepted")
    assign(afternoon, sam)
    return morning, afternoon


def test_moving_onto_another_assignment_is_refused_naming_who_and_where(day_of_sam, ae):
    morning, afternoon = day_of_sam
    error = refused(Conflict, lambda: bookings.update_booking(
        afternoon, move(afternoon, at(11), at(12, 30)), actor=ae))
    assert "Sam Tech" in error.message
    assert "Morning visit" in error.message
    assert "Acme Bank" in error.message
    afternoon = reload(afternoon)
    assert (afternoon.starts_at, afternoon.ends_at, afternoon.sequence) == (at(14), at(15), 0)
    [a] = db.session.scalars(select(Assignment).where(Assignment.booking_id == afternoon.id))
    assert (a.busy_starts_at, a.busy_ends_at) == (at(14), at(15))


def test_moving_to_a_free_time_moves_the_busy_span(day_of_sam, ae, sam):
    morning, afternoon = day_of_sam
    bookings.update_booking(afternoon, move(afternoon, at(12), at(13)), actor=ae)
    db.session.commit()
    [a] = db.session.scalars(select(Assignment).where(Assignment.booking_id == afternoon.id))
    assert (a.busy_starts_at, a.busy_ends_at) == (at(12), at(13))
    assert busy(sam, at(14), at(15)) == []
    assert [c.booking_id for c in busy(sam, at(12), at(13))] == [afternoon.id]


def test_lengthening_into_another_assignment_is_refused_and_into_free_time_allowed(
        day_of_sam, ae):
    morning, afternoon = day_of_sam
    refused(Conflict, lambda: bookings.update_booking(
        morning, move(morning, at(10), at(14, 30)), actor=ae), "Afternoon demo")
    assert reload(morning).ends_at == at(12)

    morning = reload(morning)
    bookings.update_booking(morning, move(morning, at(10), at(14)), actor=ae)  # touching
    db.session.commit()
    [a] = db.session.scalars(select(Assignment).where(Assignment.booking_id == morning.id))
    assert (a.busy_starts_at, a.busy_ends_at) == (at(10), at(14))


def test_widening_the_travel_buffer_into_another_assignment_is_refused(day_of_sam, ae):
    morning, afternoon = day_of_sam
    refused(Conflict, lambda: bookings.update_booking(
        morning, move(morning, at(10), at(12), travel_buffer_minutes=150), actor=ae),
        "Afternoon demo")
    assert reload(morning).travel_buffer_minutes == 0

    morning = reload(morning)
    bookings.update_booking(morning, move(morning, at(10), at(12), travel_buffer_minutes=120),
                            actor=ae)
    db.session.commit()
    [a] = db.session.scalars(select(Assignment).where(Assignment.booking_id == morning.id))
    assert (a.busy_starts_at, a.busy_ends_at) == (at(8), at(14))


def test_moving_into_time_off_is_refused(book, assign, sam, ae):
    a = book(at(10), at(11), title="Movable")
    assign(a, sam)
    db.session.add(TimeOff(user_id=sam.id, starts_at=at(0, day=1), ends_at=at(0, day=2)))
    db.session.commit()
    refused(Conflict, lambda: bookings.update_booking(
        a, move(a, at(10, day=1), at(11, day=1)), actor=ae), "Sam Tech has time off")


def test_moving_ignores_people_who_declined_or_were_removed(book, assign, ae, make_user):
    kim, lee = make_user("support", name="Kim"), make_user("support", name="Lee")
    other = book(at(16), at(17))
    assign(other, kim, status="declined", note="no")
    assign(other, lee, removed_at=datetime(2026, 11, 20, tzinfo=UTC))
    blocker = book(at(10), at(12))
    assign(blocker, kim)
    assign(blocker, lee)
    bookings.update_booking(other, move(other, at(11), at(12)), actor=ae)
    db.session.commit()
    assert reload(other).starts_at == at(11)


# --- answering ---------------------------------------------------------------------------


@pytest.fixture
def pending(book, sam, ae):
    a = book(at(10), at(12), title="Vault walkthrough")
    assignment = service.assign(a, sam, "technical", actor=ae)
    db.session.commit()
    return assignment


def answers(booking_id: int) -> list[BookingChange]:
    return list(db.session.scalars(
        select(BookingChange).where(BookingChange.booking_id == booking_id,
                                    BookingChange.action == "staff_answer")
        .order_by(BookingChange.id)))


def test_accept_by_the_assignee(pending, sam):
    service.answer(pending, accept=True, actor=sam)
    db.session.commit()
    a = reload(pending)
    assert a.status == "accepted"
    assert a.answered_at is not None
    [change] = answers(a.booking_id)
    assert change.actor_id == sam.id
    assert change.changes == {"staff": ["Sam Tech: pending", "Sam Tech: accepted"]}


@pytest.mark.parametrize("who", ["owner", "manager", "admin", "other_support"])
def test_only_the_assignee_may_answer(pending, ae, make_user, who):
    actor = ae if who == "owner" else make_user(
        {"manager": "manager", "admin": "admin", "other_support": "support"}[who])
    for accept in (True, False):
        refused(NotAllowed, lambda accept=accept: service.answer(pending, accept=accept,
                                                                 reason="x", actor=actor))
    assert reload(pending).status == "pending"


@pytest.mark.parametrize("reason", ["", "   \n "])
def test_decline_needs_a_reason(pending, sam, reason):
    error = refused(Invalid, lambda: service.answer(pending, accept=False, reason=reason,
                                                    actor=sam))
    assert error.field == "reason"
    assert reload(pending).status == "pending"


def test_decline_reason_is_limited(pending, sam):
    refused(Invalid, lambda: service.answer(pending, accept=False, reason="x" * 501, actor=sam))


def test_decline_records_the_reason_and_frees_the_time(pending, sam, ae, book):
    service.answer(pending, accept=False, reason="  Doctor's appointment ", actor=sam)
    db.session.commit()
    a = reload(pending)
    assert (a.status, a.note) == ("declined", "Doctor's appointment")
    [change] = answers(a.booking_id)
    assert change.note == "Doctor's appointment"
    assert change.changes == {"staff": ["Sam Tech: pending", "Sam Tech: declined"]}

    assert busy(sam, at(11), at(13)) == []
    overlapping = book(at(11), at(13))
    assert service.assign(overlapping, sam, "technical", actor=ae).status == "pending"


def test_accepting_after_declining_rechecks_clashes(pending, sam, ae, book):
    service.answer(pending, accept=False, reason="Busy elsewhere", actor=sam)
    db.session.commit()
    overlapping = book(at(11), at(13), title="Overlapping demo")
    service.assign(overlapping, sam, "technical", actor=ae)
    db.session.commit()

    refused(Conflict, lambda: service.answer(pending, accept=True, actor=sam),
            "Overlapping demo")
    assert reload(pending).status == "declined"
    assert len(answers(pending.booking_id)) == 1


def test_accepting_after_declining_is_fine_when_still_free(pending, sam):
    service.answer(pending, accept=False, reason="Maybe not", actor=sam)
    db.session.commit()
    service.answer(reload(pending), accept=True, actor=sam)
    db.session.commit()
    a = reload(pending)
    assert (a.status, a.note) == ("accepted", "")
    assert len(answers(a.booking_id)) == 2


@pytest.mark.parametrize("status", ["cancelled", "done"])
def test_answers_on_cancelled_or_done_bookings_are_refused(pending, sam, status):
    pending.booking.status = status
    db.session.commit()
    for accept in (True, False):  # the booking moved on: a conflict with its state
        refused(Conflict, lambda accept=accept: service.answer(pending, accept=accept,
                                                              reason="why", actor=sam))
    assert reload(pending).status == "pending"


def test_removed_person_cannot_answer(pending, sam, ae):
    service.remove(pending, actor=ae)
    db.session.commit()
    refused(Conflict, lambda: service.answer(pending, accept=True, actor=sam))


# --- removing and reassigning ------------------------------------------------------------


def test_remove_keeps_the_row_records_it_and_frees_the_time(pending, sam, ae, book):
    service.remove(pending, actor=ae)
    db.session.commit()
    a = reload(pending)
    assert a.removed_at is not None
    assert a.booking.sequence == 2  # added, removed
    change = db.session.scalars(select(BookingChange)
                                .where(BookingChange.action == "staff_removed")).one()
    assert (change.actor_id, change.changes) == (ae.id, {"staff": ["Sam Tech (technical)",
                                                                   None]})
    assert busy(sam, at(10), at(12)) == []
    assert service.assign(book(at(11), at(12)), sam, "technical", actor=ae).status == "pending"


def test_remove_twice_is_refused(pending, ae):
    service.remove(pending, actor=ae)
    db.session.commit()
    refused(Conflict, lambda: service.remove(pending, actor=ae))


@pytest.mark.parametrize("role", ["ae", "support"])
def test_remove_by_others_is_refused(pending, make_user, sam, role):
    someone = sam if role == "support" else make_user("ae")
    refused(NotAllowed, lambda: service.remove(pending, actor=someone))
    assert reload(pending).removed_at is None


def test_reassign_replaces_the_person_in_the_same_role(pending, ae, make_user):
    kim = make_user("support", name="Kim Tech")
    new = service.reassign(pending, kim, actor=ae)
    db.session.commit()
    rows = {a.user_id: a for a in db.session.scalars(select(Assignment))}
    assert rows[pending.user_id].removed_at is not None
    assert rows[kim.id].id == new.id
    assert (rows[kim.id].status, rows[kim.id].role, rows[kim.id].removed_at) == \
        ("pending", "technical", None)


def test_reassign_to_a_busy_person_changes_nothing(pending, ae, make_user, book, assign):
    kim = make_user("support", name="Kim Tech")
    assign(book(at(11), at(12), title="Kim's demo"), kim)
    before = writes()
    with pytest.raises(Conflict) as info:
        service.reassign(pending, kim, actor=ae)
    assert "Kim's demo" in info.value.message
    db.session.rollback()
    assert writes() == before
    a = reload(pending)
    assert a.removed_at is None and a.status == "pending"
    assert a.booking.sequence == 1
    assert db.session.scalar(select(Assignment).where(Assignment.user_id == kim.id,
                                                      Assignment.booking_id == a.booking_id)) \
        is None


def test_reassign_to_the_same_person_is_refused(pending, ae, sam):
    refused(Invalid, lambda: service.reassign(pending, sam, actor=ae))
    assert reload(pending).removed_at is None


# --- suggestions -------------------------------------------------------------------------


@pytest.fixture
def crowd(make_user, make_booking, acme, ae, assign):
    """A booking on Tuesday 8 Dec 10-11 (UTC) wanting "payments API, German", and people."""
    target = make_booking(acme, starts_at=at(10, day=1), ends_at=at(11, day=1),
                          needs_technical=2, skills="payments API, German", title="Target")

    def person(name, **over):
        over.setdefault("timezone", "UTC")
        return make_user("support", name=name, **over)

    people = dict(
        ana=person("Ana Both", skills="Figma, Payments api, german"),
        ben=person("Ben One", skills="GERMAN"),
        dora=person("Dora Zero"),
        emil=person("Emil Zero"),
        eva=person("Eva Zero"),
        carl=person("Carl Light"),
        abe=person("Abe Heavy"),
        aaron=person("Aaron Busy", skills="payments API, German"),
        creative=person("Cora Creative", discipline="creative", skills="German"),
        inactive=person("Ina Inactive", active=False, skills="German"),
        on=person("Olaf On", skills="German"),
    )
    people["ae"] = make_user("ae", name="Aldo Ae", skills="German")

    def on(p, start, end, **over):
        assign(make_booking(acme, starts_at=start, ends_at=end, title=f"{p.name} job"), p,
               **over)

    assign(target, people["on"])
    on(people["abe"], at(9, day=2), at(12, day=2))  # 180 min this week
    on(people["carl"], at(9, day=3), at(10, day=3))  # 60 min
    on(people["dora"], at(10, day=7), at(12, day=7))  # next week
    on(people["dora"], at(9, day=4), at(12, day=4), status="declined", note="no")
    on(people["emil"], at(9, day=4), at(12, day=4), removed_at=datetime(2026, 11, 2,
                                                                        tzinfo=UTC))
    on(people["aaron"], at(10, 30, day=1), at(11, 30, day=1))  # clashes with the target
    return target, people


def test_suggestions_rank_free_then_skills_then_load_then_name(crowd, ae):
    target, people = crowd
    ranked = service.suggestions(target, "technical", viewer=ae)

    assert [s.user.name for s in ranked] == [
        "Ana Both", "Ben One", "Dora Zero", "Emil Zero", "Eva Zero", "Carl Light",
        "Abe Heavy", "Aaron Busy",
    ]
    by_name = {s.user.name: s for s in ranked}
    assert [m.lower() for m in by_name["Ana Both"].matched_skills] == ["payments api", "german"]
    assert [m.lower() for m in by_name["Ben One"].matched_skills] == ["german"]
    assert by_name["Dora Zero"].matched_skills == []
    assert {s.wanted_skills for s in ranked} == {2}
    assert {n: by_name[n].week_minutes for n in ("Dora Zero", "Carl Light", "Abe Heavy")} == \
        {"Dora Zero": 0, "Carl Light": 60, "Abe Heavy": 180}
    assert all(s.is_free for s in ranked[:-1])
    busy_one = by_name["Aaron Busy"]
    assert not busy_one.is_free
    [clash] = busy_one.clashes
    assert (clash.title, clash.kind) == ("Aaron Busy job", "booking")


def _loads(target, ae) -> dict[str, int]:
    return {s.user.name: s.week_minutes
            for s in service.suggestions(target, "technical", viewer=ae) if s.is_free}


def test_week_loads_are_summed_once_until_the_data_changes(crowd, ae, make_booking, acme,
                                                          assign, count_queries):
    target, people = crowd
    first = _loads(target, ae)
    with count_queries() as queries:
        assert _loads(target, ae) == first
    # The people with their clashes and the data version: the sums come from the cache.
    assert queries() == 1
    # A committed change anywhere moves the data version: Carl's new hour counts.
    assign(make_booking(acme, starts_at=at(14, day=2), ends_at=at(15, day=2)),
           people["carl"])
    assert _loads(target, ae) == {**first, "Carl Light": 120}


def test_uncommitted_changes_neither_use_nor_fill_the_week_load_cache(crowd, ae, make_booking,
                                                                     acme):
    target, people = crowd
    before = _loads(target, ae)
    extra = make_booking(acme, starts_at=at(14, day=2), ends_at=at(16, day=2))
    db.session.add(Assignment(booking_id=extra.id, user_id=people["ben"].id, role="technical",
                              status="pending", busy_starts_at=extra.busy_starts_at,
                              busy_ends_at=extra.busy_ends_at))
    db.session.flush()
    assert _loads(target, ae)["Ben One"] == before["Ben One"] + 120  # its own change
    db.session.rollback()
    assert _loads(target, ae) == before


def test_suggestions_for_another_discipline(crowd, ae):
    target, people = crowd
    ranked = service.suggestions(target, "creative", viewer=ae)
    assert [s.user.name for s in ranked] == ["Cora Creative"]
    assert ranked[0].matched_skills == ["German"]
    assert service.suggestions(target, "other", viewer=ae) == []


def test_ranking_several_disciplines_at_once_matches_one_at_a_time(crowd, ae, count_queries):
    target, people = crowd
    alone = {d: [(s.user.name, s.is_free, s.week_minutes, s.matched_skills)
                 for s in service.suggestions(target, d, viewer=ae)]
             for d in ("technical", "creative", "other")}
    with count_queries() as queries:
        together = service.ranked_suggestions(target, ["technical", "creative", "other"],
                                              viewer=ae)
    assert {d: [(s.user.name, s.is_free, s.week_minutes, s.matched_skills) for s in ranked]
            for d, ranked in together.items()} == alone
    assert queries() <= 4  # people, clashes, time off, week load: not per discipline
    assert service.ranked_suggestions(target, [], viewer=ae) == {}


@pytest.mark.parametrize("top", [1, 5, 6, 7, 8, 20])
def test_the_top_few_are_the_full_rankings_first(crowd, ae, top, count_queries):
    """The booking page's top few read only the free people when each discipline has
    enough of them, and are then what the full ranking starts with; otherwise it ranks
    everyone. With Ben and Cora on time off, the crowd has 6 free technical people
    (Aaron is busy on a booking) and no free creative one."""
    target, people = crowd
    for away in ("ben", "creative"):
        db.session.add(TimeOff(user_id=people[away].id, starts_at=at(0, day=1),
                               ends_at=at(0, day=2), reason="Holiday"))
    db.session.commit()

    def ranking(ranked):
        return {d: [(s.user.name, s.is_free, s.week_minutes, s.matched_skills,
                     [c.title for c in s.clashes]) for s in each]
                for d, each in ranked.items()}

    full = ranking(service.ranked_suggestions(target, ["technical", "creative"], viewer=ae))
    for disciplines in (["technical"], ["technical", "creative"]):
        with count_queries() as queries:
            few = service.ranked_suggestions(target, disciplines, viewer=ae, top=top)
        assert ranking(few) == {d: full[d][:top] for d in disciplines}
        if disciplines == ["technical"] and top <= 6:
            assert queries() == 1  # the free people, with the data version: no clashes
    assert ranking(service.ranked_suggestions(target, ["creative"], viewer=ae, top=1)) == \
        {"creative": [("Cora Creative", False, 0, ["German"], ["Holiday"])]}


def test_suggestions_list_people_on_time_off_as_busy(crowd, ae):
    target, people = crowd
    db.session.add(TimeOff(user_id=people["ana"].id, starts_at=at(0, day=1),
                           ends_at=at(0, day=2), reason="Holiday"))
    db.session.commit()
    ranked = service.suggestions(target, "technical", viewer=ae)
    assert ranked[0].user.name == "Ben One"
    # The busy come last, by skills and then name: their week's load is not summed, as
    # they cannot be assigned (both have the two skills wanted).
    assert [s.user.name for s in ranked[-2:]] == ["Aaron Busy", "Ana Both"]
    assert [(c.kind, c.title) for c in ranked[-1].clashes] == [("time_off", "Holiday")]
    assert [s.week_minutes for s in ranked[-2:]] == [0, 0]


def test_every_clash_is_listed_once_in_time_order(crowd, ae, make_booking, acme, assign):
    """Aaron is on two clashing bookings and has time off over the target: each is
    named once, earliest first, however the three combine. A clash on a cancelled
    booking is none, and Ben's only clash is one."""
    target, people = crowd
    aaron, ben = people["aaron"], people["ben"]
    assign(make_booking(acme, starts_at=at(9, 30, day=1), ends_at=at(10, 15, day=1),
                        title="Early call"), aaron)
    db.session.add_all([
        TimeOff(user_id=aaron.id, starts_at=at(0, day=1), ends_at=at(0, day=2),
                reason="Holiday"),
        TimeOff(user_id=aaron.id, starts_at=at(10, 45, day=1), ends_at=at(12, day=1),
                reason="Dentist"),
    ])
    assign(make_booking(acme, starts_at=at(10, day=1), ends_at=at(11, day=1),
                        title="Called off", status="cancelled"), ben)
    db.session.commit()

    ranked = {s.user.name: s for s in service.suggestions(target, "technical", viewer=ae)}
    assert [(c.kind, c.title) for c in ranked["Aaron Busy"].clashes] == [
        ("time_off", "Holiday"), ("booking", "Early call"), ("booking", "Aaron Busy job"),
        ("time_off", "Dentist")]
    assert ranked["Ben One"].is_free
    # The same as the conflict check finds for them.
    checked = service.find_clashes([aaron.id, ben.id], target.busy_starts_at,
                                   target.busy_ends_at, exclude_booking_id=target.id)
    assert checked[aaron.id] == ranked["Aaron Busy"].clashes
    assert checked[ben.id] == []


def test_suggestions_need_edit_rights_and_a_known_discipline(crowd, make_user, ae):
    target, people = crowd
    for viewer in (people["ana"], make_user("ae")):
        with pytest.raises(NotAllowed):
            service.suggestions(target, "technical", viewer=viewer)
    with pytest.raises(Invalid):
        service.suggestions(target, "design", viewer=ae)
    assert service.suggestions(target, "technical", viewer=make_user("manager"))


def test_suggestions_run_the_same_queries_for_3_or_30_candidates(make_user, make_booking, acme,
                                                                 ae, assign, count_queries):
    target = make_booking(acme, starts_at=at(10, day=1), ends_at=at(11, day=1),
                          skills="German")

    def add_people(n, start):
        for i in range(start, start + n):
            p = make_user("support", name=f"Person {i:02d}", skills="German" if i % 2 else "")
            # every person has a booking this week; every third one clashes; some time off
            hour = 10 if i % 3 == 0 else 14
            assign(make_booking(acme, starts_at=at(hour, day=1), ends_at=at(hour + 1, day=1)),
                   p)
            if i % 4 == 0:
                db.session.add(TimeOff(user_id=p.id, starts_at=at(0, day=1),
                                       ends_at=at(0, day=2)))
        db.session.commit()

    def measure():
        db.session.commit()
        with count_queries() as n:
            ranked = service.suggestions(target, "technical", viewer=ae)
            reasons = [(s.user.name, s.user.skills, len(s.clashes), s.week_minutes)
                       for s in ranked]
        return n(), reasons

    add_people(3, 0)
    few, reasons = measure()
    assert len(reasons) == 3
    add_people(27, 3)
    many, reasons = measure()
    assert len(reasons) == 30
    assert few == many
    assert many <= 10


# --- staffing counts and the queue -------------------------------------------------------


def test_staffing_for_counts_per_discipline(book, assign, make_user, count_queries):
    a = book(at(10), at(11), needs_technical=2, needs_creative=1, needs_other=0)
    b = book(at(12), at(13), needs_technical=1, needs_creative=0, needs_other=0)
    t1, t2, t3 = (make_user("support") for _ in range(3))
    c1 = make_user("support", discipline="creative")
    assign(a, t1, status="accepted")
    assign(a, t2, status="declined", note="no")
    assign(a, c1, removed_at=datetime(2026, 11, 2, tzinfo=UTC))
    assign(a, t3, role="other")
    assign(b, t1)

    needs = [(x.id, x.needs_total) for x in (a, b)]  # loaded before counting
    with count_queries() as n:
        result = service.staffing_for([a, b])
    assert n() == 1
    assert needs == [(a.id, 3), (b.id, 1)]
    sa, sb = result[a.id], result[b.id]
    assert sa.short == {"technical": 1, "creative": 1}
    assert (sa.active["technical"], sa.accepted["technical"], sa.declined) == (1, 1, 1)
    assert sa.active["other"] == 1
    assert sa.is_understaffed
    assert sb.short == {} and not sb.is_understaffed
    assert (sb.active["technical"], sb.accepted["technical"]) == (1, 0)
    assert service.understaffed([a, b]) == [a]
    assert service.staffing_for([]) == {}
    # From assignments already loaded, the same counts without a query.
    for booking, expected in ((a, sa), (b, sb)):
        loaded = service.assignments_for_booking(booking)
        with count_queries() as n:
            mine = service.staffing_of(booking, loaded)
        assert n() == 0
        def counts(x):
            return (x.short, {k: v for k, v in x.active.items() if v},
                    {k: v for k, v in x.accepted.items() if v}, x.declined)
        assert counts(mine) == counts(expected)


def test_needing_staff_puts_key_accounts_first_then_the_soonest(make_client, make_booking, ae,
                                                               make_user, assign, manager):
    standard = make_client(ae, name="Standard Co", timezone="UTC")
    key = make_client(ae, name="Key Co", tier="key", timezone="UTC")
    soon = make_booking(standard, starts_at=at(10, day=1), ends_at=at(11, day=1),
                        needs_technical=1, title="soon")
    later = make_booking(standard, starts_at=at(10, day=2), ends_at=at(11, day=2),
                         needs_creative=1, title="later")
    key_late = make_booking(key, starts_at=at(10, day=5), ends_at=at(11, day=5),
                            needs_other=1, title="key late")
    key_soon = make_booking(key, starts_at=at(10, day=3), ends_at=at(11, day=3),
                            needs_technical=1, title="key soon")
    staffed = make_booking(key, starts_at=at(9), ends_at=at(10), needs_technical=1)
    assign(staffed, make_user("support"), status="accepted")
    make_booking(key, starts_at=at(9), ends_at=at(10), needs_technical=1, status="cancelled")
    make_booking(key, starts_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
                 ends_at=datetime(2026, 11, 2, 10, tzinfo=UTC), needs_technical=1)  # past
    make_booking(key, starts_at=at(9), ends_at=at(10))  # needs nobody

    expected = [key_soon.id, key_late.id, soon.id, later.id]
    assert [b.id for b in service.needing_staff(ae)] == expected
    assert [b.id for b in service.needing_staff(manager)] == expected
    assert [b.id for b in service.needing_staff(ae, limit=2)] == expected[:2]


def test_aes_see_only_their_own_short_bookings(make_user, make_client, make_booking, ae,
                                               manager):
    mine = make_booking(make_client(ae), starts_at=at(10), ends_at=at(11), needs_technical=1)
    other_ae = make_user("ae")
    theirs = make_booking(make_client(other_ae), starts_at=at(9), ends_at=at(10),
                          needs_technical=1)
    assert [b.id for b in service.needing_staff(ae)] == [mine.id]
    assert [b.id for b in service.needing_staff(other_ae)] == [theirs.id]
    assert [b.id for b in service.needing_staff(manager)] == [theirs.id, mine.id]


def test_a_decline_puts_the_booking_back_in_the_queue(pending, sam, ae):
    assert service.needing_staff(ae) == []
    service.answer(pending, accept=False, reason="On leave", actor=sam)
    db.session.commit()
    assert [b.id for b in service.needing_staff(ae)] == [pending.booking_id]
    assert service.staffing_for([pending.booking])[pending.booking_id].short == \
        {"technical": 1}


def test_removal_puts_the_booking_back_in_the_queue(pending, ae):
    service.remove(pending, actor=ae)
    db.session.commit()
    assert [b.id for b in service.needing_staff(ae)] == [pending.booking_id]


# --- time off ----------------------------------------------------------------------------


@pytest.fixture
def bea(make_user):
    return make_user("support", name="Bea Berlin", timezone="Europe/Berlin")


def test_time_off_is_whole_days_in_the_persons_zone(bea):
    entry = service.add_time_off(bea, date(2026, 12, 7), date(2026, 12, 9), "  Family  ",
                                 actor=bea)
    db.session.commit()
    entry = reload(entry)
    assert entry.starts_at == datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
    assert entry.ends_at == datetime(2026, 12, 9, 23, 0, tzinfo=UTC)
    assert (entry.user_id, entry.reason, entry.cancelled_at) == (bea.id, "Family", None)
    assert busy(bea, datetime(2026, 12, 9, 22, 30, tzinfo=UTC),
                datetime(2026, 12, 9, 23, 30, tzinfo=UTC))  # last evening, Berlin time
    assert busy(bea, datetime(2026, 12, 6, 22, 0, tzinfo=UTC),
                datetime(2026, 12, 6, 23, 0, tzinfo=UTC)) == []
    assert [e.id for e in service.time_off_for(bea)] == [entry.id]


def test_a_single_day_off_in_another_zone(make_user):
    tokyo = make_user("support", timezone="Asia/Tokyo")
    entry = service.add_time_off(tokyo, date(2026, 12, 8), date(2026, 12, 8), "", actor=tokyo)
    assert entry.starts_at == datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    assert entry.ends_at == datetime(2026, 12, 8, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("first, last, field, message", [
    (date(2026, 12, 9), date(2026, 12, 8), "last_day", "cannot be before"),
    (date(2026, 12, 7), date(2027, 12, 8), "last_day", "at most a year"),
    (None, date(2026, 12, 8), "first_day", "first day"),
    (date(2026, 12, 8), None, "last_day", "last day"),
])
def test_bad_time_off_is_refused(bea, first, last, field, message):
    error = refused(Invalid, lambda: service.add_time_off(bea, first, last, "", actor=bea),
                    message)
    assert error.field == field


def test_time_off_of_a_full_year_is_allowed(bea):
    entry = service.add_time_off(bea, date(2026, 12, 7), date(2027, 12, 7), "", actor=bea)
    assert entry.ends_at == datetime(2027, 12, 7, 23, 0, tzinfo=UTC)


def test_time_off_note_is_limited(bea):
    refused(Invalid, lambda: service.add_time_off(bea, date(2026, 12, 7), date(2026, 12, 7),
                                                  "x" * 201, actor=bea))


def test_only_the_person_or_a_manager_enters_time_off(bea, make_user, manager, ae):
    for actor in (make_user("support"), ae):
        refused(NotAllowed, lambda actor=actor: service.add_time_off(
            bea, date(2026, 12, 7), date(2026, 12, 7), "", actor=actor))
    entry = service.add_time_off(bea, date(2026, 12, 7), date(2026, 12, 7), "", actor=manager)
    db.session.commit()
    for actor in (make_user("support"), ae):  # not theirs to see: as if it did not exist
        refused(NotFound, lambda actor=actor: service.cancel_time_off(entry, actor=actor))
    service.cancel_time_off(entry, actor=manager)
    db.session.commit()
    assert reload(entry).cancelled_at is not None


def test_time_off_over_assignments_is_allowed_and_flagged_to_their_ae(
        make_user, make_client, make_booking, assign, bea, ae, manager):
    mine = make_booking(make_client(ae), starts_at=at(10), ends_at=at(11), title="Mine")
    other_ae = make_user("ae")
    theirs = make_booking(make_client(other_ae), starts_at=at(10, day=5),
                          ends_at=at(11, day=5), title="Theirs")
    assign(mine, bea, status="accepted")
    assign(theirs, make_user("support"))  # someone else: not flagged
    declined = make_booking(make_client(ae), starts_at=at(14), ends_at=at(15))
    assign(declined, bea, status="declined", note="no")

    entry = service.add_time_off(bea, date(2026, 12, 7), date(2026, 12, 8), "Flu", actor=bea)
    db.session.commit()

    [flag] = service.time_off_clashes(ae)
    assert (flag.booking.id, flag.person.id, flag.time_off.id) == (mine.id, bea.id, entry.id)
    assert [f.booking.id for f in service.time_off_clashes(manager)] == [mine.id]
    assert service.time_off_clashes(other_ae) == []
    assert service.time_off_clashes(bea) == []

    service.cancel_time_off(entry, actor=bea)
    db.session.commit()
    assert service.time_off_clashes(ae) == []
    assert service.time_off_clashes(manager) == []
    assert service.time_off_for(bea) == []


def test_time_off_near_but_not_over_an_assignment_is_not_flagged(make_client, make_booking,
                                                                 assign, bea, ae):
    visit = make_booking(make_client(ae), starts_at=at(10, day=2), ends_at=at(11, day=2),
                         kind="visit", travel_buffer_minutes=60)
    assign(visit, bea)
    # Berlin 8 Dec ends 2026-12-08T23:00Z, well before the visit's travel time
    service.add_time_off(bea, date(2026, 12, 8), date(2026, 12, 8), "", actor=bea)
    db.session.commit()
    assert service.time_off_clashes(ae) == []


# --- utilisation -------------------------------------------------------------------------


def test_utilisation_per_week(make_user, book, assign, manager, ae, sam):
    kim = make_user("support", name="Kim Creative", discipline="creative", timezone="UTC")
    make_user("support", name="Ina Inactive", active=False)
    db.session.commit()
    assign(book(at(10), at(12), kind="visit", travel_buffer_minutes=60), sam)  # 120
    assign(book(at(14, day=2), at(15, 30, day=2)), sam, status="accepted")  # 90
    assign(book(at(23, day=6), at(1, day=7)), sam)  # Sunday night: 60 + 60
    assign(book(at(9, day=1), at(10, day=1)), sam, status="declined", note="no",
           answered_at=LONG_AGO)
    assign(book(at(9, day=3), at(10, day=3)), sam, removed_at=LONG_AGO)
    assign(book(at(9, day=4), at(10, day=4), status="cancelled"), sam)
    assign(book(at(9, day=20), at(10, day=20)), sam)  # outside the two weeks
    service.add_time_off(sam, date(2026, 12, 15), date(2026, 12, 15), "", actor=sam)
    recent = assign(book(at(9, day=8), at(10, day=8)), kim)
    service.answer(recent, accept=False, reason="Sick", actor=kim)
    db.session.commit()

    people, grid, declines, starts = service.utilisation(date(2026, 12, 7), 2, "UTC",
                                                         viewer=manager)
    assert [p.name for p in people] == ["Kim Creative", "Sam Tech"]  # by discipline, name
    assert starts == [at(0), at(0, day=7)]
    week1, week2 = grid[sam.id]
    assert (week1.minutes, week1.bookings, week1.time_off_minutes) == (270, 3, 0)
    assert (week2.minutes, week2.bookings, week2.time_off_minutes) == (60, 0, 1440)
    assert [(w.minutes, w.bookings) for w in grid[kim.id]] == [(0, 0), (0, 0)]
    assert declines.get(kim.id) == 1
    assert declines.get(sam.id, 0) == 0  # that decline was long ago


def test_utilisation_weeks_follow_the_zone(book, assign, manager, sam):
    # Sunday 13 Dec 23:30 UTC is already Monday 14 Dec in Berlin
    assign(book(at(23, 30, day=6), at(23, 59, day=6)), sam)
    _, grid, _, starts = service.utilisation(date(2026, 12, 7), 2, "Europe/Berlin",
                                             viewer=manager)
    assert starts[0] == datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
    assert [(w.minutes, w.bookings) for w in grid[sam.id]] == [(0, 0), (29, 1)]


@pytest.mark.parametrize("role", ["ae", "support"])
def test_utilisation_is_for_managers_only(make_user, role):
    with pytest.raises(NotAllowed):
        service.utilisation(date(2026, 12, 7), 4, "UTC", viewer=make_user(role))


def test_utilisation_runs_a_fixed_number_of_queries(make_user, book, assign, manager,
                                                    count_queries):
    def add(n):
        for _ in range(n):
            p = make_user("support", timezone="UTC")
            assign(book(at(10), at(11)), p, status="declined", note="x", answered_at=at(0))
            assign(book(at(12), at(13)), p)
            db.session.add(TimeOff(user_id=p.id, starts_at=at(0, day=1), ends_at=at(0, day=2)))
        db.session.commit()

    def measure():
        db.session.commit()
        with count_queries() as n:
            service.utilisation(date(2026, 12, 7), 4, "UTC", viewer=manager)
        return n()

    add(2)
    few = measure()
    add(10)
    assert measure() == few


def test_week_load_counts_only_the_minutes_inside_the_week(make_user, make_client,
                                                           make_booking, assign):
    """The database sums each person's minutes; bookings across either edge of the week
    count their part inside it, and what does not take the person's time counts nothing."""
    week = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday, midnight UTC
    end = week + timedelta(days=7)
    person, other = make_user("support"), make_user("support")
    client = make_client()

    def on(starts, ends, who=person, **over):
        booking = make_booking(client, starts_at=starts, ends_at=ends,
                               **{k: v for k, v in over.items() if k in ("status", "kind",
                                                                        "travel_buffer_minutes")})
        assign(booking, who, **{k: v for k, v in over.items()
                                if k in ("status", "removed_at")})

    on(week - timedelta(hours=1), week + timedelta(minutes=45))  # 45 inside
    on(week + timedelta(days=2), week + timedelta(days=2, hours=2))  # 120
    on(end - timedelta(minutes=30), end + timedelta(hours=2))  # 30 inside
    on(week + timedelta(days=3, seconds=30), week + timedelta(days=3, minutes=10))  # 9.5 -> 9
    # A visit starting as the week ends: its travel time starts inside, it does not.
    on(end, end + timedelta(hours=3), kind="visit", travel_buffer_minutes=60)
    on(week + timedelta(days=1), week + timedelta(days=1, hours=5), status="declined")
    on(week + timedelta(days=4), week + timedelta(days=4, hours=5),
       removed_at=week - timedelta(days=3))
    on(week + timedelta(days=5), week + timedelta(days=5, hours=5), status="cancelled")
    on(week - timedelta(days=8), week - timedelta(days=7, hours=20))  # the week before
    on(week + timedelta(days=1), week + timedelta(days=1, hours=1), who=other)  # 60

    nobody = make_user("support")
    assert service.week_minutes([person.id, other.id, nobody.id], week) == {
        person.id: 45 + 120 + 30 + 9, other.id: 60, nobody.id: 0}
