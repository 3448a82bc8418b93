"""`flask backup`, `flask restore` and `flask move-to-postgres` (aeplan.ops).

The SQLite tests run on their own database files, so they run in both CI passes. The
PostgreSQL tests need a server: TEST_DATABASE_URL when it names PostgreSQL (the CI's
second pass), else AEPLAN_PG_TEST_URL. They work in a scratch schema made in that
database and dropped afterwards, so they need no CREATEDB and never touch the suite's
own tables.
"""
from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import stat
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from aeplan import create_app, ops
from aeplan.auth.models import LoginFailure, User
from aeplan.bookings.models import Booking, BookingChange
from aeplan.calendar.models import EventCache, FeedCache
from aeplan.clients.models import Client, Contact
from aeplan.demo import load as load_demo
from aeplan.extensions import db
from aeplan.outbox import OutboxMessage
from aeplan.staffing.models import Assignment, TimeOff
from aeplan.trips.models import Expense, Trip
from tests.conftest import PASSWORD_HASH

AT = datetime(2026, 12, 7, 9, 30, 15, 123456, tzinfo=UTC)
BINARY = bytes(range(256)) + b"\x00BEGIN:VCALENDAR\r\n\x00"


def _pg_base_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if url.startswith(("postgresql", "postgres:")):
        return url
    return os.environ.get("AEPLAN_PG_TEST_URL") or None


needs_postgres = pytest.mark.skipif(
    _pg_base_url() is None,
    reason="needs PostgreSQL: set TEST_DATABASE_URL or AEPLAN_PG_TEST_URL to a PostgreSQL "
           "database (the test makes a scratch schema in it and drops it)")
needs_pg_tools = pytest.mark.skipif(
    not (shutil.which("pg_dump") and shutil.which("pg_restore")),
    reason="pg_dump and pg_restore are not installed (apt-get install postgresql-client)")


def make_app(url: str):
    return create_app({"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": url})


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def load_demo_and_extras() -> None:
    """The demo organisation plus a row in every table (with cheap password hashes)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(User, "set_password",
                      lambda user, password: setattr(user, "password_hash", PASSWORD_HASH))
        load_demo()
    add_every_kind_of_row()
    db.session.commit()


def add_every_kind_of_row() -> None:
    """Beyond the demo: a row in every table, with the awkward values (microseconds,
    bytes with NULs, nested JSON, non-ASCII text, false booleans, NULLs, big integers)."""
    booking = db.session.scalars(select(Booking).order_by(Booking.id)).first()
    person = db.session.scalar(select(User).where(User.role == "support"))
    contact = db.session.scalar(select(Contact).where(Contact.client_id == booking.client_id))
    owner = db.session.get(User, booking.owner_id)
    trip = Trip(owner_id=owner.id, title="Rhein tour", destination="Düsseldorf",
                timezone="Europe/Berlin", starts_on=date(2026, 12, 7), ends_on=date(2026, 12, 9),
                notes="Zug ab Köln\nHotel am Rhein", created_at=AT, updated_at=AT)
    trip.travellers.append(person)
    db.session.add(trip)
    db.session.flush()
    booking.trip_id = trip.id
    booking.contacts.append(contact)
    booking.agenda = "Grüße – agenda with “quotes”, emoji 🚆 and a\ttab"
    db.session.add_all([
        Expense(trip_id=trip.id, category="hotel", amount_minor=12_345_678_901, currency="EUR",
                spent_on=date(2026, 12, 8), allocation="client", client_id=booking.client_id,
                created_by_id=owner.id, created_at=AT),
        TimeOff(user_id=person.id, starts_at=AT, ends_at=AT + timedelta(days=2),
                reason="Urlaub", created_at=AT, cancelled_at=AT + timedelta(hours=1)),
        LoginFailure(email="x@example.com", address="2001:db8::1", at=AT),
        FeedCache(key="user:1", version="7:2026-12-07", etag="abc", last_modified=AT,
                  body_gzip=BINARY[::-1]),
        EventCache(booking_id=booking.id, digest="d" * 64, body=BINARY),
        BookingChange(booking_id=booking.id, actor_id=None, action="edited", at=AT,
                      changes={"title": ["Alt", "Neu – ü"], "nested": {"b": [1, None, True]}}),
        OutboxMessage(status="sent", attempts=2, created_at=AT, next_attempt_at=AT,
                      sent_at=AT + timedelta(microseconds=7), sender="aeplan@example.com",
                      recipient_email=person.email, recipient_name="Zoë", subject="Einladung",
                      message=BINARY, booking_id=booking.id),
        OutboxMessage(status="failed", created_at=AT, next_attempt_at=AT, sender="",
                      recipient_email="bad\r\n@example.com", subject="", message=None,
                      last_error="the address cannot be used in an email"),
    ])
    leaver = db.session.scalar(select(User).where(User.email == "events@demo.aeplan.test"))
    leaver.active, leaver.deactivated_at, leaver.locale = False, AT, "de"
    assignment = db.session.scalar(select(Assignment).order_by(Assignment.id))
    assignment.status, assignment.note, assignment.answered_at = "declined", "Krank", AT


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    """An SQLite database made by the migrations, holding the demo and the extras."""
    path = tmp_path_factory.mktemp("ops") / "demo.db"
    app = make_app(sqlite_url(path))
    with app.app_context():
        upgrade()
        load_demo_and_extras()
        db.session.remove()
        db.engine.dispose()
    return path


@pytest.fixture
def sqlite_app(demo_db, tmp_path):
    """An app on its own copy of the demo database."""
    path = tmp_path / "live.db"
    ops.sqlite_backup(demo_db, path)
    app = make_app(sqlite_url(path))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def run(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def table_counts(connection) -> dict[str, int]:
    return {t.name: connection.execute(select(func.count()).select_from(t)).scalar_one()
            for t in db.metadata.sorted_tables}


def row(connection, model, id_) -> dict:
    table = model.__table__
    return dict(connection.execute(select(table).where(table.c.id == id_)).mappings().one())


# --- backup (SQLite) ---------------------------------------------------------------------------

def test_backup_while_another_connection_holds_a_write_transaction(sqlite_app, tmp_path):
    live = ops.sqlite_path()
    with db.engine.connect() as connection:
        before = table_counts(connection)
    writer = sqlite3.connect(live, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO login_failures (email, address, at) "
                       "VALUES ('uncommitted@example.com', '10.0.0.1', '2026-12-07 09:00:00')")
        result = run(sqlite_app, "backup", str(tmp_path / "copy.db"))
        assert result.exit_code == 0, result.output
        writer.execute("COMMIT")  # the backup did not block the writer
    finally:
        writer.close()

    assert "online backup API" in result.output and "Wrote" in result.output
    copy = tmp_path / "copy.db"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".copy.db.partial*"))
    with closing(sqlite3.connect(copy)) as plain:  # one self-contained file
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    engine = create_engine(sqlite_url(copy))
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert table_counts(connection) == before and before["bookings"] > 0
            assert ops.revision_of(connection) in ops.migration_heads()
            assert connection.scalar(select(func.count()).where(
                LoginFailure.email == "uncommitted@example.com")) == 0
    finally:
        engine.dispose()
    with db.engine.connect() as connection:
        assert table_counts(connection)["login_failures"] == before["login_failures"] + 1


def test_backup_refuses_to_overwrite_unless_forced(sqlite_app, tmp_path):
    target = tmp_path / "backup.db"
    target.write_bytes(b"an older backup")
    result = run(sqlite_app, "backup", str(target))
    assert result.exit_code != 0
    assert "already exists" in result.output and "--force" in result.output
    assert target.read_bytes() == b"an older backup"

    result = run(sqlite_app, "backup", "--force", str(target))
    assert result.exit_code == 0, result.output
    assert ops.backup_format(target) == "sqlite"


def test_backup_into_a_directory_writes_a_timestamped_file(sqlite_app, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    result = run(sqlite_app, "backup", str(folder))
    assert result.exit_code == 0, result.output
    [written] = folder.iterdir()
    assert written.name.startswith("aeplan-") and written.suffix == ".db"
    assert str(written) in result.output


def test_backup_of_a_missing_database_says_so(tmp_path):
    app = make_app(sqlite_url(tmp_path / "nothing-here.db"))
    with app.app_context():
        result = run(app, "backup", str(tmp_path / "copy.db"))
        db.engine.dispose()
    assert result.exit_code != 0 and "There is no database" in result.output
    assert not (tmp_path / "nothing-here.db").exists()


# --- restore (SQLite) --------------------------------------------------------------------------

def test_restore_round_trip(sqlite_app, tmp_path):
    backup = tmp_path / "backup.db"
    with db.engine.connect() as connection:
        before = table_counts(connection)
        booking_before = row(connection, Booking, 1)
    assert run(sqlite_app, "backup", str(backup)).exit_code == 0

    booking = db.session.get(Booking, 1)
    booking.title = "Changed after the backup"
    db.session.execute(BookingChange.__table__.delete())
    db.session.add(User(email="late@example.com", name="Late", role="ae", password_hash="x"))
    db.session.commit()
    db.session.remove()

    result = run(sqlite_app, "restore", "--yes", str(backup))
    assert result.exit_code == 0, result.output
    assert "Restored." in result.output and "this code's latest" in result.output
    with db.engine.connect() as connection:
        assert table_counts(connection) == before
        assert row(connection, Booking, 1) == booking_before
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    assert db.session.scalar(select(User).where(User.email == "late@example.com")) is None

    # The data that was replaced is kept beside the database.
    [kept] = ops.sqlite_path().parent.glob("live.db.before-restore-*")
    assert str(kept) in result.output
    with closing(sqlite3.connect(kept)) as copy:
        assert copy.execute("SELECT count(*) FROM booking_changes").fetchone() == (0,)


def test_restore_asks_first_and_changes_nothing_when_declined(sqlite_app, tmp_path):
    backup = tmp_path / "backup.db"
    assert run(sqlite_app, "backup", str(backup)).exit_code == 0
    db.session.get(Booking, 1).title = "Keep me"
    db.session.commit()
    db.session.remove()

    result = run(sqlite_app, "restore", str(backup), input="n\n")
    assert result.exit_code != 0
    assert "Replace all data in" in result.output and "Aborted" in result.output
    assert db.session.get(Booking, 1).title == "Keep me"


def test_restore_refuses_what_is_not_a_backup_of_this_kind(sqlite_app, tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database")
    dump = tmp_path / "pg.dump"
    dump.write_bytes(b"PGDMP\x01\x0e\x00")
    empty = tmp_path / "empty.db"
    with closing(sqlite3.connect(empty, isolation_level=None)) as other:
        other.execute("CREATE TABLE t (x)")

    cases = {junk: "neither an SQLite backup nor a pg_dump archive",
             dump: "pg_dump custom-format archive",
             ops.sqlite_path(): "the live database itself",
             empty: "not an AE Plan database"}
    for path, message in cases.items():
        result = run(sqlite_app, "restore", "--yes", str(path))
        assert result.exit_code != 0, path
        assert message in result.output, result.output
    assert db.session.get(Booking, 1) is not None


def test_restoring_an_older_backup_says_to_upgrade(sqlite_app, tmp_path):
    old = tmp_path / "old.db"
    app = make_app(sqlite_url(old))
    with app.app_context():
        upgrade(revision="0002")
        db.engine.dispose()
    backup = tmp_path / "old-backup.db"
    ops.sqlite_backup(old, backup)

    result = run(sqlite_app, "restore", "--yes", str(backup))
    assert result.exit_code == 0, result.output
    assert "revision 0002" in result.output and "db upgrade" in result.output


# --- PostgreSQL connection details -------------------------------------------------------------

def test_libpq_connection_keeps_the_password_off_the_command_line():
    url = make_url("postgresql+psycopg://app%40ops:s3cret%20pa%27ss@db.example:6543/aeplan"
                   "?sslmode=require&options=-csearch_path%3Dtenant_a,public")
    conninfo, env, schema = ops.libpq_connection(url)
    assert "s3cret" not in conninfo
    assert env == {"PGPASSWORD": "s3cret pa'ss"}
    assert conninfo == ("host='db.example' port='6543' user='app@ops' dbname='aeplan' "
                        "sslmode='require' options='-csearch_path=tenant_a,public'")
    assert schema == "tenant_a"


def test_postgres_backup_without_pg_dump_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(ops.shutil, "which", lambda name: None)
    app = make_app("postgresql+psycopg://nobody:pw@127.0.0.1:9/none")
    with app.app_context():
        result = run(app, "backup", str(tmp_path / "db.dump"))
    assert result.exit_code != 0
    assert "pg_dump was not found" in result.output and "postgresql-client" in result.output
    assert list(tmp_path.iterdir()) == []


def test_move_refuses_a_target_that_is_not_postgres(sqlite_app, tmp_path):
    result = run(sqlite_app, "move-to-postgres", sqlite_url(tmp_path / "other.db"))
    assert result.exit_code != 0 and "must be a PostgreSQL URL" in result.output


# --- PostgreSQL --------------------------------------------------------------------------------

@pytest.fixture
def pg_scratch():
    """The URL of a fresh, empty schema in the PostgreSQL test database, dropped after."""
    base = make_url(_pg_base_url()).set(drivername="postgresql+psycopg")
    schema = f"aeplan_ops_{secrets.token_hex(4)}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}) \
            .render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


@needs_postgres
def test_move_demo_data_to_postgres(sqlite_app, pg_scratch):
    result = run(sqlite_app, "move-to-postgres", pg_scratch)
    assert result.exit_code == 0, result.output
    assert "count and contents match" in result.output
    assert "bookings:" in result.output and "booking_contacts:" in result.output
    password = make_url(pg_scratch).password
    assert ":***@" in result.output and f":{password}@" not in result.output

    target = create_engine(pg_scratch)
    try:
        with db.engine.connect() as source, target.connect() as moved:
            counts = table_counts(source)
            assert table_counts(moved) == counts
            assert all(counts.values()), counts  # every table had rows to move
            assert ops.revision_of(moved) == ops.revision_of(source)
            # The booking add_every_kind_of_row dressed up: on a trip, with a contact.
            booking_id = source.scalar(select(Booking.id).where(Booking.agenda.like("Grü%")))
            assignment_id = source.scalar(select(Assignment.id).where(Assignment.note != ""))
            client_id = source.scalar(select(Booking.client_id).where(Booking.id == booking_id))
            for model, id_ in ((Booking, booking_id), (Assignment, assignment_id),
                               (Client, client_id)):
                assert row(moved, model, id_) == row(source, model, id_), model.__name__
            moved_booking = row(moved, Booking, booking_id)
            assert moved_booking["starts_at"].tzinfo is not None
            assert moved_booking["agenda"].endswith("🚆 and a\ttab")
            assert moved.scalar(select(FeedCache.body_gzip).where(FeedCache.key == "user:1")) \
                == BINARY[::-1]
            assert moved.scalar(select(EventCache.body).where(EventCache.digest == "d" * 64)) \
                == BINARY
            assert moved.execute(select(OutboxMessage.message, OutboxMessage.sent_at)
                                 .where(OutboxMessage.status == "sent")).one() \
                == (BINARY, AT + timedelta(microseconds=7))
            change = moved.scalar(select(BookingChange.changes).where(
                BookingChange.action == "edited"))
            assert change == {"title": ["Alt", "Neu – ü"], "nested": {"b": [1, None, True]}}
            assert moved.scalar(select(User.active).where(
                User.email == "events@demo.aeplan.test")) is False
            assert moved.scalar(select(func.count()).where(
                Expense.amount_minor == 12_345_678_901)) == 1
            assert moved.execute(text("SELECT data_type FROM information_schema.columns WHERE "
                                      "table_schema = current_schema() AND table_name = "
                                      "'bookings' AND column_name = 'starts_at'")).scalar() \
                == "timestamp with time zone"

        # New rows get fresh ids: the sequences moved past the copied ones.
        with target.begin() as moved:
            new_id = moved.execute(Contact.__table__.insert().values(
                client_id=client_id, name="New", email="", title="", created_at=AT)
                .returning(Contact.__table__.c.id)).scalar_one()
        assert new_id == counts["contacts"] + 1
    finally:
        target.dispose()

    again = run(sqlite_app, "move-to-postgres", pg_scratch)
    assert again.exit_code != 0 and "already has data" in again.output


@needs_postgres
@needs_pg_tools
def test_postgres_backup_and_restore_round_trip(pg_scratch, tmp_path):
    app = make_app(pg_scratch)
    with app.app_context():
        upgrade()
        load_demo_and_extras()
        with db.engine.connect() as connection:
            before = table_counts(connection)
            booking_before = row(connection, Booking, 1)

        dump = tmp_path / "aeplan.dump"
        result = run(app, "backup", str(dump))
        assert result.exit_code == 0, result.output
        assert "pg_dump" in result.output and "Wrote" in result.output
        assert ops.backup_format(dump) == "pg_dump"
        assert stat.S_IMODE(dump.stat().st_mode) == 0o600

        db.session.get(Booking, 1).title = "Changed after the backup"
        db.session.execute(BookingChange.__table__.delete())
        db.session.commit()
        db.session.remove()

        declined = run(app, "restore", str(dump), input="n\n")
        assert declined.exit_code != 0
        assert db.session.get(Booking, 1).title == "Changed after the backup"
        db.session.remove()

        result = run(app, "restore", "--yes", str(dump))
        assert result.exit_code == 0, result.output
        assert "this code's latest" in result.output
        with db.engine.connect() as connection:
            assert table_counts(connection) == before
            assert row(connection, Booking, 1) == booking_before
        db.engine.dispose()


@needs_postgres
def test_a_copy_that_differs_is_rolled_back_and_can_be_retried(sqlite_app, pg_scratch,
                                                                monkeypatch):
    copy_table = ops._copy_table

    def copy_then_tamper(src, dst, table, batch_size, echo):
        copied = copy_table(src, dst, table, batch_size, echo)
        if table.name == "login_failures":  # same row count, one value changed
            dst.execute(text("UPDATE login_failures SET address = 'tampered'"))
        return copied

    monkeypatch.setattr(ops, "_copy_table", copy_then_tamper)
    result = run(sqlite_app, "move-to-postgres", pg_scratch)
    assert result.exit_code != 0
    assert "The copy of login_failures differs from the source" in result.output
    assert "nothing was committed" in result.output

    target = create_engine(pg_scratch)
    try:
        with target.connect() as moved:
            assert sum(table_counts(moved).values()) == 1  # only the migrations' seed row
    finally:
        target.dispose()
    monkeypatch.setattr(ops, "_copy_table", copy_table)
    result = run(sqlite_app, "move-to-postgres", pg_scratch)
    assert result.exit_code == 0, result.output
