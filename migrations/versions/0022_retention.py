"""retention by stage: contact.archived_at and archive_reason, retention_hold

Revision ID: 0022_retention
Revises: 0018_approvals
Create Date: 2026-11-29

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022_retention'
down_revision = '0018_approvals'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'retention_hold',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('contact_id', sa.Uuid(), nullable=False),
        sa.Column('reason_ct', sa.LargeBinary(), nullable=True),
        sa.Column('held_by_id', sa.Uuid(), nullable=True),
        sa.Column('held_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['contact_id'], ['contact.id'],
                                name=op.f('fk_retention_hold_contact_id_contact'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['held_by_id'], ['user.id'],
                                name=op.f('fk_retention_hold_held_by_id_user'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_hold')),
        sa.UniqueConstraint('contact_id', name=op.f('uq_retention_hold_contact_id')),
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('archive_reason', sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f('ix_contact_archived_at'), ['archived_at'], unique=False)
        batch_op.create_check_constraint(
            'archive_reason', "archive_reason IN ('declined', 'withdrawn', 'stale')")


def downgrade():
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_contact_archive_reason'), type_='check')
        batch_op.drop_index(batch_op.f('ix_contact_archived_at'))
        batch_op.drop_column('archive_reason')
        batch_op.drop_column('archived_at')
    op.drop_table('retention_hold')
