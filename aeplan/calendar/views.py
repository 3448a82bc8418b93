"""Week and month views of bookings in the viewer's timezone; invitations and feeds."""
from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from aeplan.bookings.service import bookings_between, get_booking
from aeplan.calendar import service
from aeplan.calendar.grid import month_grid, week_days
from aeplan.clients.service import account_executives
from aeplan.extensions import db
from aeplan.staffing.service import staffing_for
from aeplan.timeutil import day_start_utc, now_utc, parse_day, utc_to_local
from aeplan.views import int_arg, or_abort

bp = Blueprint("calendar", __name__)


@bp.get("/calendar")
@login_required
def show():
    view = "month" if request.args.get("view") == "month" else "week"
    zone = current_user.timezone
    anchor = parse_day(request.args.get("date", "")) or utc_to_local(now_utc(), zone).date()
    scope = request.args.get("scope")
    owner_id = int_arg("owner")
    if owner_id is None and current_user.is_ae and scope != "all":
        owner_id = current_user.id
    if view == "week":
        days = week_days(anchor)
        prev_date, next_date = anchor - timedelta(days=7), anchor + timedelta(days=7)
    else:
        days = month_grid(anchor)
        first = anchor.replace(day=1)
        prev_date = (first - timedelta(days=1)).replace(day=1)
        next_date = (first + timedelta(days=32)).replace(day=1)
    start = day_start_utc(days[0], zone)
    end = day_start_utc(days[-1] + timedelta(days=1), zone)
    bookings = bookings_between(current_user, start, end, owner_id=owner_id)
    by_day = {d: [] for d in days}
    for booking in bookings:
        first_day = utc_to_local(booking.starts_at, zone).date()
        last_day = utc_to_local(booking.ends_at - timedelta(microseconds=1), zone).date()
        current = max(first_day, days[0])
        while current <= min(last_day, days[-1]):
            by_day[current].append(booking)
            current += timedelta(days=1)
    return render_template(
        "calendar/show.html", view=view, anchor=anchor, days=days, by_day=by_day,
        staffing=staffing_for(bookings),
        prev_date=prev_date, next_date=next_date, owner_id=owner_id, scope=scope,
        today=utc_to_local(now_utc(), zone).date(),
        aes=account_executives() if not current_user.is_support else [],
    )


def base_url() -> str:
    return current_app.config.get("AEPLAN_BASE_URL") or request.url_root.rstrip("/")


def feed_key() -> bytes:
    return service.key_from_config(current_app.config)


def feed_links(token: str) -> dict:
    https = base_url() + service.feed_url_path(token)
    return {"https": https, "webcal": "webcal://" + https.split("://", 1)[1]}


def _ics(body: bytes, *, filename: str, method: str | None = None) -> Response:
    content_type = "text/calendar; charset=utf-8"
    if method:
        content_type += f"; method={method}"
    response = Response(body, content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/bookings/<int:booking_id>/invite.ics")
@login_required
def invite(booking_id: int):
    """The booking as an iTIP invitation: METHOD:REQUEST, or METHOD:CANCEL once cancelled."""
    or_abort(lambda: get_booking(current_user, booking_id))
    booking = service.load_for_calendar(booking_id)
    body = service.invitation(booking, base_url=base_url())
    method = "CANCEL" if booking.is_cancelled else "REQUEST"
    response = _ics(body, filename=f"booking-{booking.id}.ics", method=method)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _not_modified(validators: service.FeedBody) -> bool:
    tags = request.if_none_match
    if tags:  # If-None-Match compares weakly (RFC 9110 13.1.2)
        return tags.contains_weak(validators.etag) or \
            tags.contains_weak(validators.etag + "-gz")
    since = request.if_modified_since
    return since is not None and validators.last_modified <= since


@bp.get("/feeds/<token>.ics")
def feed(token: str):
    """A personal subscription feed; no sign-in, the token is the credential."""
    key = feed_key()
    gzip_ok = any(value == "gzip" and quality > 0 for value, quality in request.accept_encodings)
    validators = service.cached_validators(token, key)
    if validators is None or not _not_modified(validators):
        # Not answerable from the cache's validators alone: resolve the token fully and
        # get the current bytes (rebuilt only if the data changed). Unchanged bytes keep
        # their ETag, so the client may still get its 304.
        resolved = service.resolve_token(token, key)
        if resolved is None:
            abort(404)
        validators = service.feed_body(resolved, base_url=base_url())
    if _not_modified(validators):
        response = Response(status=304)
    else:
        body = validators.body_gzip if gzip_ok else validators.body
        response = _ics(body, filename="aeplan.ics")
        if gzip_ok:
            response.headers["Content-Encoding"] = "gzip"
    response.set_etag(validators.etag + ("-gz" if gzip_ok else ""))
    response.last_modified = validators.last_modified
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Vary"] = "Accept-Encoding"
    return response


@bp.post("/profile/feed/rotate")
@login_required
def rotate_feed():
    service.rotate_feed_secret(current_user)
    db.session.commit()
    flash(_("Your calendar links are new; the old ones no longer work."), "success")
    return redirect(url_for("auth.profile") + "#calendar", 303)

