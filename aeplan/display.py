"""Jinja helpers: dates in the viewer's locale and zone, labels for stored choices."""
from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as babel_date
from flask import Flask, current_app, has_request_context, request, url_for
from flask_babel import (
    format_datetime,
    get_locale,
    get_timezone,
    get_translations,
)
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from aeplan.bookings.models import is_link

LABELS = {
    "demo": _l("Demo"),
    "visit": _l("Visit"),
    "tentative": _l("Tentative"),
    "confirmed": _l("Confirmed"),
    "done": _l("Done"),
    "cancelled": _l("Cancelled"),
    "key": _l("Key account"),
    "standard": _l("Standard"),
    "advertising": _l("Advertising"),
    "public_relations": _l("Public relations"),
    "financial_services": _l("Financial services"),
    "technology": _l("Technology"),
    "healthcare": _l("Healthcare"),
    "other": _l("Other"),
    "ae": _l("Account executive"),
    "support": _l("Support staff"),
    "manager": _l("Manager"),
    "admin": _l("Administrator"),
    "technical": _l("Technical"),
    "creative": _l("Creative"),
    "pending": _l("Pending"),
    "accepted": _l("Accepted"),
    "declined": _l("Declined"),
    "created": _l("Created"),
    "updated": _l("Changed"),
    "status": _l("Status changed"),
    "starts_at": _l("Start"),
    "ends_at": _l("End"),
    "timezone": _l("Timezone"),
    "location": _l("Location"),
    "agenda": _l("Agenda"),
    "title": _l("Title"),
    "kind": _l("Kind"),
    "client_id": _l("Client"),
    "needs_technical": _l("Technical staff needed"),
    "needs_creative": _l("Creative staff needed"),
    "needs_other": _l("Other staff needed"),
    "skills": _l("Skills wanted"),
    "travel_buffer_minutes": _l("Travel time (minutes)"),
    "staff": _l("Staff"),
    "contacts": _l("Client contacts invited"),
    "trip": _l("Trip"),
    "flight": _l("Flight"),
    "hotel": _l("Hotel"),
    "ground_transport": _l("Ground transport"),
    "meals": _l("Meals"),
    "client": _l("One client"),
    "even": _l("Split evenly across the trip's clients"),
    "hours": _l("Split by hours on site"),
    "staff_added": _l("Staff added"),
    "staff_removed": _l("Staff removed"),
    "staff_answer": _l("Staff answered"),
}

# A changed field's name where it differs from the word for its action: "status" is
# both, and a status change's line read "Status changed: tentative → confirmed".
FIELD_LABELS = {"status": _l("Status")}


class _Reader:
    """Who the page is for: locale, timezone and catalogue, looked up once per request.

    Row helpers ask for these hundreds of times a page; reading them from `g` went
    through Werkzeug's context proxy each time (about 0.9 ms of a 45-card page), so they
    live in a context variable that the end of each request (and app context) clears.
    """
    __slots__ = ("locale", "zone", "translations", "script_root")

    def __init__(self):
        self.locale = str(get_locale())
        self.zone = ZoneInfo(str(get_timezone()))
        self.translations = get_translations()
        self.script_root = request.script_root if has_request_context() else ""


_reader: ContextVar[_Reader | None] = ContextVar("aeplan_reader", default=None)


def _current() -> _Reader:
    reader = _reader.get()
    if reader is None:
        reader = _Reader()
        _reader.set(reader)
    return reader


def _forget_reader(_exc=None) -> None:
    _reader.set(None)


def _locale() -> str:
    return _current().locale


def _translations():
    """The request's catalogue. Flask-Babel's own template callables look it up on every
    string, which was most of a long list's render time."""
    return _current().translations


@lru_cache(maxsize=4096)
def _translation(msgid: str, locale: str) -> str:
    return _current().translations.ugettext(msgid)  # the request's catalogue is `locale`'s


def text(msgid: str, **variables) -> str:
    """gettext for helpers that run per row: Flask-Babel's own looks up the request's
    catalogue on every call. Each (message, language) is looked up once."""
    translated = _translation(msgid, _current().locale)
    return translated % variables if variables else translated


def _zone() -> ZoneInfo:
    return _current().zone


@lru_cache(maxsize=4096)
def _translated(value, locale: str) -> str:
    return str(LABELS.get(value, value))  # runs under `locale`, which is in the key


def label(value) -> str:
    if not isinstance(value, str | int):
        return str(value)
    return _translated(value, _locale())


def field_label(name: str) -> str:
    """The name of a booking field in its history."""
    return str(FIELD_LABELS[name]) if name in FIELD_LABELS else label(name)


def dt(value: datetime | None, fmt: str = "medium") -> str:
    return format_datetime(value, fmt) if value else ""


@lru_cache(maxsize=4096)
def _formatted_day(value, fmt: str, locale: str) -> str:
    return babel_date(value, fmt, locale=locale)


def day(value, fmt: str = "EEE d MMM") -> str:
    """A date in the reader's language (a datetime: its day in the reader's zone, naive
    ones taken as UTC, as Flask-Babel's format_date does). Calendars show dozens, so each
    (day, pattern, language) is formatted once."""
    if not value:
        return ""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        value = aware.astimezone(_zone()).date()
    return _formatted_day(value, fmt, _locale())


def hhmm(value: datetime) -> str:
    """24-hour clock time in the reader's zone, as dt(value, "HH:mm")."""
    local = value.astimezone(_zone())
    return f"{local.hour:02d}:{local.minute:02d}"


@lru_cache(maxsize=16)
def _twelve_hour(locale: str) -> bool:
    """Whether the locale writes times on a 12-hour clock (en_US yes, en_GB and de no)."""
    pattern = Locale.parse(locale).time_formats["short"].pattern
    return "h" in pattern or "K" in pattern


def _clock(value: datetime, twelve: bool) -> str:
    """14:05, or 2:05 PM; strftime took twice as long as the rest of a row's date."""
    if twelve:
        return f"{value.hour % 12 or 12}:{value.minute:02d} {'AM' if value.hour < 12 else 'PM'}"
    return f"{value.hour:02d}:{value.minute:02d}"


@lru_cache(maxsize=2048)
def _day_label(day, locale: str) -> str:
    return babel_date(day, "EEE d MMM y", locale=locale)


def when(booking) -> Markup:
    """'Tue 1 Dec 2026, 14:00–15:00' in the viewer's zone, plus the booking's own local
    times where its zone's offset differs. Lists call this per row, so it formats the
    clock itself and caches the localised day names."""
    reader = _current()
    locale, viewer = reader.locale, reader.zone
    twelve = _twelve_hour(locale)
    start, end = booking.starts_at.astimezone(viewer), booking.ends_at.astimezone(viewer)
    shown = f"{_day_label(start.date(), locale)}, {_clock(start, twelve)}–{_clock(end, twelve)}"
    if booking.timezone != viewer.key:
        own = ZoneInfo(booking.timezone)
        local_start = booking.starts_at.astimezone(own)
        if local_start.utcoffset() != start.utcoffset():
            local = (f"{_clock(local_start, twelve)}–"
                     f"{_clock(booking.ends_at.astimezone(own), twelve)} {booking.timezone}")
            return Markup(f'{escape(shown)} <span class="muted">({escape(local)})</span>')
    return escape(shown)


# Badges appear on every row of the lists; as Python they cost a tenth of a Jinja macro.
# They build their HTML with escape() and f-strings (Markup.format goes through
# string.Formatter, which cost more than the rest of a badge), once per language where
# they can. Templates use them, and row URLs, as filters: a filter is a plain call, while
# a function called from a template goes through Jinja's Context.call, which cost more
# than a badge itself.

_NO_BADGE = Markup("")


@lru_cache(maxsize=16)
def _key_badge(locale: str) -> Markup:
    return Markup(f'<span class="badge key" title="{escape(text("Key account"))}">'
                  f'★ {escape(text("Key"))}</span>')


def key_badge(client) -> Markup:
    """★ Key for a key account (a client, or a tier), else nothing."""
    if isinstance(client, str):
        if client != "key":
            return _NO_BADGE
    elif not getattr(client, "is_key_account", False):
        return _NO_BADGE
    return _key_badge(_locale())


@lru_cache(maxsize=256)
def _status_badge(status: str, locale: str) -> Markup:
    return Markup(f'<span class="badge status-{escape(status)}">{escape(label(status))}</span>')


def status_badge(status: str) -> Markup:
    return _status_badge(status, _locale())


def short_badge(booking, staffing) -> Markup:
    """"Understaffed", its title saying what is missing; `staffing` maps booking id to
    staffing.service.Staffing (staffing_for)."""
    state = staffing.get(booking.id) if staffing else None
    if state is None or booking.status == "cancelled":
        return _NO_BADGE
    short = state.short
    return _short_badge(tuple(short.items()), _locale()) if short else _NO_BADGE


@lru_cache(maxsize=256)
def _short_badge(short: tuple[tuple[str, int], ...], locale: str) -> Markup:
    missing = " ".join(f"{n} {label(d).lower()}" for d, n in short)
    return Markup(f'<span class="badge short" title="{escape(missing)}">'
                  f'{escape(text("Understaffed"))}</span>')


def colleagues(people) -> str:
    """'Mia Rossi (Creative), Sam Okafor (Technical)' from (name, role) pairs; empty
    for none. My assignments lists them on every card."""
    return ", ".join(f"{name} ({label(role)})" for name, role in people or ())


def person_options(people, selected) -> Markup:
    """The <option>s of a filter's person select (rows with id and name), the one whose
    id is `selected` chosen. Filters list every AE, and a Jinja loop turn per person was
    a sixth of the bookings list's template."""
    return Markup("".join(
        f'<option value="{p.id}"{" selected" if p.id == selected else ""}>{escape(p.name)}'
        "</option>" for p in people))


def hours(minutes: int) -> str:
    value = minutes / 60
    return f"{value:.0f} h" if value == int(value) else f"{value:.1f} h"


def suggestion_reason(s) -> str:
    """One line saying why a person ranks where they do. The find-staff page has one per
    person of a discipline, so the free people's lines (a handful of distinct ones) are
    made once per language and clocks are formatted without Babel."""
    reader = _current()
    if not s.clashes:
        return _free_reason(len(s.matched_skills), s.wanted_skills, s.week_minutes,
                            reader.locale)
    zone, twelve = reader.zone, _twelve_hour(reader.locale)
    parts = []
    for c in s.clashes[:2]:
        if c.kind == "time_off":
            parts.append(text("time off") + (f" ({c.title})" if c.title else ""))
        else:
            parts.append(text("on “%(title)s” %(start)s–%(end)s", title=c.title,
                              start=_clock(c.starts_at.astimezone(zone), twelve),
                              end=_clock(c.ends_at.astimezone(zone), twelve)))
    return ", ".join(parts)


@lru_cache(maxsize=1024)
def _free_reason(matched: int, wanted: int, minutes: int, locale: str) -> str:
    bits = [text("free")]  # text() translates into `locale`, the request's
    if wanted:
        bits.append(text("%(n)s of %(m)s skills", n=matched, m=wanted))
    bits.append(text("%(h)s this week", h=hours(minutes)))
    return ", ".join(bits)


def money(minor: int, currency: str) -> str:
    from aeplan.trips.money import format_money

    return format_money(minor, currency, str(get_locale()))


_SENTINEL = 987654321  # stands in for ids while a URL pattern is built
_url_patterns: dict[tuple, str] = {}


def row_url(endpoint: str, **ids: int) -> str:
    """url_for() for a route whose variable parts are integer ids, from a pattern built
    by url_for once per endpoint (and script root). Lists call it on every row, where
    url_for's rule matching was about a tenth of a card's rendering."""
    key = (endpoint, tuple(ids), request.script_root)
    pattern = _url_patterns.get(key)
    if pattern is None:
        built = url_for(endpoint, **{name: _SENTINEL + n for n, name in enumerate(ids)})
        built = built.replace("{", "{{").replace("}", "}}")
        for n, name in enumerate(ids):
            built = built.replace(str(_SENTINEL + n), "{" + name + "}")
        pattern = _url_patterns[key] = built
    return pattern.format(**{name: int(value) for name, value in ids.items()})


_id_url_parts: dict[tuple[str, str], tuple[str, str]] = {}


def id_url(value: int, endpoint: str) -> str:
    """row_url() for a route with one id, as a filter: {{ b.id|id_url("bookings.detail") }}.
    Cards call it several times each, so the URL is kept as the text before and after
    the id, per endpoint and script root."""
    root = _current().script_root
    parts = _id_url_parts.get((endpoint, root))
    if parts is None:
        (name,) = next(current_app.url_map.iter_rules(endpoint)).arguments
        before, _, after = row_url(endpoint, **{name: _SENTINEL}).partition(str(_SENTINEL))
        parts = _id_url_parts[endpoint, root] = (before, after)
    return f"{parts[0]}{int(value)}{parts[1]}"


def page_url(page: int | None, **cursor: str) -> str:
    """This page's URL with its filters kept and the position replaced: a page number,
    or a keyset cursor (`after=` / `before=`); page_url(None) is the first page."""
    args = {name: value for name, value in request.args.items()
            if name not in ("page", "after", "before")}
    if page is not None:
        args["page"] = page
    args.update(cursor)
    return url_for(request.endpoint, **(request.view_args or {}), **args)


# The main menu: endpoint, label, who sees it (None: everyone, else "support" or "office"
# for everyone else, or "admin"), and the endpoints or blueprints it stands for.
_NAV = (
    ("main.index", _l("Start"), None, {"main.index"}, ()),
    ("calendar.show", _l("Calendar"), None, {"calendar.show"}, ()),
    ("staffing.mine", _l("My assignments"), "support", {"staffing.mine"}, ()),
    ("staffing.time_off", _l("Time off"), "support", {"staffing.time_off"}, ()),
    ("bookings.index", _l("Bookings"), None, set(), ("bookings",)),
    ("clients.index", _l("Clients"), "office", set(), ("clients",)),
    ("trips.index", _l("Trips"), "office", set(), ("trips",)),
    ("staffing.queue", _l("Staffing"), "office", {"staffing.queue", "staffing.utilisation"}, ()),
    ("reports.coverage", _l("Coverage"), "office", {"reports.coverage", "reports.coverage_csv"},
     ()),
    ("reports.clients", _l("Reports"), "office", set(), ("reports",)),
    ("admin.users", _l("Users"), "admin", set(), ("admin",)),
)
_nav_cache: dict[tuple, Markup] = {}


def _nav_current(endpoint: str | None, blueprint: str | None) -> str | None:
    """The menu entry the page belongs to: an exact endpoint first, then its blueprint."""
    for target, _label, _who, endpoints, _blueprints in _NAV:
        if endpoint in endpoints:
            return target
    for target, _label, _who, _endpoints, blueprints in _NAV:
        if blueprint in blueprints:
            return target
    return None


def main_nav(user) -> Markup:
    """The menu's list for `user` on this page. It is the same for everyone with the same
    role, language and page, so it is built once per such combination: as a template it
    was a tenth of a short page's time (eleven url_for calls and as many translations)."""
    current = _nav_current(request.endpoint, request.blueprint)
    key = (_locale(), user.is_support, user.is_admin, current, request.script_root)
    html = _nav_cache.get(key)
    if html is None:
        items = []
        for target, name, who, _endpoints, _blueprints in _NAV:
            if (who == "support" and not user.is_support) or \
                    (who == "office" and user.is_support) or (who == "admin" and not user.is_admin):
                continue
            mark = ' aria-current="page"' if target == current else ""
            items.append(f'<li><a href="{escape(url_for(target))}"{mark}>'
                         f'{escape(str(name))}</a></li>')
        html = _nav_cache[key] = Markup("<ul>" + "".join(items) + "</ul>")
    return html


def html_gettext(msgid: str, **variables) -> Markup:
    """Jinja's newstyle gettext for HTML templates (all of ours autoescape): the
    translation is markup, and the variables put into it are escaped. Jinja's own goes
    through three calls with the template context for each string, which was a fifth of
    a booking page's rendering."""
    if variables:
        return Markup(_translation(msgid, _current().locale)) % variables
    return _plain_html_text(msgid, _current().locale)


@lru_cache(maxsize=4096)
def _plain_html_text(msgid: str, locale: str) -> Markup:
    return Markup(_translation(msgid, locale)) % {}


def html_ngettext(singular: str, plural: str, num: int, **variables) -> Markup:
    variables.setdefault("num", num)
    return Markup(_current().translations.ungettext(singular, plural, num)) % variables


def register(app: Flask) -> None:
    app.teardown_request(_forget_reader)
    app.teardown_appcontext(_forget_reader)
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
        newstyle=True)
    app.jinja_env.globals.update(_=html_gettext, gettext=html_gettext, ngettext=html_ngettext)
    app.jinja_env.filters.update(label=label, field_label=field_label, dt=dt, day=day,
                                 hhmm=hhmm, when=when, hours=hours,
                                 person_options=person_options, colleagues=colleagues,
                                 reason=suggestion_reason, money=money, id_url=id_url,
                                 key_badge=key_badge, status_badge=status_badge,
                                 short_badge=short_badge)
    app.jinja_env.globals.update(page_url=page_url, get_locale=get_locale, main_nav=main_nav)
    app.jinja_env.tests["link"] = is_link
