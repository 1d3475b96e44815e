"""approvals: two-person approval requests (kind, contact, non-personal params, encrypted reasons)

Revision ID: 0018_approvals
Revises: 0024_join_fields
Create Date: 2026-11-29

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018_approvals'
down_revision = '0024_join_fields'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade():
    op.create_table('approval_request',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=True),
    sa.Column('params', sa.JSON(), nullable=True),
    sa.Column('subject_key', sa.String(length=64), nullable=False),
    sa.Column('restricted', sa.Boolean(), nullable=False),
    sa.Column('reason_ct', sa.LargeBinary(), nullable=True),
    sa.Column('requested_by_id', sa.Uuid(), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by_id', sa.Uuid(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason_ct', sa.LargeBinary(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected', 'cancelled')",
                       name=op.f('ck_approval_request_status')),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'],
                            name=op.f('fk_approval_request_contact_id_contact'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'],
                            name=op.f('fk_approval_request_decided_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user.id'],
                            name=op.f('fk_approval_request_requested_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_request'))
    )
    with op.batch_alter_table('approval_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_request_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index('ix_approval_request_status_requested', ['status', 'requested_at'], unique=False)
        batch_op.create_index('uq_approval_request_pending', ['subject_key'], unique=True,
                              postgresql_where=PENDING, sqlite_where=PENDING)


def downgrade():
    with op.batch_alter_table('approval_request', schema=None) as batch_op:
        batch_op.drop_index('uq_approval_request_pending', postgresql_where=PENDING, sqlite_where=PENDING)
        batch_op.drop_index('ix_approval_request_status_requested')
        batch_op.drop_index(batch_op.f('ix_approval_request_contact_id'))
    op.drop_table('approval_request')
