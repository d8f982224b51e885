"""An urgent ticket always has its response due time: the missing ones are filled from the time it
was registered and the policy's emergency response minutes, and a CHECK constraint keeps it so. A
question asked under a notice always has its notice (notices are never deleted, so none lacks it).

Revision ID: a7e3c9d1b2f4
Revises: c326d53fefad
Create Date: 2026-12-05 07:00:00.000000

"""
from datetime import timedelta

from alembic import op
import sqlalchemy as sa


revision = 'a7e3c9d1b2f4'
down_revision = 'c326d53fefad'
branch_labels = None
depends_on = None

DEFAULT_MINUTES = 30  # portal/services/settings.py: emergency_response_minutes


def _minutes(bind):
    setting = sa.table('setting', sa.column('key', sa.String), sa.column('value', sa.JSON))
    try:
        value = bind.execute(sa.select(setting.c.value).where(setting.c.key == 'emergency_response_minutes')).scalar()
        return int(value) if value is not None else DEFAULT_MINUTES
    except (sa.exc.DBAPIError, ValueError, TypeError):
        return DEFAULT_MINUTES


def upgrade():
    bind = op.get_bind()
    ticket = sa.table('ticket', sa.column('id', sa.Integer), sa.column('is_urgent', sa.Boolean),
                      sa.column('created_at', sa.DateTime()), sa.column('response_due_at', sa.DateTime()))
    minutes = _minutes(bind)
    missing = bind.execute(sa.select(ticket.c.id, ticket.c.created_at).where(ticket.c.is_urgent, ticket.c.response_due_at.is_(None))).all()
    for ticket_id, created_at in missing:
        bind.execute(ticket.update().where(ticket.c.id == ticket_id).values(response_due_at=created_at + timedelta(minutes=minutes)))
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f('ck_ticket_urgent_has_response_due'), 'NOT is_urgent OR response_due_at IS NOT NULL')
        batch_op.create_check_constraint(batch_op.f('ck_ticket_question_has_notice'), "channel <> 'notice_question' OR notice_id IS NOT NULL")


def downgrade():
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_ticket_question_has_notice'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_ticket_urgent_has_response_due'), type_='check')
