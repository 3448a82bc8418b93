"""Issue 13, sign-in side: sessions that end on the server, safe `next`."""
from __future__ import annotations

import re

import pytest

from aeplan import create_app
from aeplan.extensions import db, login_manager
from tests.conftest import PASSWORD, FreshContextClient

GOOD = "glacier otter lantern 42"  # passes the password rule


def sign_in(client, email, password=PASSWORD, *, address="127.0.0.1", forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.post("/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address}, headers=headers)


@pytest.fixture
def other_app(app):
    """Another app on the same database, built with extra settings (`other_app(**cfg)`)."""
    made = []

    def build(**config):
        built = create_app({"TESTING": True, "SECRET_KEY": "test-secret",
                            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                            "WTF_CSRF_ENABLED": False, "MAIL_SERVER": "", **config})
        built.test_client_class = FreshContextClient
        made.append(built)
        return built
    yield build
    for built in made:
        with built.app_context():
            db.session.remove()
            db.engine.dispose()


# --- 2. sessions that end on the server -------------------------------------------------------

def copy_of(app, browser):
    """Another browser holding a copy of `browser`'s session cookie."""
    copy = app.test_client()
    copy.set_cookie("session", browser.get_cookie("session").value)
    return copy


def opens_profile(browser) -> bool:
    response = browser.get("/profile")
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/login")
        return False
    assert response.status_code == 200
    return True


def signed_in(app, user):
    browser = app.test_client()
    assert sign_in(browser, user.email).status_code == 303
    return browser


@pytest.mark.parametrize("role", ["ae", "support", "manager", "admin"])
def test_logout_ends_a_copied_session(app, make_user, role):
    user = make_user(role)
    browser = signed_in(app, user)
    copy = copy_of(app, browser)
    assert opens_profile(copy)
    assert browser.post("/logout").status_code == 303
    assert not opens_profile(copy)
    assert not opens_profile(browser)


@pytest.mark.parametrize("role", ["ae", "support", "admin"])
def test_password_change_keeps_this_browser_and_ends_the_others(app, make_user, role):
    user = make_user(role)
    browser = signed_in(app, user)
    copy = copy_of(app, browser)
    response = browser.post("/profile", data={"form": "password",
                                              "password-current_password": PASSWORD,
                                              "password-new_password": GOOD})
    assert response.status_code == 303
    page = browser.get("/profile")
    assert page.status_code == 200
    assert "Other devices are signed out" in page.get_data(as_text=True)
    assert not opens_profile(copy)
    assert sign_in(app.test_client(), user.email, GOOD).status_code == 303


@pytest.mark.parametrize("before, after", [("ae", "manager"), ("manager", "ae"),
                                           ("support", "ae"), ("admin", "ae")])
def test_a_role_change_by_an_admin_ends_the_users_sessions(app, make_user, before, after):
    user = make_user(before)
    admin_browser = signed_in(app, make_user("admin"))
    browser = signed_in(app, user)
    response = admin_browser.post(f"/admin/users/{user.id}/edit", data={
        "email": user.email, "name": user.name, "role": after, "discipline": "",
        "skills": "", "timezone": user.timezone, "password": ""})
    assert response.status_code == 303
    assert not opens_profile(browser)


def test_an_edit_that_changes_neither_role_nor_password_keeps_sessions(app, make_user):
    user = make_user("ae")
    admin_browser = signed_in(app, make_user("admin"))
    browser = signed_in(app, user)
    response = admin_browser.post(f"/admin/users/{user.id}/edit", data={
        "email": user.email, "name": "Renamed Person", "role": "ae", "discipline": "",
        "skills": "", "timezone": user.timezone, "password": ""})
    assert response.status_code == 303
    assert opens_profile(browser)


def test_an_admin_setting_a_password_ends_the_users_sessions(app, make_user):
    user = make_user("support")
    admin_browser = signed_in(app, make_user("admin"))
    browser = signed_in(app, user)
    response = admin_browser.post(f"/admin/users/{user.id}/edit", data={
        "email": user.email, "name": user.name, "role": "support", "discipline": "technical",
        "skills": "", "timezone": user.timezone, "password": GOOD})
    assert response.status_code == 303
    assert not opens_profile(browser)


def test_an_admin_setting_their_own_password_stays_signed_in_here_only(app, make_user):
    admin = make_user("admin")
    browser = signed_in(app, admin)
    copy = copy_of(app, browser)
    response = browser.post(f"/admin/users/{admin.id}/edit", data={
        "email": admin.email, "name": admin.name, "role": "admin", "discipline": "",
        "skills": "", "timezone": admin.timezone, "password": GOOD})
    assert response.status_code == 303
    assert opens_profile(browser)
    assert not opens_profile(copy)


def test_deactivation_ends_sessions_for_good(app, make_user):
    """Reactivating the account does not bring the old sessions back."""
    user = make_user("ae")
    admin_browser = signed_in(app, make_user("admin"))
    browser = signed_in(app, user)
    assert admin_browser.post(f"/admin/users/{user.id}/active",
                              data={"active": "0"}).status_code == 303
    assert not opens_profile(browser)
    assert admin_browser.post(f"/admin/users/{user.id}/active",
                              data={"active": "1"}).status_code == 303
    assert not opens_profile(browser)
    assert opens_profile(signed_in(app, user))


@pytest.mark.parametrize("role", ["ae", "support", "manager", "admin"])
def test_sign_out_everywhere_ends_every_session(app, make_user, role):
    user = make_user(role)
    browser = signed_in(app, user)
    elsewhere = signed_in(app, user)
    copy = copy_of(app, browser)
    page = browser.get("/profile").get_data(as_text=True)
    assert 'action="/profile/sign-out-everywhere"' in page
    response = browser.post("/profile/sign-out-everywhere")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert "signed out everywhere" in browser.get("/login").get_data(as_text=True)
    assert not any(opens_profile(b) for b in (browser, elsewhere, copy))
    assert opens_profile(signed_in(app, user))


def test_sign_out_everywhere_needs_the_csrf_token(other_app, make_user):
    user = make_user("ae")
    protected = other_app(WTF_CSRF_ENABLED=True)
    browser = protected.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                      browser.get("/login").get_data(as_text=True)).group(1)
    assert browser.post("/login", data={"email": user.email, "password": PASSWORD,
                                        "csrf_token": token}).status_code == 303
    assert browser.post("/profile/sign-out-everywhere").status_code == 400
    assert opens_profile(browser)
    page = browser.get("/profile").get_data(as_text=True)
    form = re.search(r'<form[^>]*action="/profile/sign-out-everywhere".*?</form>', page, re.S)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.group(0)).group(1)
    assert browser.post("/profile/sign-out-everywhere",
                        data={"csrf_token": token}).status_code == 303
    assert not opens_profile(browser)


def test_sign_out_everywhere_needs_a_signed_in_user(client):
    response = client.post("/profile/sign-out-everywhere")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("stored", ["{id}", "{id}:1", "{id}:", ":0", "{id}:0:0", "{id}:-1",
                                    "{id}:99999999999999999999", "{id}:٠", "x:0"])
def test_a_session_naming_no_current_generation_is_refused(client, make_user, stored):
    user = make_user("ae")
    with client.session_transaction() as session:
        session["_user_id"] = stored.format(id=user.id)
    assert not opens_profile(client)


def test_loading_the_signed_in_user_is_one_statement(app, make_user, count_queries):
    user = make_user("ae")
    session_id = user.get_id()
    db.session.commit()  # start afresh, as a request does ...
    db.session.connection()  # ... whose transaction is already open (BEGIN is not counted)
    with count_queries() as statements:
        loaded = login_manager._user_callback(session_id)
    assert loaded is not None and loaded.id == user.id
    assert statements() == 1


# --- 3. next with control characters ------------------------------------------------------------

@pytest.mark.parametrize("target", ["/\r\nSet-Cookie: x=y", "/\r\n", "/ok\n", "/\t/evil.example",
                                    "/\x00", "/\x7f", "/ /x", "/\u2028x", "/\u200bx", "//["])
def test_next_with_control_characters_goes_to_start_page(client, make_user, target):
    user = make_user("ae")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD},
                           query_string={"next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_next_with_letters_beyond_ascii_is_still_followed(client, make_user):
    user = make_user("ae")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD},
                           query_string={"next": "/clients/?q=Müller"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/clients/?q=M%C3%BCller"


def test_the_reported_next_url_signs_in_without_an_error(client, make_user):
    user = make_user("ae")
    response = client.post("/login?next=/%0D%0ASet-Cookie:%20a=b",
                           data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert "a=b" not in " ".join(response.headers.getlist("Set-Cookie"))
