"""users.session_generation: sessions that end on the server

A session names its user as "<id>:<generation>"; raising the user's generation (sign-out,
password or role change, deactivation, "sign out everywhere") makes every session issued
before it stale. Existing users start at 0; their sessions, which carry no generation, are
refused once, so everyone signs in again after this upgrade.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 16:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_generation", sa.Integer(), nullable=False,
                                   server_default=sa.text("0")))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_generation")
