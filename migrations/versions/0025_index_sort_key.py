"""name search order: contact_index carries its contact's creation time (newest candidates from the index alone)

Revision ID: 0025_index_sort_key
Revises: 0021_access_alerts
Create Date: 2026-11-29

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0025_index_sort_key'
down_revision = '0021_access_alerts'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contact_index', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contact_created_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE contact_index SET contact_created_at = "
               "(SELECT contact.created_at FROM contact WHERE contact.id = contact_index.contact_id)")
    with op.batch_alter_table('contact_index', schema=None) as batch_op:
        batch_op.alter_column('contact_created_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_index('ix_contact_index_lookup')
        batch_op.create_index('ix_contact_index_lookup',
                              ['field', 'token', 'key_id', 'contact_created_at', 'contact_id'], unique=False)


def downgrade():
    with op.batch_alter_table('contact_index', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_index_lookup')
        batch_op.create_index('ix_contact_index_lookup', ['field', 'token', 'key_id', 'contact_id'], unique=False)
        batch_op.drop_column('contact_created_at')
