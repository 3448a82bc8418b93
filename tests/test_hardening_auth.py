"""Issue 13, sign-in side: throttling behind a proxy that never locks anyone out, sessions
that end on the server, safe `next`, the password rule, and deactivated accounts that
answer like wrong passwords."""
from __future__ import annotations

import re
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
from sqlalchemy import select

from aeplan import create_app
from aeplan.auth.models import LoginFailure, User
from aeplan.auth.passwords import require_good_password
from aeplan.auth.service import Throttle, address_key
from aeplan.errors import Invalid
from aeplan.extensions import db, login_manager
from aeplan.timeutil import now_utc
from tests.conftest import PASSWORD, FreshContextClient
from tests.test_concurrency import Browser as RealBrowser
from tests.test_concurrency import serve_gunicorn

GOOD = "glacier otter lantern 42"  # passes the password rule


def sign_in(client, email, password=PASSWORD, *, address="127.0.0.1", forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.post("/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address}, headers=headers)


def addresses() -> list[str]:
    return list(db.session.scalars(select(LoginFailure.address).order_by(LoginFailure.id)))


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


QUICK = {"LOGIN_FIRST_DELAY": 0.01, "LOGIN_MAX_DELAY": 0.02}  # tests that fail many sign-ins


# --- 1. proxy and throttling ----------------------------------------------------------------

def test_without_proxy_hops_forwarded_for_is_ignored(client, make_user):
    user = make_user("ae")
    sign_in(client, user.email, "wrong", address="127.0.0.1", forwarded="203.0.113.5")
    assert addresses() == ["127.0.0.1"]


def test_with_one_proxy_hop_the_address_the_proxy_saw_is_used(other_app, make_user):
    user = make_user("ae")
    proxied = other_app(AEPLAN_PROXY_HOPS=1).test_client()
    sign_in(proxied, user.email, "wrong", forwarded="203.0.113.5")
    # A client's own X-Forwarded-For entry (left) is not trusted, only the proxy's (right).
    sign_in(proxied, user.email, "wrong", forwarded="10.6.6.6, 198.51.100.7")
    assert addresses() == ["203.0.113.5", "198.51.100.7"]


def test_the_lockout_attack_through_a_proxy_no_longer_locks_the_admin_out(
        other_app, make_user):
    """The issue's attack: 10 failures for 10 made-up emails from one address, then the
    admin's right password from another, both through the same proxy."""
    admin = make_user("admin")
    proxied = other_app(AEPLAN_PROXY_HOPS=1).test_client()
    for n in range(10):
        response = sign_in(proxied, f"made.up.{n}@example.com", "guess", forwarded="203.0.113.66")
        assert response.status_code == 401
    assert sign_in(proxied, admin.email, forwarded="198.51.100.20").status_code == 303
    # The guessing address itself stays throttled.
    proxied.post("/logout")
    assert sign_in(proxied, admin.email, forwarded="203.0.113.66").status_code == 429


def test_an_address_over_the_limit_gets_429_with_a_wait_time(app, client, make_user):
    user = make_user("ae")
    for n in range(10):
        assert sign_in(client, f"guess{n}@example.com", "x", address="203.0.113.7") \
            .status_code == 401
    response = sign_in(client, user.email, address="203.0.113.7")
    assert response.status_code == 429
    window = app.config["LOGIN_WINDOW_MINUTES"] * 60
    assert 0 < int(response.headers["Retry-After"]) <= window
    assert re.search(r"Wait \d+ minutes", response.get_data(as_text=True))
    assert len(addresses()) == 10  # a refused attempt is not counted again


def test_the_wait_ends_when_the_oldest_failures_leave_the_window(app, client, make_user):
    user = make_user("ae")
    now = now_utc()
    window = timedelta(minutes=app.config["LOGIN_WINDOW_MINUTES"])
    ages = [window - timedelta(seconds=90)] + [timedelta(minutes=1)] * 9  # oldest: 90 s left
    for n, age in enumerate(ages):
        db.session.add(LoginFailure(email=f"g{n}@example.com", address="192.0.2.9",
                                    at=now - age))
    db.session.commit()
    response = sign_in(client, user.email, address="192.0.2.9")
    assert response.status_code == 429
    assert 80 <= int(response.headers["Retry-After"]) <= 90
    assert "Wait 2 minutes" in response.get_data(as_text=True)


def test_ipv6_addresses_are_counted_per_64_network():
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") \
        == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("198.51.100.4") == "198.51.100.4"
    assert address_key("unknown") == "unknown"


def test_the_account_delay_grows_and_is_capped():
    throttle = Throttle(free_failures=3, first_delay=0.25, max_delay=5.0)
    assert [throttle.delay(n) for n in range(9)] == [0, 0, 0, 0, 0.25, 0.5, 1, 2, 4]
    assert throttle.delay(9) == throttle.delay(10**9) == 5.0


def _fail_account(email: str, count: int) -> None:
    """`count` recent failures for `email`, each from its own address (no address limit)."""
    for n in range(count):
        db.session.add(LoginFailure(email=email, address=f"10.8.{n // 250}.{n % 250 + 1}"))
    db.session.commit()


def _timed_sign_in(client, email, address) -> tuple[int, float]:
    client.post("/logout")
    started = time.perf_counter()
    status = sign_in(client, email, address=address).status_code
    return status, time.perf_counter() - started


def test_an_account_under_attack_slows_down_but_the_right_password_signs_in(
        app, client, make_user):
    app.config.update(LOGIN_FREE_FAILURES=3, LOGIN_FIRST_DELAY=0.4, LOGIN_MAX_DELAY=0.8)
    user = make_user("ae")
    _fail_account(user.email, 3)
    status, quick_sign_in = _timed_sign_in(client, user.email, "198.51.100.1")
    assert status == 303 and quick_sign_in < 0.4

    _fail_account(user.email, 4)  # 7 in all: 0.4 * 2**3 = 3.2 s, capped at 0.8 s
    status, slowed = _timed_sign_in(client, user.email, "198.51.100.2")
    assert status == 303 and 0.8 <= slowed < 3.0

    _fail_account(user.email, 40)  # far more failures: still the cap, still signs in
    status, capped = _timed_sign_in(client, user.email, "198.51.100.3")
    assert status == 303 and 0.8 <= capped < 3.0


def test_one_failure_past_the_free_ones_waits_the_first_delay(app, client, make_user):
    app.config.update(LOGIN_FREE_FAILURES=3, LOGIN_FIRST_DELAY=0.4, LOGIN_MAX_DELAY=10)
    user = make_user("ae")
    _fail_account(user.email, 4)
    status, elapsed = _timed_sign_in(client, user.email, "198.51.100.1")
    assert status == 303 and 0.4 <= elapsed < 0.8 + 1.5


def test_right_password_from_b_while_a_attacks_the_same_account(other_app, make_user):
    admin = make_user("admin")
    proxied = other_app(AEPLAN_PROXY_HOPS=1, **QUICK)
    attacker, owner = proxied.test_client(), proxied.test_client()
    for _ in range(5):
        assert sign_in(attacker, admin.email, "guess", forwarded="203.0.113.66") \
            .status_code == 401
    assert sign_in(owner, admin.email, forwarded="198.51.100.20").status_code == 303
    for _ in range(5):
        assert sign_in(attacker, admin.email, "guess", forwarded="203.0.113.66") \
            .status_code == 401
    assert sign_in(attacker, admin.email, forwarded="203.0.113.66").status_code == 429
    # The owner's success forgot only the owner's own failures, not the attacker's.
    assert addresses().count("203.0.113.66") == 10
    owner.post("/logout")
    assert sign_in(owner, admin.email, forwarded="198.51.100.20").status_code == 303


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
                                    "/\x7f", "/ /x", "/\u2028x", "/\u200bx", "//["])
def test_next_with_control_characters_goes_to_start_page(client, make_user, target):
    user = make_user("ae")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD},
                           query_string={"next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_next_with_a_nul_byte_is_refused_before_sign_in(client, make_user):
    """NUL in any query string is refused for every route (aeplan.guards), sign-in too."""
    user = make_user("ae")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD},
                           query_string={"next": "/\x00"})
    assert response.status_code == 400
    assert not opens_profile(client)


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


# --- 4. passwords ---------------------------------------------------------------------------

@pytest.mark.parametrize("password, words", [
    ("12345678", "at least 12"),
    ("password1234", "very common"),
    ("Kx9#mQ2vL!p", "at least 12"),  # strong, but 11 characters
    ("aaaaaaaaaaaaaaaa", "repeats"),
    ("x" * 201, "at most 200"),
])
def test_weak_passwords_are_refused_with_the_reason(password, words):
    with pytest.raises(Invalid) as refused:
        require_good_password(password, email="pat@example.com", name="Pat Example")
    assert words in refused.value.message.lower()
    assert refused.value.field == "password"


@pytest.mark.parametrize("password", [GOOD, "Kx9#mQ2vL!p4", "plum-taxi-wobble-1987",
                                      "a long passphrase " * 11])
def test_good_passphrases_are_accepted(password):
    require_good_password(password, email="pat@example.com", name="Pat Example")


def test_a_password_built_from_ones_own_email_is_refused():
    email, name = "zorblatt.quenby@example.com", "Zorblatt Quenby"
    require_good_password(email, email="pat@example.com", name="Pat Example")  # for others
    with pytest.raises(Invalid) as refused:
        require_good_password(email, email=email, name=name)
    assert "your name or email" in refused.value.message


def _current_hash(user: User) -> str:
    db.session.expire(user)
    return user.password_hash


@pytest.mark.parametrize("weak", ["12345678", "password1234", "Kx9#mQ2vL!p"])
def test_profile_form_refuses_weak_passwords(app, make_user, weak):
    user = make_user("ae")
    browser = signed_in(app, user)
    before = _current_hash(user)
    response = browser.post("/profile", data={"form": "password",
                                              "password-current_password": PASSWORD,
                                              "password-new_password": weak})
    assert response.status_code == 422
    assert re.search(r"at least 12|too easy to guess", response.get_data(as_text=True))
    assert _current_hash(user) == before
    assert opens_profile(browser)


@pytest.mark.parametrize("weak", ["12345678", "password1234", "Kx9#mQ2vL!p"])
def test_admin_form_refuses_weak_passwords(app, make_user, weak):
    admin_browser = signed_in(app, make_user("admin"))
    response = admin_browser.post("/admin/users/new", data={
        "email": "weak@example.com", "name": "Weak Password", "role": "ae", "discipline": "",
        "skills": "", "timezone": "UTC", "password": weak})
    assert response.status_code == 422
    assert re.search(r'id="password-error">[^<]*(at least 12|too easy to guess)',
                     response.get_data(as_text=True))
    assert db.session.scalar(select(User).where(User.email == "weak@example.com")) is None

    user = make_user("ae")
    before = _current_hash(user)
    response = admin_browser.post(f"/admin/users/{user.id}/edit", data={
        "email": user.email, "name": user.name, "role": "ae", "discipline": "",
        "skills": "", "timezone": "UTC", "password": weak})
    assert response.status_code == 422
    assert _current_hash(user) == before


def test_admin_form_accepts_a_good_passphrase(app, make_user):
    admin_browser = signed_in(app, make_user("admin"))
    response = admin_browser.post("/admin/users/new", data={
        "email": "good@example.com", "name": "Good Password", "role": "ae", "discipline": "",
        "skills": "", "timezone": "UTC", "password": GOOD})
    assert response.status_code == 303
    assert sign_in(app.test_client(), "good@example.com", GOOD).status_code == 303


@pytest.mark.parametrize("weak, words", [("12345678", "at least 12"),
                                         ("password1234", "very common"),
                                         ("Kx9#mQ2vL!p", "at least 12")])
def test_cli_create_user_refuses_weak_passwords(runner, weak, words):
    result = runner.invoke(args=["create-user", "--email", "cli@example.com", "--name", "Cli",
                                 "--role", "ae", "--password", weak])
    assert result.exit_code != 0
    assert words in result.output.lower()
    assert db.session.scalar(select(User).where(User.email == "cli@example.com")) is None


def test_cli_create_user_accepts_a_good_passphrase(runner, client):
    result = runner.invoke(args=["create-user", "--email", "cli@example.com", "--name", "Cli",
                                 "--role", "ae", "--password", GOOD])
    assert result.exit_code == 0, result.output
    assert sign_in(client, "cli@example.com", GOOD).status_code == 303


# --- 5. a deactivated account answers like a wrong password ---------------------------------------

def test_deactivated_user_with_the_right_password_gets_the_wrong_password_answer(
        client, make_user):
    active = make_user("ae")
    gone = make_user("ae", active=False)
    wrong = sign_in(client, active.email, "not the password", address="192.0.2.50")
    right_but_gone = sign_in(client, gone.email, PASSWORD, address="192.0.2.51")
    assert right_but_gone.status_code == wrong.status_code == 401
    assert right_but_gone.headers.get("Retry-After") is None
    page = right_but_gone.get_data(as_text=True).replace(gone.email, "EMAIL")
    assert page == wrong.get_data(as_text=True).replace(active.email, "EMAIL")
    # The same path: both are counted as failures (and slow the account down alike).
    failures = db.session.execute(select(LoginFailure.email, LoginFailure.address)).all()
    assert sorted(failures) == sorted([(active.email, "192.0.2.50"), (gone.email, "192.0.2.51")])


# --- hostile input on the sign-in and user forms (no 500, nothing stored) -----------------------
# NUL is refused before any form sees it (aeplan.guards, tests/test_hostile_input.py); the
# forms refuse the other control characters with a message on the field.

@pytest.mark.parametrize("email", ["a\x1bb@example.com", "a@example.com\r\nBcc: x@y", "\x7f@x.com"])
def test_sign_in_with_control_characters_in_the_email_is_refused(client, make_user, email):
    make_user("ae")
    response = client.post("/login", data={"email": email, "password": "x"})
    assert response.status_code == 400
    assert "control characters" in response.get_data(as_text=True)
    assert addresses() == []


def test_a_forwarded_address_that_is_not_an_address_is_counted_as_unknown(other_app, make_user):
    user = make_user("ae")
    proxied = other_app(AEPLAN_PROXY_HOPS=1).test_client()
    sign_in(proxied, user.email, "wrong", forwarded="not-an-ip\x00")
    assert addresses() == ["unknown"]


@pytest.mark.parametrize("field", ["email", "name", "skills"])
def test_admin_form_refuses_control_characters(app, make_user, field):
    admin_browser = signed_in(app, make_user("admin"))
    data = {"email": "ctrl@example.com", "name": "Control Person", "role": "ae",
            "discipline": "", "skills": "", "timezone": "UTC", "password": GOOD}
    data[field] = "x\x01y@example.com" if field == "email" else "x\x01y"
    response = admin_browser.post("/admin/users/new", data=data)
    assert response.status_code == 422
    assert re.search(rf'id="{field}-error">[^<]*control characters',
                     response.get_data(as_text=True))
    assert db.session.scalar(select(User).where(User.name == "Control Person")) is None


def test_cli_create_user_refuses_control_characters(runner):
    result = runner.invoke(args=["create-user", "--email", "nul\x00@example.com", "--name", "N",
                                 "--role", "ae", "--password", GOOD])
    assert result.exit_code != 0
    assert "control characters" in result.output


# --- the attack against a real gunicorn behind a proxy ------------------------------------

@pytest.fixture
def proxied_gunicorn(app):
    """gunicorn as deployed (gunicorn.conf.py), told that one proxy stands in front."""
    with serve_gunicorn(app, workers=1, AEPLAN_PROXY_HOPS="1", AEPLAN_LOGIN_FIRST_DELAY="0.01",
                        AEPLAN_LOGIN_MAX_DELAY="0.02") as base:
        yield base


def _post_through_proxy(base: str, email: str, password: str, forwarded: str) -> int:
    """A fresh browser's sign-in (with its CSRF token), as the proxy forwards it."""
    browser = RealBrowser(base)
    browser.get("/login")
    data = urllib.parse.urlencode({"email": email, "password": password,
                                   "csrf_token": browser.token}).encode()
    request = urllib.request.Request(base + "/login", data=data,
                                     headers={"X-Forwarded-For": forwarded})
    try:
        with browser.opener.open(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_lockout_attack_fails_against_gunicorn_behind_a_proxy(proxied_gunicorn, make_user):
    admin = make_user("admin")
    for n in range(10):
        assert _post_through_proxy(proxied_gunicorn, f"made.up.{n}@example.com", "guess",
                                   "203.0.113.66") == 401
    assert _post_through_proxy(proxied_gunicorn, admin.email, PASSWORD, "203.0.113.66") == 429
    assert _post_through_proxy(proxied_gunicorn, admin.email, PASSWORD, "198.51.100.20") == 303
    db.session.rollback()  # see what the worker wrote
    assert set(addresses()) == {"203.0.113.66"}
