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
    with app.test_request_context("/", environ_overrides={"SCRIPT_NAME": "/aeplan"}):
        rendered = app.jinja_env.from_string("{{ 42|id_url(e) }}").render(e=endpoint)
        assert rendered == url_for(endpoint, **{name: 42})
        assert rendered.startswith("/aeplan/") and "/42" in rendered


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
