"""Search index: ticket, notice, suggestion and communication-record text, pre-tokenised (Chinese
in overlapping pairs), in FTS5 tables on SQLite and on PostgreSQL in tables with a generated,
GIN-indexed tsvector; filled from the rows already there.

Revision ID: 51ffeb7b2e5b
Revises: 529474bd1147
Create Date: 2026-12-04 03:20:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from portal.search import fill


# revision identifiers, used by Alembic.
revision = '51ffeb7b2e5b'
down_revision = '529474bd1147'
branch_labels = None
depends_on = None

# index table, source table, searched columns (as portal/search.py KINDS had them at this revision)
INDEXES = [
    ("ticket_search", "ticket", ("description", "caller_name")),
    ("notice_search", "notice", ("title", "body")),
    ("suggestion_search", "suggestion", ("title", "body")),
    ("record_search", "comm_record", ("content", "participants", "result", "place")),
]


def upgrade():
    bind = op.get_bind()
    for name, source, fields in INDEXES:
        if bind.dialect.name == "sqlite":
            op.execute(f"CREATE VIRTUAL TABLE {name} USING fts5(body, tokenize = 'unicode61 remove_diacritics 0')")
        else:
            op.create_table(
                name,
                sa.Column("rowid", sa.Integer(), autoincrement=False, nullable=False),
                sa.Column("body", sa.Text(), nullable=False),
                sa.Column("tsv", postgresql.TSVECTOR(), sa.Computed("to_tsvector('simple'::regconfig, body)", persisted=True)),
                sa.PrimaryKeyConstraint("rowid", name=op.f(f"pk_{name}")),
            )
            op.create_index(f"ix_{name}_tsv", name, ["tsv"], postgresql_using="gin")
        fill(bind, name, source, fields)


def downgrade():
    bind = op.get_bind()
    for name, _source, _fields in reversed(INDEXES):
        if bind.dialect.name != "sqlite":
            op.drop_index(f"ix_{name}_tsv", table_name=name, postgresql_using="gin")
        op.drop_table(name)
