"""assignments: the busy-time index covers the conflict check

A conflict check, the week's load and "my assignments" walk one person's
(user_id, busy_starts_at) range. With only those columns in the index, each entry in
the range was read from the table to test its end, answer and removal; with them in
the index only the real clashes are. Measured on 100,000 bookings and 150,000
assignments (SQLite, 80 people, in-process median): find_clashes 2.22 ms -> 1.21 ms,
week load 3.59 ms -> 2.41 ms, ranked suggestions 7.47 ms -> 5.16 ms.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 06:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

COLUMNS = ["user_id", "busy_starts_at", "id", "busy_ends_at", "status", "removed_at"]


def upgrade():
    op.drop_index("ix_assignments_user_busy", table_name="assignments")
    op.create_index("ix_assignments_user_busy", "assignments", COLUMNS)


def downgrade():
    op.drop_index("ix_assignments_user_busy", table_name="assignments")
    op.create_index("ix_assignments_user_busy", "assignments", ["user_id", "busy_starts_at"])
