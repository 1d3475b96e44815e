"""join: pending self-registrations (double opt-in)

Revision ID: 0009_join
Revises: 0007_stored_files
Create Date: 2026-11-29

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_join'
down_revision = '0007_stored_files'
branch_labels = None
depends_on = None

ENCRYPTED = ('full_name', 'email', 'phone', 'messenger', 'city', 'country', 'skills', 'languages',
             'availability', 'message', 'paths', 'locale')


def upgrade():
    op.create_table('pending_registration',
    sa.Column('id', sa.Uuid(), nullable=False),
    *[sa.Column(f'{name}_ct', sa.LargeBinary(), nullable=True) for name in ENCRYPTED],
    sa.Column('email_token', sa.Integer(), nullable=True),
    sa.Column('phone_token', sa.Integer(), nullable=True),
    sa.Column('index_key_id', sa.SmallInteger(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('consent_version', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_registration')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_pending_registration_token_hash'))
    )
    with op.batch_alter_table('pending_registration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_registration_confirmed_at'), ['confirmed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_pending_registration_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_pending_registration_email_token'), ['email_token'], unique=False)
        batch_op.create_index(batch_op.f('ix_pending_registration_phone_token'), ['phone_token'], unique=False)


def downgrade():
    with op.batch_alter_table('pending_registration', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_registration_phone_token'))
        batch_op.drop_index(batch_op.f('ix_pending_registration_email_token'))
        batch_op.drop_index(batch_op.f('ix_pending_registration_created_at'))
        batch_op.drop_index(batch_op.f('ix_pending_registration_confirmed_at'))
    op.drop_table('pending_registration')
