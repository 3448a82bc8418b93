"""Trip pages: plan a trip, add stops and travellers, record and attribute expenses."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from aeplan.auth.models import User
from aeplan.bookings.models import Booking
from aeplan.clients.service import account_executives
from aeplan.errors import DomainError, Invalid
from aeplan.extensions import db
from aeplan.forms import options
from aeplan.transactions import valid_id
from aeplan.trips import money, service
from aeplan.trips.forms import ExpenseForm, StopForm, TravellerForm, TripForm
from aeplan.trips.models import Expense
from aeplan.views import attempt, or_abort

bp = Blueprint("trips", __name__, url_prefix="/trips")


@bp.before_request
@login_required
def _signed_in():
    pass


def _trip_input(form: TripForm) -> service.TripInput:
    return service.TripInput(
        title=form.title.data or "", destination=form.destination.data or "",
        timezone=form.timezone.data, starts_on=form.starts_on.data, ends_on=form.ends_on.data,
        notes=form.notes.data or "", owner_id=form.owner_id.data,
    )


def _owner_choices(form: TripForm) -> None:
    form.owner_id.choices = options((u.id, u.name) for u in account_executives())


@bp.get("/")
def index():
    past = request.args.get("past") == "1"
    trips = service.list_trips(current_user, include_past=past)
    return render_template("trips/index.html", trips=trips, past=past,
                           summaries=service.summarise(trips),
                           can_create=current_user.role in ("ae", "manager", "admin"))


@bp.route("/new", methods=["GET", "POST"])
def create():
    if current_user.role not in ("ae", "manager", "admin"):
        abort(403)
    form = TripForm()
    _owner_choices(form)
    if request.method == "GET":
        form.timezone.data = current_user.timezone
        form.owner_id.data = current_user.id
    trip, status = attempt(form, lambda: service.create_trip(_trip_input(form),
                                                             actor=current_user))
    if trip is not None:
        flash(_("Trip created. Add its stops and travellers."), "success")
        return redirect(url_for("trips.detail", trip_id=trip.id), 303)
    return render_template("trips/form.html", form=form, trip=None), status


def _page(trip_id: int, *, expense_form=None, traveller_form=None, stop_form=None,
          status: int = 200):
    trip = or_abort(lambda: service.get_trip(current_user, trip_id))
    summary = service.summarise([trip])[trip.id]
    can_edit = service.can_edit_trip(current_user, trip) and not trip.is_cancelled
    expense_form = expense_form or ExpenseForm(currency=_last_currency(trip))
    expense_form.client_id.choices = options([(0, _("—"))] +
                                             [(c.id, c.name) for c in summary.clients])
    traveller_form = traveller_form or TravellerForm()
    taken = {trip.owner_id, *(t.id for t in trip.travellers)}
    people = db.session.scalars(
        db.select(User).where(User.active.is_(True), User.role.in_(("support", "ae")))
        .order_by(User.role.desc(), User.name)
    ).all() if can_edit else []
    traveller_form.user_id.choices = options(
        [(0, _("Choose…"))] + [(u.id, f"{u.name} ({u.discipline or u.role})")
                               for u in people if u.id not in taken])
    stop_form = stop_form or StopForm()
    attachable = service.attachable_bookings(trip) if can_edit else []
    stop_form.booking_id.choices = options(
        [(0, _("Choose…"))] + [(b.id, f"{b.client.name}: {b.title}") for b in attachable])
    return render_template(
        "trips/detail.html", trip=trip, summary=summary, can_edit=can_edit,
        expense_form=expense_form, traveller_form=traveller_form, stop_form=stop_form,
        attachable=attachable, money=money,
    ), status


def _last_currency(trip) -> str:
    live = [e for e in trip.expenses if e.removed_at is None]
    return live[-1].currency if live else "EUR"


@bp.get("/<int:trip_id>")
def detail(trip_id: int):
    return _page(trip_id)


@bp.route("/<int:trip_id>/edit", methods=["GET", "POST"])
def edit(trip_id: int):
    trip = or_abort(lambda: service.get_trip(current_user, trip_id))
    if not service.can_edit_trip(current_user, trip):
        abort(403)
    form = TripForm(obj=trip) if request.method == "GET" else TripForm()
    _owner_choices(form)
    result, status = attempt(form, lambda: service.update_trip(trip, _trip_input(form),
                                                               actor=current_user))
    if result is not None:
        flash(_("Trip saved."), "success")
        return redirect(url_for("trips.detail", trip_id=trip.id), 303)
    return render_template("trips/form.html", form=form, trip=trip), status


def _act(trip_id: int, action, success: str, anchor: str = ""):
    """Run a small POST action on a trip: commit and redirect, or show why not (4xx)."""
    try:
        action()
    except DomainError as error:
        db.session.rollback()
        if error.status in (403, 404) and not error.field:
            abort(error.status)
        flash(error.message, "error")
        return _page(trip_id, status=error.status)
    db.session.commit()
    flash(success, "success")
    return redirect(url_for("trips.detail", trip_id=trip_id) + anchor, 303)


@bp.post("/<int:trip_id>/cancel")
def cancel(trip_id: int):
    trip = or_abort(lambda: service.get_trip(current_user, trip_id))
    return _act(trip_id, lambda: service.cancel_trip(trip, actor=current_user),
                _("Trip cancelled. Its bookings stay, no longer on a trip."))


@bp.post("/<int:trip_id>/travellers")
def add_traveller(trip_id: int):
    trip = or_abort(lambda: service.get_trip(current_user, trip_id))
    if not service.can_edit_trip(current_user, trip):
        abort(403)
    form = TravellerForm()
    form.user_id.choices = []
    person = db.session.get(User, form.user_id.data) if valid_id(form.user_id.data) else None
    result, status = attempt(form, lambda: service.add_traveller(trip, person,
                                                                 actor=current_user))
    if result is None:
        return _page(trip_id, traveller_form=form, status=status)
    flash(_("%(name)s travels along.", name=person.name), "success")
    return redirect(url_for("trips.detail", trip_id=trip_id) + "#travellers", 303)


@bp.post("/<int:trip_id>/travellers/<int:user_id>/remove")
def remove_traveller(trip_id: int, user_id: int):
    trip = or_abort(lambda: service.get_trip(current_user, trip_id))
    person = db.get_or_404(User, user_id)
    return _act(trip_id, lambda: service.remove_traveller(trip, person, actor=current_user),
                _("%(name)s no longer travels along.", name=person.name), "#travellers")


@bp.post("/<int:trip_id>/stops")
def attach(trip_id: int):
    trip = or_abort(lambda: service.get_trip(current_user, trip_id))
    if not service.can_edit_trip(current_user, trip):
        abort(403)
    form = StopForm()
    form.booking_id.choices = []
    booking = db.session.get(Booking, form.booking_id.data) \
        if valid_id(form.booking_id.data) else None

    def action():
        if booking is None:
            raise Invalid("Choose a booking.", field="booking_id")
        return service.attach_stop(trip, booking, actor=current_user)

    result, status = attempt(form, action)
    if result is None:
        return _page(trip_id, stop_form=form, status=status)
    flash(_("Stop added."), "success")
    return redirect(url_for("trips.detail", trip_id=trip_id) + "#stops", 303)


@bp.post("/<int:trip_id>/stops/<int:booking_id>/detach")
def detach(trip_id: int, booking_id: int):
    trip = or_abort(lambda: service.get_trip(current_user, trip_id))
    booking = db.get_or_404(Booking, booking_id)
    return _act(trip_id, lambda: service.detach_stop(trip, booking, actor=current_user),
                _("The booking is no longer a stop on this trip."), "#stops")


@bp.post("/<int:trip_id>/expenses")
def add_expense(trip_id: int):
    trip = or_abort(lambda: service.get_trip(current_user, trip_id))
    if not service.can_edit_trip(current_user, trip):
        abort(403)
    form = ExpenseForm()
    form.client_id.choices = []
    data = service.ExpenseInput(
        category=form.category.data, amount=form.amount.data or "",
        currency=form.currency.data or "", spent_on=form.spent_on.data,
        allocation=form.allocation.data, client_id=form.client_id.data or None,
        note=form.note.data or "",
    )
    result, status = attempt(form, lambda: service.add_expense(trip, data, actor=current_user))
    if result is None:
        return _page(trip_id, expense_form=form, status=status)
    flash(_("Expense recorded."), "success")
    return redirect(url_for("trips.detail", trip_id=trip_id) + "#expenses", 303)


@bp.post("/<int:trip_id>/expenses/<int:expense_id>/remove")
def remove_expense(trip_id: int, expense_id: int):
    expense = db.get_or_404(Expense, expense_id)
    if expense.trip_id != trip_id:
        abort(404)
    or_abort(lambda: service.get_trip(current_user, trip_id))
    return _act(trip_id, lambda: service.remove_expense(expense, actor=current_user),
                _("Expense removed."), "#expenses")
