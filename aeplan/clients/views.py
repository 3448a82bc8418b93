from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from aeplan.bookings.service import client_bookings
from aeplan.clients import service
from aeplan.clients.forms import ClientForm, ContactForm
from aeplan.clients.models import INDUSTRIES, TIERS
from aeplan.extensions import db
from aeplan.forms import options
from aeplan.permissions import can_book, can_edit_client
from aeplan.trips.service import trips_for_client
from aeplan.views import attempt, int_arg, or_abort, page_arg

bp = Blueprint("clients", __name__, url_prefix="/clients")


@bp.before_request
@login_required
def _signed_in():
    pass


def _owner_choices(form: ClientForm) -> None:
    form.owner_id.choices = options((u.id, u.name) for u in service.account_executives())


def _input(form: ClientForm) -> service.ClientInput:
    return service.ClientInput(
        name=form.name.data or "", industry=form.industry.data, tier=form.tier.data,
        owner_id=form.owner_id.data, timezone=form.timezone.data,
        cadence_days=form.cadence_days.data or 0, gift_rules=bool(form.gift_rules.data),
        notes=form.notes.data or "",
    )


@bp.get("/")
def index():
    industry, tier = request.args.get("industry", ""), request.args.get("tier", "")
    filters = service.ClientFilters(
        q=request.args.get("q", "")[:100],
        industry=industry if industry in INDUSTRIES else "",
        tier=tier if tier in TIERS else "",
        owner_id=int_arg("owner"),
        archived=request.args.get("archived") == "1",
    )
    page = page_arg()
    per_page = 25
    rows, total = or_abort(lambda: service.list_clients(current_user, filters, page=page,
                                                        per_page=per_page))
    return render_template(
        "clients/index.html", clients=rows, total=total, page=page, per_page=per_page,
        filters=filters, industries=INDUSTRIES, tiers=TIERS, aes=service.account_executives(),
        can_create=can_book(current_user),
    )


@bp.route("/new", methods=["GET", "POST"])
def create():
    if not can_book(current_user):
        abort(403)
    form = ClientForm()
    _owner_choices(form)
    if request.method == "GET":
        form.owner_id.data = current_user.id
        form.timezone.data = current_user.timezone
    client, status = attempt(form, lambda: service.create_client(_input(form), actor=current_user))
    if client is not None:
        flash(_("Client %(name)s created.", name=client.name), "success")
        return redirect(url_for("clients.detail", client_id=client.id), 303)
    return render_template("clients/form.html", form=form, client=None), status


@bp.get("/<int:client_id>")
def detail(client_id: int):
    client = or_abort(lambda: service.get_client(current_user, client_id))
    return _detail_page(client, ContactForm())


def _detail_page(client, contact_form, status=200):
    return render_template(
        "clients/detail.html", client=client,
        bookings=client_bookings(client, current_user),
        can_edit=can_edit_client(current_user, client),
        contact_form=contact_form, trips=trips_for_client(client, current_user),
        feed=_client_feed(client),
    ), status


def _client_feed(client):
    """The client's calendar feed links for its AE and managers, else None."""
    from aeplan.calendar.service import can_follow_client, feed_token
    from aeplan.calendar.views import feed_key, feed_links

    if not can_follow_client(current_user, client):
        return None
    had_secret = bool(current_user.feed_secret)
    links = feed_links(feed_token(current_user, feed_key(), client=client))
    if not had_secret:
        db.session.commit()  # the first link issues the user's feed secret
    return links


@bp.route("/<int:client_id>/edit", methods=["GET", "POST"])
def edit(client_id: int):
    client = or_abort(lambda: service.get_client(current_user, client_id))
    if not can_edit_client(current_user, client):
        abort(403)
    form = ClientForm(obj=client)
    _owner_choices(form)
    result, status = attempt(form, lambda: service.update_client(client, _input(form),
                                                                 actor=current_user))
    if result is not None:
        flash(_("Client saved."), "success")
        return redirect(url_for("clients.detail", client_id=client.id), 303)
    return render_template("clients/form.html", form=form, client=client), status


@bp.post("/<int:client_id>/archive")
def archive(client_id: int):
    client = or_abort(lambda: service.get_client(current_user, client_id))
    archived = request.form.get("archived", "1") == "1"
    or_abort(lambda: service.set_archived(client, archived, actor=current_user))
    db.session.commit()
    flash(_("Client archived.") if archived else _("Client restored."), "success")
    return redirect(url_for("clients.detail", client_id=client.id), 303)


@bp.post("/<int:client_id>/contacts")
def add_contact(client_id: int):
    client = or_abort(lambda: service.get_client(current_user, client_id))
    if not can_edit_client(current_user, client):
        abort(403)
    form = ContactForm()
    contact, status = attempt(form, lambda: service.add_contact(
        client, name=form.name.data or "", email=form.email.data or "",
        title=form.title.data or "", actor=current_user))
    if contact is not None:
        flash(_("Contact added."), "success")
        return redirect(url_for("clients.detail", client_id=client.id) + "#contacts", 303)
    return _detail_page(service.get_client(current_user, client_id), form, status)
