"""Template helpers that run on every row: they must say what their slower originals say."""
from __future__ import annotations

import pytest
from flask import url_for
from markupsafe import Markup

from aeplan import display


@pytest.mark.parametrize("script_root", ["", "/aeplan", "/odd{root}"])
def test_row_url_matches_url_for(app, script_root):
    cases = [
        ("bookings.detail", {"booking_id": 7}),
        ("bookings.detail", {"booking_id": 987654321}),
        ("staffing.accept", {"assignment_id": 12}),
        ("staffing.reassign", {"booking_id": 3, "assignment_id": 45}),
    ]
    with app.test_request_context("/", environ_overrides={"SCRIPT_NAME": script_root}):
        for endpoint, ids in cases:
            assert display.row_url(endpoint, **ids) == url_for(endpoint, **ids)
            assert display.row_url(endpoint, **ids) == url_for(endpoint, **ids)  # cached


def test_row_url_takes_only_integers(app):
    with app.test_request_context("/"):
        assert display.row_url("bookings.detail", booking_id="42") == "/bookings/42"
        with pytest.raises(ValueError):
            display.row_url("bookings.detail", booking_id="42/../admin")


@pytest.mark.parametrize("endpoint, name", [
    ("bookings.detail", "booking_id"), ("staffing.accept", "assignment_id"),
    ("clients.detail", "client_id"),
])
def test_id_url_filter_matches_url_for(app, endpoint, name):
    # Each script root in turn: the URL's parts are kept per endpoint and root.
    for root in ("/aeplan", "", "/odd{root}", "/aeplan"):
        with app.test_request_context("/", environ_overrides={"SCRIPT_NAME": root}):
            template = app.jinja_env.from_string("{{ 42|id_url(e) }} {{ 7|id_url(e) }}")
            rendered = template.render(e=endpoint)
            assert rendered == f"{url_for(endpoint, **{name: 42})} {url_for(endpoint, **{name: 7})}"
            assert rendered.startswith(f"{root}/") and "/42" in rendered
            with pytest.raises(ValueError):
                display.id_url("42/../admin", endpoint)


def test_badges_as_filters(app):
    from types import SimpleNamespace

    from aeplan.staffing.service import Staffing

    with app.test_request_context("/"):
        render = app.jinja_env.from_string(
            "{{ s|status_badge }}|{{ tier|key_badge }}|{{ b|short_badge(st) }}").render
        short = Staffing(needed={"technical": 2, "creative": 0, "other": 0})
        booking = SimpleNamespace(id=1, status="tentative")
        assert render(s="cancelled", tier="key", b=booking, st={1: short}) == (
            '<span class="badge status-cancelled">Cancelled</span>|'
            '<span class="badge key" title="Key account">★ Key</span>|'
            '<span class="badge short" title="2 technical">Understaffed</span>')
        assert render(s="<x>", tier="standard", b=booking, st={}) == \
            '<span class="badge status-&lt;x&gt;">&lt;x&gt;</span>||'


def test_template_gettext_escapes_what_it_is_given(app):
    with app.test_request_context("/"):
        render = app.jinja_env.from_string
        assert render('{{ _("Staff for %(title)s", title=t) }}').render(t="<b>R&D</b>") == \
            "Staff for &lt;b&gt;R&amp;D&lt;/b&gt;"
        assert render('{{ _("Bookings") }}').render() == "Bookings"
        assert render('{{ ngettext("%(num)d booking", "%(num)d bookings", n) }}').render(n=1) \
            == "1 booking"
        assert render('{{ ngettext("%(num)d booking", "%(num)d bookings", n) }}').render(n=3) \
            == "3 bookings"
        # markup the template builds stays markup; text in variables never is
        assert render('{{ _("%(n)s minutes before and after", n=m) }}').render(
            m=Markup("<i>30</i>")) == "<i>30</i> minutes before and after"


@pytest.mark.parametrize("locale, zone", [("en", "UTC"), ("en_GB", "Europe/London"),
                                          ("de", "Europe/Berlin"), ("en_US", "America/Chicago")])
def test_day_and_hhmm_say_what_flask_babel_says(app, monkeypatch, locale, zone):
    from datetime import UTC, date, datetime

    import flask_babel

    monkeypatch.setattr(app.extensions["babel"], "locale_selector", lambda: locale)
    monkeypatch.setattr(app.extensions["babel"], "timezone_selector", lambda: zone)
    values = [date(2026, 12, 7), datetime(2026, 12, 7, 23, 30, tzinfo=UTC),
              datetime(2026, 3, 29, 0, 59), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)]
    with app.test_request_context("/"):
        for value in values:
            for fmt in ("EEE d MMM", "EEEE d MMM", "d MMMM y", "MMMM y", "EEE", "d"):
                assert display.day(value, fmt) == flask_babel.format_date(value, fmt)
            if isinstance(value, datetime) and value.tzinfo:
                assert display.hhmm(value) == flask_babel.format_datetime(value, "HH:mm")


@pytest.mark.parametrize("data", ["Europe/Berlin", "UTC", "Pacific/Apia", "Mars/Olympus",
                                  None, ""])
def test_zone_select_writes_what_wtforms_select_writes(app, data):
    from flask_wtf import FlaskForm
    from wtforms.widgets import Select

    from aeplan.forms import TimezoneField
    from aeplan.timeutil import timezone_names

    class Form(FlaskForm):
        zone = TimezoneField()

    with app.test_request_context("/"):
        form = Form(meta={"csrf": False}, data={"zone": data})
        attrs = {"aria-describedby": "zone-hint", "required": True}
        cached = form.zone(**attrs)
        assert cached == Select()(form.zone, **attrs)
        assert form.zone() == Select()(form.zone)
        assert cached.count("<option") == len(timezone_names()) and cached.count(" selected") == (
            1 if data in ("Europe/Berlin", "UTC", "Pacific/Apia") else 0)


def test_person_options_escape_names_and_mark_the_chosen_one(app):
    from types import SimpleNamespace

    people = [SimpleNamespace(id=3, name="Ann <b>&</b>"), SimpleNamespace(id=12, name="Bo")]
    html = app.jinja_env.from_string("{{ people|person_options(chosen) }}")
    assert html.render(people=people, chosen=12) == (
        '<option value="3">Ann &lt;b&gt;&amp;&lt;/b&gt;</option>'
        '<option value="12" selected>Bo</option>')
    assert " selected" not in html.render(people=people, chosen=None)
    assert html.render(people=[], chosen=3) == ""


def test_short_badge_names_what_is_missing(app):
    from types import SimpleNamespace

    from aeplan.staffing.service import Staffing

    short = Staffing(needed={"technical": 2, "creative": 1, "other": 0})
    short.count("technical", "accepted")
    full = Staffing(needed={"technical": 1, "creative": 0, "other": 0})
    full.count("technical", "pending")
    booking = SimpleNamespace(id=1, status="confirmed")
    with app.test_request_context("/"):
        badge = display.short_badge(booking, {1: short})
        assert 'title="1 technical 1 creative"' in badge and "Understaffed" in badge
        assert display.short_badge(booking, {1: full}) == ""
        assert display.short_badge(SimpleNamespace(id=1, status="cancelled"), {1: short}) == ""
        assert display.short_badge(booking, {}) == ""
