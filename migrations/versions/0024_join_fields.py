"""join fields: the availability a person gave, as its own encrypted field on contact

Revision ID: 0024_join_fields
Revises: 0017_trust_safety
Create Date: 2026-11-29

Existing self-registered contacts keep their availability inside the notes the join
wrote ("Availability: ..."). Those notes are encrypted, so SQL cannot move them:
`flask crm join move-availability` does it after the upgrade (docs/operations.md).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024_join_fields'
down_revision = '0017_trust_safety'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('availability_ct', sa.LargeBinary(), nullable=True))


def downgrade():
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_column('availability_ct')
