"""The yearly training plan (S6.2.1): planned items with their audience, and the sessions that
deliver them.

Revision ID: c326d53fefad
Revises: ea627d252436
Create Date: 2026-12-05 04:45:30.025376

"""
from alembic import op
import sqlalchemy as sa

import portal.database


# revision identifiers, used by Alembic.
revision = 'c326d53fefad'
down_revision = 'ea627d252436'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('training_plan_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('topic', sa.Enum('communication', 'service', 'business', 'problem_handling', name='trainingtopic', native_enum=False, length=32), nullable=False),
    sa.Column('method', sa.Enum('internal', 'coaching', 'case_study', 'external', name='trainingmethod', native_enum=False, length=32), nullable=False),
    sa.Column('goal', sa.Text(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_training_plan_item_created_by_id_user')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_training_plan_item_department_id_department')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_plan_item'))
    )
    with op.batch_alter_table('training_plan_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_plan_item_department_id'), ['department_id'], unique=False)
        batch_op.create_index('ix_training_plan_year_month', ['year', 'month'], unique=False)

    op.create_table('training_plan_person',
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['training_plan_item.id'], name=op.f('fk_training_plan_person_item_id_training_plan_item'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_training_plan_person_user_id_user')),
    sa.PrimaryKeyConstraint('item_id', 'user_id', name=op.f('pk_training_plan_person'))
    )
    with op.batch_alter_table('training_plan_person', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_plan_person_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('training_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_item_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_training_session_plan_item_id'), ['plan_item_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_training_session_plan_item_id_training_plan_item'), 'training_plan_item', ['plan_item_id'], ['id'], ondelete='SET NULL')



def downgrade():
    with op.batch_alter_table('training_session', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_training_session_plan_item_id_training_plan_item'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_training_session_plan_item_id'))
        batch_op.drop_column('plan_item_id')

    with op.batch_alter_table('training_plan_person', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_plan_person_user_id'))

    op.drop_table('training_plan_person')
    with op.batch_alter_table('training_plan_item', schema=None) as batch_op:
        batch_op.drop_index('ix_training_plan_year_month')
        batch_op.drop_index(batch_op.f('ix_training_plan_item_department_id'))

    op.drop_table('training_plan_item')
