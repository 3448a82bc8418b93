"""Template helpers that run on every row: they must say what their slower originals say."""
from __future__ import annotations

import pytest
from flask import url_for

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
