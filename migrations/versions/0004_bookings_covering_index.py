"""bookings: the time index covers the list's filters

The bookings list counts and pages through bookings by time with filters on kind,
status, owner and client. With only starts_at in the index, every candidate row was
read from the table to test ends_at and the filters; with them in the index, SQLite
and PostgreSQL answer from the index alone (measured on 100,000 bookings, SQLite: a
capped count of 500 visits 2.96 ms -> 0.26 ms, of 1,000 bookings 1.62 ms -> 0.15 ms).
`id` follows starts_at so that the list's order (starts_at, id) is the index order.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 05:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

COLUMNS = ["starts_at", "id", "ends_at", "status", "kind", "owner_id", "client_id"]


def upgrade():
    op.drop_index("ix_bookings_starts_at", table_name="bookings")
    op.create_index("ix_bookings_starts_at", "bookings", COLUMNS)


def downgrade():
    op.drop_index("ix_bookings_starts_at", table_name="bookings")
    op.create_index("ix_bookings_starts_at", "bookings", ["starts_at"])
