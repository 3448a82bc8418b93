"""Fixtures: a fresh database per test (SQLite, or PostgreSQL when TEST_DATABASE_URL is
set), the app, a client, and factories for users, clients and bookings; and a scan of
every log line the run writes for the feed tokens and password hashes it made."""
from __future__ import annotations

import itertools
import logging
import os
import sys
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import event, text
from werkzeug.security import generate_password_hash

import aeplan.calendar.service
from aeplan import create_app
from aeplan.auth.models import User
from aeplan.bookings.models import Booking
from aeplan.clients.models import Client, Contact
from aeplan.config import with_psycopg
from aeplan.extensions import db
from aeplan.staffing.models import Assignment

PASSWORD = "correct horse battery"
# A cheap hash keeps the suite fast; sign-in still runs the real check.
PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday, fixed for every test


def freeze_now(monkeypatch, moment: datetime) -> None:
    """Make every AE Plan module that reads the clock through `now_utc` see `moment`."""
    for name, module in list(sys.modules.items()):
        if name.startswith("aeplan") and callable(getattr(module, "now_utc", None)):
            monkeypatch.setattr(module, "now_utc", lambda: moment)


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return with_psycopg(url)
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory, log_scan):
    """Build the schema once per run through the real migrations."""
    url = _database_url(tmp_path_factory)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test"})
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        db.engine.dispose()
    attach_log_scan(log_scan)
    return url


def _empty_tables() -> None:
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(t.name for t in db.metadata.sorted_tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
    db.session.commit()


class FreshContextClient(FlaskClient):
    """Each request in its own app context, as in production: its own `g` (signed-in user,
    locale, timezone) and its own database session, removed when the request ends."""

    def open(self, *args, **kwargs):
        # The test's own session commits around each request: the request sees what the
        # test wrote, and the test's next read sees what the request wrote (SQLite keeps
        # a read snapshot for as long as a transaction is open).
        db.session.commit()
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        db.session.commit()
        return response


@pytest.fixture
def app(database_url):
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": None,
        "MAIL_SERVER": "",  # no test sends mail unless it starts its own SMTP server
    })
    app.test_client_class = FreshContextClient
    with app.app_context():
        _empty_tables()
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


_seq = itertools.count(1)


@pytest.fixture
def make_user(app):
    def make(role: str = "ae", **over) -> User:
        n = next(_seq)
        values = dict(
            email=f"{role}{n}@example.com", name=f"{role.title()} Person {n}", role=role,
            discipline="technical" if role == "support" else None, timezone="Europe/Berlin",
            password_hash=PASSWORD_HASH,
        )
        values.update(over)
        user = User(**values)
        db.session.add(user)
        db.session.commit()
        return user
    return make


@pytest.fixture
def make_client(app, make_user):
    def make(owner: User | None = None, **over) -> Client:
        owner = owner or make_user("ae")
        n = next(_seq)
        values = dict(name=f"Client {n}", industry="technology", tier="standard",
                      owner_id=owner.id, timezone="Europe/Berlin", cadence_days=30)
        values.update(over)
        c = Client(**values)
        db.session.add(c)
        db.session.commit()
        return c
    return make


@pytest.fixture
def make_contact(app):
    def make(client: Client, **over) -> Contact:
        values = dict(client_id=client.id, name="Pat Contact", email="pat@client.example",
                      title="CTO")
        values.update(over)
        contact = Contact(**values)
        db.session.add(contact)
        db.session.commit()
        return contact
    return make


@pytest.fixture
def make_booking(app, make_client):
    def make(client: Client | None = None, **over) -> Booking:
        client = client or make_client()
        starts_at = over.pop("starts_at", T0)
        values = dict(kind="demo", title="Platform demo", client_id=client.id,
                      owner_id=client.owner_id, starts_at=starts_at,
                      ends_at=over.pop("ends_at", starts_at + timedelta(hours=1)),
                      timezone=client.timezone, location="https://meet.example.com/x",
                      status="tentative")
        values.update(over)
        b = Booking(**values)
        db.session.add(b)
        db.session.commit()
        return b
    return make


@pytest.fixture
def assign(app):
    def make(booking: Booking, user: User, **over) -> Assignment:
        values = dict(booking_id=booking.id, user_id=user.id,
                      role=user.discipline or "technical", status="pending",
                      busy_starts_at=booking.busy_starts_at, busy_ends_at=booking.busy_ends_at)
        values.update(over)
        a = Assignment(**values)
        db.session.add(a)
        db.session.commit()
        return a
    return make


@pytest.fixture
def login_as(client):
    def login(user: User):
        client.post("/logout")
        response = client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 303, response.data[:500]
        return client
    return login


@pytest.fixture
def count_queries(app):
    """`with count_queries() as n: ...` then `n()` is the number of SQL statements run."""
    @contextmanager
    def counter():
        statements = []

        def before(conn, cursor, statement, params, context, executemany):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", before)
        try:
            yield lambda: len(statements)
        finally:
            event.remove(db.engine, "before_cursor_execute", before)
    return counter


# --- no secret in any log line ------------------------------------------------------------

class LogScan(logging.Handler):
    """Keeps every record the run logs (message and traceback), and every secret the run
    makes: feed tokens (and their MAC, the secret part), feed secrets, password hashes
    (and their digest). At the end no kept line may hold a secret."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.secrets: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - a record that cannot be formatted holds no text
            self.lines.append(repr(record.msg))

    def add_token(self, token: str) -> None:
        # "<user id>-<scope>-<MAC>": the MAC may itself hold "-".
        self.secrets.update(part for part in (token, token.split("-", 2)[-1])
                            if len(part) >= 16)

    def add_secret(self, value) -> None:
        # Only values long enough to be secrets: tests also store placeholders such as "x".
        if isinstance(value, str) and len(value) >= 16:
            self.secrets.add(value)
            if "$" in value and len(value.rsplit("$", 1)[-1]) >= 16:
                self.secrets.add(value.rsplit("$", 1)[-1])  # a hash's digest on its own

    def leaks(self) -> list[str]:
        return [line for line in self.lines if any(s in line for s in self.secrets)]


@pytest.fixture(scope="session", autouse=True)
def log_scan():
    """Installed for the whole run; its teardown fails the run when a line leaked."""
    scan = LogScan()
    scan.add_secret(PASSWORD_HASH)
    patch = pytest.MonkeyPatch()
    original = aeplan.calendar.service.feed_token

    def feed_token(*args, **kwargs):
        token = original(*args, **kwargs)
        scan.add_token(token)
        return token

    # Every caller, the app and the tests, looks feed_token up on the module when it calls.
    patch.setattr(aeplan.calendar.service, "feed_token", feed_token)

    def secret_set(target, value, oldvalue, initiator):
        scan.add_secret(value)

    event.listen(User.password_hash, "set", secret_set)
    event.listen(User.feed_secret, "set", secret_set)
    root = logging.getLogger()
    level = root.level
    attach_log_scan(scan)
    yield scan
    event.remove(User.password_hash, "set", secret_set)
    event.remove(User.feed_secret, "set", secret_set)
    patch.undo()
    root.removeHandler(scan)
    root.setLevel(level)
    leaks = scan.leaks()
    assert not leaks, (
        f"{len(leaks)} log line(s) hold a feed token or password hash:\n"
        + "\n".join(line[:300] for line in leaks[:10]))


def attach_log_scan(scan: LogScan) -> None:
    """Alembic's env.py reconfigures logging (fileConfig drops the root handlers and sets
    WARN) whenever migrations run: put the scan back, at INFO."""
    root = logging.getLogger()
    if scan not in root.handlers:
        root.addHandler(scan)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)


@pytest.fixture(autouse=True)
def _log_scan_attached(log_scan):
    attach_log_scan(log_scan)
