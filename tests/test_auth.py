"""Sign-in, sign-out, safe redirects and throttling of failed sign-ins."""
from __future__ import annotations

from datetime import timedelta

import pytest
from flask import g
from flask.testing import FlaskClient
from sqlalchemy import func, select

from aeplan.auth.models import LoginFailure
from aeplan.extensions import db
from aeplan.timeutil import now_utc
from tests.conftest import PASSWORD


class Browser(FlaskClient):
    """A test client whose every request starts without a cached signed-in user.

    The `app` fixture keeps one app context (and so one `g`) open for the whole test, and
    Flask-Login caches the current user in `g`; in production each request gets its own.
    """

    def open(self, *args, **kwargs):
        g.pop("_login_user", None)
        return super().open(*args, **kwargs)


@pytest.fixture(autouse=True)
def _short_delays(app):
    """Failed sign-ins slow an account down (tests in test_hardening_auth time that);
    here the waits are kept tiny so that tests failing many sign-ins stay fast."""
    app.config.update(LOGIN_FIRST_DELAY=0.01, LOGIN_MAX_DELAY=0.02)


def browser(app) -> Browser:
    return Browser(app, app.response_class, use_cookies=True)


def sign_in(client, email, password=PASSWORD, *, address="127.0.0.1", next_=None):
    kwargs = {"data": {"email": email, "password": password},
              "environ_base": {"REMOTE_ADDR": address}}
    if next_ is not None:
        kwargs["query_string"] = {"next": next_}
    return client.post("/login", **kwargs)


def signed_in_user_id(client):
    """The user id the session names (it is stored as "<id>:<session generation>")."""
    with client.session_transaction() as session:
        value = session.get("_user_id")
    return value.partition(":")[0] if value else None


def failures(**where) -> int:
    stmt = select(func.count()).select_from(LoginFailure)
    for column, value in where.items():
        stmt = stmt.where(getattr(LoginFailure, column) == value)
    return db.session.scalar(stmt)


# --- sign-in and sign-out ------------------------------------------------------------------

def test_login_page_renders_labelled_form(client):
    response = client.get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="email"' in html and 'name="password"' in html
    assert '<label for="email"' in html and '<label for="password"' in html


def test_sign_in_redirects_to_start_page_with_303(client, make_user):
    user = make_user("ae")
    response = sign_in(client, user.email)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert signed_in_user_id(client) == str(user.id)
    assert client.get("/").status_code == 200


def test_wrong_password_is_refused_with_401_and_no_session(client, make_user):
    user = make_user("ae")
    response = sign_in(client, user.email, "not the password")
    assert response.status_code == 401
    assert "Wrong email or password" in response.get_data(as_text=True)
    assert signed_in_user_id(client) is None
    assert client.get("/").status_code == 302


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(client, make_user):
    make_user("ae")
    response = sign_in(client, "nobody@example.com", PASSWORD)
    assert response.status_code == 401
    assert "Wrong email or password" in response.get_data(as_text=True)
    assert signed_in_user_id(client) is None


def test_email_is_case_insensitive(client, make_user):
    user = make_user("ae", email="alex.becker@example.com")
    response = sign_in(client, "  Alex.BECKER@Example.COM ")
    assert response.status_code == 303
    assert signed_in_user_id(client) == str(user.id)


def test_deactivated_user_cannot_sign_in(client, make_user):
    user = make_user("ae", active=False)
    response = sign_in(client, user.email)
    assert response.status_code == 401
    # The same answer as a wrong password: the right one is not confirmed to a guesser.
    assert "Wrong email or password" in response.get_data(as_text=True)
    assert "deactivated" not in response.get_data(as_text=True)
    assert signed_in_user_id(client) is None
    assert client.get("/").status_code == 302


def test_signed_in_user_who_gets_deactivated_is_signed_out_on_next_request(app, make_user):
    user = make_user("ae")
    admin = make_user("admin")
    user_browser, admin_browser = browser(app), browser(app)
    assert sign_in(user_browser, user.email).status_code == 303
    assert user_browser.get("/").status_code == 200

    assert sign_in(admin_browser, admin.email).status_code == 303
    response = admin_browser.post(f"/admin/users/{user.id}/active", data={"active": "0"})
    assert response.status_code == 303

    response = user_browser.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert user_browser.get("/clients/").status_code == 302


@pytest.mark.parametrize("target", ["/bookings/", "/clients/?q=nord&page=2"])
def test_next_is_followed_when_it_is_a_path_on_this_site(client, make_user, target):
    user = make_user("ae")
    response = sign_in(client, user.email, next_=target)
    assert response.status_code == 303
    assert response.headers["Location"] == target


@pytest.mark.parametrize("target", [
    "https://evil.example",
    "https://evil.example/bookings/",
    "//evil.example",
    "//evil.example/path",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "bookings/",
    "",
])
def test_next_pointing_elsewhere_goes_to_start_page(client, make_user, target):
    user = make_user("ae")
    response = sign_in(client, user.email, next_=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_login_redirect_from_protected_page_carries_next(client, make_user):
    response = client.get("/bookings/")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/login")
    assert "next=" in location
    user = make_user("ae")
    response = client.post(location, data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/bookings/"


def test_post_logout_signs_out(client, make_user, login_as):
    user = make_user("ae")
    login_as(user)
    assert client.get("/").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert signed_in_user_id(client) is None
    assert client.get("/").status_code == 302


def test_get_logout_is_not_allowed(client, make_user, login_as):
    user = make_user("ae")
    login_as(user)
    response = client.get("/logout")
    assert response.status_code == 405
    assert signed_in_user_id(client) == str(user.id)
    assert client.get("/").status_code == 200


def test_sign_in_starts_a_fresh_session(client, make_user):
    user = make_user("ae")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    assert client.get("/login").status_code == 200
    assert sign_in(client, user.email).status_code == 303
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("_user_id") == f"{user.id}:{user.session_generation}"


def test_signed_in_user_visiting_login_goes_to_start_page(client, make_user, login_as):
    login_as(make_user("ae"))
    response = client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_sign_in_with_missing_fields_is_refused(client, make_user):
    user = make_user("ae")
    response = client.post("/login", data={"email": user.email})
    assert response.status_code == 400
    assert signed_in_user_id(client) is None


# --- throttling ----------------------------------------------------------------------------

def test_failure_is_recorded_in_the_database(client, make_user):
    user = make_user("ae")
    sign_in(client, user.email.upper(), "wrong", address="10.1.1.1")
    rows = db.session.scalars(select(LoginFailure)).all()
    assert len(rows) == 1
    assert rows[0].email == user.email
    assert rows[0].address == "10.1.1.1"


def test_nine_failures_still_allow_the_right_password(client, make_user):
    user = make_user("ae")
    for _ in range(9):
        assert sign_in(client, user.email, "wrong").status_code == 401
    assert sign_in(client, user.email).status_code == 303


def test_failures_from_one_address_across_emails_are_throttled(app, make_user):
    user = make_user("ae")
    attacker = browser(app)
    for n in range(10):
        response = sign_in(attacker, f"guess{n}@example.com", "wrong", address="203.0.113.7")
        assert response.status_code == 401
    assert failures(address="203.0.113.7") == 10

    response = sign_in(attacker, user.email, PASSWORD, address="203.0.113.7")
    assert response.status_code == 429
    assert "Wait" in response.get_data(as_text=True)
    assert signed_in_user_id(attacker) is None

    # The account itself is not locked: the same person from another address gets in.
    elsewhere = browser(app)
    assert sign_in(elsewhere, user.email, PASSWORD, address="198.51.100.1").status_code == 303


def test_failures_older_than_the_window_do_not_count(client, app, make_user):
    user = make_user("ae")
    old = now_utc() - timedelta(minutes=app.config["LOGIN_WINDOW_MINUTES"] + 1)
    for _ in range(12):
        db.session.add(LoginFailure(email=user.email, address="127.0.0.1", at=old))
    db.session.commit()
    assert sign_in(client, user.email).status_code == 303


def test_recent_failures_inserted_directly_do_count(client, make_user):
    user = make_user("ae")
    recent = now_utc() - timedelta(minutes=5)
    for n in range(10):
        db.session.add(LoginFailure(email=f"guess{n}@example.com", address="192.0.2.1",
                                    at=recent))
    db.session.commit()
    assert sign_in(client, user.email, address="192.0.2.1").status_code == 429


def test_success_clears_the_accounts_failures(client, make_user):
    user = make_user("ae")
    other = make_user("ae")
    for _ in range(5):
        assert sign_in(client, user.email, "wrong").status_code == 401
    assert sign_in(client, other.email, "wrong", address="10.2.2.2").status_code == 401
    assert failures(email=user.email) == 5

    assert sign_in(client, user.email).status_code == 303
    assert failures(email=user.email) == 0
    assert failures(email=other.email) == 1  # only this account's failures go

    client.post("/logout")
    for _ in range(9):
        assert sign_in(client, user.email, "wrong", address="10.3.3.3").status_code == 401
    assert sign_in(client, user.email, address="10.3.3.3").status_code == 303
