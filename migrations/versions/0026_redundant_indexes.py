"""redundant indexes: contact.status and path_choice.contact_id lead other indexes already

ix_contact_status is the first column of ix_contact_queue and ix_contact_queue_unassigned;
ix_path_choice_contact_id the first of uq_path_choice_contact_path. Every insert paid for
them (an import batch rewrote most pages of the random-keyed one: decision 0030).

Revision ID: 0026_redundant_indexes
Revises: 0025_index_sort_key
Create Date: 2026-11-30

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0026_redundant_indexes'
down_revision = '0025_index_sort_key'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_status')
    with op.batch_alter_table('path_choice', schema=None) as batch_op:
        batch_op.drop_index('ix_path_choice_contact_id')


def downgrade():
    with op.batch_alter_table('path_choice', schema=None) as batch_op:
        batch_op.create_index('ix_path_choice_contact_id', ['contact_id'], unique=False)
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index('ix_contact_status', ['status'], unique=False)
