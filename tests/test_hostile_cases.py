"""The hostile inputs the attack found (issue 13, item 5), one test each: none gives a 500
or stores what later breaks a page. tests/test_hostile_input.py generates the rest."""
from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import func, select

from aeplan.clients.models import Contact
from aeplan.extensions import db
from aeplan.staffing.models import TimeOff
from aeplan.trips.models import Trip
from tests.conftest import T0


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def ae(make_user):
    return make_user("ae")


@pytest.fixture
def signed_in(ae, login_as):
    return login_as(ae)


# --- found by the attack -----------------------------------------------------------------

def test_a_field_sent_as_a_file_part_is_400_with_a_clear_message(client, ae):
    response = client.post("/login", content_type="multipart/form-data", data={
        "email": (io.BytesIO(ae.email.encode()), "email.txt"),
        "password": "x"})
    assert response.status_code == 400
    assert "does not take files" in text(response)


def test_nul_in_the_query_string_is_400(signed_in):
    response = signed_in.get("/bookings/?client_q=%00")
    assert response.status_code == 400
    assert "NUL" in text(response)


def test_nul_in_a_form_field_is_400_and_writes_nothing(signed_in):
    response = signed_in.post("/clients/new", data={
        "name": "Nul\x00Corp", "industry": "technology", "tier": "standard",
        "timezone": "Europe/Berlin", "cadence_days": "30"})
    assert response.status_code == 400
    assert "NUL" in text(response)


@pytest.mark.parametrize("path", ["/feeds/ab%00cd.ics", "/feeds/%ff.ics", "/static/%00",
                                  "/static/css/%ff.css", "/clients/%00", "/%00"])
def test_nul_or_bad_utf8_in_the_path_leads_nowhere(signed_in, path):
    response = signed_in.get(path)
    response.close()
    assert response.status_code == 404


@pytest.mark.parametrize("url", ["/bookings/?client_q=%ff%fe", "/login?next=%c3%28"])
def test_invalid_utf8_in_the_query_string_is_400(signed_in, url):
    response = signed_in.get(url)
    assert response.status_code == 400
    assert "UTF-8" in text(response)


def test_invalid_utf8_in_a_form_is_400(signed_in):
    response = signed_in.post("/clients/new", data=b"name=%ff%fe&industry=technology",
                              content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    multipart = (b"--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n\xff\xfe\r\n"
                 b"--b--\r\n")
    response = signed_in.post("/clients/new", data=multipart,
                              content_type="multipart/form-data; boundary=b")
    assert response.status_code == 400
    assert "UTF-8" in text(response)


@pytest.mark.parametrize("first, last", [("0001-01-01", "0001-01-02"),
                                         ("9999-12-30", "9999-12-31"),
                                         ("1969-12-31", "1970-01-01")])
def test_time_off_in_far_years_is_refused_with_a_field_message(make_user, login_as, first,
                                                                last):
    client = login_as(make_user("support"))
    response = client.post("/timeoff/", data={"first_day": first, "last_day": last})
    assert response.status_code == 422
    assert "between 1970 and 2999" in text(response)
    assert count(TimeOff) == 0


def test_a_trip_in_year_9999_is_refused(signed_in):
    response = signed_in.post("/trips/new", data={
        "title": "Far", "destination": "Future", "timezone": "Europe/Berlin",
        "starts_on": "9999-12-30", "ends_on": "9999-12-31"})
    assert response.status_code == 422
    assert "between 1970 and 2999" in text(response)
    assert count(Trip) == 0


def test_a_trip_stored_at_the_end_of_time_still_shows(signed_in, ae):
    """Data stored before the check must not break its page for ever."""
    trip = Trip(title="Far", destination="Future", timezone="Europe/Berlin",
                starts_on=date(9999, 12, 30), ends_on=date(9999, 12, 31), owner_id=ae.id)
    db.session.add(trip)
    db.session.commit()
    assert signed_in.get(f"/trips/{trip.id}").status_code == 200
    assert signed_in.get("/trips/").status_code == 200


def test_a_booking_in_year_9999_is_refused(signed_in, make_client, ae):
    account = make_client(ae)
    response = signed_in.post("/bookings/new", data={
        "kind": "demo", "title": "Far", "client_id": str(account.id),
        "starts_at": "9999-12-31T10:00", "ends_at": "9999-12-31T11:00",
        "timezone": "Europe/Berlin", "needs_technical": "0", "needs_creative": "0",
        "needs_other": "0"})
    assert response.status_code == 422
    assert "between 1970 and 2999" in text(response)


@pytest.mark.parametrize("email", ["pat@client.example\r\nBcc: all@example.com",
                                   "pat\n@client.example", "pat @client.example",
                                   "pat\x0b@client.example", "pat@@client.example"])
def test_a_contact_email_that_is_not_one_address_is_refused(signed_in, make_client, ae,
                                                             email):
    account = make_client(ae)
    response = signed_in.post(f"/clients/{account.id}/contacts",
                              data={"name": "Pat", "email": email, "title": ""})
    assert response.status_code == 422
    assert count(Contact) == 0


def test_an_invitation_skips_a_bad_stored_contact_email(signed_in, make_booking, make_client,
                                                        make_contact, ae):
    account = make_client(ae)
    booking = make_booking(account, starts_at=T0)
    good = make_contact(account, name="Good", email="good@client.example")
    bad = make_contact(account, name="Bad\r\nName", email="bad@client.example\r\nBcc: x@y.z")
    booking.contacts = [good, bad]
    db.session.commit()
    response = signed_in.get(f"/bookings/{booking.id}/invite.ics")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "mailto:good@client.example" in body
    assert "Bcc" not in body and "bad@client.example" not in body
    assert signed_in.get(f"/bookings/{booking.id}").status_code == 200
