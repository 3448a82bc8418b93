import time
import unicodedata
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from aeplan.auth import service
from aeplan.auth.forms import LoginForm, PasswordForm, SettingsForm
from aeplan.errors import DomainError
from aeplan.extensions import db
from aeplan.forms import apply_error
from aeplan.transactions import reads_first, switch_to_write

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str | None:
    """Accept `next` only as a path on this site: no scheme, no host, no '//' or '\\', and
    no control or whitespace characters (browsers drop tabs and newlines from URLs, and
    a Location header cannot carry them)."""
    if not target or not target.startswith("/") or target.startswith("//") \
            or "\\" in target or any(_unsafe(ch) for ch in target):
        return None
    try:
        parts = urlsplit(target)
    except ValueError:
        return None
    if parts.scheme or parts.netloc:
        return None
    return target


def _unsafe(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "CZ"


@bp.route("/login", methods=["GET", "POST"])
@reads_first
def login():
    """Sign in. A refused sign-in answers 401 (429 with Retry-After when this address has
    failed too often); an account under attack is slowed down, never locked (see
    service.Throttle)."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    status = 200
    headers = {}
    if form.validate_on_submit():
        address = request.remote_addr or "unknown"
        try:
            wait = service.sign_in_delay(form.email.data, address,
                                         service.Throttle.from_config(current_app.config))
            db.session.rollback()  # hold no transaction (nor SQLite's lock) while waiting
            time.sleep(wait)
            switch_to_write()
            user = service.authenticate(form.email.data, form.password.data, address)
        except service.Throttled as error:
            db.session.rollback()
            form.form_errors.append(error.message)
            status, headers = 429, {"Retry-After": str(error.retry_after)}
        except DomainError as error:
            db.session.commit()  # keep the recorded failure
            form.form_errors.append(error.message)
            status = 401
        else:
            db.session.commit()
            session.clear()  # a fresh session: nothing carried over from before sign-in
            login_user(user)
            return redirect(safe_next(request.args.get("next")) or url_for("main.index"), 303)
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status, headers


@bp.post("/logout")
def logout():
    """Sign out: this session, and every other of this user, ends on the server (a copy
    of the cookie is indistinguishable from the browser it was taken from)."""
    return _end_sessions(_("You are signed out."))


@bp.post("/profile/sign-out-everywhere")
@login_required
def sign_out_everywhere():
    return _end_sessions(_("You are signed out everywhere: on this device and on every other."))


def _end_sessions(message: str):
    """End every session of the signed-in user on the server, and this browser's."""
    if current_user.is_authenticated:
        service.end_sessions(current_user)
        db.session.commit()
    logout_user()
    session.clear()
    flash(message, "info")
    return redirect(url_for("auth.login"), 303)


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    settings = SettingsForm(obj=current_user, prefix="settings")
    password = PasswordForm(prefix="password")
    status = 200
    if request.method == "POST":
        which = request.form.get("form")
        form = settings if which == "settings" else password
        if form.validate_on_submit():
            try:
                if which == "settings":
                    service.update_own_settings(current_user, timezone=settings.timezone.data,
                                                locale=settings.locale.data)
                    message = _("Your settings are saved.")
                else:
                    service.change_password(current_user, password.current_password.data,
                                            password.new_password.data)
                    message = _("Your password is changed. Other devices are signed out.")
            except DomainError as error:
                db.session.rollback()
                apply_error(form, error)
                status = 422
            else:
                db.session.commit()
                if which != "settings":
                    # Every session has ended; this browser carries on under a new one.
                    login_user(current_user._get_current_object())
                flash(message, "success")
                return redirect(url_for("auth.profile"), 303)
        else:
            status = 422
    from aeplan.calendar.service import feed_token
    from aeplan.calendar.views import feed_key, feed_links

    had_secret = bool(current_user.feed_secret)
    links = feed_links(feed_token(current_user, feed_key()))
    if not had_secret:
        db.session.commit()  # the first visit issues the feed secret
    return render_template("auth/profile.html", settings=settings, password=password,
                           links=links), status
