from datetime import timedelta

from flask import Blueprint, current_app, redirect, render_template, url_for
from flask_login import current_user, login_required

from aeplan.bookings.service import bookings_between, recent_answers
from aeplan.extensions import db
from aeplan.outage import RETRY_AFTER_SECONDS, probe
from aeplan.reports import service as reports
from aeplan.staffing import service as staffing
from aeplan.timeutil import day_start_utc, monday_of, now_utc, utc_to_local
from aeplan.transactions import without_session

bp = Blueprint("main", __name__)


@bp.get("/livez")
@without_session
def livez():
    """Liveness: the process answers, without touching the database (a database outage
    must not make a supervisor restart healthy workers). Benchmarks use it as the trivial
    route that every other route is measured against."""
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/healthz")
@without_session
def healthz():
    """Readiness: 200 when the database answers, else 503 within
    AEPLAN_DB_CONNECT_TIMEOUT seconds, whether it is down or silent."""
    if probe(db.engine, current_app.config.get("AEPLAN_DB_CONNECT_TIMEOUT", 2)):
        return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}
    return "database unavailable", 503, {"Content-Type": "text/plain; charset=utf-8",
                                         "Retry-After": str(RETRY_AFTER_SECONDS)}


@bp.get("/")
@login_required
def index():
    """The start page: this week and the next, what is short of staff, what changed; for
    an AE also their most overdue accounts and their next bookings."""
    if current_user.is_support:
        return redirect(url_for("staffing.mine"))
    zone = current_user.timezone
    now = now_utc()
    today = utc_to_local(now, zone).date()
    start = day_start_utc(monday_of(today), zone)
    end = start + timedelta(days=14)
    owner_id = current_user.id if current_user.is_ae else None
    bookings = bookings_between(current_user, start, end, owner_id=owner_id,
                                include_cancelled=False)
    short = staffing.needing_staff(current_user, limit=10)
    overdue, overdue_total, upcoming = [], 0, []
    if current_user.is_ae:  # whom to contact next, and what is booked already
        overdue, overdue_total = reports.overdue_accounts(current_user, today=today, now=now)
        upcoming = reports.next_bookings(current_user, now=now)
    return render_template(
        "main/index.html",
        this_week=[b for b in bookings if b.starts_at < start + timedelta(days=7)],
        next_week=[b for b in bookings if b.starts_at >= start + timedelta(days=7)],
        staffing=staffing.staffing_for(bookings + short), short=short,
        clashes=staffing.time_off_clashes(current_user, limit=10),
        answers=recent_answers(current_user), today=today,
        overdue=overdue, overdue_total=overdue_total, upcoming=upcoming,
    )
