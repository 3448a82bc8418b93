"""Staffing over HTTP: assigning from the booking page, finding staff, the support person's
own list and answers, removing and reassigning, the queue, utilisation, time off and the
start page."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from aeplan.bookings.models import BookingChange
from aeplan.extensions import db
from aeplan.staffing.models import Assignment, TimeOff


class FreshContextClient(FlaskClient):
    """Each request in its own app context and database session, as in production."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(autouse=True)
def _each_request_in_its_own_context(app):
    app.test_client_class = FreshContextClient


def at(hour: int, minute: int = 0, *, day: int = 0) -> datetime:
    return datetime(2026, 12, 7, hour, minute, tzinfo=UTC) + timedelta(days=day)


def text(response) -> str:
    """The page as a reader sees it: tags dropped, entities decoded, spaces collapsed."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", unescape(html))


def count(model) -> int:
    db.session.rollback()  # see what the requests committed
    return db.session.scalar(select(func.count()).select_from(model))


def fresh(obj):
    db.session.rollback()
    return db.session.get(type(obj), obj.id)


def path(response) -> str:
    return urlsplit(response.headers["Location"]).path


@pytest.fixture
def ae(make_user):
    return make_user("ae", name="Olga Owner", timezone="UTC")


@pytest.fixture
def acme(make_client, ae):
    return make_client(ae, name="Acme Bank", timezone="UTC")


@pytest.fixture
def sam(make_user):
    return make_user("support", name="Sam Tech", timezone="UTC",
                     skills="payments API, German")


@pytest.fixture
def booking(make_booking, acme):
    return make_booking(acme, starts_at=at(10, day=1), ends_at=at(12, day=1),
                        title="Vault walkthrough", needs_technical=1,
                        skills="payments API, German")


# --- assigning ---------------------------------------------------------------------------


def test_assign_redirects_to_the_booking(login_as, ae, booking, sam):
    response = login_as(ae).post(f"/bookings/{booking.id}/assignments",
                                 data={"user_id": str(sam.id), "role": "technical"})
    assert response.status_code == 303
    assert path(response) == f"/bookings/{booking.id}"
    db.session.rollback()
    [a] = db.session.scalars(select(Assignment)).all()
    assert (a.booking_id, a.user_id, a.role, a.status, a.assigned_by_id) == \
        (booking.id, sam.id, "technical", "pending", ae.id)
    assert fresh(booking).sequence == 1


def test_assign_with_current_version_succeeds(login_as, ae, booking, sam):
    response = login_as(ae).post(f"/bookings/{booking.id}/assignments", data={
        "user_id": str(sam.id), "role": "creative", "version": "0"})
    assert response.status_code == 303
    assert count(Assignment) == 1


def test_manager_may_assign(login_as, make_user, booking, sam):
    response = login_as(make_user("manager")).post(
        f"/bookings/{booking.id}/assignments", data={"user_id": str(sam.id), "role": "technical"})
    assert response.status_code == 303
    assert count(Assignment) == 1


def test_a_clash_is_409_with_the_reason_and_no_write(login_as, ae, booking, sam, make_booking,
                                                     make_client, assign):
    globex = make_client(ae, name="Globex Insurance", timezone="UTC")
    assign(make_booking(globex, starts_at=at(11, day=1), ends_at=at(13, day=1),
                        title="Claims API demo"), sam)
    before = count(Assignment), count(BookingChange)

    response = login_as(ae).post(f"/bookings/{booking.id}/assignments",
                                 data={"user_id": str(sam.id), "role": "technical"})
    assert response.status_code == 409
    page = text(response)
    assert "Sam Tech is not free then" in page
    assert "Claims API demo" in page and "Globex Insurance" in page
    # A refusal means someone took the person meanwhile: the page names the booking and
    # links to fresh suggestions for the role and back to the booking.
    assert "Not assigned" in page and "Vault walkthrough" in page
    body = response.get_data(as_text=True)
    assert f'href="/bookings/{booking.id}/staff?role=technical"' in body
    assert f'href="/bookings/{booking.id}#staff"' in body
    assert "Find someone free (technical)" in page
    assert (count(Assignment), count(BookingChange)) == before
    assert fresh(booking).sequence == 0


def test_a_clash_is_refused_while_another_request_holds_the_write_locks(
        login_as, ae, booking, sam, make_booking, make_client, assign):
    """A refusal is decided on committed data without taking the write lock (SQLite) or
    row locks (PostgreSQL), so it neither waits for nor holds up other writes."""
    import threading

    from aeplan.auth.models import User
    from aeplan.bookings.models import Booking

    assign(make_booking(make_client(ae, timezone="UTC"), starts_at=at(11, day=1),
                        ends_at=at(13, day=1), title="Claims API demo"), sam)
    browser = login_as(ae)
    holder = db.engine.connect()
    if db.engine.dialect.name == "sqlite":
        holder.execution_options(sqlite_begin="IMMEDIATE")
    locks = holder.begin()
    holder.execute(select(Booking.id).where(Booking.id == booking.id).with_for_update())
    holder.execute(select(User.id).where(User.id == sam.id).with_for_update())
    answers = []
    post = threading.Thread(target=lambda: answers.append(browser.post(
        f"/bookings/{booking.id}/assignments",
        data={"user_id": str(sam.id), "role": "technical"})))
    try:
        post.start()
        post.join(timeout=5)
        assert not post.is_alive(), "the refusal waited for the other request's locks"
    finally:
        locks.rollback()
        holder.close()
        post.join(timeout=30)
    [response] = answers
    assert response.status_code == 409
    assert "Sam Tech is not free then" in text(response)
    assert count(Assignment) == 1


def test_a_clash_found_under_the_write_lock_is_rolled_back_and_explained(
        login_as, ae, booking, sam, make_booking, make_client, assign, monkeypatch):
    """When the lock-free check passed (someone took the person between it and the
    locks), assign() refuses under the locks: the page still names the booking, read
    afresh after the rollback, and nothing is written."""
    import aeplan.staffing.service

    assign(make_booking(make_client(ae, name="Globex Insurance", timezone="UTC"),
                        starts_at=at(11, day=1), ends_at=at(13, day=1),
                        title="Claims API demo"), sam)
    monkeypatch.setattr(aeplan.staffing.service, "check_assign", lambda *a, **k: None)
    before = count(Assignment), count(BookingChange)
    response = login_as(ae).post(f"/bookings/{booking.id}/assignments",
                                 data={"user_id": str(sam.id), "role": "technical"})
    assert response.status_code == 409
    page = text(response)
    assert "Sam Tech is not free then" in page and "Claims API demo" in page
    assert "Not assigned" in page and "Vault walkthrough" in page and "Acme Bank" in page
    assert (count(Assignment), count(BookingChange)) == before
    assert fresh(booking).sequence == 0


def test_a_stale_version_is_409_and_nothing_is_written(login_as, ae, booking, sam):
    booking.sequence = 3
    db.session.commit()
    response = login_as(ae).post(f"/bookings/{booking.id}/assignments", data={
        "user_id": str(sam.id), "role": "technical", "version": "2"})
    assert response.status_code == 409
    assert "changed since you opened the page" in text(response)
    assert count(Assignment) == 0


@pytest.mark.parametrize("data, message", [
    ({"user_id": "", "role": "technical"}, "Choose a person."),
    ({"user_id": "987654", "role": "technical"}, "Choose a person to assign."),
    ({"role": "designer"}, "Not a valid choice"),
])
def test_bad_assign_input_is_422(login_as, ae, booking, sam, data, message):
    data = {"user_id": str(sam.id), **data}
    response = login_as(ae).post(f"/bookings/{booking.id}/assignments", data=data)
    assert response.status_code == 422
    assert message in text(response)
    assert count(Assignment) == 0


def test_assigning_an_ae_is_422(login_as, ae, booking, make_user):
    other = make_user("ae", name="Andy Ae")
    response = login_as(ae).post(f"/bookings/{booking.id}/assignments",
                                 data={"user_id": str(other.id), "role": "technical"})
    assert response.status_code == 422
    assert "Andy Ae is not support staff" in text(response)
    assert count(Assignment) == 0


@pytest.mark.parametrize("who, status", [
    ("support_on_it", 403), ("support_elsewhere", 404), ("other_ae", 403)])
def test_others_cannot_assign(login_as, make_user, booking, sam, assign, who, status):
    """403 for who sees the booking; 404, as for a missing one, for who does not."""
    if who == "other_ae":
        actor = make_user("ae")
    else:
        actor = make_user("support")
        if who == "support_on_it":
            assign(booking, actor)
    before = count(Assignment)
    response = login_as(actor).post(f"/bookings/{booking.id}/assignments",
                                    data={"user_id": str(sam.id), "role": "technical"})
    assert response.status_code == status
    assert count(Assignment) == before


def test_assign_to_an_unknown_booking_is_404(login_as, ae, sam):
    response = login_as(ae).post("/bookings/987654/assignments",
                                 data={"user_id": str(sam.id), "role": "technical"})
    assert response.status_code == 404


# --- finding staff -----------------------------------------------------------------------


@pytest.fixture
def candidates(make_user, make_booking, acme, assign, booking, sam):
    """Sam (both skills, free), Fay (no skills, one hour booked this week), Bo (busy)."""
    fay = make_user("support", name="Fay Free", timezone="UTC")
    bo = make_user("support", name="Bo Busy", timezone="UTC", skills="German")
    make_user("support", name="Cora Creative", discipline="creative")
    assign(make_booking(acme, starts_at=at(9, day=3), ends_at=at(10, day=3),
                        title="Thursday demo"), fay)
    assign(make_booking(acme, starts_at=at(11, day=1), ends_at=at(13, day=1),
                        title="Rival pitch"), bo)
    return sam, fay, bo


def test_find_staff_ranks_people_with_one_line_reasons(login_as, ae, booking, candidates):
    response = login_as(ae).get(f"/bookings/{booking.id}/staff?role=technical")
    assert response.status_code == 200
    page = text(response)
    assert page.index("Sam Tech") < page.index("Fay Free") < page.index("Bo Busy")
    assert "Cora Creative" not in page
    assert "free, 2 of 2 skills, 0 h this week" in page
    assert "free, 0 of 2 skills, 1 h this week" in page
    busy_line = page.split("Bo Busy")[1]
    assert re.search(r"on “Rival pitch” 11:00\s?(AM)?–(1:00\s?PM|13:00)", busy_line)
    html = response.get_data(as_text=True)
    # only the free people get an Assign button
    assert html.count('name="user_id"') == 2


def test_find_staff_gives_time_off_as_the_reason(login_as, ae, booking, candidates):
    sam, fay, bo = candidates
    db.session.add(TimeOff(user_id=fay.id, starts_at=booking.starts_at - timedelta(days=1),
                           ends_at=booking.ends_at + timedelta(days=1), reason="Parental leave"))
    db.session.commit()
    response = login_as(ae).get(f"/bookings/{booking.id}/staff?role=technical")
    assert response.status_code == 200
    assert "time off (Parental leave)" in text(response).split("Fay Free")[1]
    assert response.get_data(as_text=True).count('name="user_id"') == 1  # Sam alone


def test_find_staff_by_discipline(login_as, ae, booking, candidates):
    response = login_as(ae).get(f"/bookings/{booking.id}/staff?role=creative")
    assert response.status_code == 200
    assert "Cora Creative" in text(response)
    assert "Sam Tech" not in text(response)
    assert login_as(ae).get(f"/bookings/{booking.id}/staff?role=design").status_code == 404


@pytest.mark.parametrize("who, status", [
    ("support_on_it", 403), ("support_elsewhere", 404), ("other_ae", 403)])
def test_find_staff_is_for_the_owner_and_managers(login_as, make_user, booking, assign, who,
                                                  status):
    actor = make_user("ae" if who == "other_ae" else "support")
    if who == "support_on_it":
        assign(booking, actor)
    assert login_as(actor).get(f"/bookings/{booking.id}/staff?role=technical").status_code \
        == status
    assert login_as(make_user("manager")).get(
        f"/bookings/{booking.id}/staff?role=technical").status_code == 200


# --- the support person's own list -------------------------------------------------------


def test_my_assignments_show_client_ae_others_and_pending(login_as, booking, sam, make_user,
                                                          assign, make_booking, acme):
    kim = make_user("support", name="Kim Creative", discipline="creative")
    gone = make_user("support", name="Gus Gone")
    mine = assign(booking, sam)
    assign(booking, kim, status="accepted")
    assign(booking, gone, removed_at=datetime(2026, 11, 20, tzinfo=UTC))
    later = make_booking(acme, starts_at=at(10, day=4), ends_at=at(11, day=4),
                         title="Friday follow-up")
    assign(later, sam, status="accepted")
    make_booking(acme, starts_at=at(10, day=2), ends_at=at(11, day=2), title="Not Sams")

    response = login_as(sam).get("/assignments/")
    assert response.status_code == 200
    page = text(response)
    assert "Acme Bank" in page and "Olga Owner" in page
    assert page.index("Vault walkthrough") < page.index("Friday follow-up")
    assert "Kim Creative (Creative)" in page
    assert "Gus Gone" not in page
    assert "Not Sams" not in page
    assert "1 assignment waits for your answer." in page
    html = response.get_data(as_text=True)
    assert f'id="assignment-{mine.id}"' in html
    card = html.split(f'id="assignment-{mine.id}"')[1].split("</article>")[0]
    assert "answer-pending" in card
    assert f"/assignments/{mine.id}/accept" in card


def test_my_past_assignments_are_a_line_each_newest_first(login_as, sam, assign,
                                                          make_booking, acme, make_user):
    from aeplan.timeutil import now_utc

    today = now_utc().replace(minute=0, second=0, microsecond=0)
    older = make_booking(acme, starts_at=today - timedelta(days=9),
                         ends_at=today - timedelta(days=9, hours=-1), title="Older review")
    newer = make_booking(acme, starts_at=today - timedelta(days=2),
                         ends_at=today - timedelta(days=2, hours=-1), title="Newer review")
    first = assign(older, sam, status="accepted")
    second = assign(newer, sam, status="declined", note="ill")
    assign(newer, make_user("support", name="Kim Colleague"))

    html = login_as(sam).get("/assignments/").get_data(as_text=True)
    past = html.split('id="past-h"')[1]
    assert past.index("Newer review") < past.index("Older review")
    line = past.split(f'id="assignment-{second.id}"')[1].split("</li>")[0]
    assert f'href="/bookings/{newer.id}"' in line and "Acme Bank" in line
    assert "Declined" in line
    assert f'id="assignment-{first.id}"' in past
    # No answers and no colleagues on past work: only upcoming cards carry them.
    assert "/accept" not in past and "/decline" not in past and "Kim Colleague" not in past


def test_accept(login_as, booking, sam, assign):
    a = assign(booking, sam)
    response = login_as(sam).post(f"/assignments/{a.id}/accept")
    assert response.status_code == 303
    assert path(response) == "/assignments/"
    assert fresh(a).status == "accepted"


def test_decline_with_reason(login_as, booking, sam, assign):
    a = assign(booking, sam)
    response = login_as(sam).post(f"/assignments/{a.id}/decline", data={"reason": "On leave"})
    assert response.status_code == 303
    a = fresh(a)
    assert (a.status, a.note) == ("declined", "On leave")
    change = db.session.scalars(select(BookingChange)
                                .where(BookingChange.action == "staff_answer")).one()
    assert change.note == "On leave"


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_decline_without_reason_is_422_and_changes_nothing(login_as, booking, sam, assign,
                                                           reason):
    a = assign(booking, sam)
    data = {} if reason is None else {"reason": reason}
    response = login_as(sam).post(f"/assignments/{a.id}/decline", data=data)
    assert response.status_code == 422
    assert "Say why you decline" in text(response)
    assert fresh(a).status == "pending"
    assert count(BookingChange) == 0


@pytest.mark.parametrize("action", ["accept", "decline"])
def test_answering_someone_elses_assignment_is_404(login_as, booking, sam, assign, make_user,
                                                   ae, action):
    """Only its person sees an assignment under /assignments/: for anyone else it answers
    as a missing one does."""
    a = assign(booking, sam)
    for actor in (make_user("support"), ae, make_user("manager")):
        client = login_as(actor)
        response = client.post(f"/assignments/{a.id}/{action}", data={"reason": "not mine"})
        missing = client.post(f"/assignments/987654/{action}", data={"reason": "not mine"})
        assert response.status_code == 404
        assert response.data == missing.data
    assert fresh(a).status == "pending"


@pytest.mark.parametrize("action", ["accept", "decline"])
def test_answering_an_unknown_assignment_is_404(login_as, sam, action):
    response = login_as(sam).post(f"/assignments/987654/{action}", data={"reason": "x"})
    assert response.status_code == 404


def test_accepting_again_when_now_busy_is_409(login_as, booking, sam, assign, make_booking,
                                              acme):
    a = assign(booking, sam, status="declined", note="no")
    assign(make_booking(acme, starts_at=at(11, day=1), ends_at=at(12, day=1),
                        title="Took its place"), sam)
    response = login_as(sam).post(f"/assignments/{a.id}/accept")
    assert response.status_code == 409
    assert "Took its place" in text(response)
    assert fresh(a).status == "declined"


def test_answering_a_cancelled_booking_is_refused(login_as, booking, sam, assign):
    a = assign(booking, sam)
    booking.status = "cancelled"
    db.session.commit()
    client = login_as(sam)
    response = client.post(f"/assignments/{a.id}/accept")
    assert response.status_code == 409
    assert "This booking is cancelled." in text(response)
    assert fresh(a).status == "pending"


def test_support_sees_only_bookings_they_are_on(login_as, booking, sam, make_user, assign):
    stranger = make_user("support")
    assert login_as(stranger).get(f"/bookings/{booking.id}").status_code == 404
    assign(booking, sam)
    response = login_as(sam).get(f"/bookings/{booking.id}")
    assert response.status_code == 200
    assert "Vault walkthrough" in text(response)


# --- removing and reassigning ------------------------------------------------------------


def test_remove_route(login_as, ae, booking, sam, assign):
    a = assign(booking, sam)
    response = login_as(ae).post(f"/bookings/{booking.id}/assignments/{a.id}/remove")
    assert response.status_code == 303
    assert path(response) == f"/bookings/{booking.id}"
    assert fresh(a).removed_at is not None


@pytest.mark.parametrize("who", ["assignee", "other_ae"])
def test_remove_by_others_is_403(login_as, make_user, booking, sam, assign, who):
    a = assign(booking, sam)
    actor = sam if who == "assignee" else make_user("ae")
    response = login_as(actor).post(f"/bookings/{booking.id}/assignments/{a.id}/remove")
    assert response.status_code == 403
    assert fresh(a).removed_at is None


def test_remove_with_the_wrong_booking_is_404(login_as, ae, booking, sam, assign,
                                              make_booking, acme):
    a = assign(booking, sam)
    other = make_booking(acme, starts_at=at(9), ends_at=at(10))
    response = login_as(ae).post(f"/bookings/{other.id}/assignments/{a.id}/remove")
    assert response.status_code == 404
    assert fresh(a).removed_at is None


def test_reassign_route(login_as, ae, booking, sam, assign, make_user):
    a = assign(booking, sam)
    kim = make_user("support", name="Kim Tech")
    response = login_as(ae).post(f"/bookings/{booking.id}/assignments/{a.id}/reassign",
                                 data={"user_id": str(kim.id)})
    assert response.status_code == 303
    assert path(response) == f"/bookings/{booking.id}"
    db.session.rollback()
    rows = {r.user_id: r for r in db.session.scalars(select(Assignment))}
    assert rows[sam.id].removed_at is not None
    assert (rows[kim.id].status, rows[kim.id].role, rows[kim.id].removed_at) == \
        ("pending", "technical", None)


def test_reassign_to_a_busy_person_changes_nothing(login_as, ae, booking, sam, assign,
                                                   make_user, make_booking, acme):
    a = assign(booking, sam)
    kim = make_user("support", name="Kim Tech")
    assign(make_booking(acme, starts_at=at(11, day=1), ends_at=at(12, day=1),
                        title="Kims other demo"), kim)
    client = login_as(ae)
    response = client.post(f"/bookings/{booking.id}/assignments/{a.id}/reassign",
                           data={"user_id": str(kim.id)})
    assert response.status_code == 409
    assert "Kims other demo" in text(response)
    assert fresh(a).removed_at is None
    assert count(Assignment) == 2
    assert fresh(booking).sequence == 0


@pytest.mark.parametrize("who", ["assignee", "other_ae"])
def test_reassign_by_others_is_403(login_as, make_user, booking, sam, assign, who):
    a = assign(booking, sam)
    kim = make_user("support")
    actor = sam if who == "assignee" else make_user("ae")
    response = login_as(actor).post(f"/bookings/{booking.id}/assignments/{a.id}/reassign",
                                    data={"user_id": str(kim.id)})
    assert response.status_code == 403
    assert fresh(a).removed_at is None
    assert count(Assignment) == 1


# --- the queue and utilisation -----------------------------------------------------------


@pytest.fixture
def short_world(make_user, make_client, make_booking, ae, assign):
    other_ae = make_user("ae", name="Otto Other")
    key = make_client(ae, name="Key Co", tier="key", timezone="UTC")
    mine = make_booking(key, starts_at=at(10, day=3), ends_at=at(11, day=3), title="Key pitch",
                        needs_technical=2, needs_creative=1)
    theirs = make_booking(make_client(other_ae, name="Otto Co"), starts_at=at(10, day=1),
                          ends_at=at(11, day=1), title="Otto demo", needs_other=1)
    assign(mine, make_user("support"))
    return mine, theirs


def test_queue_for_an_ae_shows_their_short_bookings(login_as, ae, short_world):
    response = login_as(ae).get("/staffing/")
    assert response.status_code == 200
    page = text(response)
    assert "Key pitch" in page
    assert "1 technical" in page and "1 creative" in page
    assert "Otto demo" not in page


def test_queue_for_a_manager_shows_all_key_first(login_as, make_user, short_world):
    response = login_as(make_user("manager")).get("/staffing/")
    assert response.status_code == 200
    page = text(response)
    assert page.index("Key pitch") < page.index("Otto demo")


def test_queue_is_not_for_support(login_as, sam):
    assert login_as(sam).get("/staffing/").status_code == 403


def test_utilisation_page_for_managers_only(login_as, make_user, sam, assign, make_booking,
                                            acme, ae):
    assign(make_booking(acme, starts_at=at(10), ends_at=at(12)), sam)
    manager = make_user("manager", timezone="UTC")
    response = login_as(manager).get("/staffing/utilisation?week=2026-12-09")
    assert response.status_code == 200
    page = text(response)
    assert "Sam Tech" in page
    assert "2 h · 1 booking" in page
    assert login_as(ae).get("/staffing/utilisation").status_code == 403
    assert login_as(sam).get("/staffing/utilisation").status_code == 403


# --- time off ----------------------------------------------------------------------------


@pytest.fixture
def bea(make_user):
    return make_user("support", name="Bea Berlin", timezone="Europe/Berlin")


def test_time_off_page_adds_and_lists(login_as, bea):
    client = login_as(bea)
    assert client.get("/timeoff/").status_code == 200
    response = client.post("/timeoff/", data={"first_day": "2026-12-07",
                                              "last_day": "2026-12-09", "reason": "Family"})
    assert response.status_code == 303
    assert path(response) == "/timeoff/"
    db.session.rollback()
    [entry] = db.session.scalars(select(TimeOff)).all()
    assert (entry.user_id, entry.reason) == (bea.id, "Family")
    assert entry.starts_at == datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
    assert entry.ends_at == datetime(2026, 12, 9, 23, 0, tzinfo=UTC)
    page = text(client.get("/timeoff/"))
    assert "Family" in page
    assert f"/timeoff/{entry.id}/cancel" in client.get("/timeoff/").get_data(as_text=True)


@pytest.mark.parametrize("data, message", [
    ({"first_day": "2026-12-09", "last_day": "2026-12-08"},
     "The last day cannot be before the first day."),
    ({"first_day": "2026-12-07", "last_day": "2027-12-08"}, "Time off can last at most a year."),
    ({"first_day": "", "last_day": "2026-12-08"}, "Enter a date."),
    ({"first_day": "soon", "last_day": "2026-12-08"}, "Enter a date."),
])
def test_bad_time_off_is_422_with_the_message(login_as, bea, data, message):
    response = login_as(bea).post("/timeoff/", data=data)
    assert response.status_code == 422
    assert message in text(response)
    assert count(TimeOff) == 0


def test_cancel_time_off(login_as, bea, make_user):
    entry = TimeOff(user_id=bea.id, starts_at=at(0), ends_at=at(0, day=1), reason="Dentist")
    db.session.add(entry)
    db.session.commit()
    assert login_as(make_user("support")).post(f"/timeoff/{entry.id}/cancel").status_code \
        == 404
    assert fresh(entry).cancelled_at is None
    client = login_as(bea)
    response = client.post(f"/timeoff/{entry.id}/cancel")
    assert response.status_code == 303
    assert fresh(entry).cancelled_at is not None
    assert "Dentist" not in text(client.get("/timeoff/"))
    assert client.post("/timeoff/987654/cancel").status_code == 404


# --- the booking page and the start page ---------------------------------------------------


def test_booking_page_shows_what_is_short_and_suggestions(login_as, ae, booking, candidates):
    response = login_as(ae).get(f"/bookings/{booking.id}")
    assert response.status_code == 200
    page = text(response)
    assert "Short by 1" in page
    assert "Suggested technical staff" in page
    assert page.index("Sam Tech") < page.index("Fay Free")
    assert "free, 2 of 2 skills" in page
    assert "Suggested creative staff" not in page  # no creative need


def test_booking_page_without_a_shortfall_has_no_suggestions(login_as, ae, booking, sam,
                                                             assign):
    assign(booking, sam, status="accepted")
    page = text(login_as(ae).get(f"/bookings/{booking.id}"))
    assert "Short by" not in page
    assert "Suggested technical staff" not in page
    assert "Sam Tech" in page


def test_start_page_for_an_ae_lists_shortfalls_and_time_off(login_as, ae, booking,
                                                            make_booking, acme, assign, bea):
    staffed = make_booking(acme, starts_at=at(10, day=2), ends_at=at(11, day=2),
                           title="Staffed but Bea is off", needs_technical=1)
    assign(staffed, bea, status="accepted")
    db.session.add(TimeOff(user_id=bea.id, starts_at=at(0, day=2), ends_at=at(0, day=3),
                           reason="Flu"))
    db.session.commit()

    response = login_as(ae).get("/")
    assert response.status_code == 200
    page = text(response)
    short = page.split("Still short of staff")[1]
    assert "Vault walkthrough" in short.split("All bookings short of staff")[0]
    assert "Staff on time off" in page
    assert "Bea Berlin has time off then — Flu" in page


def test_start_page_sends_support_to_their_assignments(login_as, sam):
    response = login_as(sam).get("/")
    assert response.status_code in (302, 303)
    assert path(response) == "/assignments/"
