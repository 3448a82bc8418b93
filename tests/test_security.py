"""Security headers, cookies, CSRF, error pages, templates without inline code, secret key."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from aeplan import create_app
from aeplan.auth.models import LoginFailure, User
from aeplan.bookings.models import Booking
from aeplan.clients.models import Client
from aeplan.extensions import db
from tests.conftest import PASSWORD

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def count(model) -> int:
    # End the test's own transaction first: requests to a second app (CSRF on) write
    # through other connections, and an open read transaction keeps its old snapshot.
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(model))


# --- headers and cookies -------------------------------------------------------------------

def assert_security_headers(response):
    csp = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert response.headers.get("X-Content-Type-Options") == "nosniff"


@pytest.mark.parametrize("method, path, status", [
    ("get", "/login", 200),
    ("get", "/healthz", 200),
    ("get", "/", 302),
    ("get", "/no/such/page", 404),
    ("get", "/logout", 405),
    ("get", "/static/css/app.css", 200),
    ("post", "/login", 400),
])
def test_security_headers_on_anonymous_responses(client, method, path, status):
    response = getattr(client, method)(path)
    response.close()  # a static file is streamed from an open file
    assert response.status_code == status
    assert_security_headers(response)


def test_security_headers_on_signed_in_pages_and_redirects(client, make_user, login_as):
    user = make_user("ae")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 303
    assert_security_headers(response)
    for path in ("/", "/clients/", "/bookings/", "/clients/new", "/clients/999999"):
        response = client.get(path)
        assert response.status_code in (200, 404), path
        assert_security_headers(response)


def test_session_cookie_is_httponly_and_samesite_lax(client, make_user):
    user = make_user("ae")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 303
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, response.headers.getlist("Set-Cookie")
    attributes = [part.strip().lower() for part in cookies[0].split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes


# --- CSRF ----------------------------------------------------------------------------------

@pytest.fixture
def csrf_app(app):
    """The same database, with CSRF protection on as in production."""
    protected = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": True,
    })
    yield protected
    with protected.app_context():
        db.session.remove()
        db.engine.dispose()


def token_from(response) -> str:
    match = CSRF_FIELD.search(response.get_data(as_text=True))
    assert match, "no csrf_token field in the page"
    return match.group(1)


def csrf_sign_in(browser, user) -> None:
    token = token_from(browser.get("/login"))
    response = browser.post("/login", data={"email": user.email, "password": PASSWORD,
                                             "csrf_token": token})
    assert response.status_code == 303


def test_login_without_csrf_token_is_refused(csrf_app, make_user):
    user = make_user("ae")
    browser = csrf_app.test_client()
    response = browser.post("/login", data={"email": user.email, "password": "wrong"})
    assert response.status_code == 400
    assert "AE Plan" in response.get_data(as_text=True)
    assert count(LoginFailure) == 0
    response = browser.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    with browser.session_transaction() as session:
        assert "_user_id" not in session
    # The same sign-in with the token goes through.
    csrf_sign_in(browser, user)


def test_login_with_a_forged_csrf_token_is_refused(csrf_app, make_user):
    user = make_user("ae")
    browser = csrf_app.test_client()
    browser.get("/login")
    response = browser.post("/login", data={"email": user.email, "password": PASSWORD,
                                             "csrf_token": "forged"})
    assert response.status_code == 400
    with browser.session_transaction() as session:
        assert "_user_id" not in session


def test_new_booking_without_csrf_token_is_refused(csrf_app, make_user, make_client):
    user = make_user("ae")
    client_id = make_client(user).id
    browser = csrf_app.test_client()
    csrf_sign_in(browser, user)
    data = {
        "kind": "demo", "title": "Platform demo", "client_id": str(client_id),
        "starts_at": "2026-12-08T10:00", "ends_at": "2026-12-08T11:00",
        "timezone": "Europe/Berlin", "location": "https://meet.example.com/a",
        "needs_technical": "0", "needs_creative": "0", "needs_other": "0",
    }
    response = browser.post("/bookings/new", data=data)
    assert response.status_code == 400
    assert count(Booking) == 0
    # With the page's token the same post is accepted.
    token = token_from(browser.get("/bookings/new"))
    response = browser.post("/bookings/new", data={**data, "csrf_token": token})
    assert response.status_code == 303
    assert count(Booking) == 1


def test_new_client_without_csrf_token_is_refused(csrf_app, make_user):
    user = make_user("ae")
    browser = csrf_app.test_client()
    csrf_sign_in(browser, user)
    data = {"name": "Tokenless GmbH", "industry": "technology", "tier": "standard",
            "owner_id": str(user.id), "timezone": "Europe/Berlin", "cadence_days": "30"}
    response = browser.post("/clients/new", data=data)
    assert response.status_code == 400
    assert count(Client) == 0
    token = token_from(browser.get("/clients/new"))
    response = browser.post("/clients/new", data={**data, "csrf_token": token})
    assert response.status_code == 303
    assert count(Client) == 1


def test_logout_without_csrf_token_does_not_sign_out(csrf_app, make_user):
    user = make_user("ae")
    browser = csrf_app.test_client()
    csrf_sign_in(browser, user)
    assert browser.post("/logout").status_code == 400
    assert browser.get("/").status_code == 200


def test_admin_actions_without_csrf_token_are_refused(csrf_app, make_user):
    admin = make_user("admin")
    target = make_user("ae")
    browser = csrf_app.test_client()
    csrf_sign_in(browser, admin)
    response = browser.post(f"/admin/users/{target.id}/active", data={"active": "0"})
    assert response.status_code == 400
    db.session.commit()
    assert db.session.get(User, target.id).active is True


# --- error pages ---------------------------------------------------------------------------

def test_404_page_renders_inside_the_layout(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "AE Plan" in html
    assert 'class="topbar"' in html
    assert "Not found" in html


def test_404_page_for_signed_in_user_has_navigation(client, make_user, login_as):
    login_as(make_user("ae"))
    response = client.get("/clients/999999")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "AE Plan" in html and "Sign out" in html


def test_unhandled_exception_gives_500_page_in_layout(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/test-explodes")
    def explodes():
        raise RuntimeError("secret internal detail")

    response = client.get("/test-explodes")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "AE Plan" in html
    assert 'class="topbar"' in html
    assert "Something went wrong" in html
    assert "secret internal detail" not in html
    assert "Traceback" not in html
    assert_security_headers(response)


def test_database_error_gives_500_page_and_the_next_request_works(app, client, make_user,
                                                                 login_as):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/test-bad-sql")
    def bad_sql():
        db.session.execute(text("SELECT * FROM no_such_table_here"))
        return "unreachable"

    login_as(make_user("ae"))
    response = client.get("/test-bad-sql")
    assert response.status_code == 500
    assert "Something went wrong" in response.get_data(as_text=True)
    assert client.get("/clients/").status_code == 200
    assert client.get("/healthz").status_code == 200


# --- templates -----------------------------------------------------------------------------

def test_templates_exist_to_scan():
    assert len(list(TEMPLATES.rglob("*.html"))) >= 5


def test_no_template_has_inline_script_code():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        source = path.read_text()
        for match in re.finditer(r"<script\b([^>]*)>(.*?)</script\s*>", source,
                                 re.IGNORECASE | re.DOTALL):
            attrs, body = match.group(1), match.group(2)
            if re.search(r"\bsrc\s*=", attrs):
                if body.strip():
                    offenders.append(f"{path.name}: script with src and a body")
                continue
            if re.search(r"""\btype\s*=\s*["']application/json["']""", attrs):
                continue
            offenders.append(f"{path.relative_to(TEMPLATES)}: <script{attrs}>")
    assert offenders == []


def test_no_template_has_inline_event_handlers_or_style_attributes():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        source = path.read_text()
        for match in re.finditer(r"<[a-zA-Z][^>]*>", source):
            tag = match.group(0)
            if re.search(r"""\son[a-z]+\s*=\s*["']""", tag, re.IGNORECASE):
                offenders.append(f"{path.name}: {tag[:80]}")
            if re.search(r"""\sstyle\s*=\s*["']""", tag, re.IGNORECASE):
                offenders.append(f"{path.name}: {tag[:80]}")
            if re.search(r"""(href|src|action)\s*=\s*["']\s*javascript:""", tag, re.IGNORECASE):
                offenders.append(f"{path.name}: {tag[:80]}")
    assert offenders == []


def test_pages_render_without_inline_scripts(client, make_user, make_client, login_as):
    user = make_user("manager")
    c = make_client()
    login_as(user)
    for path in ("/login", "/", "/clients/", f"/clients/{c.id}", "/clients/new",
                 "/bookings/", "/bookings/new"):
        html = client.get(path).get_data(as_text=True)
        for match in re.finditer(r"<script\b([^>]*)>", html, re.IGNORECASE):
            attrs = match.group(1)
            assert "src=" in attrs or 'type="application/json"' in attrs, (path, attrs)


# --- secret key ----------------------------------------------------------------------------

def test_secret_key_is_required_outside_debug_and_testing(app, monkeypatch):
    for name in ("SECRET_KEY", "FLASK_DEBUG", "FLASK_RUN_FROM_CLI"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})


def test_secret_key_from_the_environment_is_used(app, monkeypatch):
    for name in ("FLASK_DEBUG", "FLASK_RUN_FROM_CLI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "from-the-environment-0123456789")
    production = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    assert production.config["SECRET_KEY"] == "from-the-environment-0123456789"
    assert production.testing is False


# --- output escaping -----------------------------------------------------------------------

def test_user_supplied_text_is_escaped(client, make_user, make_client, make_contact, login_as):
    evil = '<script>alert("x")</script>'
    admin = make_user("admin", name=f"Admin {evil}")
    account = make_client(name=f"Client {evil}", notes=f"Notes {evil}")
    make_contact(account, name=f"Contact {evil}", title=f"Title {evil}",
                 email="pat@client.example")
    login_as(admin)
    for path in ("/clients/", f"/clients/{account.id}", "/admin/users/",
                 f"/clients/{account.id}/edit"):
        html = client.get(path).get_data(as_text=True)
        assert evil not in html, path
        assert "&lt;script&gt;" in html, path
