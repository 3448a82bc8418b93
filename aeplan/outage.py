"""Database outages: what counts as one, and a health probe that cannot hang.

An outage is answered 503 with Retry-After (see register_error_handlers), never a 500:
the database refused or dropped the connection, did not answer in time, or SQLite's
write lock stayed taken longer than its busy timeout. SQLAlchemy invalidates the pool
on a disconnect, and the handler rolls the session back, so the first request after the
database returns is served normally.
"""
from __future__ import annotations

import os
import socket
import threading
import time

from sqlalchemy import event, exc, text
from sqlalchemy.engine import Engine

RETRY_AFTER_SECONDS = 5
# How long past the server-side statement timeout a statement may wait for an answer
# before the watchdog gives up on the server.
WATCHDOG_MARGIN_SECONDS = 2


# SQLite's primary result codes for a database that is locked, cannot be opened or read,
# or a statement interrupted by probe(): BUSY, LOCKED, INTERRUPT, IOERR, FULL, CANTOPEN,
# PROTOCOL. Its other OperationalErrors are bugs ("no such table").
SQLITE_UNAVAILABLE = {5, 6, 9, 10, 13, 14, 15}


def is_outage(error: BaseException) -> bool:
    """Whether `error` means the database is down, silent or locked, rather than a bug.

    Any error SQLAlchemy took for a disconnect; pool TimeoutError (no connection came
    back to the pool); InterfaceError (a connection already closed); OperationalError
    from PostgreSQL (refused or dropped connections, cancelled statements, lock
    timeouts), except program limits, which bad input reaches; from SQLite only the
    codes above."""
    if isinstance(error, exc.TimeoutError | exc.InterfaceError):
        return True
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, exc.OperationalError):
        return False
    code = getattr(error.orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in SQLITE_UNAVAILABLE
    sqlstate = getattr(error.orig, "sqlstate", None) or ""
    return not sqlstate.startswith("54")


def probe(engine: Engine, timeout: float) -> bool:
    """Whether the database answers `SELECT 1` within `timeout` seconds.

    The probe runs in a thread that the caller stops waiting for at the deadline, so
    nothing can make it slower: neither a server that accepts TCP and never answers
    nor an established connection gone silent (libpq waits on a socket for ever; a
    server-side statement timeout needs a server that still talks). At the deadline the
    probe's socket is shut down, which ends the waiting thread and makes SQLAlchemy
    discard the pool's connections, so later requests connect afresh."""
    state: dict = {}
    lock = threading.Lock()
    done = threading.Event()

    def run() -> None:
        try:
            with engine.connect() as conn:
                with lock:
                    state["dbapi"] = conn.connection.dbapi_connection
                conn.execute(text("SELECT 1"))
                with lock:
                    state["ok"] = not state.get("cut")
                    state.pop("dbapi")  # back to the pool: no longer ours to cut
        except Exception:  # noqa: BLE001 - any failure means unhealthy; pages log theirs
            pass
        finally:
            done.set()

    threading.Thread(target=run, name="aeplan-db-probe", daemon=True).start()
    if done.wait(timeout):
        return bool(state.get("ok"))
    with lock:
        state["cut"] = True
        _cut(state.get("dbapi"))
    return False


def _cut(dbapi_connection) -> None:
    """Make a thread blocked on this connection fail now."""
    if dbapi_connection is None:
        return
    pgconn = getattr(dbapi_connection, "pgconn", None)  # psycopg 3
    if pgconn is not None:
        try:
            fd = os.dup(pgconn.socket)
        except Exception:  # noqa: BLE001 - already closed: nothing waits on it
            return
        with socket.socket(fileno=fd) as sock:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    elif hasattr(dbapi_connection, "interrupt"):  # sqlite3
        dbapi_connection.interrupt()


class StatementWatchdog:
    """Cuts a connection whose statement has waited past its deadline.

    PostgreSQL's statement_timeout needs a server that still talks; one that accepts
    bytes and never answers (a hung server, a proxy whose backend vanished) would hold
    the request until gunicorn kills the worker. One thread per process looks at the
    statements in flight a few times a second and shuts the socket of any that
    outlived the server-side timeout by a margin: the request then fails as a
    disconnect, answers 503, and SQLAlchemy discards the pool."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.lock = threading.Lock()
        self.running: dict[int, tuple[float, object]] = {}
        self.pid = 0

    def started(self, conn, cursor, statement, parameters, context, executemany) -> None:
        deadline = time.monotonic() + self.seconds
        with self.lock:
            self.running[id(cursor)] = (deadline, conn.connection.dbapi_connection)
            if self.pid != os.getpid():  # the first statement, or the first since a fork
                self.pid = os.getpid()
                threading.Thread(target=self._watch, name="aeplan-db-watchdog",
                                 daemon=True).start()

    def finished(self, conn, cursor, *args) -> None:
        with self.lock:
            self.running.pop(id(cursor), None)

    def failed(self, context) -> None:
        cursor = getattr(context.execution_context, "cursor", None)
        with self.lock:
            self.running.pop(id(cursor), None)

    def _watch(self) -> None:
        pid = os.getpid()
        while self.pid == pid:
            time.sleep(0.2)
            now = time.monotonic()
            with self.lock:
                for key, (deadline, dbapi_connection) in list(self.running.items()):
                    if deadline <= now:
                        del self.running[key]
                        _cut(dbapi_connection)


def watch_statements(engine: Engine, seconds: float) -> StatementWatchdog:
    """Cut `engine`'s connections whose statement runs more than `seconds`."""
    watchdog = StatementWatchdog(seconds)
    event.listen(engine, "before_cursor_execute", watchdog.started)
    event.listen(engine, "after_cursor_execute", watchdog.finished)
    event.listen(engine, "handle_error", watchdog.failed)
    return watchdog
