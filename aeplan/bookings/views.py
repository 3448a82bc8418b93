from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from aeplan.bookings import service
from aeplan.bookings.forms import BookingForm, CancelForm, StatusForm
from aeplan.bookings.models import KINDS, STATUSES
from aeplan.clients.service import account_executives, bookable_clients
from aeplan.errors import DomainError
from aeplan.extensions import db
from aeplan.forms import options
from aeplan.permissions import can_book, can_edit_booking
from aeplan.staffing.service import staffing_of_rows
from aeplan.timeutil import now_utc, parse_day, utc_to_local
from aeplan.views import attempt, int_arg, or_abort, parse_id

bp = Blueprint("bookings", __name__, url_prefix="/bookings")


@bp.before_request
@login_required
def _signed_in():
    pass


def _date_arg(name: str) -> date | None:
    return parse_day(request.args.get(name, ""))


def _input(form: BookingForm) -> service.BookingInput:
    return service.BookingInput(
        kind=form.kind.data, title=form.title.data or "", client_id=form.client_id.data,
        starts_local=form.starts_at.data, ends_local=form.ends_at.data,
        timezone=form.timezone.data or "", location=form.location.data or "",
        agenda=form.agenda.data or "", needs_technical=form.needs_technical.data,
        needs_creative=form.needs_creative.data, needs_other=form.needs_other.data,
        skills=form.skills.data or "", travel_buffer_minutes=form.travel_buffer_minutes.data,
        trip_id=(parse_id(form.trip_id.data) or 0) if form.trip_id.data else None,
    )


def _client_choices(form: BookingForm, booking=None) -> list:
    clients = bookable_clients(current_user)
    choices = [(c.id, c.name + (" ★" if c.is_key_account else "")) for c in clients]
    if booking is not None and booking.client_id not in {c.id for c in clients}:
        choices.insert(0, (booking.client_id, booking.client.name))
    form.client_id.choices = options([(0, _("Choose a client…"))] + choices)
    return clients


@bp.get("/")
def index():
    # Without an explicit "from", the list starts today: upcoming work first.
    today = utc_to_local(now_utc(), current_user.timezone).date()
    filters = service.BookingFilters(
        start=_date_arg("from") if "from" in request.args else today,
        end=_date_arg("to"), client_id=int_arg("client"),
        owner_id=int_arg("owner"),
        kind=request.args.get("kind") if request.args.get("kind") in KINDS else "",
        status=request.args.get("status") if request.args.get("status") in STATUSES else "",
        client_q=request.args.get("client_q", "")[:100],
    )
    listed = service.list_bookings(current_user, filters, after=request.args.get("after"),
                                   before=request.args.get("before"))
    chosen = service.filter_client(current_user, filters.client_id)
    return render_template(
        "bookings/index.html", bookings=listed.rows, listed=listed,
        staffing=staffing_of_rows(listed.rows),
        filters=filters, kinds=KINDS, statuses=STATUSES, chosen_client=chosen,
        aes=account_executives() if not current_user.is_support else [],
        can_create=can_book(current_user),
    )


@bp.route("/new", methods=["GET", "POST"])
def create():
    if not can_book(current_user):
        abort(403)
    form = BookingForm()
    clients = _client_choices(form)
    if request.method == "GET":
        preset = int_arg("client_id")
        client = next((c for c in clients if c.id == preset), None)
        form.client_id.data = client.id if client else 0
        form.timezone.data = service.default_timezone(client, current_user)
        form.kind.data = request.args.get("kind") if request.args.get("kind") in KINDS else "demo"
        trip_id = int_arg("trip_id")
        if trip_id:
            form.trip_id.data = str(trip_id)
    booking, status = attempt(form, lambda: service.create_booking(_input(form),
                                                                   actor=current_user))
    if booking is not None:
        flash(_("Booking created."), "success")
        return redirect(url_for("bookings.detail", booking_id=booking.id), 303)
    return render_template("bookings/form.html", form=form, booking=None,
                           client_zones={c.id: c.timezone for c in clients}), status


@bp.get("/<int:booking_id>")
def detail(booking_id: int):
    from aeplan.staffing.views import booking_page

    return booking_page(booking_id)


@bp.route("/<int:booking_id>/edit", methods=["GET", "POST"])
def edit(booking_id: int):
    booking = or_abort(lambda: service.get_booking(current_user, booking_id))
    if not can_edit_booking(current_user, booking):
        abort(403)
    if booking.is_cancelled:
        flash(_("A cancelled booking cannot be changed."), "error")
        if request.method == "POST":
            return _refused(booking.id, 409)
        return redirect(url_for("bookings.detail", booking_id=booking.id), 303)
    # Only a GET fills the form from the booking: a POST is exactly what was sent, so a
    # missing field is an error rather than the stored value reinterpreted.
    form = BookingForm(obj=booking) if request.method == "GET" else BookingForm()
    clients = _client_choices(form, booking)
    if request.method == "GET":
        form.starts_at.data = utc_to_local(booking.starts_at, booking.timezone).replace(tzinfo=None)
        form.ends_at.data = utc_to_local(booking.ends_at, booking.timezone).replace(tzinfo=None)
    result, status = attempt(form, lambda: service.update_booking(booking, _input(form),
                                                                  actor=current_user))
    if result is not None:
        flash(_("Booking saved."), "success")
        return redirect(url_for("bookings.detail", booking_id=booking.id), 303)
    return render_template("bookings/form.html", form=form, booking=booking,
                           client_zones={c.id: c.timezone for c in clients}), status


@bp.post("/<int:booking_id>/cancel")
def cancel(booking_id: int):
    booking = or_abort(lambda: service.get_booking(current_user, booking_id))
    if not can_edit_booking(current_user, booking):
        abort(403)
    form = CancelForm()
    result, status = attempt(form, lambda: service.cancel_booking(
        booking, actor=current_user, reason=form.reason.data or ""))
    if result is None:
        for message in form.form_errors + form.reason.errors:
            flash(message, "error")
        return _refused(booking_id, status)
    flash(_("Booking cancelled. It stays in the history."), "success")
    return redirect(url_for("bookings.detail", booking_id=booking_id), 303)


@bp.post("/<int:booking_id>/status")
def set_status(booking_id: int):
    booking = or_abort(lambda: service.get_booking(current_user, booking_id))
    if not can_edit_booking(current_user, booking):
        abort(403)
    form = StatusForm()
    result, status = attempt(form, lambda: service.set_status(booking, form.status.data,
                                                              actor=current_user))
    if result is None:
        for message in form.form_errors + form.status.errors:
            flash(message, "error")
        return _refused(booking_id, status)
    flash(_("Status changed."), "success")
    return redirect(url_for("bookings.detail", booking_id=booking_id), 303)


def _refused(booking_id: int, status: int):
    """The booking page again, with the flashed reason and a 4xx status."""
    from aeplan.staffing.views import booking_page

    return booking_page(booking_id, status=status if status >= 400 else 422)


@bp.post("/<int:booking_id>/contacts")
def set_contacts(booking_id: int):
    booking = or_abort(lambda: service.get_booking(current_user, booking_id))
    if not can_edit_booking(current_user, booking):
        abort(403)
    ids = [parse_id(v) for v in request.form.getlist("contact_ids")]
    try:
        service.set_contacts(booking, [i for i in ids if i] if all(ids) else [0],
                             actor=current_user)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _refused(booking_id, error.status)
    db.session.commit()
    flash(_("Invitations saved."), "success")
    return redirect(url_for("bookings.detail", booking_id=booking_id) + "#contacts", 303)
