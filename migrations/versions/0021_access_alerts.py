"""access alerts, thresholds, suspension, lockdown: access_alert (user id, kind, counts; encrypted
review note), access_settings (one row of thresholds), lockdown (encrypted lift reason), user.suspended_at

Revision ID: 0021_access_alerts
Revises: 0019_clearance_only
Create Date: 2026-11-29 16:24:34.516956

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021_access_alerts'
down_revision = '0019_clearance_only'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('access_alert',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('suspended', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reviewed_by_id', sa.Uuid(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('review_note_ct', sa.LargeBinary(), nullable=True),
    sa.CheckConstraint("kind IN ('reads', 'scope', 'denied')", name=op.f('ck_access_alert_kind')),
    sa.CheckConstraint("status IN ('open', 'reviewed')", name=op.f('ck_access_alert_status')),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['user.id'], name=op.f('fk_access_alert_reviewed_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_access_alert_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_alert'))
    )
    with op.batch_alter_table('access_alert', schema=None) as batch_op:
        batch_op.create_index('ix_access_alert_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_alert_user_id'), ['user_id'], unique=False)

    op.create_table('access_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reads_window_minutes', sa.Integer(), nullable=False),
    sa.Column('reads_alert', sa.Integer(), nullable=False),
    sa.Column('reads_suspend', sa.Integer(), nullable=False),
    sa.Column('scope_window_minutes', sa.Integer(), nullable=False),
    sa.Column('scope_min_opens', sa.Integer(), nullable=False),
    sa.Column('scope_alert_percent', sa.Integer(), nullable=False),
    sa.Column('scope_suspend_percent', sa.Integer(), nullable=False),
    sa.Column('denied_window_minutes', sa.Integer(), nullable=False),
    sa.Column('denied_alert', sa.Integer(), nullable=False),
    sa.Column('denied_suspend', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_by_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user.id'], name=op.f('fk_access_settings_updated_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_settings'))
    )
    op.create_table('lockdown',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('approval_id', sa.Uuid(), nullable=True),
    sa.Column('requested_by_id', sa.Uuid(), nullable=True),
    sa.Column('approved_by_id', sa.Uuid(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sessions_ended', sa.Integer(), nullable=False),
    sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lifted_by_id', sa.Uuid(), nullable=True),
    sa.Column('lift_reason_ct', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['approval_id'], ['approval_request.id'], name=op.f('fk_lockdown_approval_id_approval_request'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['approved_by_id'], ['user.id'], name=op.f('fk_lockdown_approved_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lifted_by_id'], ['user.id'], name=op.f('fk_lockdown_lifted_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user.id'], name=op.f('fk_lockdown_requested_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lockdown'))
    )
    with op.batch_alter_table('lockdown', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lockdown_started_at'), ['started_at'], unique=False)

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suspended_at', sa.DateTime(timezone=True), nullable=True))



def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('suspended_at')

    with op.batch_alter_table('lockdown', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lockdown_started_at'))

    op.drop_table('lockdown')
    op.drop_table('access_settings')
    with op.batch_alter_table('access_alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_alert_user_id'))
        batch_op.drop_index('ix_access_alert_status_created')

    op.drop_table('access_alert')
