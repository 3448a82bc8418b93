"""Clients: list, search, filters, create, edit, archive, contacts, access."""
from __future__ import annotations

import html as html_lib
import re

import pytest
from sqlalchemy import func, select

from aeplan.bookings.models import Booking
from aeplan.clients.models import Client, Contact
from aeplan.extensions import db


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def field_error(response, name: str) -> str:
    match = re.search(rf'<p class="error" id="{name}-error">(.*?)</p>',
                      response.get_data(as_text=True), re.DOTALL)
    return html_lib.unescape(match.group(1)) if match else ""


def listed(response) -> list[str]:
    """Client names in the list, in order."""
    html = response.get_data(as_text=True)
    return [html_lib.unescape(name) for name in
            re.findall(r'<a href="/clients/\d+">([^<]*)</a>', html)]


def client_form(owner_id=None, **over) -> dict:
    data = {"name": "Nordbank AG", "industry": "financial_services", "tier": "key",
            "timezone": "Europe/Berlin", "cadence_days": "14"}
    if owner_id is not None:
        data["owner_id"] = str(owner_id)
    data.update(over)
    return data


@pytest.fixture
def ae(make_user, login_as):
    user = make_user("ae", name="Alex Becker")
    login_as(user)
    return user


# --- list ----------------------------------------------------------------------------------

def test_search_is_case_insensitive_substring(client, ae, make_client):
    for name in ("Nordbank AG", "Südbank", "Harbor Trust", "nordic Ventures"):
        make_client(ae, name=name)
    assert sorted(listed(client.get("/clients/?q=NORD"))) == ["Nordbank AG", "nordic Ventures"]
    assert listed(client.get("/clients/?q=bank ag")) == ["Nordbank AG"]
    assert listed(client.get("/clients/?q=trus")) == ["Harbor Trust"]
    assert listed(client.get("/clients/?q=zzz")) == []


def test_search_treats_percent_and_underscore_literally(client, ae, make_client):
    for name in ("Acme 100% Fun", "Acme 1000 Fun", "Under_score Ltd", "Underscore Ltd"):
        make_client(ae, name=name)
    assert listed(client.get("/clients/", query_string={"q": "100%"})) == ["Acme 100% Fun"]
    assert listed(client.get("/clients/", query_string={"q": "r_s"})) == ["Under_score Ltd"]
    assert listed(client.get("/clients/", query_string={"q": "%"})) == ["Acme 100% Fun"]
    assert listed(client.get("/clients/", query_string={"q": "_"})) == ["Under_score Ltd"]


def test_search_with_slash_is_literal(client, ae, make_client):
    make_client(ae, name="AC/DC Events")
    make_client(ae, name="ACDC Events")
    assert listed(client.get("/clients/", query_string={"q": "c/d"})) == ["AC/DC Events"]


def test_search_with_backslash_does_not_break(client, ae, make_client):
    make_client(ae, name="Back\\slash Inc")
    make_client(ae, name="Backslash Inc")
    response = client.get("/clients/", query_string={"q": "k\\s"})
    assert response.status_code == 200
    assert listed(response) == ["Back\\slash Inc"]


def test_filter_by_industry_tier_and_owner(client, ae, make_user, make_client):
    other = make_user("ae")
    make_client(ae, name="Ad One", industry="advertising", tier="standard")
    make_client(ae, name="Bank Key", industry="financial_services", tier="key")
    make_client(other, name="Other Tech", industry="technology", tier="key")
    assert listed(client.get("/clients/?industry=advertising")) == ["Ad One"]
    assert listed(client.get("/clients/?tier=key")) == ["Bank Key", "Other Tech"]
    assert listed(client.get(f"/clients/?owner={other.id}")) == ["Other Tech"]
    assert listed(client.get(f"/clients/?owner={ae.id}&tier=key")) == ["Bank Key"]
    # Unknown filter values are ignored rather than failing.
    assert client.get("/clients/?industry=mining&tier=gold&owner=x").status_code == 200


def test_archived_clients_are_hidden_unless_asked_for(client, ae, make_client):
    make_client(ae, name="Active Client")
    gone = make_client(ae, name="Old Client")
    assert client.post(f"/clients/{gone.id}/archive", data={"archived": "1"}).status_code == 303
    assert listed(client.get("/clients/")) == ["Active Client"]
    assert "Old Client" in listed(client.get("/clients/?archived=1"))
    assert "Old Client" not in listed(client.get("/clients/?q=old"))


def test_key_accounts_come_first_and_are_marked(client, ae, make_client):
    make_client(ae, name="Aardvark Standard", tier="standard")
    make_client(ae, name="Zebra Key", tier="key")
    make_client(ae, name="Middle Standard", tier="standard")
    response = client.get("/clients/")
    assert listed(response) == ["Zebra Key", "Aardvark Standard", "Middle Standard"]
    html = response.get_data(as_text=True)
    rows = re.findall(r"<tr>.*?</tr>", html, re.DOTALL)
    key_row = next(r for r in rows if "Zebra Key" in r)
    plain_row = next(r for r in rows if "Aardvark Standard" in r)
    assert "★" in key_row and "Key" in key_row
    assert "★" not in plain_row


def test_clients_list_is_paginated(client, ae, make_client):
    for n in range(1, 31):
        make_client(ae, name=f"Paged {n:02d}")
    first = client.get("/clients/")
    assert listed(first) == [f"Paged {n:02d}" for n in range(1, 26)]
    html = first.get_data(as_text=True)
    assert "30 clients" in html
    assert "Page 1 of 2" in html
    assert 'rel="next"' in html
    second = client.get("/clients/?page=2")
    assert listed(second) == [f"Paged {n:02d}" for n in range(26, 31)]
    assert 'rel="prev"' in second.get_data(as_text=True)
    assert listed(client.get("/clients/?page=3")) == []
    assert client.get("/clients/?page=abc").status_code == 200


def test_pagination_keeps_the_filters(client, ae, make_client):
    for n in range(1, 28):
        make_client(ae, name=f"Keyed {n:02d}", tier="key")
    make_client(ae, name="Plain One", tier="standard")
    html = client.get("/clients/?tier=key&q=keyed").get_data(as_text=True)
    link = re.search(r'<a href="([^"]+)" rel="next"', html)
    assert link is not None
    target = html_lib.unescape(link.group(1))
    assert "tier=key" in target and "q=keyed" in target and "page=2" in target
    assert listed(client.get(target)) == ["Keyed 26", "Keyed 27"]


# --- create --------------------------------------------------------------------------------

def test_new_client_form_has_labelled_fields(client, make_user, login_as):
    login_as(make_user("manager"))
    response = client.get("/clients/new")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for name in ("name", "industry", "tier", "owner_id", "timezone", "cadence_days"):
        assert f'name="{name}"' in html, name
        assert f'<label for="{name}"' in html, name


def test_ae_creates_a_client(client, ae):
    response = client.post("/clients/new", data=client_form(owner_id=ae.id))
    assert response.status_code == 303
    created = db.session.scalar(select(Client).where(Client.name == "Nordbank AG"))
    assert created is not None
    assert response.headers["Location"] == f"/clients/{created.id}"
    assert (created.industry, created.tier, created.owner_id, created.timezone,
            created.cadence_days) == ("financial_services", "key", ae.id, "Europe/Berlin", 14)
    assert created.archived_at is None


def test_ae_without_owner_field_owns_the_new_client(client, ae):
    response = client.post("/clients/new", data=client_form(name="Own By Default"))
    assert response.status_code == 303
    created = db.session.scalar(select(Client).where(Client.name == "Own By Default"))
    assert created.owner_id == ae.id


def test_ae_cannot_create_a_client_for_another_ae(client, ae, make_user):
    other = make_user("ae")
    response = client.post("/clients/new", data=client_form(owner_id=other.id))
    assert response.status_code == 403
    assert "only create and keep clients of your own" in response.get_data(as_text=True)
    assert count(Client) == 0


def test_manager_may_set_any_ae_as_owner(client, make_user, login_as):
    login_as(make_user("manager"))
    owner = make_user("ae")
    response = client.post("/clients/new", data=client_form(owner_id=owner.id))
    assert response.status_code == 303
    created = db.session.scalar(select(Client).where(Client.name == "Nordbank AG"))
    assert created.owner_id == owner.id


@pytest.mark.parametrize("owner_role", ["support", "manager"])
def test_manager_cannot_make_a_non_ae_the_owner(client, make_user, login_as, owner_role):
    login_as(make_user("manager"))
    not_ae = make_user(owner_role)
    response = client.post("/clients/new", data=client_form(owner_id=not_ae.id))
    assert response.status_code == 422
    assert "account executive" in field_error(response, "owner_id")
    assert count(Client) == 0


def test_manager_cannot_make_a_deactivated_ae_the_owner(client, make_user, login_as):
    login_as(make_user("manager"))
    gone = make_user("ae", active=False)
    response = client.post("/clients/new", data=client_form(owner_id=gone.id))
    assert response.status_code == 422
    assert count(Client) == 0


def test_manager_must_choose_an_owner(client, make_user, login_as):
    login_as(make_user("manager"))
    response = client.post("/clients/new", data=client_form())
    assert response.status_code == 422
    assert "account executive" in field_error(response, "owner_id")
    assert count(Client) == 0


def test_support_cannot_create_clients(client, make_user, login_as):
    login_as(make_user("support"))
    assert client.get("/clients/new").status_code == 403
    assert client.post("/clients/new", data=client_form()).status_code == 403
    assert count(Client) == 0


def test_duplicate_name_is_refused_case_insensitively(client, ae, make_client):
    make_client(ae, name="Nordbank AG")
    response = client.post("/clients/new",
                           data=client_form(owner_id=ae.id, name="  NORDBANK ag "))
    assert response.status_code == 422
    assert "already exists" in field_error(response, "name")
    assert count(Client) == 1


@pytest.mark.parametrize("over, field", [
    ({"industry": "mining"}, "industry"),
    ({"industry": ""}, "industry"),
    ({"tier": "platinum"}, "tier"),
    ({"timezone": "Europe/Atlantis"}, "timezone"),
    ({"timezone": ""}, "timezone"),
    ({"cadence_days": "0"}, "cadence_days"),
    ({"cadence_days": "731"}, "cadence_days"),
    ({"cadence_days": "-5"}, "cadence_days"),
    ({"cadence_days": "often"}, "cadence_days"),
])
def test_bad_client_input_is_refused_beside_the_field_and_typed_values_kept(
        client, ae, over, field):
    data = client_form(owner_id=ae.id, name="Typed Name & Co", **over)
    response = client.post("/clients/new", data=data)
    assert response.status_code == 422
    assert field_error(response, field), f"no message beside {field}"
    assert count(Client) == 0
    html = response.get_data(as_text=True)
    assert 'value="Typed Name &amp; Co"' in html


def test_cadence_bounds_are_accepted(client, ae):
    assert client.post("/clients/new", data=client_form(
        owner_id=ae.id, name="Often", cadence_days="1")).status_code == 303
    assert client.post("/clients/new", data=client_form(
        owner_id=ae.id, name="Rarely", cadence_days="730")).status_code == 303
    assert count(Client) == 2


def test_missing_name_is_refused_and_other_values_kept(client, ae):
    response = client.post("/clients/new", data=client_form(
        owner_id=ae.id, name="   ", industry="healthcare", cadence_days="45"))
    assert response.status_code == 422
    assert field_error(response, "name")
    assert count(Client) == 0
    html = response.get_data(as_text=True)
    assert re.search(r'name="cadence_days"[^>]*value="45"|value="45"[^>]*name="cadence_days"',
                     html)
    assert re.search(r'<option selected value="healthcare">|<option value="healthcare" selected',
                     html)


# --- edit, archive, contacts ---------------------------------------------------------------

def edit_form(account, **over) -> dict:
    data = {"name": account.name, "industry": account.industry, "tier": account.tier,
            "owner_id": str(account.owner_id), "timezone": account.timezone,
            "cadence_days": str(account.cadence_days)}
    data.update(over)
    return data


def test_owner_edits_client(client, ae, make_client):
    account = make_client(ae, name="Before Name")
    response = client.get(f"/clients/{account.id}/edit")
    assert response.status_code == 200
    assert 'value="Before Name"' in response.get_data(as_text=True)
    response = client.post(f"/clients/{account.id}/edit", data=edit_form(
        account, name="After Name", tier="key", cadence_days="7"))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/clients/{account.id}"
    db.session.expire_all()
    account = db.session.get(Client, account.id)
    assert (account.name, account.tier, account.cadence_days, account.owner_id) == (
        "After Name", "key", 7, ae.id)


def test_owner_may_keep_the_name_in_another_case(client, ae, make_client):
    account = make_client(ae, name="Case Study")
    response = client.post(f"/clients/{account.id}/edit",
                           data=edit_form(account, name="CASE STUDY"))
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Client, account.id).name == "CASE STUDY"


def test_edit_to_another_clients_name_is_refused(client, ae, make_client):
    make_client(ae, name="Taken Name")
    account = make_client(ae, name="Mine")
    response = client.post(f"/clients/{account.id}/edit",
                           data=edit_form(account, name="taken name"))
    assert response.status_code == 422
    assert "already exists" in field_error(response, "name")
    db.session.expire_all()
    assert db.session.get(Client, account.id).name == "Mine"


def test_other_ae_cannot_edit(client, ae, make_user, make_client):
    account = make_client(make_user("ae"), name="Not Mine")
    assert client.get(f"/clients/{account.id}/edit").status_code == 403
    response = client.post(f"/clients/{account.id}/edit",
                           data=edit_form(account, name="Hijacked", owner_id=str(ae.id)))
    assert response.status_code == 403
    db.session.expire_all()
    account = db.session.get(Client, account.id)
    assert account.name == "Not Mine" and account.owner_id != ae.id


def test_owner_ae_cannot_hand_the_client_to_another_ae(client, ae, make_user, make_client):
    other = make_user("ae")
    account = make_client(ae, name="Keep Me")
    response = client.post(f"/clients/{account.id}/edit",
                           data=edit_form(account, owner_id=str(other.id)))
    assert response.status_code == 403
    assert "only create and keep clients of your own" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Client, account.id).owner_id == ae.id


def test_manager_edits_and_reassigns_client(client, make_user, make_client, login_as):
    first, second = make_user("ae"), make_user("ae")
    account = make_client(first, name="Moving Client")
    login_as(make_user("manager"))
    response = client.post(f"/clients/{account.id}/edit", data=edit_form(
        account, owner_id=str(second.id), industry="advertising"))
    assert response.status_code == 303
    db.session.expire_all()
    account = db.session.get(Client, account.id)
    assert account.owner_id == second.id and account.industry == "advertising"


def test_archive_and_restore_keep_bookings(client, ae, make_client, make_booking):
    account = make_client(ae, name="Sleepy Client")
    booking = make_booking(account, title="Old demo")
    response = client.post(f"/clients/{account.id}/archive", data={"archived": "1"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/clients/{account.id}"
    db.session.expire_all()
    assert db.session.get(Client, account.id).archived_at is not None
    assert db.session.get(Booking, booking.id).client_id == account.id
    page = client.get(f"/clients/{account.id}").get_data(as_text=True)
    assert "Archived" in page and "Old demo" in page

    response = client.post(f"/clients/{account.id}/archive", data={"archived": "0"})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Client, account.id).archived_at is None
    assert db.session.get(Booking, booking.id) is not None
    assert listed(client.get("/clients/")) == ["Sleepy Client"]


def test_other_ae_cannot_archive(client, ae, make_user, make_client):
    account = make_client(make_user("ae"))
    assert client.post(f"/clients/{account.id}/archive",
                       data={"archived": "1"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Client, account.id).archived_at is None


def test_owner_adds_a_contact(client, ae, make_client):
    account = make_client(ae)
    response = client.post(f"/clients/{account.id}/contacts", data={
        "name": "Claudia Vogel", "email": "C.Vogel@Nordbank.example", "title": "Head of Digital"})
    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"/clients/{account.id}")
    contact = db.session.scalar(select(Contact).where(Contact.client_id == account.id))
    assert (contact.name, contact.email, contact.title) == (
        "Claudia Vogel", "c.vogel@nordbank.example", "Head of Digital")
    page = client.get(f"/clients/{account.id}").get_data(as_text=True)
    assert "Claudia Vogel" in page and "Head of Digital" in page


def test_contact_without_name_is_refused(client, ae, make_client):
    account = make_client(ae)
    response = client.post(f"/clients/{account.id}/contacts",
                           data={"name": "", "email": "x@example.com", "title": "CTO"})
    assert response.status_code == 422
    assert field_error(response, "name")
    assert count(Contact) == 0


def test_contact_with_invalid_email_is_refused(client, ae, make_client):
    account = make_client(ae)
    response = client.post(f"/clients/{account.id}/contacts",
                           data={"name": "Pat", "email": "not-an-address", "title": ""})
    assert response.status_code == 422
    assert field_error(response, "email")
    assert count(Contact) == 0
    assert 'value="Pat"' in response.get_data(as_text=True)


def test_other_ae_cannot_add_contacts(client, ae, make_user, make_client):
    account = make_client(make_user("ae"))
    response = client.post(f"/clients/{account.id}/contacts",
                           data={"name": "Sneaky", "email": "", "title": ""})
    assert response.status_code == 403
    assert count(Contact) == 0


# --- detail and access ---------------------------------------------------------------------

def test_detail_shows_contacts_and_bookings(client, ae, make_client, make_contact,
                                            make_booking):
    account = make_client(ae, name="Detailed Client", tier="key")
    make_contact(account, name="Dana Brooks", title="Managing Partner")
    make_booking(account, title="Quarterly business review", kind="visit")
    make_booking(make_client(ae, name="Elsewhere"), title="Unrelated demo")
    response = client.get(f"/clients/{account.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Detailed Client" in html and "★" in html
    assert "Dana Brooks" in html and "Managing Partner" in html
    assert "Quarterly business review" in html
    assert "Unrelated demo" not in html


def test_support_staff_cannot_see_clients(client, make_user, make_client, login_as):
    account = make_client()
    login_as(make_user("support"))
    assert client.get("/clients/").status_code == 403
    # A client's own pages answer as for a missing client (404), so ids cannot be probed.
    assert client.get(f"/clients/{account.id}").status_code == 404
    assert client.get(f"/clients/{account.id}/edit").status_code == 404


@pytest.mark.parametrize("role", ["ae", "manager", "admin"])
def test_other_roles_see_any_client(client, make_user, make_client, login_as, role):
    account = make_client(name="Visible Client")
    login_as(make_user(role))
    assert "Visible Client" in listed(client.get("/clients/"))
    assert client.get(f"/clients/{account.id}").status_code == 200


def test_anonymous_is_sent_to_sign_in(client, make_client):
    account = make_client()
    for path in ("/clients/", f"/clients/{account.id}", "/clients/new"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("path", ["/clients/abc", "/clients/999999", "/clients/999999/edit",
                                  "/clients/-1"])
def test_unknown_client_is_404(client, ae, path):
    assert client.get(path).status_code == 404


def test_posts_to_unknown_client_are_404(client, ae):
    assert client.post("/clients/999999/archive", data={"archived": "1"}).status_code == 404
    assert client.post("/clients/999999/contacts", data={"name": "X"}).status_code == 404


@pytest.mark.parametrize("ahead, behind, shown", [
    (12, 18, "All 30 bookings in the bookings list"),
    (2, 1, "All 3 bookings in the bookings list"),
    (0, 1, "The 1 booking in the bookings list"),
])
def test_detail_shows_next_and_recent_bookings_and_links_to_all(
        client, ae, make_client, make_booking, ahead, behind, shown):
    from datetime import timedelta

    from aeplan.timeutil import now_utc

    account = make_client(ae, name="Busy Client")
    now = now_utc().replace(microsecond=0)
    for i in range(ahead):
        make_booking(account, title=f"Ahead {i:02d}", starts_at=now + timedelta(days=i + 1))
    for i in range(behind):
        make_booking(account, title=f"Behind {i:02d}", starts_at=now - timedelta(days=i + 1))
    page = client.get(f"/clients/{account.id}").get_data(as_text=True)
    assert shown in page
    assert f'href="/bookings/?client={account.id}&amp;from="' in page
    shown_ahead = re.findall(r"Ahead (\d\d)", page)
    shown_behind = re.findall(r"Behind (\d\d)", page)
    assert shown_ahead == [f"{i:02d}" for i in range(min(ahead, 10))]  # soonest first
    assert shown_behind == [f"{i:02d}" for i in range(min(behind, 15))]  # latest first


def test_detail_of_a_client_without_bookings_says_so(client, ae, make_client):
    account = make_client(ae, name="Quiet Client")
    page = client.get(f"/clients/{account.id}").get_data(as_text=True)
    assert "No bookings for this client yet." in page
    assert "in the bookings list" not in page
