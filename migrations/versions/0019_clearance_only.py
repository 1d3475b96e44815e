"""clearance only: one stored flag (only restricted paths, an active restricted path, or relatives
at risk) replaces only_restricted_paths; backfilled; the unassigned-queue index ends with it
(and leaves archived contacts out)

Revision ID: 0019_clearance_only
Revises: 0020_signals
Create Date: 2026-11-29

Contacts that become clearance-only here (an active restricted path next to an unrestricted
one, which the old flag did not cover) are handed back from users without clearance: the
assignment and open follow-ups they hold are cleared, as the application does at run time
(crm.services.contacts.hand_back). No audit event is written by a migration (the chain is the
application's); docs/decisions/0021-two-person-rule.md says so.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019_clearance_only'
down_revision = '0020_signals'
branch_labels = None
depends_on = None

# Frozen here: the migration must mean the same thing whatever the code says later.
RESTRICTED = "('reserve_training', 'combat_service')"

BACKFILL = f"""
UPDATE contact SET clearance_only = (
    relatives_at_risk
    OR (EXISTS (SELECT 1 FROM path_choice r WHERE r.contact_id = contact.id AND r.path IN {RESTRICTED})
        AND NOT EXISTS (SELECT 1 FROM path_choice o WHERE o.contact_id = contact.id
                        AND o.path NOT IN {RESTRICTED}))
    OR EXISTS (SELECT 1 FROM path_choice a WHERE a.contact_id = contact.id AND a.path IN {RESTRICTED}
               AND a.stage = 'active')
)
"""
UNCLEARED = 'SELECT u.id FROM "user" u WHERE NOT u.restricted_clearance'
HAND_BACK_CONTACTS = f"""
UPDATE contact SET assignee_id = NULL, version_id = version_id + 1
WHERE clearance_only AND assignee_id IN ({UNCLEARED})
"""
HAND_BACK_FOLLOWUPS = f"""
UPDATE follow_up SET assignee_id = NULL
WHERE status = 'open' AND assignee_id IN ({UNCLEARED})
  AND contact_id IN (SELECT c.id FROM contact c WHERE c.clearance_only)
"""
UNASSIGNED = sa.text('assignee_id IS NULL')
# Archived contacts (retention, 0022) are hidden from every list: the new index leaves them out,
# so the permission filter's "archived_at IS NULL" is answered by the index as well.
QUEUED = sa.text('assignee_id IS NULL AND archived_at IS NULL')


def upgrade():
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clearance_only', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.execute(BACKFILL)
    op.execute(HAND_BACK_CONTACTS)
    op.execute(HAND_BACK_FOLLOWUPS)
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.alter_column('clearance_only', server_default=None)
        batch_op.drop_index('ix_contact_queue_unassigned', postgresql_where=UNASSIGNED,
                            sqlite_where=UNASSIGNED)
        batch_op.drop_column('only_restricted_paths')
        batch_op.create_index('ix_contact_queue_unassigned', ['status', 'created_at', 'id', 'clearance_only'],
                              unique=False, postgresql_where=QUEUED, sqlite_where=QUEUED)


def downgrade():
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('only_restricted_paths', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.execute(f"""
UPDATE contact SET only_restricted_paths = (
    EXISTS (SELECT 1 FROM path_choice r WHERE r.contact_id = contact.id AND r.path IN {RESTRICTED})
    AND NOT EXISTS (SELECT 1 FROM path_choice o WHERE o.contact_id = contact.id AND o.path NOT IN {RESTRICTED})
)""")
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.alter_column('only_restricted_paths', server_default=None)
        batch_op.drop_index('ix_contact_queue_unassigned', postgresql_where=QUEUED, sqlite_where=QUEUED)
        batch_op.drop_column('clearance_only')
        batch_op.create_index('ix_contact_queue_unassigned',
                              ['status', 'created_at', 'id', 'only_restricted_paths'], unique=False,
                              postgresql_where=UNASSIGNED, sqlite_where=UNASSIGNED)
