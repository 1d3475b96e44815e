"""name lookup index: contact_id in ix_contact_index_lookup (index-only lookups, word sets intersected in the index)

Revision ID: 0016_name_lookup_index
Revises: 0015_duplicate_candidates
Create Date: 2026-11-29

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0016_name_lookup_index'
down_revision = '0015_duplicate_candidates'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contact_index', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_index_lookup')
        batch_op.create_index('ix_contact_index_lookup', ['field', 'token', 'key_id', 'contact_id'], unique=False)


def downgrade():
    with op.batch_alter_table('contact_index', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_index_lookup')
        batch_op.create_index('ix_contact_index_lookup', ['field', 'token', 'key_id'], unique=False)
