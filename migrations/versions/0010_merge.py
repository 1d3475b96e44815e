"""merge: contact merges (undo snapshot, redirect) and dismissed duplicate pairs

Revision ID: 0010_merge
Revises: 0009_join
Create Date: 2026-11-29

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_merge'
down_revision = '0009_join'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('contact_merge',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('survivor_id', sa.Uuid(), nullable=False),
    sa.Column('merged_id', sa.Uuid(), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undo_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undone_by_id', sa.Uuid(), nullable=True),
    sa.Column('snapshot_ct', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_contact_merge_actor_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['undone_by_id'], ['user.id'], name=op.f('fk_contact_merge_undone_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_merge'))
    )
    with op.batch_alter_table('contact_merge', schema=None) as batch_op:
        batch_op.create_index('ix_contact_merge_merged', ['merged_id', 'undone_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_merge_survivor_id'), ['survivor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_merge_undo_until'), ['undo_until'], unique=False)

    op.create_table('duplicate_dismissal',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('low_id', sa.Uuid(), nullable=False),
    sa.Column('high_id', sa.Uuid(), nullable=False),
    sa.Column('dismissed_by_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['dismissed_by_id'], ['user.id'], name=op.f('fk_duplicate_dismissal_dismissed_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['high_id'], ['contact.id'], name=op.f('fk_duplicate_dismissal_high_id_contact'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['low_id'], ['contact.id'], name=op.f('fk_duplicate_dismissal_low_id_contact'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duplicate_dismissal')),
    sa.UniqueConstraint('low_id', 'high_id', name='uq_duplicate_dismissal_pair')
    )
    with op.batch_alter_table('duplicate_dismissal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duplicate_dismissal_high_id'), ['high_id'], unique=False)


def downgrade():
    with op.batch_alter_table('duplicate_dismissal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duplicate_dismissal_high_id'))
    op.drop_table('duplicate_dismissal')
    with op.batch_alter_table('contact_merge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_merge_undo_until'))
        batch_op.drop_index(batch_op.f('ix_contact_merge_survivor_id'))
        batch_op.drop_index('ix_contact_merge_merged')
    op.drop_table('contact_merge')
