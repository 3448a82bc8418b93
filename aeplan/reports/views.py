"""Client coverage and reports: pages, and the same figures as CSV at the same URL + .csv.

Support staff get 403 (the services refuse them); AEs see their own clients and
themselves, managers everything.
"""
from __future__ import annotations

import io
import itertools
import re
from datetime import date, timedelta

from babel.numbers import format_decimal
from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import format_date, get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required

from aeplan.clients.models import INDUSTRIES, TIERS
from aeplan.clients.service import account_executives
from aeplan.errors import Invalid
from aeplan.reports import chart, service
from aeplan.timeutil import now_utc, utc_to_local
from aeplan.trips import money
from aeplan.views import int_arg, or_abort, page_arg

bp = Blueprint("reports", __name__, url_prefix="/reports")
PER_PAGE = 100


@bp.before_request
@login_required
def _signed_in():
    """Support staff are refused before any input is looked at (403)."""
    or_abort(lambda: service.require_reports(current_user))


@bp.app_template_filter("hours_on_site")
def hours_on_site_filter(minutes: int) -> str:
    """Hours with up to two decimals in the viewer's locale: the CSV's number."""
    return _("%(h)s h", h=format_decimal(service.hours_on_site(minutes), locale=get_locale(),
                                         format="#,##0.##"))


def _today():
    now = now_utc()
    return utc_to_local(now, current_user.timezone).date(), now


# --- CSV ----------------------------------------------------------------------------------

def _amount(minor: int, currency: str) -> str:
    """1234.50 for EUR, 1234 for JPY: the currency's own decimals, no grouping."""
    return format(money.to_decimal(minor, currency), f".{money.precision(currency)}f")


# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Where a spreadsheet may cut a cell into several: the comma, the semicolon (the German
# default list separator) and the tab, whatever delimiter the file was written with.
SPLITS = re.compile(r"([,;\t\r\n])")
MUST_QUOTE = frozenset(',;\t\r\n"')


def _cell(value):
    """Text a spreadsheet would run as a formula is defused with a leading ': the whole
    cell, and every piece a reader splitting on , ; or tab would make of it
    ("Acme;=1+1;x" -> "Acme;'=1+1;x")."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    pieces = SPLITS.split(value)  # separators at odd indices
    for i in range(0, len(pieces), 2):
        text = pieces[i].lstrip(" ")
        if text[:1] in FORMULA_START and text:
            pieces[i] = pieces[i][:len(pieces[i]) - len(text)] + "'" + text
    cell = "".join(pieces)
    return "'" + cell if cell[:1] in FORMULA_START and cell else cell


def _field(value) -> str:
    """One CSV field: quoted when it holds a quote, a line break or any separator a
    spreadsheet may use (not only the comma), so that a reader splitting on ; or tab keeps
    it whole."""
    text = str(value)
    if MUST_QUOTE.intersection(text) or text != text.strip(" "):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv(filename: str, header: list[str], rows) -> Response:
    out = io.StringIO()
    out.write("\ufeff")  # a byte-order mark, so that Excel reads UTF-8 (ü, é, ß) right
    for row in itertools.chain([header], rows):
        out.write(",".join(_field(_cell(v)) for v in row) + "\r\n")
    return Response(out.getvalue(), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "private, no-store"})


def _costs(cost: dict[str, int], currencies: list[str]) -> list[str]:
    return [_amount(cost.get(c, 0), c) for c in currencies]


# --- coverage -----------------------------------------------------------------------------

def _coverage_filters() -> service.CoverageFilters:
    tier, industry = request.args.get("tier", ""), request.args.get("industry", "")
    return service.CoverageFilters(
        owner_id=int_arg("owner"), tier=tier if tier in TIERS else "",
        industry=industry if industry in INDUSTRIES else "",
        overdue_only=request.args.get("overdue") == "1")


@bp.get("/")
def index():
    return redirect(url_for("reports.clients"))


@bp.get("/coverage")
def coverage():
    """Every client the viewer covers, most urgent first. 403 for support staff."""
    today, now = _today()
    filters = _coverage_filters()
    rows = service.coverage(current_user, today=today, now=now, filters=filters,
                            details=False)
    page = page_arg()
    shown = rows[(page - 1) * PER_PAGE:page * PER_PAGE]
    service.add_details(shown, current_user, today=today)
    return render_template(
        "reports/coverage.html", rows=shown,
        total=len(rows), overdue=sum(1 for r in rows if r.is_overdue), page=page,
        per_page=PER_PAGE, filters=filters, today=today, tiers=TIERS, industries=INDUSTRIES,
        aes=account_executives() if current_user.is_manager else [],
        quarter_first=service.quarter_of(today)[0],
        csv_url=url_for("reports.coverage_csv", **{k: v for k, v in request.args.items()
                                                    if k != "page"}))


@bp.get("/coverage.csv")
def coverage_csv():
    today, now = _today()
    rows = service.coverage(current_user, today=today, now=now, filters=_coverage_filters())
    currencies = service.currencies_in(r.travel_cost for r in rows)
    header = ["client_id", "client", "tier", "industry", "owner", "cadence_days",
              "last_contact", "next_booking", "contact_due", "days_overdue", "trips",
              "visits_quarter", "demos_quarter", "visits_year", "demos_year",
              *[f"travel_cost_{c}" for c in currencies]]

    def lines():
        zone = current_user.timezone
        for r in rows:
            upcoming = r.next_booking
            yield [r.client.id, r.client.name, r.client.tier, r.client.industry,
                   r.client.owner.name, r.client.cadence_days,
                   r.last_contact_on.isoformat() if r.last_contact_on else "",
                   utc_to_local(upcoming.starts_at, zone).date().isoformat() if upcoming else "",
                   r.due_on.isoformat(), r.days_overdue, r.trips, r.visits_quarter,
                   r.demos_quarter, r.visits_year, r.demos_year,
                   *_costs(r.travel_cost, currencies)]
    return _csv(f"coverage-{today.isoformat()}.csv", header, lines())


# --- reports ------------------------------------------------------------------------------

REPORTS = {
    "clients": service.client_report,
    "aes": service.ae_report,
    "staff": service.staff_report,
}


def _period(today: date) -> service.Period:
    return service.parse_period(request.args.get("from"), request.args.get("to"), today=today)


def _presets(today: date) -> list[tuple[str, date, date]]:
    quarter, following = service.quarter_of(today)
    previous = service.quarter_of(quarter - timedelta(days=1))[0]
    return [
        (_("This quarter"), quarter, following - timedelta(days=1)),
        (_("Last quarter"), previous, quarter - timedelta(days=1)),
        (_("This year"), date(today.year, 1, 1), date(today.year, 12, 31)),
        (_("Last year"), date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
    ]


def _others(kind: str):
    if kind == "clients":
        return lambda n: ngettext("%(num)d other client", "%(num)d other clients", n)
    return lambda n: ngettext("%(num)d other AE", "%(num)d other AEs", n)


def _chart(report: service.Report, labels: list[str]):
    """The SVG of the busiest few, and every series (name, bookings per month) for the
    table beside it, the rest together last: with thousands of clients "the rest" would
    dwarf the bars, so it is counted in the table only."""
    if report.kind == "staff":
        return None, []
    series = report.chart_rows(_others(report.kind))
    who = _("client") if report.kind == "clients" else _("account executive")
    desc = _("Stacked bars: non-cancelled bookings per month from %(first)s to %(last)s, one "
             "colour per %(who)s, for the %(n)s with most bookings. The table beside the chart "
             "gives the same numbers, and the rest together.",
             first=format_date(report.period.first, "d MMM y"),
             last=format_date(report.period.last, "d MMM y"), who=who, n=service.CHART_SERIES)
    svg = chart.stacked_bars(
        labels, series[:service.CHART_SERIES], id_prefix=f"chart-{report.kind}",
        title=_("Bookings per month per client") if report.kind == "clients"
        else _("Bookings per month per account executive"),
        desc=desc,
        describe=lambda name, month, value: ngettext(
            "%(name)s, %(month)s: %(num)d booking", "%(name)s, %(month)s: %(num)d bookings",
            value, name=name, month=month))
    return svg, series


def _report_page(kind: str):
    """One report over the period in `from`/`to` (default: this quarter). A bad period
    answers 400 with the reason beside the form. 403 for support staff."""
    today, _now = _today()
    presets = _presets(today)
    try:
        period = _period(today)
    except Invalid as error:
        return render_template(
            f"reports/{kind}.html", kind=kind, report=None, error=error.message,
            error_field=error.field, from_text=request.args.get("from", "")[:40],
            to_text=request.args.get("to", "")[:40], presets=presets), 400
    report = REPORTS[kind](current_user, period)
    labels = [format_date(m, "MMM y") for m in report.months]
    svg, series = _chart(report, labels)
    page = page_arg()
    return render_template(
        f"reports/{kind}.html", kind=kind, report=report, error=None, error_field=None,
        rows=report.rows[(page - 1) * PER_PAGE:page * PER_PAGE], page=page, per_page=PER_PAGE,
        from_text=period.first.isoformat(), to_text=period.last.isoformat(), presets=presets,
        chart=svg, series=series, month_labels=labels,
        csv_url=url_for(f"reports.{kind}_csv", **{"from": period.first.isoformat(),
                                                  "to": period.last.isoformat()}))


def _bad_period(error: Invalid) -> Response:
    return Response(error.message + "\n", status=400,
                    content_type="text/plain; charset=utf-8")


def _report_csv(kind: str) -> Response:
    today, _now = _today()
    try:
        period = _period(today)
    except Invalid as error:
        return _bad_period(error)
    report = REPORTS[kind](current_user, period)
    currencies = report.currencies
    money_columns = [f"travel_cost_{c}" for c in currencies]
    if kind == "clients":
        header = ["client_id", "client", "tier", "industry", "owner", "bookings", "demos",
                  "visits", "done", "hours_on_site", "trips", *money_columns]
        lines = ([r.id, r.name, r.client.tier, r.client.industry, r.client.owner.name,
                  *_figures(r.activity), *_costs(r.activity.travel_cost, currencies)]
                 for r in report.rows)
    elif kind == "aes":
        header = ["user_id", "account_executive", "email", "bookings", "clients", "demos",
                  "visits", "done", "hours_on_site", "trips", *money_columns]
        lines = ([r.id, r.name, r.person.email, r.activity.bookings, r.activity.clients,
                  *_figures(r.activity)[1:], *_costs(r.activity.travel_cost, currencies)]
                 for r in report.rows)
    else:
        header = ["user_id", "person", "email", "discipline", "bookings", "demos", "visits",
                  "done", "hours_on_site", "trips", *money_columns]
        lines = ([r.id, r.name, r.person.email, r.person.discipline or "",
                  *_figures(r.activity), *_costs(r.activity.travel_cost, currencies)]
                 for r in report.rows)
    name = f"{kind}-{period.first.isoformat()}-to-{period.last.isoformat()}.csv"
    return _csv(name, header, lines)


def _figures(a: service.Activity) -> list:
    return [a.bookings, a.demos, a.visits, a.done, str(a.hours_on_site), a.trips]


@bp.get("/clients")
def clients():
    return _report_page("clients")


@bp.get("/clients.csv")
def clients_csv():
    return _report_csv("clients")


@bp.get("/aes")
def aes():
    return _report_page("aes")


@bp.get("/aes.csv")
def aes_csv():
    return _report_csv("aes")


@bp.get("/staff")
def staff():
    return _report_page("staff")


@bp.get("/staff.csv")
def staff_csv():
    return _report_csv("staff")
