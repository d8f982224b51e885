"""Idempotency keys on what residents' and staff's forms create beyond tickets, chat messages and
suggestions: event sign-ups, a resident's messages on their ticket, questionnaire responses and
communication records. Each is unique in its table: the same form sent twice creates one row,
and a commit whose answer was lost is told from one that failed (portal/database.py).

Revision ID: 5e0c1d2a9b47
Revises: a7e3c9d1b2f4
Create Date: 2026-12-05 06:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e0c1d2a9b47'
down_revision = 'a7e3c9d1b2f4'
branch_labels = None
depends_on = None

TABLES = ('event_signup', 'ticket_event', 'survey_response', 'comm_record')


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('idempotency_key', sa.String(length=64), nullable=True))
            batch_op.create_unique_constraint(batch_op.f(f'uq_{table}_idempotency_key'), ['idempotency_key'])


def downgrade():
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'uq_{table}_idempotency_key'), type_='unique')
            batch_op.drop_column('idempotency_key')
