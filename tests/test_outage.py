"""Database outages (issue 13, item 4): /livez never touches the database, /healthz and
every page answer 503 quickly, and the app recovers by itself when the database returns.

The shared PostgreSQL server is never stopped: a small TCP forwarder in this file stands
between the app and it and is cut, made silent or restored. On SQLite "down" is a
database file whose directory has gone."""
from __future__ import annotations

import os
import select
import socket
import sqlite3
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text

from aeplan import create_app
from aeplan import outage as outage_module
from aeplan.config import engine_options
from aeplan.extensions import db
from tests.conftest import PASSWORD

POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgres")


class Forwarder:
    """127.0.0.1:<port> → target, in one of three modes: "open" forwards bytes, "cut"
    closes every connection and refuses new ones, "silent" accepts connections and holds
    every byte (a server that accepts TCP and never answers)."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.mode = "open"
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.running:
            ready, _, _ = select.select([self.listener], [], [], 0.05)
            if not ready:
                continue
            try:
                inside, _ = self.listener.accept()
            except OSError:
                return
            if self.mode == "cut":
                inside.close()
                continue
            outside = socket.create_connection(self.target)
            with self.lock:
                self.pairs.append((inside, outside))
            threading.Thread(target=self._pump, args=(inside, outside), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while self.running and self.mode != "cut":
                if self.mode == "silent":
                    time.sleep(0.02)
                    continue
                ready, _, _ = select.select([a, b], [], [], 0.05)
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except OSError:
            pass
        finally:
            a.close()
            b.close()

    def set(self, mode: str) -> None:
        self.mode = mode
        if mode == "cut":
            with self.lock:
                pairs, self.pairs = self.pairs, []
            for a, b in pairs:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def close(self) -> None:
        self.set("cut")
        self.running = False
        self.listener.close()


class Database:
    """The test database behind a switch: up(), down() and, on PostgreSQL, silent()."""

    def __init__(self, base_url: str, tmp_path):
        self.base_url = base_url
        self.forwarder = None
        if base_url.startswith("postgresql"):
            parts = urlsplit(base_url)
            self.forwarder = Forwarder(parts.hostname, parts.port or 5432)
            netloc = parts.netloc.rsplit("@", 1)
            netloc[-1] = f"127.0.0.1:{self.forwarder.port}"
            self.url = urlunsplit(parts._replace(netloc="@".join(netloc)))
        else:  # a copy of the test database, in a directory that can disappear
            self.live, self.gone = tmp_path / "db", tmp_path / "db-gone"
            self.live.mkdir()
            source = sqlite3.connect(base_url.removeprefix("sqlite:///"))
            target = sqlite3.connect(self.live / "test.db")
            source.backup(target)
            source.close()
            target.close()
            self.url = "sqlite:///" + str(self.live / "test.db")

    def down(self, app) -> None:
        if self.forwarder:
            self.forwarder.set("cut")
        else:
            with app.app_context():
                db.engine.dispose()  # an open SQLite file would outlive its directory
            self.live.rename(self.gone)

    def up(self) -> None:
        if self.forwarder:
            self.forwarder.set("open")
        elif self.gone.exists():
            self.gone.rename(self.live)

    def silent(self) -> None:
        self.forwarder.set("silent")

    def close(self) -> None:
        if self.forwarder:
            self.forwarder.close()


def _app_on(switch: Database, **config):
    settings = {
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": switch.url, "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False, "MAIL_SERVER": "",
        "AEPLAN_DB_CONNECT_TIMEOUT": 2, "AEPLAN_DB_STATEMENT_TIMEOUT": 1,
        "AEPLAN_SQLITE_BUSY_TIMEOUT": 0.2,
    }
    settings.update(config)
    return create_app(settings)


def _signed_in(app, user) -> FlaskClient:
    client = FlaskClient(app, use_cookies=True)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 303
    return client


@pytest.fixture
def switch(app, database_url, make_user, tmp_path):
    """The test database behind a switch, holding one AE (`switch.user`)."""
    user = make_user("ae")
    db.session.commit()
    database = Database(database_url, tmp_path)
    database.user = user
    yield database
    database.up()
    database.close()


@pytest.fixture
def outage(switch):
    """(database switch, app on it, client signed in as switch.user)."""
    outage_app = _app_on(switch)
    yield switch, outage_app, _signed_in(outage_app, switch.user)
    switch.up()
    with outage_app.app_context():
        db.session.remove()
        db.engine.dispose()


def _is_unavailable_page(response) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body[:300]
    assert response.headers["Retry-After"].isdigit()
    assert "Database unavailable" in body
    assert "Traceback" not in body


def test_livez_answers_with_the_database_down(switch):
    # As in production: request logs on, so that nothing a request hook does may load the
    # signed-in user; and no connection left in the pool, as after a worker's restart.
    app = _app_on(switch, TESTING=False, AEPLAN_REQUEST_LOG=True)
    client = _signed_in(app, switch.user)
    assert client.get("/clients/").status_code == 200
    with app.app_context():
        db.engine.dispose()
    switch.down(app)
    response = client.get("/livez")  # its session cookie names a user
    assert (response.status_code, response.data) == (200, b"ok")
    assert FlaskClient(app).get("/livez").status_code == 200
    assert client.get("/clients/").status_code == 503  # the database is really down


def test_livez_runs_no_sql(outage):
    _switch, app, client = outage
    statements = []

    def before(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", before)
        try:
            assert client.get("/livez").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", before)
    assert statements == []


def test_pages_answer_503_while_the_database_is_down_and_recover(outage):
    switch, app, client = outage
    assert client.get("/clients/").status_code == 200
    switch.down(app)
    for _ in range(2):  # the second time too: nothing stays poisoned into a 500
        _is_unavailable_page(client.get("/clients/"))
        _is_unavailable_page(client.get("/"))
        _is_unavailable_page(client.post("/clients/new", data={"name": "Down Inc"}))
        _is_unavailable_page(client.get("/login"))
        response = client.get("/healthz")
        assert response.status_code == 503 and response.data == b"database unavailable"
    switch.up()
    assert client.get("/healthz").status_code == 200
    response = client.get("/clients/")  # still signed in, served normally
    assert response.status_code == 200
    assert "Sign out" in response.get_data(as_text=True)


@pytest.mark.skipif(not POSTGRES, reason="a silent server needs a network database")
def test_healthz_answers_503_within_3_seconds_when_the_database_is_silent(outage):
    switch, app, client = outage
    assert client.get("/healthz").status_code == 200  # a connection now waits in the pool
    switch.silent()
    for _ in range(2):  # the pooled connection goes silent; then a new one cannot connect
        started = time.monotonic()
        response = client.get("/healthz")
        assert response.status_code == 503
        assert time.monotonic() - started < 3
    switch.up()
    assert client.get("/healthz").status_code == 200
    assert client.get("/clients/").status_code == 200


@pytest.mark.skipif(not POSTGRES, reason="a silent server needs a network database")
def test_a_page_answers_503_when_its_connection_goes_silent(outage):
    """The server-side statement timeout needs a server that talks; the watchdog gives up
    on one that does not, one second (the test's statement timeout) plus its margin on."""
    switch, app, client = outage
    assert client.get("/clients/").status_code == 200  # a connection now waits in the pool
    switch.silent()
    started = time.monotonic()
    _is_unavailable_page(client.get("/clients/"))
    assert time.monotonic() - started < 1 + outage_module.WATCHDOG_MARGIN_SECONDS + 1
    switch.up()
    assert client.get("/clients/").status_code == 200


def _hold_write_lock(url: str):
    """Another connection that holds the write lock on clients, and a function that
    lets it go."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        return conn.close
    engine = create_engine(url)
    conn = engine.connect()
    conn.execute(text("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE"))

    def release():
        conn.close()
        engine.dispose()
    return release


def test_a_write_lock_held_too_long_answers_503_with_retry_after(outage, make_user):
    switch, app, client = outage
    data = {"name": "Locked Out", "industry": "technology", "tier": "standard",
            "timezone": "Europe/Berlin", "cadence_days": "30"}
    release = _hold_write_lock(switch.url if not switch.forwarder else switch.base_url)
    try:
        started = time.monotonic()
        _is_unavailable_page(client.post("/clients/new", data=data))
        assert time.monotonic() - started < 3
    finally:
        release()
    assert client.post("/clients/new", data=data).status_code == 303


def test_postgres_timeouts_add_to_the_urls_own_options():
    options = engine_options({
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u:p@db/x?options=-csearch_path%3Dops",
        "AEPLAN_DB_CONNECT_TIMEOUT": 3, "AEPLAN_DB_STATEMENT_TIMEOUT": 1.5})
    assert options["hide_parameters"] is True
    connect = options["connect_args"]
    assert connect["options"] == "-csearch_path=ops -c statement_timeout=1500"
    assert connect["connect_timeout"] == 3 and connect["tcp_user_timeout"] == 1500
    assert "connect_args" not in engine_options({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
