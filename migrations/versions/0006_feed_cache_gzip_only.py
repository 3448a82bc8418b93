"""feed_cache keeps only the gzipped feed

Reading a ~300 KB plain feed from PostgreSQL (bytea travels as hex text) took 2.9 ms;
its ~25 KB gzipped twin takes 0.24 ms to read and 0.35 ms to unpack for a client that
does not take gzip. The table is a cache: downgrading rebuilds nothing and leaves the
feeds to be rebuilt on their next request.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 05:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("feed_cache") as batch:
        batch.drop_column("body")


def downgrade():
    # Cached feeds are rebuilt on demand: empty the cache rather than invent bodies.
    op.execute("DELETE FROM feed_cache")
    with op.batch_alter_table("feed_cache") as batch:
        batch.add_column(sa.Column("body", sa.LargeBinary(), nullable=False,
                                   server_default=sa.text("''")))
