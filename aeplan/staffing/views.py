"""Staffing pages: assigning and answering, the support person's own list, time off,
the queue of bookings short of staff and the managers' utilisation view."""
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from aeplan.auth.models import User
from aeplan.bookings import service as bookings
from aeplan.bookings.models import STAFF_DISCIPLINES
from aeplan.errors import DomainError
from aeplan.extensions import db
from aeplan.permissions import can_edit_booking
from aeplan.staffing import service
from aeplan.staffing.forms import AssignForm, DeclineForm, ReassignForm, TimeOffForm
from aeplan.staffing.models import TimeOff
from aeplan.timeutil import monday_of, now_utc, parse_day, utc_to_local
from aeplan.transactions import reads_first, switch_to_write, valid_id
from aeplan.views import attempt, or_abort

bp = Blueprint("staffing", __name__)


@bp.before_request
@login_required
def _signed_in():
    pass


def booking_page(booking_id: int, *, status: int = 200):
    """The booking page with its staffing panel; shared with bookings.detail. It ranks
    staff for every discipline the booking is short of, and shows the state of the
    latest email to each person on it (the outbox)."""
    booking = or_abort(lambda: bookings.get_booking(current_user, booking_id,
                                                    for_page=True))
    assignments = service.assignments_for_booking(booking)
    staffing = service.staffing_of(booking, assignments)
    can_staff = service.can_staff(current_user, booking)
    suggested = {}
    if can_staff:
        suggested = service.ranked_suggestions(booking, staffing.short, viewer=current_user,
                                               top=5)
    invited, offered = bookings.page_contacts(booking)
    history, deliveries = bookings.history_and_mail(booking)
    return render_template(
        "bookings/detail.html", booking=booking,
        can_edit=can_edit_booking(current_user, booking), can_staff=can_staff,
        assignments=assignments, staffing=staffing,
        suggested=suggested, invited=invited, offered=offered,
        history=history, deliveries=deliveries,
    ), status


def _person(user_id) -> User | None:
    return db.session.get(User, user_id) if valid_id(user_id) else None


@bp.post("/bookings/<int:booking_id>/assignments")
@reads_first
def assign(booking_id: int):
    booking = or_abort(lambda: bookings.get_booking(current_user, booking_id))
    if not can_edit_booking(current_user, booking):
        abort(403)
    form = AssignForm()
    form.user_id.choices = []
    version = form.version.data
    expected = int(version) if version and version.isdigit() else None

    def check_then_assign():
        # Checked first on committed data: a clash is refused without the write lock.
        person = _person(form.user_id.data)
        service.check_assign(booking, person, form.role.data, actor=current_user,
                             expected_sequence=expected)
        switch_to_write()  # expires booking and person: assign() reads them afresh
        return service.assign(booking, person, form.role.data, actor=current_user,
                              expected_sequence=expected)

    result, status = attempt(form, check_then_assign)
    if result is not None:
        flash(_("%(name)s assigned. They will see it under their assignments.",
                name=result.user.name), "success")
        return redirect(url_for("bookings.detail", booking_id=booking_id) + "#staff", 303)
    # The pages only offer free people, so a refusal most often means someone took the
    # person meanwhile: say why and link to fresh suggestions for the role, rather than
    # re-rendering the whole booking page around the message. A refusal by the checks
    # kept what they loaded; one under the write lock was rolled back, and the booking
    # is read afresh as the page uses it.
    return render_template(
        "staffing/refused.html", booking=booking,
        messages=[m for messages in form.errors.values() for m in messages],
        role=form.role.data if form.role.data in STAFF_DISCIPLINES else None), status


@bp.get("/bookings/<int:booking_id>/staff")
def find_staff(booking_id: int):
    """Everyone of one discipline ranked for this booking, busy people with the reason."""
    booking = or_abort(lambda: bookings.get_booking(current_user, booking_id))
    if not service.can_staff(current_user, booking):
        abort(403)
    role = request.args.get("role", "technical")
    if role not in STAFF_DISCIPLINES:
        abort(404)
    ranked = service.suggestions(booking, role, viewer=current_user)
    return render_template("staffing/find.html", booking=booking, role=role, ranked=ranked,
                           disciplines=STAFF_DISCIPLINES)


def _assignment_on(booking_id: int, assignment_id: int):
    assignment = service.get_assignment(assignment_id)
    if assignment is None or assignment.booking_id != booking_id:
        abort(404)
    or_abort(lambda: bookings.get_booking(current_user, booking_id))
    return assignment


@bp.post("/bookings/<int:booking_id>/assignments/<int:assignment_id>/remove")
def remove(booking_id: int, assignment_id: int):
    assignment = _assignment_on(booking_id, assignment_id)
    try:
        service.remove(assignment, actor=current_user)
    except DomainError as error:
        db.session.rollback()
        if error.status == 403:
            abort(403)
        flash(error.message, "error")
        return booking_page(booking_id, status=error.status)
    db.session.commit()
    flash(_("%(name)s is off the booking; their time is free again.",
            name=assignment.user.name), "success")
    return redirect(url_for("bookings.detail", booking_id=booking_id) + "#staff", 303)


@bp.post("/bookings/<int:booking_id>/assignments/<int:assignment_id>/reassign")
def reassign(booking_id: int, assignment_id: int):
    assignment = _assignment_on(booking_id, assignment_id)
    if not service.can_staff(current_user, assignment.booking):
        abort(403)
    form = ReassignForm()
    form.user_id.choices = []
    result, status = attempt(form, lambda: service.reassign(
        assignment, _person(form.user_id.data), actor=current_user))
    if result is not None:
        flash(_("Reassigned to %(name)s.", name=result.user.name), "success")
        return redirect(url_for("bookings.detail", booking_id=booking_id) + "#staff", 303)
    # Refused: the booking page again with the reason, and the refusal's 4xx status.
    for message in [m for messages in form.errors.values() for m in messages]:
        flash(message, "error")
    return booking_page(booking_id, status=status if status >= 400 else 422)


# --- the support person's own list ---------------------------------------------------

def _my_page(decline_form=None, failed_id=None, status=200):
    mine = service.my_assignments(current_user)
    pending = sum(1 for row in mine.upcoming
                  if row.status == "pending" and row.booking_status not in ("cancelled", "done"))
    return render_template("staffing/mine.html", upcoming=mine.upcoming, past=mine.past,
                           others=mine.others, pending=pending,
                           decline_form=decline_form or DeclineForm(), failed_id=failed_id), status


@bp.get("/assignments/")
def mine():
    return _my_page()


def _own_assignment(assignment_id: int):
    """The signed-in person's own assignment; anyone else's answers 404 like a missing
    one (only its person ever sees it under /assignments/)."""
    assignment = service.get_assignment(assignment_id)
    if assignment is None or assignment.user_id != current_user.id:
        abort(404)
    return assignment


@bp.post("/assignments/<int:assignment_id>/accept")
def accept(assignment_id: int):
    assignment = _own_assignment(assignment_id)
    try:
        service.answer(assignment, accept=True, actor=current_user)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _my_page(status=error.status)
    db.session.commit()
    flash(_("Accepted: %(title)s.", title=assignment.booking.title), "success")
    return redirect(url_for("staffing.mine"), 303)


@bp.post("/assignments/<int:assignment_id>/decline")
def decline(assignment_id: int):
    assignment = _own_assignment(assignment_id)
    form = DeclineForm()
    result, status = attempt(form, lambda: service.answer(
        assignment, accept=False, reason=form.reason.data or "", actor=current_user))
    if result is not None:
        flash(_("Declined: %(title)s. The AE sees your reason.",
                title=assignment.booking.title), "success")
        return redirect(url_for("staffing.mine"), 303)
    return _my_page(decline_form=form, failed_id=assignment_id, status=status)


# --- time off --------------------------------------------------------------------------

def _time_off_page(form, status=200):
    return render_template("staffing/time_off.html", form=form,
                           entries=service.time_off_for(current_user)), status


@bp.route("/timeoff/", methods=["GET", "POST"])
def time_off():
    form = TimeOffForm()
    entry, status = attempt(form, lambda: service.add_time_off(
        current_user, form.first_day.data, form.last_day.data, form.reason.data or "",
        actor=current_user))
    if entry is not None:
        flash(_("Time off saved. You will not be suggested for those days."), "success")
        return redirect(url_for("staffing.time_off"), 303)
    return _time_off_page(form, status)


@bp.post("/timeoff/<int:entry_id>/cancel")
def cancel_time_off(entry_id: int):
    entry = db.get_or_404(TimeOff, entry_id)
    or_abort(lambda: service.cancel_time_off(entry, actor=current_user))
    db.session.commit()
    flash(_("Time off removed."), "success")
    return redirect(url_for("staffing.time_off"), 303)


# --- queue and utilisation -------------------------------------------------------------

@bp.get("/staffing/")
def queue():
    if current_user.is_support:
        abort(403)
    short = service.needing_staff(current_user)
    return render_template("staffing/queue.html", short=short,
                           staffing=service.staffing_for(short),
                           clashes=service.time_off_clashes(current_user))


@bp.get("/staffing/utilisation")
def utilisation():
    if not current_user.is_manager:
        abort(403)
    zone = current_user.timezone
    anchor = parse_day(request.args.get("week", "")) or utc_to_local(now_utc(), zone).date()
    first = monday_of(anchor)
    weeks = 4
    people, grid, declines, starts = service.utilisation(first, weeks, zone,
                                                         viewer=current_user)
    return render_template(
        "staffing/utilisation.html", people=people, grid=grid, declines=declines,
        weeks=[first + timedelta(weeks=i) for i in range(weeks)],
        prev_week=first - timedelta(weeks=weeks), next_week=first + timedelta(weeks=weeks),
    )

