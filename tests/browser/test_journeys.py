"""Journeys from JOURNEYS.md walked in a real browser."""
import re

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def sign_in(page, base, user):
    page.goto(base + "/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/")


def test_ae_books_a_demo_and_sees_it_in_the_week_view(page, live_server, make_user, make_client):
    ae = make_user("ae", name="Alex Becker", timezone="Europe/Berlin")
    client = make_client(owner=ae, name="Nordbank AG", tier="key", timezone="Europe/Berlin")

    sign_in(page, live_server, ae)
    page.get_by_role("link", name="Clients").click()
    page.get_by_role("link", name="Nordbank AG").click()
    page.get_by_role("link", name="New demo").click()

    assert page.get_by_label("Client").input_value() == str(client.id)
    assert page.get_by_label("Timezone of these times").input_value() == "Europe/Berlin"
    page.get_by_label("Title").fill("Payments API walkthrough")
    page.get_by_label("Starts").fill("2026-12-08T14:00")
    page.get_by_label("Ends").fill("2026-12-08T15:30")
    page.get_by_label("Location or meeting link").fill("https://meet.example.com/nordbank")
    page.get_by_label("Technical staff needed").fill("1")
    page.get_by_role("button", name="Save booking").click()

    page.wait_for_url(re.compile(r"/bookings/\d+$"))
    assert page.get_by_role("heading", name=re.compile("Payments API walkthrough")).is_visible()
    assert "Booking created." in page.content()

    page.goto(live_server + "/calendar?date=2026-12-08")
    tuesday = page.locator("li.day").nth(1)
    assert "Tuesday 8 Dec" in tuesday.inner_text()
    entry = tuesday.locator("a.entry")
    assert entry.count() == 1
    text = entry.inner_text()
    assert "Nordbank AG" in text and "14:00" in text and "Payments API walkthrough" in text


def test_bad_booking_input_shows_message_beside_field_and_keeps_input(
        page, live_server, make_user, make_client):
    ae = make_user("ae", timezone="Europe/Berlin")
    make_client(owner=ae, name="Hanse Creative", timezone="Europe/Berlin")

    sign_in(page, live_server, ae)
    page.goto(live_server + "/bookings/new")
    page.get_by_label("Client").select_option(label="Hanse Creative")
    page.get_by_label("Title").fill("Brand workshop")
    page.get_by_label("Starts").fill("2026-12-08T15:00")
    page.get_by_label("Ends").fill("2026-12-08T14:00")
    page.get_by_role("button", name="Save booking").click()

    error = page.locator("#ends_at-error")
    assert error.inner_text() == "The end must be after the start."
    assert page.get_by_label("Ends").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Title").input_value() == "Brand workshop"
    assert page.get_by_label("Starts").input_value() == "2026-12-08T15:00"


def test_week_view_works_on_a_phone(browser, live_server, make_user, make_booking, make_client):
    ae = make_user("ae", timezone="Europe/Berlin")
    make_booking(make_client(owner=ae, name="Thames Media"))
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  timezone_id="Europe/Berlin", locale="en-GB")
    page = context.new_page()
    try:
        sign_in(page, live_server, ae)
        page.goto(live_server + "/calendar?date=2026-12-07")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"page scrolls sideways on a phone ({width}px)"
        assert "Thames Media" in page.locator("li.day").first.inner_text()
    finally:
        context.close()


def test_support_person_answers_assignments_on_a_phone(browser, live_server, make_user,
                                                        make_client, make_booking, assign):
    from datetime import timedelta

    from tests.conftest import T0

    ae = make_user("ae", name="Priya Nair")
    engineer = make_user("support", name="Sam Okafor", discipline="technical",
                         timezone="Europe/Berlin")
    designer = make_user("support", name="Mia Rossi", discipline="creative")
    client = make_client(owner=ae, name="Cobalt Systems", tier="key")
    demo = make_booking(client, title="Payments API walkthrough", starts_at=T0,
                        ends_at=T0 + timedelta(hours=1))
    visit = make_booking(client, kind="visit", title="Quarterly business review",
                         starts_at=T0 + timedelta(days=2), ends_at=T0 + timedelta(days=2, hours=3),
                         location="Cobalt HQ, Chicago", needs_technical=1, needs_creative=1)
    assign(demo, engineer)
    assign(visit, engineer)
    assign(visit, designer, role="creative", status="accepted")

    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  timezone_id="Europe/Berlin", locale="en-GB")
    page = context.new_page()
    try:
        page.goto(live_server + "/login")
        page.get_by_label("Email").fill(engineer.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(live_server + "/assignments/")
        assert "2 assignments wait for your answer." in page.content()
        visit_card = page.locator(f"#assignment-{visit.id}")
        text = visit_card.inner_text()
        assert "Cobalt Systems" in text and "Priya Nair" in text
        assert "Mia Rossi (Creative)" in text and "Cobalt HQ, Chicago" in text

        page.locator(f"#assignment-{demo.id}").get_by_role("button", name="Accept").click()
        page.wait_for_url(live_server + "/assignments/")
        assert "Accepted: Payments API walkthrough." in page.content()

        visit_card = page.locator(f"#assignment-{visit.id}")
        visit_card.get_by_text("Decline…").click()
        visit_card.get_by_label("Why you decline").fill("On leave that day")
        visit_card.get_by_role("button", name="Decline").click()
        page.wait_for_url(live_server + "/assignments/")
        assert "The AE sees your reason." in page.content()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()

    # The AE sees both answers, the reason, and the visit back to short of staff.
    context = browser.new_context(locale="en-GB", timezone_id="Europe/Berlin")
    page = context.new_page()
    try:
        sign_in(page, live_server, ae)
        content = page.content()
        assert "Answers from support staff" in content and "On leave that day" in content
        page.goto(f"{live_server}/bookings/{visit.id}")
        staff = page.locator("#staff").inner_text()
        assert "Declined" in staff and "On leave that day" in staff and "Short by 1" in staff
    finally:
        context.close()
