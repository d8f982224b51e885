"""Each ticket's version: it moves with every change to the ticket, its timeline, departments and
photos, so that the kept pages showing it are rebuilt and the others kept. Indexes on the answer
and rating times, which the figures' month pieces count by.

Revision ID: c3a1f0d2e4b5
Revises: 51ffeb7b2e5b
Create Date: 2026-12-04 05:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


revision = 'c3a1f0d2e4b5'
down_revision = '51ffeb7b2e5b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index('ix_ticket_feedback_at', ['feedback_at'], unique=False)
        batch_op.create_index('ix_ticket_rated_at', ['rated_at'], unique=False)


def downgrade():
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_rated_at')
        batch_op.drop_index('ix_ticket_feedback_at')
        batch_op.drop_column('version')
