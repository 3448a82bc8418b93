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
    page.get_by_role("link", name="Clients", exact=True).click()
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


def test_ae_plans_a_trip_and_sees_what_it_cost_each_client(page, live_server, make_user,
                                                            make_client):
    ae = make_user("ae", name="Alex Becker", timezone="Europe/Berlin")
    make_user("support", name="Mia Rossi", discipline="creative", timezone="Europe/Berlin")
    make_client(owner=ae, name="Nordbank AG", tier="key", timezone="Europe/Berlin")
    make_client(owner=ae, name="Hanse Creative", timezone="Europe/Berlin")

    sign_in(page, live_server, ae)
    page.get_by_role("link", name="Trips").click()
    page.get_by_role("link", name="New trip").click()
    page.get_by_label("Title", exact=True).fill("Frankfurt client week")
    page.get_by_label("Destination", exact=True).fill("Frankfurt")
    page.get_by_label("Timezone at the destination", exact=True).select_option("Europe/Berlin")
    page.get_by_label("First day", exact=True).fill("2026-12-07")
    page.get_by_label("Last day", exact=True).fill("2026-12-09")
    page.get_by_role("button", name="Save trip").click()
    page.wait_for_url(re.compile(r"/trips/\d+$"))
    trip_url = page.url
    assert "This trip serves no client yet" in page.content()

    page.get_by_label("Traveller", exact=True).select_option(label="Mia Rossi (creative)")
    page.get_by_role("button", name="Add traveller").click()
    page.wait_for_url(re.compile(r"/trips/\d+#travellers$"))
    assert "Mia Rossi travels along." in page.content()

    # Two visits to two clients, made from the trip page.
    for client, title, starts, ends in (
            ("Nordbank AG ★", "Quarterly review", "2026-12-07T10:00", "2026-12-07T13:00"),
            ("Hanse Creative", "Brand workshop", "2026-12-08T14:00", "2026-12-08T15:00")):
        page.get_by_role("link", name="New visit on this trip").click()
        page.wait_for_url(re.compile(r"/bookings/new\?"))
        assert page.get_by_label("Kind", exact=True).input_value() == "visit"
        page.get_by_label("Client", exact=True).select_option(label=client)
        page.get_by_label("Title", exact=True).fill(title)
        page.get_by_label("Starts", exact=True).fill(starts)
        page.get_by_label("Ends", exact=True).fill(ends)
        page.get_by_label("Location or meeting link", exact=True).fill("Frankfurt")
        page.get_by_role("button", name="Save booking").click()
        page.wait_for_url(re.compile(r"/bookings/\d+$"))
        assert "Booking created." in page.content()
        page.get_by_role("link", name="Frankfurt client week").click()
        page.wait_for_url(trip_url)

    days = page.locator("ol.trip-days > li")
    assert days.count() == 3
    monday, tuesday, wednesday = (days.nth(i).inner_text() for i in range(3))
    assert "Monday 7 December" in monday and "Nordbank AG" in monday
    assert "Quarterly review" in monday and "Mia Rossi" in monday
    assert "Tuesday 8 December" in tuesday and "Hanse Creative" in tuesday
    assert "Nothing planned" in wednesday

    # A flight split evenly, the hotel by hours on site (Nordbank 3 h, Hanse 1 h), and a
    # dinner for Nordbank alone.
    for category, amount, day, allocation, client, note in (
            ("Flight", "412.50", "2026-12-07", "Split evenly across the trip's clients", None,
             "FRA return"),
            ("Hotel", "389.01", "2026-12-07", "Split by hours on site", None,
             "Two nights"),
            ("Meals", "120.00", "2026-12-08", "One client", "Nordbank AG", "Dinner")):
        page.get_by_label("Category", exact=True).select_option(label=category)
        page.get_by_label("Amount", exact=True).fill(amount)
        page.get_by_label("Currency (ISO code)", exact=True).fill("EUR")
        page.get_by_label("Date", exact=True).fill(day)
        page.get_by_label("Attribute to", exact=True).select_option(label=allocation)
        if client:
            page.get_by_label("Client (when attributed to one)",
                              exact=True).select_option(label=client)
        page.get_by_label("Note", exact=True).fill(note)
        page.get_by_role("button", name="Add expense").click()
        page.wait_for_url(re.compile(r"/trips/\d+#expenses$"))
        assert "Expense recorded." in page.content()

    expenses = page.locator("#expenses table tbody tr")
    assert expenses.count() == 3
    rows = [expenses.nth(i).inner_text() for i in range(3)]
    flight, hotel, dinner = sorted(rows, key=lambda r: ("Flight" not in r, "Hotel" not in r))
    # 412.50 evenly: 206.25 each.
    assert "Nordbank AG: €206.25" in flight and "Hanse Creative: €206.25" in flight
    # 389.01 by 180:60 minutes: 291.7575 and 97.2525, the cent left to the larger remainder.
    assert "Nordbank AG: €291.76" in hotel and "Hanse Creative: €97.25" in hotel
    assert "Nordbank AG: €120.00" in dinner and "Hanse Creative" not in dinner

    facts = page.locator("dl.facts").inner_text()
    assert "€921.51" in facts
    assert "Nordbank AG" in facts and "Hanse Creative" in facts
    cost = page.locator("#expenses ul.plain").inner_text()
    assert "Nordbank AG: €618.01" in cost  # 206.25 + 291.76 + 120.00
    assert "Hanse Creative: €303.50" in cost  # 206.25 + 97.25

    # The client's page shows the trip and what it cost that client.
    page.get_by_role("link", name="Nordbank AG").first.click()
    page.wait_for_url(re.compile(r"/clients/\d+$"))
    trips_section = page.locator("section", has=page.get_by_role(
        "heading", name="Trips that served this client")).inner_text()
    assert "Frankfurt client week" in trips_section
    assert "€618.01" in trips_section and "€921.51" in trips_section


def test_ae_staffs_from_everyone_ranked_then_reassigns(page, live_server, make_user,
                                                        make_client, make_booking, assign):
    """Journeys 2 and 10: the AE picks from the whole ranked list, with busy people and
    their reasons shown, then moves the work to someone else in the same role."""
    from datetime import timedelta

    from tests.conftest import T0

    ae = make_user("ae", name="Priya Nair", timezone="UTC")
    make_user("support", name="Ana Free", skills="payments API")
    make_user("support", name="Ben Free")
    busy = make_user("support", name="Cy Busy")
    client = make_client(owner=ae, name="Cobalt Systems")
    demo = make_booking(client, title="Payments API walkthrough", starts_at=T0,
                        ends_at=T0 + timedelta(hours=1), needs_technical=1,
                        skills="payments API")
    assign(make_booking(client, title="Rival pitch", starts_at=T0,
                        ends_at=T0 + timedelta(hours=2)), busy)

    sign_in(page, live_server, ae)
    page.goto(f"{live_server}/bookings/{demo.id}")
    page.get_by_role("link", name="See everyone and why they are busy").click()
    rows = page.locator("ol.ranked > li")
    assert rows.count() == 3
    assert "Ana Free" in rows.nth(0).inner_text() and "1 of 1 skills" in rows.nth(0).inner_text()
    assert "Rival pitch" in rows.nth(2).inner_text()
    assert rows.nth(2).get_by_role("button").count() == 0  # the busy cannot be picked

    # Back on the booking page, its own suggestions offer the same first choice.
    page.go_back()
    panel = page.locator(".suggestions")
    assert "Ana Free" in panel.locator("li").first.inner_text()
    panel.get_by_role("button", name="Assign Ana Free").click()
    page.wait_for_url(re.compile(rf"/bookings/{demo.id}(#staff)?$"))
    assert "Ana Free assigned." in page.content()
    assert "Ana Free" in page.locator("#staff").inner_text()

    page.get_by_role("link", name="Reassign Ana Free").click()
    page.get_by_role("button", name="Reassign to Ben Free").click()
    page.wait_for_url(re.compile(rf"/bookings/{demo.id}(#staff)?$"))
    staff = page.locator("#staff").inner_text()
    assert "Ben Free" in staff
    assert page.locator("#staff").get_by_role("link", name="Reassign Ana Free").count() == 0


def test_ae_confirms_then_cancels_a_visit_with_a_reason(page, live_server, make_user,
                                                        make_client, make_booking):
    """Journey 5, from the booking page's own forms: the status, then a cancellation
    that asks first and keeps the booking in the history."""
    ae = make_user("ae", name="Priya Nair", timezone="UTC")
    visit = make_booking(make_client(owner=ae, name="Cobalt Systems"), kind="visit",
                         title="Quarterly business review")

    sign_in(page, live_server, ae)
    page.goto(f"{live_server}/bookings/{visit.id}")
    page.get_by_label("Status").select_option("confirmed")
    page.get_by_role("button", name="Change status").click()
    page.wait_for_load_state()
    assert "Status changed." in page.content()
    assert page.get_by_label("Status").input_value() == "confirmed"

    page.get_by_label("Reason").fill("The client moved the review to January")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Cancel booking").click()
    page.wait_for_load_state()
    assert asked and "stays in the history" in asked[0]
    content = page.content()
    assert "Booking cancelled. It stays in the history." in content
    assert "The client moved the review to January" in content
    assert page.get_by_role("button", name="Cancel booking").count() == 0
