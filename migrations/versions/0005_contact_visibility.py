"""contact visibility: only_restricted_paths flag, backfilled; ordered index for the unassigned queue

Revision ID: 0005_contact_visibility
Revises: 0004_workspace
Create Date: 2026-11-29

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_contact_visibility'
down_revision = '0004_workspace'
branch_labels = None
depends_on = None

# Frozen here: the migration must mean the same thing whatever enums.py says later.
RESTRICTED = "('reserve_training', 'combat_service')"

BACKFILL = f"""
UPDATE contact SET only_restricted_paths = (
    EXISTS (SELECT 1 FROM path_choice r WHERE r.contact_id = contact.id AND r.path IN {RESTRICTED})
    AND NOT EXISTS (SELECT 1 FROM path_choice o WHERE o.contact_id = contact.id AND o.path NOT IN {RESTRICTED})
)
"""


def upgrade():
    # Added with a default so that existing rows are valid, filled in, then the default
    # dropped: the application always writes the value.
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('only_restricted_paths', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.execute(BACKFILL)
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.alter_column('only_restricted_paths', server_default=None)
        batch_op.create_index('ix_contact_queue_unassigned',
                              ['status', 'created_at', 'id', 'only_restricted_paths'], unique=False,
                              postgresql_where=sa.text('assignee_id IS NULL'),
                              sqlite_where=sa.text('assignee_id IS NULL'))


def downgrade():
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_queue_unassigned')
        batch_op.drop_column('only_restricted_paths')
