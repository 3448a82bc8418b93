"""Week and month views of bookings, in the viewer's timezone."""
from datetime import timedelta

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from aeplan.bookings.service import bookings_between
from aeplan.calendar.grid import month_grid, week_days
from aeplan.clients.service import account_executives
from aeplan.staffing.service import staffing_for
from aeplan.timeutil import day_start_utc, now_utc, parse_day, utc_to_local
from aeplan.views import int_arg

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
