"""No secret in any log: feed tokens are redacted from the request log and from Flask's
exception line whatever shape their path takes, failed statements log no parameters, and
the suite-wide log scan (tests/conftest.py) fails a run that logs a token or hash."""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.routing import IntegerConverter

import aeplan.calendar.service
from aeplan import create_app
from aeplan.auth.models import User
from aeplan.extensions import db
from aeplan.observability import SECRET_PREFIXES, redact_path, redact_text
from tests.conftest import PASSWORD_HASH

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def production_app(app):
    """The same database, configured as in production: not TESTING (so errors are logged
    and answered with the 500 page) and with the request log on."""
    live = create_app({
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "AEPLAN_REQUEST_LOG": True,
        "MAIL_SERVER": "",
    })
    yield live
    with live.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def token(app, make_user):
    user = make_user("ae")
    value = aeplan.calendar.service.feed_token(
        user, aeplan.calendar.service.key_from_config(app.config))
    db.session.commit()
    return value


def shapes(token: str) -> list[str]:
    return [f"/feeds/{token}.ics", f"/feeds/{token}", f"/feeds/{token}.ICS",
            f"/FEEDS/{token}.ics", f"//feeds/{token}.ics", f"///Feeds//{token}.ics",
            f"/feeds/{token}.ics/extra"]


def get_raw(browser, path: str):
    """GET `path` exactly as a server passes it on: the test client would read a leading
    // as a host name, gunicorn keeps it in PATH_INFO."""
    return browser.get("/", environ_overrides={"PATH_INFO": path})


def logged(caplog) -> str:
    return "\n".join(caplog.handler.format(r) for r in caplog.records)


def test_request_log_never_holds_a_feed_token(production_app, token, caplog):
    caplog.set_level(logging.INFO)
    browser = production_app.test_client()
    assert browser.get(f"/feeds/{token}.ics").status_code == 200  # the token works
    for path in shapes(token):
        get_raw(browser, path)
    lines = [r.getMessage() for r in caplog.records if r.name == "aeplan.request"]
    assert len(lines) == 1 + len(shapes(token))
    text = logged(caplog)
    assert token not in text and token.split("-", 2)[-1] not in text
    assert all('"path":"/feeds/<redacted>"' in line for line in lines), lines


def raw_get(port: int, path: str) -> int:
    """Send `path` as the request line has it (no client normalises it); the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n"
                     "Connection: close\r\n\r\n".encode())
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1])


def test_gunicorn_logs_no_feed_token(app, make_user):
    """The real server, configured by gunicorn.conf.py: whatever shape the feed path
    takes, nothing it writes holds the token."""
    user = make_user("ae")
    secret = "gunicorn-log-test"
    token = aeplan.calendar.service.feed_token(
        user, aeplan.calendar.service.derive_key(secret))
    db.session.commit()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               SECRET_KEY=secret, WEB_CONCURRENCY="1", AEPLAN_BIND=f"127.0.0.1:{port}",
               AEPLAN_REQUEST_LOG="1", AEPLAN_LOG_LEVEL="debug")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "app:app"], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if raw_get(port, "/livez") == 200:
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert raw_get(port, f"/feeds/{token}.ics") == 200
        for path in shapes(token)[1:]:
            assert raw_get(port, path) in (200, 308, 404), path
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0].decode()
    assert output.count('"path":"/feeds/<redacted>"') == len(shapes(token)), output[-3000:]
    assert token not in output and token.split("-", 2)[-1] not in output


def test_exception_log_line_never_holds_a_feed_token(production_app, token, caplog,
                                                     monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("feed cache unavailable")

    monkeypatch.setattr(aeplan.calendar.service, "cached_validators", broken)
    caplog.set_level(logging.INFO)
    browser = production_app.test_client()
    assert browser.get(f"/feeds/{token}.ics").status_code == 500
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["Exception on /feeds/<redacted> [GET]"]
    assert all(r.exc_info for r in errors)  # the traceback is still logged
    text = logged(caplog)
    assert "feed cache unavailable" in text
    assert token not in text and token.split("-", 2)[-1] not in text


@pytest.mark.parametrize("path, shown", [
    ("/feeds/abc.ics", "/feeds/<redacted>"),
    ("//FEEDS/abc", "/feeds/<redacted>"),
    ("/feeds\nabc", "/feeds/<redacted>"),
    ("/x/feeds/abc", "/x/feeds/<redacted>"),
    ("/12-c3-" + "A" * 32 + ".ics", "/<redacted>.ics"),
    ("/bookings/12", "/bookings/12"),
    ("/clients/", "/clients/"),
])
def test_redact_path(path, shown):
    assert redact_path(path) == shown


def test_redact_text_for_other_loggers():
    assert redact_text("GET //FEEDS/1-me-abc.ics HTTP/1.1 from x") == \
        "GET /feeds/<redacted> HTTP/1.1 from x"
    assert redact_text("Error handling request /feeds/x?y") == \
        "Error handling request /feeds/<redacted>"
    assert redact_text("GET /bookings/12") == "GET /bookings/12"


def test_every_route_with_a_text_argument_is_redacted(app):
    """A new route that takes a token (not a database id) must join SECRET_PREFIXES."""
    checked = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        texts = [name for name, converter in rule._converters.items()
                 if not isinstance(converter, IntegerConverter)]
        if not texts:
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<{name}>", "SECRET").replace(f"<int:{name}>", "1")
        assert "SECRET" not in redact_path(path), (rule.rule, SECRET_PREFIXES)
        checked.append(rule.rule)
    assert "/feeds/<token>.ics" in checked


def test_failed_statement_logs_no_password_hash(app, make_user, caplog):
    """A unique violation on users carries password_hash among its parameters; neither the
    error nor its logged traceback may show it (engine option hide_parameters)."""
    caplog.set_level(logging.INFO)
    user = make_user("ae")
    db.session.add(User(email=user.email, name="Twin", role="ae", timezone="UTC",
                        password_hash=PASSWORD_HASH))
    with pytest.raises(IntegrityError) as caught:
        db.session.flush()
    db.session.rollback()
    logging.getLogger("aeplan").error("statement failed", exc_info=caught.value)
    digest = PASSWORD_HASH.rsplit("$", 1)[-1]
    assert "hide_parameters" in str(caught.value)
    assert digest not in str(caught.value)
    assert "statement failed" in logged(caplog) and digest not in logged(caplog)


def test_without_hide_parameters_the_hash_would_show(app, make_user):
    """The check above has teeth: the same failure on an engine that shows parameters
    names the hash in its message."""
    user = make_user("ae")
    engine = create_engine(db.engine.url)
    try:
        with Session(engine) as session, pytest.raises(IntegrityError) as caught:
            session.add(User(email=user.email, name="Twin", role="ae", timezone="UTC",
                             password_hash=PASSWORD_HASH))
            session.flush()
    finally:
        engine.dispose()
    assert PASSWORD_HASH.rsplit("$", 1)[-1] in str(caught.value)


# --- the suite-wide scan -----------------------------------------------------------------

def test_the_scan_knows_the_secrets_this_run_makes(log_scan, token, make_user):
    assert token in log_scan.secrets
    assert PASSWORD_HASH.rsplit("$", 1)[-1] in log_scan.secrets
    user = make_user("support")
    user.set_password("another long passphrase")
    assert user.password_hash in log_scan.secrets
    assert logging.getLogger().handlers.count(log_scan) == 1


INNER_TESTS = '''
import logging

import aeplan.calendar.service
from aeplan.auth.models import User
from tests_conftest_marker import LEAK


def test_logs_a_feed_request():
    user = User(id=7, email="a@example.com", name="A", role="ae", timezone="UTC",
                feed_secret="s" * 43)
    token = aeplan.calendar.service.feed_token(user, b"key")
    shown = token if LEAK == "token" else "<redacted>"
    logging.getLogger("aeplan.request").info("GET /feeds/%s.ics 200", shown)
    user.set_password("a long passphrase for the inner run")
    shown = user.password_hash if LEAK == "hash" else "<hidden>"
    logging.getLogger("aeplan").error("statement failed: %s", shown)
'''


def run_inner_suite(tmp_path: Path, leak: str) -> subprocess.CompletedProcess:
    """Run a small pytest session with this suite's conftest in a subprocess."""
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "tests_conftest_marker.py").write_text(f"LEAK = {leak!r}\n")
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER_TESTS))
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(tmp_path)])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("leak", ["token", "hash"])
def test_the_scan_fails_a_run_that_logs_a_secret(tmp_path, leak):
    result = run_inner_suite(tmp_path, leak)
    assert result.returncode != 0, result.stdout
    assert "1 passed" in result.stdout and "1 error" in result.stdout, result.stdout
    assert "1 log line(s) hold a feed token or password hash" in result.stdout


def test_the_scan_passes_a_run_that_logs_no_secret(tmp_path):
    result = run_inner_suite(tmp_path, "none")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
