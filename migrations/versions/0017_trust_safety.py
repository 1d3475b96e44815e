"""trust and safety: trust level (backfilled), who vouched, safety fields on contact

Revision ID: 0017_trust_safety
Revises: 0016_name_lookup_index
Create Date: 2026-11-29

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017_trust_safety'
down_revision = '0016_name_lookup_index'
branch_labels = None
depends_on = None

# Frozen here (see docs/decisions/0020-trust-and-safety.md): a contact seen at a meeting
# (captured there, or with any attendance) is "met"; self-registered and imported contacts
# without an attendance are "unverified" (quarantined until a coordinator meets or vouches).
BACKFILL = """
UPDATE contact SET trust_level = 'unverified'
WHERE source IN ('self', 'import')
  AND NOT EXISTS (SELECT 1 FROM attendance a WHERE a.contact_id = contact.id)
"""


def upgrade():
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('safe_times_ct', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('trust_level', sa.String(length=16), nullable=False,
                                      server_default='met'))
        batch_op.add_column(sa.Column('vouched_by_user_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('vouched_by_contact_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('vouched_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('safe_channel', sa.String(length=16), nullable=True))
        for flag in ('do_not_email', 'do_not_text', 'do_not_call', 'relatives_at_risk'):
            batch_op.add_column(sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(BACKFILL)
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.alter_column('trust_level', server_default=None)
        for flag in ('do_not_email', 'do_not_text', 'do_not_call', 'relatives_at_risk'):
            batch_op.alter_column(flag, server_default=None)
        batch_op.create_index(batch_op.f('ix_contact_trust_level'), ['trust_level'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_contact_vouched_by_user_id_user'), 'user',
                                    ['vouched_by_user_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_contact_vouched_by_contact_id_contact'), 'contact',
                                    ['vouched_by_contact_id'], ['id'], ondelete='SET NULL')
        batch_op.create_check_constraint(
            'trust_level', "trust_level IN ('unverified', 'met', 'vouched', 'vetted')")
        batch_op.create_check_constraint(
            'safe_channel', "safe_channel IN ('signal', 'telegram', 'phone', 'email', 'in_person_only')")


def downgrade():
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_contact_safe_channel'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_contact_trust_level'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_contact_vouched_by_contact_id_contact'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_contact_vouched_by_user_id_user'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_contact_trust_level'))
        for column in ('relatives_at_risk', 'do_not_call', 'do_not_text', 'do_not_email', 'safe_channel',
                       'vouched_at', 'vouched_by_contact_id', 'vouched_by_user_id', 'trust_level',
                       'safe_times_ct'):
            batch_op.drop_column(column)
