"""outbox: every outgoing email, queued with the change that causes it

Mail used to be sent inside the request, after the commit: a mail server that never
answered held the request for the SMTP timeout, and one that trickled bytes outlived
the gunicorn worker. Messages are now written to this table in the change's own
transaction and delivered by `flask --app app outbox run`.

Two partial indexes: the worker's pick (due rows among queued and sending, by due
time), which stays small however many sent rows accumulate, and the booking page's
lookup of the messages about one booking. A new table: nothing to migrate, and the
downgrade drops it (queued mail is lost with it; drain the outbox first).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 16:50:00

"""
from alembic import op
import sqlalchemy as sa

from aeplan.timeutil import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('queued', 'sending')")
ABOUT_A_BOOKING = sa.text("booking_id IS NOT NULL")


def upgrade():
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("recipient_email", sa.String(length=320), nullable=False),
        sa.Column("recipient_name", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=True),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed')",
                           name=op.f("ck_outbox_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_due", "outbox", ["next_attempt_at", "id"],
                    postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_index("ix_outbox_booking", "outbox", ["booking_id", "id"],
                    postgresql_where=ABOUT_A_BOOKING, sqlite_where=ABOUT_A_BOOKING)


def downgrade():
    op.drop_index("ix_outbox_booking", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
