"""Consultations decide as the law counts: each unit's floor area (专有部分面积, kept in hundredths of
a square metre) and whether the developer still holds it; a consultation's kind (poll, ordinary or
major matter of 民法典 art. 278) and the notice that published its result; an option's meaning in a
decision (agree, disagree, abstain); an answer's comment.

Revision ID: 8545401856ef
Revises: f456b7b3d1f0
Create Date: 2026-12-05 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


revision = '8545401856ef'
down_revision = 'f456b7b3d1f0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('area_dm2', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('is_unsold', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.Enum('poll', 'ordinary', 'major', name='consultationkind', native_enum=False, length=32),
                                      server_default='poll', nullable=False))
        batch_op.add_column(sa.Column('notice_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_consultation_notice_id'), ['notice_id'])
        batch_op.create_foreign_key(batch_op.f('fk_consultation_notice_id_notice'), 'notice', ['notice_id'], ['id'])

    with op.batch_alter_table('consultation_option', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vote', sa.Enum('agree', 'disagree', 'abstain', name='vote', native_enum=False, length=32), nullable=True))

    with op.batch_alter_table('consultation_answer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('comment', sa.Text(), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('consultation_answer', schema=None) as batch_op:
        batch_op.drop_column('comment')

    with op.batch_alter_table('consultation_option', schema=None) as batch_op:
        batch_op.drop_column('vote')

    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_consultation_notice_id_notice'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_consultation_notice_id'), type_='unique')
        batch_op.drop_column('notice_id')
        batch_op.drop_column('kind')

    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.drop_column('is_unsold')
        batch_op.drop_column('area_dm2')
