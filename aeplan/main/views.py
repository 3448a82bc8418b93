from datetime import timedelta

from flask import Blueprint, render_template
from flask_login import current_user, login_required
from sqlalchemy import text

from aeplan.bookings.service import bookings_between
from aeplan.extensions import db
from aeplan.staffing.service import understaffed
from aeplan.timeutil import day_start_utc, monday_of, now_utc, utc_to_local

bp = Blueprint("main", __name__)


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        db.session.rollback()
        return "database unavailable", 503, {"Content-Type": "text/plain; charset=utf-8"}
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/")
@login_required
def index():
    """The start page: this week and the next for the signed-in person."""
    zone = current_user.timezone
    today = utc_to_local(now_utc(), zone).date()
    start = day_start_utc(monday_of(today), zone)
    end = start + timedelta(days=14)
    owner_id = current_user.id if current_user.is_ae else None
    bookings = bookings_between(current_user, start, end, owner_id=owner_id,
                                include_cancelled=False)
    this_week = [b for b in bookings if b.starts_at < start + timedelta(days=7)]
    next_week = [b for b in bookings if b.starts_at >= start + timedelta(days=7)]
    short = understaffed([b for b in bookings if b.needs_total and b.ends_at > now_utc()])
    short.sort(key=lambda b: (not b.client.is_key_account, b.starts_at))
    return render_template("main/index.html", this_week=this_week, next_week=next_week,
                           short=short, today=today)
