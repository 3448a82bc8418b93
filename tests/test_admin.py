"""User administration: only admins, create, refuse bad input, edit, deactivate, reactivate."""
from __future__ import annotations

import html as html_lib
import re

import pytest
from sqlalchemy import func, select

from aeplan.auth.models import User
from aeplan.bookings.models import Booking
from aeplan.clients.models import Client
from aeplan.extensions import db
from tests.conftest import PASSWORD

NEW_PASSWORD = "a-long-new-password"


def count_users() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def field_error(response, name: str) -> str:
    """The error text shown beside field `name`, or '' when there is none."""
    match = re.search(rf'<p class="error" id="{name}-error">(.*?)</p>',
                      response.get_data(as_text=True), re.DOTALL)
    return html_lib.unescape(match.group(1)) if match else ""


def user_form(**over) -> dict:
    data = {"email": "new.person@example.com", "name": "New Person", "role": "support",
            "discipline": "creative", "skills": "Figma, German", "timezone": "Europe/Berlin",
            "password": NEW_PASSWORD}
    data.update(over)
    return data


def sign_in(client, email, password=PASSWORD):
    client.post("/logout")
    return client.post("/login", data={"email": email, "password": password})


@pytest.fixture
def admin(make_user, login_as):
    user = make_user("admin", name="Ada Admin")
    login_as(user)
    return user


# --- access --------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["ae", "support", "manager"])
def test_other_roles_are_forbidden_from_admin(client, make_user, login_as, role):
    other = make_user("ae")
    login_as(make_user(role))
    before = count_users()
    for path in ("/admin/", "/admin/users/", "/admin/users/new", f"/admin/users/{other.id}/edit"):
        assert client.get(path).status_code == 403, path
    assert client.post("/admin/users/new", data=user_form()).status_code == 403
    assert client.post(f"/admin/users/{other.id}/active", data={"active": "0"}).status_code == 403
    assert client.post(f"/admin/users/{other.id}/edit",
                       data=user_form(email=other.email, role="admin", discipline="",
                                      password="")).status_code == 403
    db.session.expire_all()
    assert count_users() == before
    refreshed = db.session.get(User, other.id)
    assert refreshed.active is True and refreshed.role == "ae"


def test_anonymous_is_sent_to_sign_in(client):
    for path in ("/admin/", "/admin/users/", "/admin/users/new"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login")
    response = client.post("/admin/users/new", data=user_form())
    assert response.status_code == 302
    assert count_users() == 0


def test_admin_sees_the_user_list(client, admin, make_user):
    make_user("support", name="Sam Okafor", skills="payments API")
    response = client.get("/admin/users/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Sam Okafor" in html and "payments API" in html and "Ada Admin" in html


def test_admin_root_redirects_to_users(client, admin):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/users/"


# --- create --------------------------------------------------------------------------------

def test_new_user_form_has_labelled_fields(client, admin):
    response = client.get("/admin/users/new")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for name in ("email", "name", "role", "discipline", "skills", "timezone", "password"):
        assert f'name="{name}"' in html, name
        assert f'<label for="{name}"' in html, name


def test_admin_creates_a_user_who_can_sign_in(client, admin):
    response = client.post("/admin/users/new",
                           data=user_form(email="  New.Person@Example.com "))
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/users/"
    user = db.session.scalar(select(User).where(User.email == "new.person@example.com"))
    assert user is not None
    assert (user.name, user.role, user.discipline, user.timezone) == (
        "New Person", "support", "creative", "Europe/Berlin")
    assert user.skill_list == ["Figma", "German"]
    assert user.active is True
    assert NEW_PASSWORD not in user.password_hash

    response = sign_in(client, "new.person@example.com", NEW_PASSWORD)
    assert response.status_code == 303
    with client.session_transaction() as session:
        assert session["_user_id"] == f"{user.id}:{user.session_generation}"


@pytest.mark.parametrize("role", ["ae", "manager", "admin"])
def test_admin_creates_users_of_every_role(client, admin, role):
    response = client.post("/admin/users/new",
                           data=user_form(email=f"{role}.x@example.com", role=role,
                                          discipline=""))
    assert response.status_code == 303
    user = db.session.scalar(select(User).where(User.email == f"{role}.x@example.com"))
    assert user.role == role and user.discipline is None


@pytest.mark.parametrize("over, field, words", [
    ({"role": "superuser"}, "role", "choice"),
    ({"role": "support", "discipline": ""}, "discipline", "discipline"),
    ({"role": "support", "discipline": "juggling"}, "discipline", "choice"),
    ({"role": "ae", "discipline": "technical"}, "discipline", "support staff"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone", "timezone"),
    ({"timezone": ""}, "timezone", "timezone"),
    ({"password": "short"}, "password", "12"),
    ({"password": ""}, "password", "12"),
    ({"email": "not-an-email"}, "email", "email"),
    ({"name": ""}, "name", "required"),
])
def test_bad_user_input_is_refused_beside_the_field(client, admin, over, field, words):
    before = count_users()
    response = client.post("/admin/users/new", data=user_form(**over))
    assert response.status_code == 422
    message = field_error(response, field)
    assert words.lower() in message.lower(), (field, message)
    assert count_users() == before
    # What was typed is kept.
    assert 'value="New Person"' in response.get_data(as_text=True) or over.get("name") == ""


def test_duplicate_email_is_refused_case_insensitively(client, admin, make_user):
    existing = make_user("ae", email="taken@example.com")
    before = count_users()
    response = client.post("/admin/users/new", data=user_form(email="TAKEN@example.com"))
    assert response.status_code == 422
    assert "already exists" in field_error(response, "email")
    assert count_users() == before
    db.session.expire_all()
    assert db.session.get(User, existing.id).role == "ae"


# --- edit ----------------------------------------------------------------------------------

def test_edit_form_shows_current_values_without_password(client, admin, make_user):
    user = make_user("support", name="Mia Rossi", discipline="creative", skills="Figma")
    response = client.get(f"/admin/users/{user.id}/edit")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'value="Mia Rossi"' in html and 'value="Figma"' in html
    assert re.search(r'<option selected value="creative">|<option value="creative" selected',
                     html)
    assert user.password_hash not in html
    assert not re.search(r'name="password"[^>]*value="[^"]+"', html)


def test_admin_edits_a_user_and_the_password_stays_when_left_empty(client, admin, make_user):
    user = make_user("support", discipline="technical")
    response = client.post(f"/admin/users/{user.id}/edit", data=user_form(
        email="renamed@example.com", name="Renamed Person", role="ae", discipline="",
        skills="", timezone="America/New_York", password=""))
    assert response.status_code == 303
    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert (user.email, user.name, user.role, user.discipline, user.timezone) == (
        "renamed@example.com", "Renamed Person", "ae", None, "America/New_York")
    assert sign_in(client, "renamed@example.com", PASSWORD).status_code == 303


def test_admin_sets_a_new_password(client, admin, make_user):
    user = make_user("ae")
    response = client.post(f"/admin/users/{user.id}/edit", data=user_form(
        email=user.email, name=user.name, role="ae", discipline="", password=NEW_PASSWORD))
    assert response.status_code == 303
    assert sign_in(client, user.email, PASSWORD).status_code == 401
    assert sign_in(client, user.email, NEW_PASSWORD).status_code == 303


def test_edit_to_an_email_already_taken_is_refused(client, admin, make_user):
    user = make_user("ae", email="first@example.com")
    make_user("ae", email="second@example.com")
    response = client.post(f"/admin/users/{user.id}/edit", data=user_form(
        email="Second@example.com", name=user.name, role="ae", discipline="", password=""))
    assert response.status_code == 422
    assert "already exists" in field_error(response, "email")
    db.session.expire_all()
    assert db.session.get(User, user.id).email == "first@example.com"


def test_edit_keeping_own_email_is_fine(client, admin, make_user):
    user = make_user("ae", email="same@example.com")
    response = client.post(f"/admin/users/{user.id}/edit", data=user_form(
        email="same@example.com", name="Same Person", role="ae", discipline="", password=""))
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(User, user.id).name == "Same Person"


def test_admin_cannot_take_away_own_admin_role(client, admin):
    response = client.post(f"/admin/users/{admin.id}/edit", data=user_form(
        email=admin.email, name=admin.name, role="manager", discipline="", password=""))
    assert response.status_code == 403
    assert "your own admin role" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, admin.id).role == "admin"


def test_edit_unknown_user_is_404(client, admin):
    assert client.get("/admin/users/999999/edit").status_code == 404
    assert client.post("/admin/users/999999/active", data={"active": "0"}).status_code == 404


# --- deactivate and reactivate -------------------------------------------------------------

def test_deactivated_user_cannot_sign_in_and_their_history_stays(
        client, admin, make_user, make_client, make_booking):
    ae = make_user("ae", name="Leaving Person")
    account = make_client(ae)
    booking = make_booking(account)
    ae_id, client_id, booking_id = ae.id, account.id, booking.id

    response = client.post(f"/admin/users/{ae_id}/active", data={"active": "0"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/users/"
    db.session.expire_all()
    ae = db.session.get(User, ae_id)
    assert ae.active is False
    assert ae.deactivated_at is not None
    assert db.session.get(Client, client_id).owner_id == ae_id
    assert db.session.get(Booking, booking_id).owner_id == ae_id

    listing = client.get("/admin/users/").get_data(as_text=True)
    assert "Leaving Person" in listing and "Deactivated" in listing
    assert client.get(f"/bookings/{booking_id}").status_code == 200
    assert client.get(f"/clients/{client_id}").status_code == 200

    response = sign_in(client, ae.email)
    assert response.status_code == 401
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_admin_cannot_deactivate_self(client, admin):
    response = client.post(f"/admin/users/{admin.id}/active", data={"active": "0"})
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(User, admin.id).active is True
    assert client.get("/admin/users/").status_code == 200


def test_admin_reactivates_a_user(client, admin, make_user):
    user = make_user("support", active=False)
    response = client.post(f"/admin/users/{user.id}/active", data={"active": "1"})
    assert response.status_code == 303
    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert user.active is True and user.deactivated_at is None
    assert sign_in(client, user.email).status_code == 303


def test_deactivated_ae_is_not_offered_as_client_owner(client, admin, make_user):
    gone = make_user("ae", name="Gone Person")
    stays = make_user("ae", name="Stays Person")
    assert client.post(f"/admin/users/{gone.id}/active", data={"active": "0"}).status_code == 303
    html = client.get("/clients/new").get_data(as_text=True)
    select_box = re.search(r'<select[^>]*name="owner_id".*?</select>', html, re.DOTALL)
    assert select_box is not None
    assert f'value="{stays.id}"' in select_box.group(0)
    assert f'value="{gone.id}"' not in select_box.group(0)


def test_an_admin_deactivating_themselves_is_told_why(client, make_user, login_as):
    admin = make_user("admin")
    login_as(admin)
    response = client.post(f"/admin/users/{admin.id}/active", data={"active": "0"})
    assert response.status_code == 403
    assert "You cannot deactivate yourself." in response.get_data(as_text=True)
    assert admin.active
