"""Questionnaires (问卷) and the half-yearly satisfaction survey: the questionnaire, the buildings
it asks, its questions and their choices, one response per household or person, and the answers.

Revision ID: ea627d252436
Revises: 8545401856ef
Create Date: 2026-12-05 04:50:07.896625

"""
from alembic import op
import sqlalchemy as sa

import portal.database

revision = 'ea627d252436'
down_revision = '8545401856ef'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('survey',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('introduction', sa.Text(), nullable=False),
    sa.Column('is_owners_only', sa.Boolean(), nullable=False),
    sa.Column('is_per_household', sa.Boolean(), nullable=False),
    sa.Column('is_satisfaction', sa.Boolean(), nullable=False),
    sa.Column('opens_at', portal.database.UTCDateTime(), nullable=False),
    sa.Column('closes_at', portal.database.UTCDateTime(), nullable=False),
    sa.Column('published_at', portal.database.UTCDateTime(), nullable=True),
    sa.Column('invited_at', portal.database.UTCDateTime(), nullable=True),
    sa.Column('closing_told_at', portal.database.UTCDateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_survey_created_by_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey'))
    )
    with op.batch_alter_table('survey', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_closes_at'), ['closes_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_opens_at'), ['opens_at'], unique=False)

    op.create_table('survey_building',
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['building_id'], ['building.id'], name=op.f('fk_survey_building_building_id_building')),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_building_survey_id_survey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('survey_id', 'building_id', name=op.f('pk_survey_building'))
    )
    with op.batch_alter_table('survey_building', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_building_building_id'), ['building_id'], unique=False)

    op.create_table('survey_question',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('single', 'multiple', 'scale', 'text', name='questionkind', native_enum=False, length=32), nullable=False),
    sa.Column('text', sa.String(length=300), nullable=False),
    sa.Column('is_required', sa.Boolean(), nullable=False),
    sa.Column('is_overall', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_question_survey_id_survey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_question'))
    )
    with op.batch_alter_table('survey_question', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_question_survey_id'), ['survey_id'], unique=False)

    op.create_table('survey_response',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('respondent', sa.String(length=24), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_response_survey_id_survey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_survey_response_unit_id_unit')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_survey_response_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_response')),
    sa.UniqueConstraint('survey_id', 'respondent', name=op.f('uq_survey_response_survey_id'))
    )
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.create_index('ix_survey_response_unit', ['survey_id', 'unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_response_user_id'), ['user_id'], unique=False)

    op.create_table('survey_choice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['question_id'], ['survey_question.id'], name=op.f('fk_survey_choice_question_id_survey_question'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_choice'))
    )
    with op.batch_alter_table('survey_choice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_choice_question_id'), ['question_id'], unique=False)

    op.create_table('survey_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('choice_id', sa.Integer(), nullable=True),
    sa.Column('scale', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['choice_id'], ['survey_choice.id'], name=op.f('fk_survey_answer_choice_id_survey_choice'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['question_id'], ['survey_question.id'], name=op.f('fk_survey_answer_question_id_survey_question'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['response_id'], ['survey_response.id'], name=op.f('fk_survey_answer_response_id_survey_response'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_answer'))
    )
    with op.batch_alter_table('survey_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_answer_question_id'), ['question_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_answer_response_id'), ['response_id'], unique=False)



def downgrade():
    with op.batch_alter_table('survey_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_answer_response_id'))
        batch_op.drop_index(batch_op.f('ix_survey_answer_question_id'))

    op.drop_table('survey_answer')
    with op.batch_alter_table('survey_choice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_choice_question_id'))

    op.drop_table('survey_choice')
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_response_user_id'))
        batch_op.drop_index('ix_survey_response_unit')

    op.drop_table('survey_response')
    with op.batch_alter_table('survey_question', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_question_survey_id'))

    op.drop_table('survey_question')
    with op.batch_alter_table('survey_building', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_building_building_id'))

    op.drop_table('survey_building')
    with op.batch_alter_table('survey', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_opens_at'))
        batch_op.drop_index(batch_op.f('ix_survey_closes_at'))

    op.drop_table('survey')
