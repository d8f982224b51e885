"""Ticket aliases: a reclassified ticket takes the next number of its new category's series, and
keeps the number it had as an alias that search finds.

Revision ID: d4b2e1f3a6c7
Revises: c3a1f0d2e4b5
Create Date: 2026-12-04 22:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import portal.database

revision = 'd4b2e1f3a6c7'
down_revision = 'c3a1f0d2e4b5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'ticket_alias',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.String(length=20), nullable=False),
        sa.Column('created_at', portal.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('number'),
    )
    with op.batch_alter_table('ticket_alias', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_alias_ticket_id'), ['ticket_id'], unique=False)


def downgrade():
    with op.batch_alter_table('ticket_alias', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_alias_ticket_id'))
    op.drop_table('ticket_alias')
