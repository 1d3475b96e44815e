"""duplicate candidates: pairs sharing a blind-index token (ids and kinds only), refreshed by a job

Revision ID: 0015_duplicate_candidates
Revises: 0014_exports
Create Date: 2026-11-29

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_duplicate_candidates'
down_revision = '0014_exports'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('duplicate_candidate',
    sa.Column('low_id', sa.Uuid(), nullable=False),
    sa.Column('high_id', sa.Uuid(), nullable=False),
    sa.Column('by_email', sa.Boolean(), nullable=False),
    sa.Column('by_phone', sa.Boolean(), nullable=False),
    sa.Column('by_name', sa.Boolean(), nullable=False),
    sa.Column('strength', sa.SmallInteger(), nullable=False),
    sa.Column('found_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['high_id'], ['contact.id'], name=op.f('fk_duplicate_candidate_high_id_contact'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['low_id'], ['contact.id'], name=op.f('fk_duplicate_candidate_low_id_contact'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('low_id', 'high_id', name=op.f('pk_duplicate_candidate'))
    )
    with op.batch_alter_table('duplicate_candidate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duplicate_candidate_high_id'), ['high_id'], unique=False)
        batch_op.create_index('ix_duplicate_candidate_order', ['strength', 'low_id', 'high_id'], unique=False)


def downgrade():
    with op.batch_alter_table('duplicate_candidate', schema=None) as batch_op:
        batch_op.drop_index('ix_duplicate_candidate_order')
        batch_op.drop_index(batch_op.f('ix_duplicate_candidate_high_id'))
    op.drop_table('duplicate_candidate')
