"""exports: requested exports with approval, encrypted reason and canary, file link

Revision ID: 0014_exports
Revises: 0013_imports
Create Date: 2026-11-29

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_exports'
down_revision = '0013_imports'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('export',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('requested_by_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=True),
    sa.Column('columns', sa.JSON(), nullable=True),
    sa.Column('with_clearance', sa.Boolean(), nullable=False),
    sa.Column('requested_count', sa.Integer(), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=True),
    sa.Column('reason_ct', sa.LargeBinary(), nullable=True),
    sa.Column('approved_by_id', sa.Uuid(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('file_id', sa.Uuid(), nullable=True),
    sa.Column('ready_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('downloaded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failure', sa.String(length=200), nullable=True),
    sa.Column('canary_ct', sa.LargeBinary(), nullable=True),
    sa.Column('canary_key_id', sa.SmallInteger(), nullable=True),
    sa.Column('canary_email_token', sa.Integer(), nullable=True),
    sa.Column('canary_phone_token', sa.Integer(), nullable=True),
    sa.CheckConstraint("format IN ('csv', 'xlsx')", name=op.f('ck_export_format')),
    sa.CheckConstraint("status IN ('pending_approval', 'refused', 'queued', 'ready', 'downloaded', 'expired', 'failed')", name=op.f('ck_export_status')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['user.id'], name=op.f('fk_export_approved_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['file_id'], ['stored_file.id'], name=op.f('fk_export_file_id_stored_file'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user.id'], name=op.f('fk_export_requested_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_export'))
    )
    with op.batch_alter_table('export', schema=None) as batch_op:
        batch_op.create_index('ix_export_canary_email', ['canary_key_id', 'canary_email_token'], unique=False)
        batch_op.create_index('ix_export_canary_phone', ['canary_key_id', 'canary_phone_token'], unique=False)
        batch_op.create_index(batch_op.f('ix_export_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_export_requester_created', ['requested_by_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_export_status'), ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('export', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_export_status'))
        batch_op.drop_index('ix_export_requester_created')
        batch_op.drop_index(batch_op.f('ix_export_created_at'))
        batch_op.drop_index('ix_export_canary_phone')
        batch_op.drop_index('ix_export_canary_email')
    op.drop_table('export')
