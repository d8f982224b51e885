"""The disclosure board (信息公示): one table of versions per section (the fee standard, the
service commitments, the service hours and contacts, the department heads' note).

Revision ID: f456b7b3d1f0
Revises: d4b2e1f3a6c7
Create Date: 2026-12-05 04:50:53.332402

"""
from alembic import op
import sqlalchemy as sa

import portal.database

revision = 'f456b7b3d1f0'
down_revision = 'd4b2e1f3a6c7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('disclosure_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('section', sa.Enum('fees', 'commitments', 'hours', 'heads', name='disclosuresection', native_enum=False, length=32), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('fees', sa.JSON(), nullable=True),
    sa.Column('effective_on', sa.Date(), nullable=True),
    sa.Column('note', sa.String(length=300), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=True),
    sa.Column('previous_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', portal.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_disclosure_version_created_by_id_user')),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.id'], name=op.f('fk_disclosure_version_notice_id_notice'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['previous_id'], ['disclosure_version.id'], name=op.f('fk_disclosure_version_previous_id_disclosure_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disclosure_version')),
    sa.UniqueConstraint('section', 'number', name=op.f('uq_disclosure_version_section'))
    )
    with op.batch_alter_table('disclosure_version', schema=None) as batch_op:
        batch_op.create_index('ix_disclosure_version_in_force', ['section', 'effective_on', 'number'], unique=False)



def downgrade():
    with op.batch_alter_table('disclosure_version', schema=None) as batch_op:
        batch_op.drop_index('ix_disclosure_version_in_force')

    op.drop_table('disclosure_version')
