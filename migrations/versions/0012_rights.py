"""data rights: access requests and links, erasure requests, anonymous erasure counters

Revision ID: 0012_rights
Revises: 0011_mail
Create Date: 2026-11-29

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_rights'
down_revision = '0011_mail'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rights_request',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('email_ct', sa.LargeBinary(), nullable=True),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rights_request'))
    )
    op.create_table('rights_link',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('session_until', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_rights_link_contact_id_contact'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rights_link')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_rights_link_token_hash'))
    )
    with op.batch_alter_table('rights_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rights_link_contact_id'), ['contact_id'], unique=False)

    op.create_table('erasure_request',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=False),
    sa.Column('via', sa.String(length=8), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("via IN ('self', 'admin', 'cli')", name=op.f('ck_erasure_request_via')),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_erasure_request_contact_id_contact'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasure_request')),
    sa.UniqueConstraint('contact_id', name=op.f('uq_erasure_request_contact_id'))
    )
    op.create_table('erasure_counter',
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_erasure_counter'))
    )


def downgrade():
    op.drop_table('erasure_counter')
    op.drop_table('erasure_request')
    with op.batch_alter_table('rights_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rights_link_contact_id'))

    op.drop_table('rights_link')
    op.drop_table('rights_request')
