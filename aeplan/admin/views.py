from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user

from aeplan.auth import service
from aeplan.auth.forms import UserForm
from aeplan.auth.models import User
from aeplan.extensions import db
from aeplan.views import attempt, or_abort

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def _admins_only():
    if not current_user.is_admin:
        abort(403)


def _input(form: UserForm) -> service.UserInput:
    return service.UserInput(
        email=form.email.data or "", name=form.name.data or "", role=form.role.data,
        discipline=form.discipline.data or None, skills=form.skills.data or "",
        timezone=form.timezone.data, password=form.password.data or None,
    )


@bp.get("/")
def index():
    return redirect(url_for("admin.users"))


@bp.get("/users/")
def users():
    return render_template("admin/users.html", users=service.list_users(actor=current_user))


@bp.route("/users/new", methods=["GET", "POST"])
def create_user():
    form = UserForm()
    user, status = attempt(form, lambda: service.create_user(_input(form), actor=current_user))
    if user is not None:
        flash(_("Account for %(name)s created.", name=user.name), "success")
        return redirect(url_for("admin.users"), 303)
    return render_template("admin/user_form.html", form=form, user=None), status


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
def edit_user(user_id: int):
    user = db.get_or_404(User, user_id)
    form = UserForm(obj=user)
    if request.method == "GET":
        form.password.data = ""
        form.discipline.data = user.discipline or ""
    result, status = attempt(form, lambda: service.update_user(user, _input(form),
                                                               actor=current_user))
    if result is not None:
        if result.id == current_user.id:
            # Setting one's own password ends one's sessions; this browser carries on.
            login_user(result)
        flash(_("Account saved."), "success")
        return redirect(url_for("admin.users"), 303)
    return render_template("admin/user_form.html", form=form, user=user), status


@bp.post("/users/<int:user_id>/active")
def set_active(user_id: int):
    user = db.get_or_404(User, user_id)
    active = request.form.get("active") == "1"
    or_abort(lambda: service.set_active(user, active, actor=current_user))
    db.session.commit()
    if active:
        flash(_("%(name)s can sign in again.", name=user.name), "success")
    else:
        flash(_("%(name)s is deactivated: sign-in stops, history stays.", name=user.name),
              "success")
    return redirect(url_for("admin.users"), 303)
