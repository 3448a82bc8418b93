"""Connection setup and the locks that make check-then-write safe across workers."""
from __future__ import annotations

from collections.abc import Iterable

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from aeplan.extensions import db

SQLITE_BEGIN = "sqlite_begin"
ONLY_READ = "aeplan.only_read"  # session.info: this unit of work has not written
MAX_ID = 2**31 - 1


def valid_id(value) -> bool:
    """Whether `value` can be a row id: an int in the range of the id columns."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection, connection_record):
    """WAL, foreign keys and a busy timeout on every SQLite connection; transactions are
    begun by us (below) rather than by the driver, so that writes can BEGIN IMMEDIATE."""
    if not type(dbapi_connection).__module__.startswith("sqlite3"):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # First: switching to WAL may wait on a lock. A write that still finds the database
    # locked after this long is answered 503 with Retry-After (see aeplan.outage).
    cursor.execute(f"PRAGMA busy_timeout={_busy_timeout_ms()}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _busy_timeout_ms() -> int:
    """AEPLAN_SQLITE_BUSY_TIMEOUT of the app that opens the connection (10 s without one)."""
    seconds = current_app.config.get("AEPLAN_SQLITE_BUSY_TIMEOUT", 10) \
        if has_app_context() else 10
    return max(0, int(seconds * 1000))


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    if conn.dialect.name == "sqlite":
        mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def begin_write() -> None:
    """Open the session's transaction as a write transaction before anything is read.

    On SQLite this is BEGIN IMMEDIATE: one writer at a time, so a conflict check and
    the insert it guards cannot interleave with another worker's. PostgreSQL needs
    row locks instead (`lock_people`). Call it before the first query of the unit of
    work; it does nothing if a transaction is already open.
    """
    session = db.session()
    session.info.pop(ONLY_READ, None)
    if session.in_transaction():
        return
    options = {SQLITE_BEGIN: "IMMEDIATE"} if db.engine.dialect.name == "sqlite" else {}
    session.connection(execution_options=options)


def without_session(view):
    """Mark a view that opens no unit of work: the request hooks then neither begin a
    transaction nor load the signed-in user for it. /livez must answer with the
    database gone, and /healthz bounds its own probe (aeplan.outage.probe)."""
    view.without_session = True
    return view


def reads_first(view):
    """Mark a POST view that starts as a read (see register_write_transactions) and calls
    switch_to_write() once it knows it will write: a request refused by checks it can
    make on committed data then never takes, or waits for, the write lock."""
    view.reads_first = True
    return view


def switch_to_write() -> None:
    """End the request's read transaction and open a write transaction. Objects read so
    far are expired and read afresh inside it."""
    db.session.rollback()
    begin_write()


def begin_read() -> None:
    """Start a read-only request's unit of work. On PostgreSQL its statements run in
    autocommit mode: under READ COMMITTED each statement sees its own snapshot anyway, so
    a transaction around a page's reads adds nothing but the BEGIN and ROLLBACK round
    trips (two of the three statements of a feed revalidation). Writes that a read
    request makes (the feed cache) end this unit first and open their own transaction
    with begin_write(). SQLite's reads keep their BEGIN DEFERRED: one consistent view
    of the file, at no cost in round trips."""
    session = db.session()
    session.info[ONLY_READ] = True
    if session.in_transaction() or db.engine.dialect.name != "postgresql":
        return
    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


@event.listens_for(Session, "after_flush")
def _has_written(session, flush_context):
    session.info.pop(ONLY_READ, None)


def undo() -> None:
    """Roll back a refused unit of work. One that has only read (begun by begin_read,
    never switched to write, nothing flushed or pending) has nothing to undo: it keeps
    its transaction and what it loaded for the page that explains the refusal, which
    then reads nothing again; the end of the request closes it."""
    session = db.session()
    if session.info.get(ONLY_READ) and not (session.new or session.dirty or session.deleted):
        return
    session.rollback()


def lock_booking(booking) -> None:
    """Lock the booking's row (PostgreSQL) and read it afresh: staffing changes and moves
    of one booking then happen one after the other. Lock bookings before people."""
    from aeplan.bookings.models import Booking

    db.session.execute(select(Booking).where(Booking.id == booking.id).with_for_update()
                       .execution_options(populate_existing=True))


def lock_people(user_ids: Iterable[int]) -> None:
    """Lock these users' rows until the transaction ends (PostgreSQL), in id order so
    that two transactions never wait on each other in a cycle. A lock on the person,
    not on bookings, is what stops a new overlapping assignment."""
    ids = sorted(set(user_ids))
    if not ids or db.engine.dialect.name != "postgresql":
        return
    from aeplan.auth.models import User

    db.session.execute(select(User.id).where(User.id.in_(ids)).order_by(User.id)
                       .with_for_update())
