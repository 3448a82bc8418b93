"""Migrations keep data: an SQLite database made at the first revision, with rows in it,
is upgraded to the latest and keeps every row and value (SQLite batch migrations copy
tables, which is where data goes missing)."""
from sqlalchemy import text

from aeplan import create_app
from aeplan.extensions import db

ROWS = [
    "INSERT INTO users (id, email, name, role, discipline, skills, timezone, password_hash,"
    " active, created_at) VALUES (1, 'ae@x.test', 'Alex', 'ae', NULL, '', 'Europe/Berlin',"
    " 'x', 1, '2026-01-01 00:00:00'), (2, 'sam@x.test', 'Sam', 'support', 'technical',"
    " 'SSO', 'Europe/Berlin', 'x', 1, '2026-01-01 00:00:00')",
    "INSERT INTO clients (id, name, industry, tier, owner_id, timezone, cadence_days,"
    " gift_rules, notes, created_at) VALUES (1, 'Nordbank AG', 'financial_services', 'key',"
    " 1, 'Europe/Berlin', 14, 1, '', '2026-01-01 00:00:00')",
    "INSERT INTO contacts (id, client_id, name, email, title, created_at) VALUES"
    " (1, 1, 'Claudia', 'c@nordbank.test', 'CIO', '2026-01-01 00:00:00')",
    "INSERT INTO bookings (id, uid, sequence, kind, title, client_id, owner_id, starts_at,"
    " ends_at, timezone, location, agenda, status, needs_technical, needs_creative,"
    " needs_other, skills, travel_buffer_minutes, cancel_reason, created_at, updated_at)"
    " VALUES (1, 'u1@aeplan', 3, 'visit', 'QBR', 1, 1, '2026-12-07 09:00:00',"
    " '2026-12-07 12:00:00', 'Europe/Berlin', 'HQ', 'Agenda; items', 'confirmed', 1, 0, 0,"
    " 'SSO', 60, '', '2026-01-01 00:00:00', '2026-01-02 00:00:00')",
    "INSERT INTO booking_changes (id, booking_id, actor_id, action, changes, note, at) VALUES"
    " (1, 1, 1, 'created', '{}', '', '2026-01-01 00:00:00')",
    "INSERT INTO assignments (id, booking_id, user_id, role, status, note, created_at,"
    " busy_starts_at, busy_ends_at) VALUES (1, 1, 2, 'technical', 'accepted', '',"
    " '2026-01-01 00:00:00', '2026-12-07 08:00:00', '2026-12-07 13:00:00')",
    "INSERT INTO time_off (id, user_id, starts_at, ends_at, reason, created_at) VALUES"
    " (1, 2, '2026-12-20 00:00:00', '2026-12-24 00:00:00', 'Leave', '2026-01-01 00:00:00')",
    "INSERT INTO login_failures (id, email, address, at) VALUES"
    " (1, 'x@x.test', '127.0.0.1', '2026-01-01 00:00:00')",
]
BOOKING = text("SELECT * FROM bookings WHERE id = 1")
TABLES = ["users", "clients", "contacts", "bookings", "booking_changes", "assignments",
          "time_off", "login_failures"]


def test_upgrading_an_old_sqlite_database_keeps_every_row(tmp_path):
    from flask_migrate import upgrade

    app = create_app({"TESTING": True, "SECRET_KEY": "x",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/old.db"})
    with app.app_context():
        upgrade(revision="0001")
        with db.engine.begin() as conn:
            for statement in ROWS:
                conn.execute(text(statement))
            before = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}
            booking_before = conn.execute(BOOKING).mappings().one()

        upgrade()

        with db.engine.connect() as conn:
            after = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}
            booking_after = conn.execute(BOOKING).mappings().one()
            dangling = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        db.engine.dispose()
    assert after == before and all(before.values())
    assert {k: booking_after[k] for k in booking_before} == dict(booking_before)
    assert booking_after["trip_id"] is None
    assert dangling == []
    assert revision.isdigit() and int(revision) >= 3
