"""mail: outbox html body, template, locale and claim columns; a sending status; mail template versions

Revision ID: 0011_mail
Revises: 0010_merge
Create Date: 2026-11-29

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_mail'
down_revision = '0010_merge'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('mail_template',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('template', sa.String(length=96), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('updated_by_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user.id'], name=op.f('fk_mail_template_updated_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_template')),
    sa.UniqueConstraint('template', 'locale', 'version', name='uq_mail_template_version')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('template', sa.String(length=96), nullable=True))
        batch_op.add_column(sa.Column('locale', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('html_ct', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('claim_token', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('data_started_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f('ck_outbox_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_outbox_status'),
                                         "status IN ('pending', 'sending', 'sent', 'failed')")


def downgrade():
    op.execute("UPDATE outbox SET status = 'pending' WHERE status = 'sending'")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_outbox_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_outbox_status'), "status IN ('pending', 'sent', 'failed')")
        batch_op.drop_column('data_started_at')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('claim_token')
        batch_op.drop_column('html_ct')
        batch_op.drop_column('locale')
        batch_op.drop_column('template')
    op.drop_table('mail_template')
